package poller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/moysklad"
	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
	"github.com/shipbridge/shipbridge/store"
)

// Tracking names of PRODUCT.md §1.
const (
	sDelivered      = "Доставлен"
	sReturned       = "Возврат"
	aDeliveryStatus = "Статус доставки"
)

// fakeTracker is a carrier that only tracks: it answers Track from a table
// of statuses by reference, and counts its calls.
type fakeTracker struct {
	mu       sync.Mutex
	statuses map[string]carriers.Tracking // by reference
	calls    int
	asked    []string // references asked about, in order
	err      error    // returned by Track while set
	onTrack  func()   // called at each Track call, when set
}

func newFakeTracker() *fakeTracker {
	return &fakeTracker{statuses: map[string]carriers.Tracking{}}
}

func (f *fakeTracker) Name() string                                  { return "cdek" }
func (f *fakeTracker) Number(s carriers.Shipment) string             { return s.OrderName }
func (f *fakeTracker) Validate(carriers.Shipment) []carriers.Problem { return nil }
func (f *fakeTracker) RefusesDuplicateNumber() bool                  { return true }

func (f *fakeTracker) Submit(context.Context, carriers.Shipment) (carriers.Registration, error) {
	return carriers.Registration{}, errors.New("fakeTracker: no registration in tracking tests")
}

func (f *fakeTracker) Registration(context.Context, string) (carriers.Registration, error) {
	return carriers.Registration{}, errors.New("fakeTracker: no registration in tracking tests")
}

func (f *fakeTracker) Track(ctx context.Context, regs []carriers.Registration) ([]carriers.Tracking, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.onTrack != nil {
		f.onTrack()
	}
	if f.err != nil {
		return nil, f.err
	}
	out := make([]carriers.Tracking, len(regs))
	for i, r := range regs {
		f.asked = append(f.asked, r.Reference)
		t := f.statuses[r.Reference]
		t.Reference = r.Reference
		out[i] = t
	}
	return out, nil
}

func (f *fakeTracker) set(ref string, s carriers.TrackStatus, code, name string, at time.Time) {
	f.mu.Lock()
	f.statuses[ref] = carriers.Tracking{Status: s, Code: code, Name: name, At: at}
	f.mu.Unlock()
}

func (f *fakeTracker) stats() (calls int, asked []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, append([]string(nil), f.asked...)
}

func (f *fakeTracker) reset() {
	f.mu.Lock()
	f.calls, f.asked = 0, nil
	f.mu.Unlock()
}

// countingObserver records the workflow's and tracking's measurements.
type countingObserver struct {
	mu       sync.Mutex
	tracked  map[string]int // carrier/status
	changes  map[string]int
	outcomes map[string]int
}

func newCountingObserver() *countingObserver {
	return &countingObserver{tracked: map[string]int{}, changes: map[string]int{}, outcomes: map[string]int{}}
}

func (o *countingObserver) CycleDone(time.Duration, error) {}
func (o *countingObserver) OrderOutcome(carrier, outcome string) {
	o.mu.Lock()
	o.outcomes[carrier+"/"+outcome]++
	o.mu.Unlock()
}
func (o *countingObserver) ShipmentTracked(carrier, status string, changed bool) {
	o.mu.Lock()
	o.tracked[carrier+"/"+status]++
	if changed {
		o.changes[carrier+"/"+status]++
	}
	o.mu.Unlock()
}

// trackEnv is a MoySklad simulator with the workflow's statuses and
// attributes (tracking's included), a store on a fake clock, and a poller
// whose only carrier is a fakeTracker.
type trackEnv struct {
	t       *testing.T
	ms      *moyskladtest.Server
	client  *moysklad.Client
	clock   *fakeClock
	tracker *fakeTracker
	obs     *countingObserver
	dbPath  string
	st      *store.Store
	p       *Poller
	cfg     Config
	agent   string
	product string
	// wrapMS, when set, stands between the poller and the client.
	wrapMS func(MoySklad) MoySklad
}

func newTrackEnv(t *testing.T, opts ...func(*Config)) *trackEnv {
	t.Helper()
	ms := moyskladtest.NewServer(moyskladtest.Options{RequestsPerWindow: 1000, Window: time.Second})
	t.Cleanup(ms.Close)
	moyskladtest.Seed(ms)
	ms.AddState(sDelivered, 0x00897B)
	ms.AddState(sReturned, 0x6D4C41)
	ms.AddAttribute(aDeliveryStatus, "string")
	e := &trackEnv{t: t, ms: ms, client: newClient(t, ms), tracker: newFakeTracker(), obs: newCountingObserver(),
		clock: &fakeClock{t: time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC)}, dbPath: filepath.Join(t.TempDir(), "shipbridge.db")}
	states := testStates
	states.Delivered, states.Returned = sDelivered, sReturned
	attrs := testAttrs
	attrs.DeliveryStatus = aDeliveryStatus
	e.cfg = Config{States: states, Attributes: attrs, TrackEvery: time.Hour, TrackMaxAge: 1440 * time.Hour}
	for _, o := range opts {
		o(&e.cfg)
	}
	e.agent = ms.AddCounterparty(moyskladtest.CounterpartySeed{Name: "Иванов Иван", Phone: "+7 916 123-45-67"})
	e.product = ms.AddProduct(moyskladtest.ProductSeed{Name: "Чайник", Article: "KT-1", Weight: 1.2})
	e.start()
	return e
}

// start opens the store and builds the poller, as a process start would.
func (e *trackEnv) start() {
	e.t.Helper()
	st, err := store.Open(e.dbPath, store.Options{Now: e.clock.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	e.st = st
	e.t.Cleanup(func() { st.Close() })
	var reg carriers.Registry
	if err := reg.Register(e.tracker, carriers.Profile{Names: []string{"СДЭК"}}); err != nil {
		e.t.Fatal(err)
	}
	var ms MoySklad = e.client
	if e.wrapMS != nil {
		ms = e.wrapMS(ms)
	}
	e.p = New(e.cfg, Deps{MoySklad: ms, Carriers: &reg, Store: st, Logger: zaptest.NewLogger(e.t), Now: e.clock.Now, Observer: e.obs})
}

func (e *trackEnv) restart() {
	e.t.Helper()
	e.st.Close()
	e.start()
}

// shipment adds an order in «registered» with its settled registration in
// the store, registered at the fake clock's now minus age; it returns the
// order id and the carrier reference.
func (e *trackEnv) shipment(name string, age time.Duration) (id, ref string) {
	e.t.Helper()
	id = e.ms.AddOrder(moyskladtest.OrderSeed{Name: name, AgentID: e.agent, StateName: sRegistered,
		Positions:  []moyskladtest.PositionSeed{{ProductID: e.product, Quantity: 1, Price: 150000}},
		Attributes: map[string]any{"Служба доставки": "СДЭК", "Трек-номер": "TN-" + name}})
	ref = "ref-" + name
	pending, err := json.Marshal(orderState{Trigger: keyReady, TriggerUpdated: "x", Settled: true, IntentAt: e.clock.Now().Add(-age)})
	if err != nil {
		e.t.Fatal(err)
	}
	rec := store.OrderRecord{ID: id, Name: name, Carrier: "cdek", Phase: string(phaseRegistered), Attempt: 1, Number: name,
		Reference: ref, TrackingNumber: "TN-" + name, LastState: sRegistered, Pending: pending, CreatedAt: e.clock.Now().Add(-age)}
	if err := e.st.Save(rec); err != nil {
		e.t.Fatal(err)
	}
	return id, ref
}

func (e *trackEnv) track() TrackReport {
	e.t.Helper()
	rep, err := e.p.Track(context.Background(), TrackOptions{})
	if err != nil {
		e.t.Fatalf("track: %v", err)
	}
	return rep
}

func (e *trackEnv) order(id string) moyskladtest.OrderSnapshot {
	e.t.Helper()
	o, ok := e.ms.Order(id)
	if !ok {
		e.t.Fatalf("no order %s", id)
	}
	return o
}

func (e *trackEnv) record(id string) store.OrderRecord {
	e.t.Helper()
	rec, ok, err := e.st.Order(id)
	if err != nil || !ok {
		e.t.Fatalf("no record %s: %v", id, err)
	}
	return rec
}

func (e *trackEnv) events(id, kind string) []store.Event {
	e.t.Helper()
	evs, err := e.st.History(id)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []store.Event
	for _, ev := range evs {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

// at is a carrier status time: 03.12.2026 14:05 in Moscow.
var at = time.Date(2026, 12, 3, 11, 5, 0, 0, time.UTC)

func TestTrackingDeliveredMovesTheOrderAndWritesTheStatus(t *testing.T) {
	e := newTrackEnv(t)
	delivered, refD := e.shipment("T-1", 24*time.Hour)
	transit, refT := e.shipment("T-2", 24*time.Hour)
	e.tracker.set(refD, carriers.TrackDelivered, "DELIVERED", "Вручен", at)
	e.tracker.set(refT, carriers.TrackInTransit, "ACCEPTED_AT_TRANSIT_WAREHOUSE", "Принят на склад транзита", at.Add(-time.Hour))

	rep := e.track()
	if rep.Live != 2 || rep.Checked != 2 || rep.Changed != 2 || rep.Moved != 1 || rep.Writes != 2 || rep.Reads != 1 || !rep.Complete || rep.CarrierCalls != 1 {
		t.Errorf("report %+v", rep)
	}
	o := e.order(delivered)
	if o.StateName != sDelivered || o.Attr(aDeliveryStatus) != "Вручен, 03.12.2026 14:05" {
		t.Errorf("delivered order: state %q, delivery status %q", o.StateName, o.Attr(aDeliveryStatus))
	}
	// The tracking number and the rest of the order are untouched.
	if o.Attr("Трек-номер") != "TN-T-1" {
		t.Errorf("tracking number %q", o.Attr("Трек-номер"))
	}
	o = e.order(transit)
	if o.StateName != sRegistered || o.Attr(aDeliveryStatus) != "Принят на склад транзита, 03.12.2026 13:05" {
		t.Errorf("in-transit order: state %q, delivery status %q", o.StateName, o.Attr(aDeliveryStatus))
	}

	rec := e.record(delivered)
	if rec.Delivery.Status != "delivered" || rec.Delivery.Code != "DELIVERED" || rec.Delivery.Name != "Вручен" ||
		!rec.Delivery.At.Equal(at) || !rec.Delivery.CheckedAt.Equal(e.clock.Now()) || rec.LastState != sDelivered {
		t.Errorf("record: %+v, last state %q", rec.Delivery, rec.LastState)
	}
	if Phase(rec.Phase) != phaseRegistered || rec.Reference != refD || rec.Open {
		t.Errorf("tracking changed the workflow's record: %+v", rec)
	}
	if n := len(e.events(delivered, "tracking")); n != 1 {
		t.Errorf("%d tracking events", n)
	}
	if st := e.events(delivered, "status"); len(st) != 1 || st[0].Message != "Статус в МойСклад: «Доставлен»" {
		t.Errorf("status events %+v", st)
	}
	if len(e.events(delivered, "moysklad_exchange")) != 2 { // the GET and the PUT
		t.Errorf("MoySklad exchanges not in the history: %+v", e.events(delivered, "moysklad_exchange"))
	}
	if len(e.events(transit, "status")) != 0 || len(e.events(transit, "delivery_status")) != 1 {
		t.Errorf("in-transit history: %+v", e.events(transit, ""))
	}
	e.obs.mu.Lock()
	if e.obs.tracked["cdek/delivered"] != 1 || e.obs.changes["cdek/in_transit"] != 1 || e.obs.outcomes["cdek/delivered"] != 1 {
		t.Errorf("metrics: tracked %v changes %v outcomes %v", e.obs.tracked, e.obs.changes, e.obs.outcomes)
	}
	e.obs.mu.Unlock()

	// A delivered parcel is final: it is not asked about again.
	e.clock.Advance(2 * time.Hour)
	e.tracker.reset()
	rep = e.track()
	if _, asked := e.tracker.stats(); rep.Live != 1 || len(asked) != 1 || asked[0] != refT {
		t.Errorf("after delivery: report %+v, asked %v", rep, asked)
	}
}

func TestTrackingReturnMovesToReturned(t *testing.T) {
	e := newTrackEnv(t)
	back, refB := e.shipment("R-1", time.Hour)
	returned, refR := e.shipment("R-2", time.Hour)
	e.tracker.set(refB, carriers.TrackNotDelivered, "NOT_DELIVERED", "Не вручен, возврат", at)
	e.tracker.set(refR, carriers.TrackReturned, "RETURNED", "Возвращен отправителю", at)
	e.track()
	for id, want := range map[string]string{back: "Не вручен, возврат, 03.12.2026 14:05", returned: "Возвращен отправителю, 03.12.2026 14:05"} {
		if o := e.order(id); o.StateName != sReturned || o.Attr(aDeliveryStatus) != want {
			t.Errorf("order %s: state %q, delivery status %q", id, o.StateName, o.Attr(aDeliveryStatus))
		}
	}
	// Coming back is not final: the parcel is followed until it is back, and
	// its order (now in «returned») gets the new status, and stays there.
	if !carriers.TrackStatus(e.record(back).Delivery.Status).Final() {
		e.clock.Advance(2 * time.Hour)
		e.tracker.set(refB, carriers.TrackReturned, "RETURNED", "Возвращен отправителю", at.Add(48*time.Hour))
		rep := e.track()
		if rep.Checked != 1 || rep.Moved != 0 || rep.Writes != 1 {
			t.Errorf("second pass: %+v", rep)
		}
		if o := e.order(back); o.StateName != sReturned || o.Attr(aDeliveryStatus) != "Возвращен отправителю, 05.12.2026 14:05" {
			t.Errorf("order after return: state %q, delivery status %q", o.StateName, o.Attr(aDeliveryStatus))
		}
	} else {
		t.Error("not_delivered recorded as final")
	}
}

func TestTrackingKeepsAStatusAManagerChose(t *testing.T) {
	e := newTrackEnv(t)
	id, ref := e.shipment("M-1", time.Hour)
	// The manager moved the order on by hand (say, to «Новый» for a re-check).
	if err := e.ms.SetOrderState(id, "Новый"); err != nil {
		t.Fatal(err)
	}
	e.tracker.set(ref, carriers.TrackDelivered, "DELIVERED", "Вручен", at)
	rep := e.track()
	o := e.order(id)
	if o.StateName != "Новый" || o.Attr(aDeliveryStatus) != "Вручен, 03.12.2026 14:05" {
		t.Errorf("state %q, delivery status %q", o.StateName, o.Attr(aDeliveryStatus))
	}
	if rep.Moved != 0 || rep.Kept != 1 || rep.Writes != 1 {
		t.Errorf("report %+v", rep)
	}
	if kept := e.events(id, "tracking_kept_state"); len(kept) != 1 || len(e.events(id, "status")) != 0 {
		t.Errorf("history: kept %+v", kept)
	}
	if rec := e.record(id); rec.Delivery.Status != "delivered" || rec.LastState != sRegistered {
		t.Errorf("record: %+v, last state %q", rec.Delivery, rec.LastState)
	}
}

func TestTrackingWritesNothingWhenNothingChanged(t *testing.T) {
	e := newTrackEnv(t)
	id, ref := e.shipment("U-1", time.Hour)
	e.tracker.set(ref, carriers.TrackInTransit, "IN_TRANSIT", "В пути", at)
	e.track()
	puts := e.ms.PutsPerOrder(id)
	if puts != 1 {
		t.Fatalf("first pass: %d PUTs", puts)
	}
	checked := e.record(id).Delivery.CheckedAt

	e.clock.Advance(61 * time.Minute)
	before := e.ms.RequestsByEndpoint()
	rep := e.track()
	after := e.ms.RequestsByEndpoint()
	if calls, _ := e.tracker.stats(); calls != 2 || rep.Checked != 1 || rep.Changed != 0 || rep.Writes != 0 || rep.Reads != 0 {
		t.Errorf("second pass: carrier calls %d, report %+v", calls, rep)
	}
	// Nothing at all: the metadata the cycle read is reused.
	for ep, n := range after {
		if d := n - before[ep]; d != 0 {
			t.Errorf("second pass sent %d × %s", d, ep)
		}
	}
	if e.ms.PutsPerOrder(id) != puts {
		t.Errorf("PUTs %d → %d", puts, e.ms.PutsPerOrder(id))
	}
	rec := e.record(id)
	if !rec.Delivery.CheckedAt.After(checked) || len(e.events(id, "tracking")) != 1 {
		t.Errorf("checked at %v (was %v), %d tracking events", rec.Delivery.CheckedAt, checked, len(e.events(id, "tracking")))
	}

	// A new code with the same name and time changes the record, not MoySklad.
	e.clock.Advance(61 * time.Minute)
	e.tracker.set(ref, carriers.TrackInTransit, "IN_TRANSIT_2", "В пути", at)
	if rep := e.track(); rep.Changed != 1 || rep.Writes != 0 {
		t.Errorf("code-only change: %+v", rep)
	}
	if e.ms.PutsPerOrder(id) != puts || e.record(id).Delivery.Code != "IN_TRANSIT_2" {
		t.Errorf("code-only change: PUTs %d, record %+v", e.ms.PutsPerOrder(id), e.record(id).Delivery)
	}
}

func TestTrackingUnavailableChangesNothing(t *testing.T) {
	e := newTrackEnv(t)
	id, ref := e.shipment("N-1", time.Hour)
	e.tracker.set(ref, carriers.TrackDelivered, "DELIVERED", "Вручен", at)
	e.tracker.err = fmt.Errorf("no tracking contract: %w", carriers.ErrTrackingUnavailable)
	requests := e.ms.Requests()
	rep := e.track()
	// Only the metadata is read (the order metadata and its attributes collection).
	if rep.CarrierCalls != 1 || rep.Checked != 0 || e.ms.Requests() > requests+2 {
		t.Errorf("report %+v, %d MoySklad requests", rep, e.ms.Requests()-requests)
	}
	rec := e.record(id)
	if rec.Delivery != (store.Delivery{}) || e.order(id).StateName != sRegistered || len(e.events(id, "tracking")) != 0 {
		t.Errorf("something changed: %+v", rec.Delivery)
	}
	// The carrier answers again: at the next pass the shipment is still due.
	e.tracker.err = nil
	e.clock.Advance(5 * time.Minute)
	if rep := e.track(); rep.Moved != 1 {
		t.Errorf("after the outage: %+v", rep)
	}
}

// crashingMS lets every call through, but the first PUT to the order crash
// is taken by MoySklad and its answer is lost, while the pass is cancelled:
// a process killed right after the PUT.
type crashingMS struct {
	MoySklad
	crash  string
	cancel context.CancelFunc
	mu     sync.Mutex
	done   bool
}

func (c *crashingMS) UpdateOrder(ctx context.Context, id string, u moysklad.OrderUpdate) (moysklad.Order, error) {
	o, err := c.MoySklad.UpdateOrder(ctx, id, u)
	c.mu.Lock()
	defer c.mu.Unlock()
	if id == c.crash && !c.done && err == nil {
		c.done = true
		c.cancel()
		return moysklad.Order{}, context.Canceled
	}
	return o, err
}

func TestTrackingCrashMidPassRepeatsNothingHarmful(t *testing.T) {
	e := newTrackEnv(t)
	type ship struct {
		id, ref string
		status  carriers.TrackStatus
	}
	var ships []ship
	for i := range 12 {
		s := carriers.TrackInTransit
		if i%2 == 0 {
			s = carriers.TrackDelivered
		}
		id, ref := e.shipment(fmt.Sprintf("C-%02d", i), time.Hour)
		e.tracker.set(ref, s, string(s), "Статус "+string(s), at)
		ships = append(ships, ship{id, ref, s})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	crash := &crashingMS{crash: ships[4].id, cancel: cancel} // a delivered one
	e.wrapMS = func(ms MoySklad) MoySklad { crash.MoySklad = ms; return crash }
	e.restart()
	rep, err := e.p.Track(ctx, TrackOptions{})
	if err == nil && rep.Complete {
		t.Fatalf("the pass did not stop: %+v", rep)
	}
	// The crashed order's move landed, its record does not know it.
	if o := e.order(ships[4].id); o.StateName != sDelivered {
		t.Fatalf("crashed order in %q", o.StateName)
	}
	if rec := e.record(ships[4].id); rec.Delivery.Status != "" {
		t.Fatalf("crashed order's delivery saved: %+v", rec.Delivery)
	}
	first := e.ms.Requests()

	// Restart and run again, at the same time.
	e.wrapMS = nil
	e.restart()
	rep2 := e.track()
	if !rep2.Complete {
		t.Errorf("re-run: %+v", rep2)
	}
	t.Logf("first pass %+v; re-run %+v; %d + %d MoySklad requests", rep, rep2, first, e.ms.Requests()-first)
	for i, s := range ships {
		o := e.order(s.id)
		want := sRegistered
		if s.status == carriers.TrackDelivered {
			want = sDelivered
		}
		if o.StateName != want || o.Attr(aDeliveryStatus) != "Статус "+string(s.status)+", 03.12.2026 14:05" {
			t.Errorf("order %d: state %q, delivery status %q", i, o.StateName, o.Attr(aDeliveryStatus))
		}
		// Each order was written once: the crashed one's re-run read it,
		// found it moved and written, and wrote nothing.
		if n := e.ms.PutsPerOrder(s.id); n != 1 {
			t.Errorf("order %d: %d PUTs", i, n)
		}
		if n := len(e.events(s.id, "tracking")); n != 1 {
			t.Errorf("order %d: %d tracking events", i, n)
		}
		if n := len(e.events(s.id, "status")); s.status == carriers.TrackDelivered && s.id != ships[4].id && n != 1 {
			t.Errorf("order %d: %d status events", i, n)
		}
		if rec := e.record(s.id); rec.Delivery.Status != string(s.status) {
			t.Errorf("order %d: record %+v", i, rec.Delivery)
		}
	}
	// A third pass, a period later, has nothing to write.
	e.clock.Advance(61 * time.Minute)
	if rep := e.track(); rep.Writes != 0 || rep.Reads != 0 || rep.Checked != 6 {
		t.Errorf("third pass: %+v", rep)
	}
}

func TestTrackingRespectsMaxAgeAndEvery(t *testing.T) {
	e := newTrackEnv(t)
	_, old := e.shipment("A-old", 61*24*time.Hour)
	_, fresh := e.shipment("A-new", 59*24*time.Hour)
	e.tracker.set(fresh, carriers.TrackInTransit, "IN_TRANSIT", "В пути", at)

	if due, err := e.p.TrackingDue(); err != nil || !due {
		t.Fatalf("no pass has run: due %v, %v", due, err)
	}
	rep := e.track()
	if _, asked := e.tracker.stats(); rep.Live != 1 || len(asked) != 1 || asked[0] != fresh {
		t.Errorf("max_age: report %+v, asked %v (the %s shipment is past tracking.max_age)", rep, asked, old)
	}
	if due, _ := e.p.TrackingDue(); due {
		t.Error("a pass is due right after one ran")
	}

	// Within tracking.every nothing is asked again, though passes are due
	// every every/12.
	e.clock.Advance(30 * time.Minute)
	if due, _ := e.p.TrackingDue(); !due {
		t.Error("no pass due after every/12")
	}
	e.tracker.reset()
	if rep := e.track(); rep.CarrierCalls != 0 || rep.Due != 0 || !rep.Complete {
		t.Errorf("within every: %+v", rep)
	}
	e.clock.Advance(31 * time.Minute)
	if rep := e.track(); rep.CarrierCalls != 1 || rep.Checked != 1 {
		t.Errorf("after every: %+v", rep)
	}
	// The fresh one ages past max_age too.
	e.clock.Advance(2 * 24 * time.Hour)
	e.tracker.reset()
	if rep := e.track(); rep.Live != 0 || rep.CarrierCalls != 0 {
		t.Errorf("after max_age: %+v", rep)
	}

	// tracking.every 0: no pass is ever due, and Track does nothing.
	off := newTrackEnv(t, func(c *Config) { c.TrackEvery = 0 })
	off.shipment("Z-1", time.Hour)
	if due, _ := off.p.TrackingDue(); due {
		t.Error("due with tracking off")
	}
	if rep := off.track(); rep.Live != 0 || off.ms.Requests() != 0 {
		t.Errorf("tracking off: %+v, %d requests", rep, off.ms.Requests())
	}
}

func TestTrackingSpreadsShipmentsOverThePeriod(t *testing.T) {
	e := newTrackEnv(t)
	for i := range 24 {
		_, ref := e.shipment(fmt.Sprintf("S-%02d", i), time.Hour)
		e.tracker.set(ref, carriers.TrackInTransit, "IN_TRANSIT", "В пути", at)
	}
	// The first pass takes them all.
	if rep := e.track(); rep.Checked != 24 {
		t.Fatalf("first pass: %+v", rep)
	}
	// Passes every 5 minutes: none is due until an hour has passed, then
	// each pass takes its share, 24 × 5 min / 1 h = 2, stalest first.
	var counts []int
	for range 23 {
		e.clock.Advance(5 * time.Minute)
		rep := e.track()
		counts = append(counts, rep.Checked)
	}
	want := []int{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("shipments per pass %v, want %v", counts, want)
	}
	// After those twelve slices every shipment was asked once more, each at
	// its own time.
	seen := map[time.Time]int{}
	err := e.st.Orders(func(rec store.OrderRecord) bool {
		seen[rec.Delivery.CheckedAt]++
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	var times []time.Time
	for tm := range seen {
		times = append(times, tm)
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	if len(times) != 12 {
		t.Errorf("%d distinct check times, want 12 slices: %v", len(times), seen)
	}
}

func TestTrackingLeavesOrdersTheWorkflowIsHandling(t *testing.T) {
	e := newTrackEnv(t)
	id, ref := e.shipment("W-1", time.Hour)
	rec := e.record(id)
	rec.Open = true // a re-assert or a deletion is in flight
	if err := e.st.Save(rec); err != nil {
		t.Fatal(err)
	}
	other, refO := e.shipment("W-2", time.Hour)
	rec = e.record(other)
	rec.Phase = string(phaseDeleting)
	if err := e.st.Save(rec); err != nil {
		t.Fatal(err)
	}
	e.tracker.set(ref, carriers.TrackDelivered, "DELIVERED", "Вручен", at)
	e.tracker.set(refO, carriers.TrackDelivered, "DELIVERED", "Вручен", at)
	if rep := e.track(); rep.Live != 0 || rep.CarrierCalls != 0 {
		t.Errorf("report %+v", rep)
	}
	if e.ms.PutsPerOrder(id) != 0 || e.ms.PutsPerOrder(other) != 0 {
		t.Error("an order in the workflow's hands was written")
	}
}

func TestTrackingStopsAtTheDeadline(t *testing.T) {
	e := newTrackEnv(t)
	for i := range 3 {
		_, ref := e.shipment(fmt.Sprintf("D-%d", i), time.Hour)
		e.tracker.set(ref, carriers.TrackInTransit, "IN_TRANSIT", "В пути", at)
	}
	rep, err := e.p.Track(context.Background(), TrackOptions{Deadline: e.clock.Now()})
	if err != nil || rep.Complete || rep.CarrierCalls != 0 || rep.Writes != 0 {
		t.Errorf("past the deadline: %+v, %v", rep, err)
	}
	if due, _ := e.p.TrackingDue(); !due {
		t.Error("an incomplete pass counted as done")
	}
}

func TestDeliveryText(t *testing.T) {
	for _, c := range []struct {
		tr   carriers.Tracking
		want string
	}{
		{carriers.Tracking{Status: carriers.TrackDelivered, Name: "Вручен", At: at}, "Вручен, 03.12.2026 14:05"},
		{carriers.Tracking{Status: carriers.TrackDelivered, At: at}, "Вручен получателю, 03.12.2026 14:05"},
		{carriers.Tracking{Status: carriers.TrackInTransit, Name: " В пути "}, "В пути"},
		{carriers.Tracking{}, ""},
	} {
		if got := deliveryText(c.tr); got != c.want {
			t.Errorf("deliveryText(%+v) = %q, want %q", c.tr, got, c.want)
		}
	}
}

func TestResolveTrackingNamesWhatIsMissing(t *testing.T) {
	md := moysklad.Metadata{States: []moysklad.State{{Name: sRegistered}, {Name: sDelivered}},
		Attributes: []moysklad.AttributeDef{{Name: aDeliveryStatus, Type: "file"}}}
	err := ResolveTracking(md, StateNames{Registered: sRegistered, Delivered: sDelivered, Returned: sReturned}, AttributeNames{DeliveryStatus: aDeliveryStatus})
	var mm *MissingMetadataError
	if !errors.As(err, &mm) || len(mm.Problems) != 2 ||
		mm.Problems[0] != `status "Возврат" (moysklad.states.returned)` ||
		mm.Problems[1] != `attribute "Статус доставки" (moysklad.attributes.delivery_status) has type file, want string or text` {
		t.Fatalf("%v", err)
	}
	// A disabled move needs no status.
	md.Attributes[0].Type = "string"
	if err := ResolveTracking(md, StateNames{Registered: sRegistered, Delivered: sDelivered}, AttributeNames{DeliveryStatus: aDeliveryStatus}); err != nil {
		t.Errorf("returned disabled: %v", err)
	}
}

func TestTrackingMoySkladUnavailableStopsThePassAndSavesNothing(t *testing.T) {
	e := newTrackEnv(t)
	id, ref := e.shipment("F-1", time.Hour)
	e.tracker.set(ref, carriers.TrackDelivered, "DELIVERED", "Вручен", at)
	e.track()
	if e.order(id).StateName != sDelivered {
		t.Fatal("setup: the first pass did not move the order")
	}

	// A second shipment, and MoySklad failing every request after the
	// metadata read.
	id2, ref2 := e.shipment("F-2", time.Hour)
	e.tracker.set(ref2, carriers.TrackInTransit, "IN_TRANSIT", "В пути", at)
	e.clock.Advance(61 * time.Minute)
	e.wrapMS = func(ms MoySklad) MoySklad { return &failingWrites{MoySklad: ms, srv: e.ms} }
	e.restart()
	_, err := e.p.Track(context.Background(), TrackOptions{})
	if err == nil {
		t.Fatal("the pass did not report MoySklad's outage")
	}
	if rec := e.record(id2); rec.Delivery != (store.Delivery{}) || len(e.events(id2, "tracking")) != 0 {
		t.Errorf("saved without the write: %+v", rec.Delivery)
	}
	if due, _ := e.p.TrackingDue(); !due {
		t.Error("a failed pass counted as done")
	}
	// MoySklad is back: the next pass writes it.
	e.wrapMS = nil
	e.restart()
	e.clock.Advance(5 * time.Minute)
	if rep := e.track(); rep.Writes != 1 || e.order(id2).Attr(aDeliveryStatus) != "В пути, 03.12.2026 14:05" {
		t.Errorf("after the outage: %+v, %q", rep, e.order(id2).Attr(aDeliveryStatus))
	}
	if n := len(e.events(id2, "tracking")); n != 1 {
		t.Errorf("%d tracking events", n)
	}
}

// failingWrites makes the simulator answer 503 to every PUT (beyond the
// client's retries).
type failingWrites struct {
	MoySklad
	srv *moyskladtest.Server
}

func (f *failingWrites) UpdateOrder(ctx context.Context, id string, u moysklad.OrderUpdate) (moysklad.Order, error) {
	f.srv.FailNext(100, 503)
	defer f.srv.FailNext(0, 0)
	return f.MoySklad.UpdateOrder(ctx, id, u)
}

func TestTrackingRefusedWriteIsNotRepeated(t *testing.T) {
	e := newTrackEnv(t)
	id, ref := e.shipment("G-1", time.Hour)
	e.tracker.set(ref, carriers.TrackInTransit, "IN_TRANSIT", "В пути", at)
	refusing := &refusingWrites{}
	e.wrapMS = func(ms MoySklad) MoySklad { refusing.MoySklad = ms; return refusing }
	e.restart()
	rep := e.track()
	if rep.Writes != 1 || !rep.Complete {
		t.Errorf("report %+v", rep)
	}
	rec := e.record(id)
	if rec.Delivery.Status != "in_transit" || len(e.events(id, "tracking_update_failed")) != 1 || len(e.events(id, "tracking")) != 1 {
		t.Errorf("record %+v, events %+v", rec.Delivery, e.events(id, "tracking_update_failed"))
	}
	// The same status is not sent again (a 4xx is never repeated unchanged).
	e.clock.Advance(61 * time.Minute)
	if rep := e.track(); rep.Checked != 1 || rep.Writes != 0 || refusing.calls() != 1 {
		t.Errorf("same status again: %+v, %d PUTs tried", rep, refusing.calls())
	}
	// The next status is written afresh.
	e.wrapMS = nil
	e.restart()
	e.clock.Advance(61 * time.Minute)
	e.tracker.set(ref, carriers.TrackAtPickup, "ACCEPTED_AT_PICK_UP_POINT", "Принят в пункт выдачи", at.Add(time.Hour))
	if rep := e.track(); rep.Writes != 1 || e.order(id).Attr(aDeliveryStatus) != "Принят в пункт выдачи, 03.12.2026 15:05" {
		t.Errorf("next status: %+v, %q", rep, e.order(id).Attr(aDeliveryStatus))
	}
}

// refusingWrites answers every PUT as MoySklad refuses a bad one (400).
type refusingWrites struct {
	MoySklad
	mu sync.Mutex
	n  int
}

func (r *refusingWrites) UpdateOrder(context.Context, string, moysklad.OrderUpdate) (moysklad.Order, error) {
	r.mu.Lock()
	r.n++
	r.mu.Unlock()
	return moysklad.Order{}, &moysklad.Error{StatusCode: 400}
}

func (r *refusingWrites) calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}
