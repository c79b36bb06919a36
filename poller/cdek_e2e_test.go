package poller

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/carriers/cdek"
	"github.com/shipbridge/shipbridge/carriers/cdek/cdektest"
)

// newCDEKHarness runs the real cycle against both simulators.
func newCDEKHarness(t *testing.T, opts cdektest.Options, cfg ...func(*Config)) (*harness, *cdektest.Server) {
	t.Helper()
	clock := newFakeClock()
	sim := newCDEKSim(t, clock, opts)
	c, err := cdek.New(cdek.Config{BaseURL: sim.URL(), ClientID: sim.ClientID(), ClientSecret: sim.ClientSecret(), Now: clock.Now,
		ShipmentPoint: "MSK65", PollInterval: 5 * time.Millisecond, Sender: cdek.Sender{Name: "ИП Петров", Phone: "+79990000000"}})
	if err != nil {
		t.Fatal(err)
	}
	return newHarnessClock(t, clock, c, cfg...), sim
}

// newCDEKSim starts the CDEK simulator on the fake clock. Requests are
// decided at the first status check after they were accepted, and print
// forms are ready at once: the CDEK client waits for deletes and print
// forms on a real timer, which does not move the fake clock.
func newCDEKSim(t *testing.T, clock *fakeClock, opts cdektest.Options) *cdektest.Server {
	t.Helper()
	opts.Now = clock.Now
	if opts.PrintDelay == nil {
		opts.PrintDelay = func() time.Duration { return 0 }
	}
	if opts.SettleDelay == nil {
		opts.SettleDelay = func() time.Duration { return 0 }
	}
	sim := cdektest.NewServer(opts)
	t.Cleanup(sim.Close)
	return sim
}

func TestCDEKEndToEndRules(t *testing.T) {
	h, sim := newCDEKHarness(t, cdektest.Options{})
	ok := h.addOrder("E-100", nil)
	door := h.addOrder("E-101", map[string]any{"Код ПВЗ": nil})
	if err := h.ms.UpdateOrder(door, func(e *orderEdit) {
		e.ShipmentAddress = "г. Москва, ул. Мясницкая, д. 1, кв. 5"
	}); err != nil {
		t.Fatal(err)
	}
	badPVZ := h.addOrder("E-102", map[string]any{"Код ПВЗ": "ZZZ999"})
	other := h.addOrder("E-103", map[string]any{"Служба доставки": "Почта России"})
	for _, id := range []string{ok, door, badPVZ, other} {
		h.set(id, sReady)
	}
	h.cycle()

	o := h.order(ok)
	if o.StateName != sRegistered || o.Attr("Трек-номер") == "" || o.Attributes["Накладная"].File == nil ||
		!strings.HasPrefix(string(o.Attributes["Накладная"].File.Content), "%PDF") || o.Puts != 1 {
		t.Errorf("pickup-point order: %s, tracking %q, waybill %v, puts %d; history %+v", o.StateName, o.Attr("Трек-номер"), o.Attributes["Накладная"].File != nil, o.Puts, h.history(ok))
	}
	if d := h.order(door); d.StateName != sRegistered {
		t.Errorf("door order: %s %q", d.StateName, d.Attr("Ошибка доставки"))
	}
	b := h.order(badPVZ)
	if b.StateName != sFailed || !strings.Contains(b.Attr("Ошибка доставки"), "ZZZ999") {
		t.Errorf("unknown pickup point: %s %q", b.StateName, b.Attr("Ошибка доставки"))
	}
	if x := h.order(other); x.StateName != sReady || x.Puts != 0 {
		t.Errorf("other carrier touched: %s %d", x.StateName, x.Puts)
	}
	if n := sim.CreatesForNumber("E-100"); n != 1 {
		t.Errorf("creates for E-100: %d", n)
	}
	if !h.hasEvent(ok, "carrier_exchange") {
		t.Error("history lacks the CDEK exchanges")
	}
	for _, e := range h.history(ok) {
		if strings.Contains(string(e.Data), sim.ClientSecret()) || strings.Contains(strings.ToLower(string(e.Data)), "bearer ") {
			t.Errorf("secret in history: %s", e.Data)
		}
	}

	// Rule 6: delete while CREATED works; after CDEK moves on it is refused.
	h.set(ok, sDelete)
	h.cycle()
	if o := h.order(ok); o.StateName != sDeleted || o.Attr("Трек-номер") != "" {
		t.Errorf("delete: %s %q", o.StateName, o.Attr("Трек-номер"))
	}
	if err := sim.SetOrderStatus("E-101", "RECEIVED_AT_SHIPMENT_WAREHOUSE"); err != nil {
		t.Fatal(err)
	}
	h.set(door, sDelete)
	h.cycle()
	if d := h.order(door); d.StateName != sNotDeleted || d.Attr("Ошибка доставки") == "" {
		t.Errorf("refused delete: %s %q", d.StateName, d.Attr("Ошибка доставки"))
	}
	// Rule 7: ready again after deletion registers under a new number.
	h.set(ok, sReady)
	h.cycle()
	if o := h.order(ok); o.StateName != sRegistered {
		t.Errorf("re-register: %s %q", o.StateName, o.Attr("Ошибка доставки"))
	}
	if sim.ActiveOrdersForNumber("E-100-2") != 1 || sim.ActiveOrdersForNumber("E-100") != 0 {
		t.Errorf("active: E-100 %d, E-100-2 %d", sim.ActiveOrdersForNumber("E-100"), sim.ActiveOrdersForNumber("E-100-2"))
	}
}

func TestCDEKLostCreateResponse(t *testing.T) {
	h, sim := newCDEKHarness(t, cdektest.Options{})
	id := h.addOrder("E-200", nil)
	h.set(id, sReady)
	sim.LoseNextCreateResponse(1)
	h.cycle()
	h.cycle()
	if o := h.order(id); o.StateName != sRegistered {
		t.Fatalf("state %s; history %+v", o.StateName, h.history(id))
	}
	if n := sim.CreatesForNumber("E-200"); n != 1 {
		t.Errorf("creates = %d, want 1", n)
	}
}

func TestCDEKOutageThenRecovery(t *testing.T) {
	h, sim := newCDEKHarness(t, cdektest.Options{}, noQuickRetries)
	id := h.addOrder("E-300", nil)
	h.set(id, sReady)
	// An outage, not a blip: reads are retried inside the call (three
	// tries), so it takes more than three failures to keep the order waiting.
	sim.FailNext(12, 502)
	for i := 0; i < 3; i++ {
		h.cycle()
		if o := h.order(id); o.StateName != sReady {
			t.Fatalf("during outage: %s", o.StateName)
		}
	}
	for i := 0; i < 8 && h.order(id).StateName != sRegistered; i++ {
		h.cycle()
	}
	if o := h.order(id); o.StateName != sRegistered {
		t.Fatalf("after outage: %s; history %+v", o.StateName, h.history(id))
	}
	if n := sim.ActiveOrdersForNumber("E-300"); n != 1 {
		t.Errorf("active orders %d", n)
	}
}

// crashingCDEK is the real CDEK adapter, except that the process "dies"
// (the worker stops dead) right after CDEK answered the first create with
// its 202, before shipbridge recorded anything.
type crashingCDEK struct {
	*cdek.Carrier
	crashed bool
}

func (c *crashingCDEK) Submit(ctx context.Context, s carriers.Shipment) (carriers.Registration, error) {
	reg, err := c.Carrier.Submit(ctx, s)
	if !c.crashed {
		c.crashed = true
		runtime.Goexit()
	}
	return reg, err
}

func TestCDEKCrashBetweenAcceptAndWriteBack(t *testing.T) {
	sim := cdektest.NewServer(cdektest.Options{})
	t.Cleanup(sim.Close)
	inner, err := cdek.New(cdek.Config{BaseURL: sim.URL(), ClientID: sim.ClientID(), ClientSecret: sim.ClientSecret(),
		ShipmentPoint: "MSK65", PollInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, &crashingCDEK{Carrier: inner})
	id := h.addOrder("E-400", nil)
	h.set(id, sReady)
	_ = h.p.Cycle(context.Background())
	if o := h.order(id); o.StateName != sReady {
		t.Fatalf("after the crash: %s", o.StateName)
	}
	if rec := h.record(id); Phase(rec.Phase) != phaseSubmitting || rec.Reference != "" {
		t.Fatalf("after the crash: phase %s, reference %q", rec.Phase, rec.Reference)
	}
	// A new process: fresh adapter (no memory of the create), same store.
	fresh, err := cdek.New(cdek.Config{BaseURL: sim.URL(), ClientID: sim.ClientID(), ClientSecret: sim.ClientSecret(),
		ShipmentPoint: "MSK65", PollInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h.carrier = fresh
	h.restart()
	h.cycle()
	o := h.order(id)
	if o.StateName != sRegistered || o.Attr("Трек-номер") == "" {
		t.Fatalf("after restart: %s; history %+v", o.StateName, h.history(id))
	}
	if n := sim.CreatesForNumber("E-400"); n != 1 {
		t.Errorf("creates = %d, want exactly 1", n)
	}
	if n := sim.ActiveOrdersForNumber("E-400"); n != 1 {
		t.Errorf("active orders = %d", n)
	}
}

func TestCDEKLostCreateThenDeleteWaitsForTheCarrier(t *testing.T) {
	clock := newFakeClock()
	sim := newCDEKSim(t, clock, cdektest.Options{NotFoundWindow: 150 * time.Millisecond})
	c, err := cdek.New(cdek.Config{BaseURL: sim.URL(), ClientID: sim.ClientID(), ClientSecret: sim.ClientSecret(), Now: clock.Now,
		ShipmentPoint: "MSK65", PollInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessClock(t, clock, c, func(cfg *Config) { cfg.ReconcileGrace = 400 * time.Millisecond })
	id := h.addOrder("E-500", nil)
	h.set(id, sReady)
	sim.LoseNextCreateResponse(1)
	h.cycle() // the create reached CDEK, its answer did not reach us
	h.set(id, sDelete)
	h.cycle() // CDEK does not show the fresh order yet: shipbridge must not trust that
	for i := 0; i < 100 && h.order(id).StateName != sDeleted; i++ {
		h.clock.Advance(50 * time.Millisecond)
		h.cycle()
	}
	if o := h.order(id); o.StateName != sDeleted {
		t.Fatalf("state %s; history %+v", o.StateName, h.history(id))
	}
	h.clock.Advance(100 * time.Millisecond) // let CDEK decide anything still pending
	if n := sim.ActiveOrdersForNumber("E-500"); n != 0 {
		t.Errorf("orphan at CDEK: %d live orders", n)
	}
}

// A lost store must not turn a live CDEK shipment into «удален»: the
// delete asks CDEK under the order's numbers and deletes what it finds.
func TestCDEKDeleteAfterLostStore(t *testing.T) {
	h, sim := newCDEKHarness(t, cdektest.Options{})
	id := h.addOrder("E-800", nil)
	h.set(id, sReady)
	h.cycle()
	if o := h.order(id); o.StateName != sRegistered || sim.ActiveOrdersForNumber("E-800") != 1 {
		t.Fatalf("state %s, active %d", o.StateName, sim.ActiveOrdersForNumber("E-800"))
	}
	h.loseStore()
	h.set(id, sDelete)
	h.cycle()
	if o := h.order(id); o.StateName != sDeleted {
		t.Fatalf("state %s; history %s", o.StateName, h.timeline(id))
	}
	h.clock.Advance(time.Second) // let CDEK decide the delete
	if n := sim.ActiveOrdersForNumber("E-800"); n != 0 {
		t.Fatalf("%d live orders left at CDEK", n)
	}
}
