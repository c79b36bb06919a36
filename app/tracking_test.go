package app

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/config"
	"github.com/shipbridge/shipbridge/moysklad"
	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
	"github.com/shipbridge/shipbridge/poller"
	"github.com/shipbridge/shipbridge/store"
)

// seedTracking adds tracking's statuses and attribute with their default names.
func seedTracking(ms *moyskladtest.Server) {
	ms.AddState("Доставлен", 0x00897B)
	ms.AddState("Возврат", 0x6D4C41)
	ms.AddAttribute("Статус доставки", "string")
}

// testClock is a clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func lastPass(t *testing.T, path string) (string, bool) {
	t.Helper()
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	v, ok, err := st.Cursor("tracking.last_pass")
	if err != nil {
		t.Fatal(err)
	}
	return v, ok
}

func TestOnceRunsATrackingPassWhenOneIsDue(t *testing.T) {
	h := newHarness(t).valid()
	seedTracking(h.ms)
	h.env["SHIPBRIDGE_TRACKING_EVERY"] = "1h"
	clock := &testClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	once := func() {
		t.Helper()
		var out, errOut syncBuffer
		code := Main(context.Background(), []string{"once", "--config", h.config}, &out, &errOut,
			WithLookupEnv(h.lookup), WithClock(clock.now))
		if code != 0 {
			t.Fatalf("once: exit %d\n%s", code, errOut.String())
		}
	}
	db := h.env["SHIPBRIDGE_STORE_PATH"]

	once()
	v, ok := lastPass(t, db)
	if !ok || v != "2026-12-01T09:00:00Z" {
		t.Fatalf("after the first once: last pass %q, %v", v, ok)
	}
	// Within every/12 (5 min) no pass is due.
	clock.advance(4 * time.Minute)
	once()
	if v2, _ := lastPass(t, db); v2 != v {
		t.Errorf("a pass ran though none was due: %q", v2)
	}
	clock.advance(2 * time.Minute)
	once()
	if v3, _ := lastPass(t, db); v3 != "2026-12-01T09:06:00Z" {
		t.Errorf("no pass after every/12: %q", v3)
	}

	// tracking.every 0: no pass.
	h2 := newHarness(t).valid()
	h2.env["SHIPBRIDGE_TRACKING_EVERY"] = "0"
	if code, _, errOut := h2.main(context.Background(), "once"); code != 0 {
		t.Fatalf("once: %s", errOut)
	}
	if _, ok := lastPass(t, h2.env["SHIPBRIDGE_STORE_PATH"]); ok {
		t.Error("a pass ran with tracking off")
	}
}

// trackingCarrier tracks every shipment as delivered.
type trackingCarrier struct {
	mu    sync.Mutex
	calls int
}

func (c *trackingCarrier) Name() string                                  { return "cdek" }
func (c *trackingCarrier) Number(s carriers.Shipment) string             { return s.OrderName }
func (c *trackingCarrier) Validate(carriers.Shipment) []carriers.Problem { return nil }
func (c *trackingCarrier) RefusesDuplicateNumber() bool                  { return true }
func (c *trackingCarrier) Submit(context.Context, carriers.Shipment) (carriers.Registration, error) {
	return carriers.Registration{}, errors.New("not in this test")
}
func (c *trackingCarrier) Registration(context.Context, string) (carriers.Registration, error) {
	return carriers.Registration{}, errors.New("not in this test")
}
func (c *trackingCarrier) Track(_ context.Context, regs []carriers.Registration) ([]carriers.Tracking, error) {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	out := make([]carriers.Tracking, len(regs))
	for i, r := range regs {
		out[i] = carriers.Tracking{Reference: r.Reference, Status: carriers.TrackDelivered, Code: "DELIVERED", Name: "Вручен",
			At: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)}
	}
	return out, nil
}

func (c *trackingCarrier) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

func TestTrackingCyclerRunsThePassOnlyInTheTimeBeforeTheNextCycle(t *testing.T) {
	ms := moyskladtest.NewServer(moyskladtest.Options{})
	t.Cleanup(ms.Close)
	moyskladtest.Seed(ms)
	seedTracking(ms)
	client, err := moysklad.New(moysklad.Config{BaseURL: ms.URL(), Token: ms.Token(), RequestsPerWindow: 45})
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	st, err := store.Open(filepath.Join(t.TempDir(), "s.db"), store.Options{Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	agent := ms.AddCounterparty(moyskladtest.CounterpartySeed{Name: "Иванов Иван", Phone: "+79161234567"})
	id := ms.AddOrder(moyskladtest.OrderSeed{Name: "00001", AgentID: agent, StateName: "Зарегистрирован перевозчиком"})
	pending, _ := json.Marshal(map[string]any{"trigger": "ready", "settled": true})
	if err := st.Save(store.OrderRecord{ID: id, Name: "00001", Carrier: "cdek", Phase: "registered", Number: "00001",
		Reference: "ref-1", TrackingNumber: "TN-1", Pending: pending}); err != nil {
		t.Fatal(err)
	}
	tc := &trackingCarrier{}
	var reg carriers.Registry
	if err := reg.Register(tc, carriers.Profile{Names: []string{"СДЭК"}}); err != nil {
		t.Fatal(err)
	}
	cfg := pollerConfig(config.Default()) // tracking on, every 1h
	p := poller.New(cfg, poller.Deps{MoySklad: client, Carriers: &reg, Store: st, Logger: zaptest.NewLogger(t), Now: clock.now})
	c := newTrackingCycler(p, zaptest.NewLogger(t), clock.now, 3*time.Second)

	// The next cycle is 4 s away: less than a rate window and a request, so
	// registration keeps the budget and the pass waits.
	c.next = func(time.Time) time.Time { return clock.now().Add(4 * time.Second) }
	if err := c.Cycle(context.Background()); err != nil {
		t.Fatal(err)
	}
	if tc.count() != 0 {
		t.Fatalf("a pass ran with no time left before the next cycle")
	}
	// A minute away: the pass runs.
	c.next = func(time.Time) time.Time { return clock.now().Add(time.Minute) }
	if err := c.Cycle(context.Background()); err != nil {
		t.Fatal(err)
	}
	if tc.count() != 1 {
		t.Fatalf("no pass: %d carrier calls", tc.count())
	}
	if o, _ := ms.Order(id); o.StateName != "Доставлен" || o.Attr("Статус доставки") != "Вручен, 01.12.2026 11:00" {
		t.Errorf("order: %q, %q", o.StateName, o.Attr("Статус доставки"))
	}
	// Right after, no pass is due.
	if err := c.Cycle(context.Background()); err != nil || tc.count() != 1 {
		t.Errorf("a second pass ran at once: %v, %d calls", err, tc.count())
	}
}
