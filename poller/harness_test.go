package poller

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/moysklad"
	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
	"github.com/shipbridge/shipbridge/store"
)

// Default names of PRODUCT.md §1.
var (
	testStates = StateNames{Ready: "Готов к отгрузке", Registered: "Зарегистрирован перевозчиком", Failed: "Ошибка оформления доставки",
		Delete: "Удалить заказ на доставку", Deleted: "Заказ на доставку удален", NotDeleted: "Заказ на доставку НЕ удален"}
	testAttrs = AttributeNames{Carrier: "Служба доставки", PickupPoint: "Код ПВЗ", Tariff: "Тариф доставки",
		TrackingNumber: "Трек-номер", Waybill: "Накладная", Error: "Ошибка доставки"}
)

// harness runs the real cycle against the MoySklad simulator and a carrier.
type harness struct {
	t       *testing.T
	ms      *moyskladtest.Server
	client  *moysklad.Client
	seeded  moyskladtest.Seeded
	carrier carriers.Carrier
	dbPath  string
	st      *store.Store
	p       *Poller
	cfg     Config
	agent   string
	product string
	// noCarriers starts the poller with no carrier enabled.
	noCarriers bool
	// wrapMS, when set, stands between the poller and the MoySklad client.
	wrapMS func(MoySklad) MoySklad
	// clock drives the poller, the MoySklad simulator's data and, where a
	// test wires it, the carrier and its simulator.
	clock *fakeClock
	// extra are carriers registered besides carrier, with their profiles.
	extra []extraCarrier
}

type extraCarrier struct {
	c  carriers.Carrier
	pr carriers.Profile
}

func newHarness(t *testing.T, c carriers.Carrier, opts ...func(*Config)) *harness {
	t.Helper()
	return newHarnessClock(t, newFakeClock(), c, opts...)
}

// newHarnessClock is newHarness on a given clock (shared with a carrier
// simulator).
func newHarnessClock(t *testing.T, clock *fakeClock, c carriers.Carrier, opts ...func(*Config)) *harness {
	t.Helper()
	ms := moyskladtest.NewServer(moyskladtest.Options{RequestsPerWindow: 1000, Window: time.Second, Now: clock.stamps()})
	t.Cleanup(ms.Close)
	h := &harness{t: t, ms: ms, carrier: c, seeded: moyskladtest.Seed(ms), dbPath: filepath.Join(t.TempDir(), "shipbridge.db"), clock: clock}
	h.client = newClient(t, ms)
	h.cfg = Config{States: testStates, Attributes: testAttrs, Workers: 4, PollInterval: 5 * time.Millisecond, FirstPollDelay: 5 * time.Millisecond,
		SettleTimeout: 2 * time.Second, ReconcileGrace: time.Millisecond, RetryBase: time.Millisecond, RetryMax: 2 * time.Millisecond, QuickRetry: time.Millisecond,
		SweepEvery: time.Hour}
	for _, o := range opts {
		o(&h.cfg)
	}
	h.agent = ms.AddCounterparty(moyskladtest.CounterpartySeed{Name: "Иванов Иван", Phone: "+7 916 123-45-67", Email: "ivan@example.ru"})
	h.product = ms.AddProduct(moyskladtest.ProductSeed{Name: "Чайник", Article: "KT-1", Weight: 1.2})
	h.start()
	return h
}

func newClient(t *testing.T, ms *moyskladtest.Server) *moysklad.Client {
	t.Helper()
	client, err := moysklad.New(moysklad.Config{BaseURL: ms.URL(), Token: ms.Token(), RequestsPerWindow: 1000, Window: time.Second, MaxParallel: 4,
		RetryBaseDelay: time.Millisecond, RetryMaxDelay: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// start opens the store and builds a poller, as a process start would.
func (h *harness) start() {
	h.t.Helper()
	st, err := store.Open(h.dbPath, store.Options{})
	if err != nil {
		h.t.Fatal(err)
	}
	h.st = st
	h.t.Cleanup(func() { st.Close() })
	var reg carriers.Registry
	if !h.noCarriers {
		if err := reg.Register(h.carrier, carriers.Profile{Names: []string{"СДЭК", "CDEK"}, WeightUnit: "kg", LengthCM: 20, WidthCM: 15, HeightCM: 10, CashOnDelivery: "auto"}); err != nil {
			h.t.Fatal(err)
		}
		for _, x := range h.extra {
			if err := reg.Register(x.c, x.pr); err != nil {
				h.t.Fatal(err)
			}
		}
	}
	var ms MoySklad = h.client
	if h.wrapMS != nil {
		ms = h.wrapMS(ms)
	}
	h.p = New(h.cfg, Deps{MoySklad: ms, Carriers: &reg, Store: st, Logger: zaptest.NewLogger(h.t), Now: h.clock.Now, Sleep: h.clock.Sleep})
}

// restart closes the store and starts again, as after a crash.
func (h *harness) restart() {
	h.t.Helper()
	h.st.Close()
	h.start()
}

// addOrder adds an order in status "Новый" with a good recipient, one
// product and the given attributes (carrier СДЭК and pickup point by
// default).
func (h *harness) addOrder(name string, attrs map[string]any) string {
	h.t.Helper()
	a := map[string]any{"Служба доставки": "СДЭК", "Код ПВЗ": "MSK67"}
	for k, v := range attrs {
		if v == nil {
			delete(a, k)
			continue
		}
		a[k] = v
	}
	return h.ms.AddOrder(moyskladtest.OrderSeed{Name: name, AgentID: h.agent, StateName: "Новый",
		Positions: []moyskladtest.PositionSeed{{ProductID: h.product, Quantity: 2, Price: 150000}}, Attributes: a})
}

func (h *harness) set(id, state string) {
	h.t.Helper()
	if err := h.ms.SetOrderState(id, state); err != nil {
		h.t.Fatal(err)
	}
	// MoySklad stamps 'updated' with millisecond precision; keep changes
	// of one order apart as a manager's clicks are.
	h.clock.Advance(2 * time.Millisecond)
}

// cycle runs one cycle, once the backoffs of the previous one have passed
// on the fake clock, as the next scheduled cycle would.
func (h *harness) cycle() {
	h.t.Helper()
	h.clock.Advance(3*h.cfg.RetryMax + 2*h.cfg.PollInterval)
	if err := h.p.Cycle(context.Background()); err != nil {
		h.t.Fatalf("cycle: %v", err)
	}
}

func (h *harness) order(id string) moyskladtest.OrderSnapshot {
	h.t.Helper()
	o, ok := h.ms.Order(id)
	if !ok {
		h.t.Fatalf("no order %s", id)
	}
	return o
}

func (h *harness) record(id string) store.OrderRecord {
	h.t.Helper()
	rec, ok, err := h.st.Order(id)
	if err != nil || !ok {
		h.t.Fatalf("no record for %s: %v", id, err)
	}
	return rec
}

func (h *harness) history(id string) []store.Event {
	h.t.Helper()
	evs, err := h.st.History(id)
	if err != nil {
		h.t.Fatal(err)
	}
	return evs
}

func (h *harness) hasEvent(id, kind string) bool {
	for _, e := range h.history(id) {
		if e.Kind == kind {
			return true
		}
	}
	return false
}

// noQuickRetries turns off the retries within a pass, for tests of what
// an order does across cycles after a failure.
func noQuickRetries(c *Config) { c.QuickRetries = -1 }

// Status names, short.
const (
	sReady      = "Готов к отгрузке"
	sRegistered = "Зарегистрирован перевозчиком"
	sFailed     = "Ошибка оформления доставки"
	sDelete     = "Удалить заказ на доставку"
	sDeleted    = "Заказ на доставку удален"
	sNotDeleted = "Заказ на доставку НЕ удален"
)
