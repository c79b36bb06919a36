package poller

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/moysklad"
)

// A manager renames an order while its create is unconfirmed: the lookup
// and any re-send use the number already sent, never the new name.
func TestRenameWhileCreateUnconfirmed(t *testing.T) {
	fc := newFakeCarrier()
	fc.loseNext = 1
	h := newHarness(t, fc, noQuickRetries)
	id := h.addOrder("R1", nil)
	h.set(id, sReady)
	h.cycle()
	if rec := h.record(id); Phase(rec.Phase) != phaseSubmitting || rec.Number != "R1" {
		t.Fatalf("after the lost answer: %s %s", rec.Phase, rec.Number)
	}
	if err := h.ms.UpdateOrder(id, func(e *orderEdit) { e.Name = "R1X" }); err != nil {
		t.Fatal(err)
	}
	h.cycle()
	h.cycle()
	if o := h.order(id); o.StateName != sRegistered {
		t.Fatalf("state %s; history %+v", o.StateName, h.history(id))
	}
	if live := fc.liveShipments(); live["R1"] != 1 || live["R1X"] != 0 || fc.createsFor("R1X") != 0 {
		t.Errorf("live %v, creates R1X %d", live, fc.createsFor("R1X"))
	}
	// The same when the renamed order is deleted instead.
	fc2 := newFakeCarrier()
	fc2.loseNext = 1
	h2 := newHarness(t, fc2)
	id2 := h2.addOrder("D1", nil)
	h2.set(id2, sReady)
	h2.cycle()
	if err := h2.ms.UpdateOrder(id2, func(e *orderEdit) { e.Name = "D1X" }); err != nil {
		t.Fatal(err)
	}
	h2.set(id2, sDelete)
	h2.cycle()
	h2.cycle()
	if o := h2.order(id2); o.StateName != sDeleted {
		t.Fatalf("delete after rename: %s", o.StateName)
	}
	if live := fc2.liveShipments(); len(live) != 0 {
		t.Errorf("orphan after rename+delete: %v", live)
	}
}

// «ready» while the carrier is still deciding a delete must not claim a
// live shipment; once the delete lands, a new one is registered.
func TestReadyWhileDeletePending(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc)
	id := h.addOrder("P1", nil)
	h.set(id, sReady)
	h.cycle()
	fc.set(func(f *fakeCarrier) { f.slowDelete = true })
	h.set(id, sDelete)
	h.cycle()
	h.set(id, sReady)
	h.cycle()
	if o := h.order(id); o.StateName == sRegistered {
		t.Fatalf("registered while the only shipment is being deleted")
	}
	fc.finishDeletes()
	h.cycle()
	h.cycle()
	o := h.order(id)
	if o.StateName != sRegistered {
		t.Fatalf("state %s; history %+v", o.StateName, h.history(id))
	}
	consistent(t, h, fc, id, "P1")
	if !strings.HasSuffix(o.Attr("Накладная"), "P1-2.pdf") {
		t.Errorf("waybill %q is not the new shipment's", o.Attr("Накладная"))
	}
}

// A carrier disabled while a create is unconfirmed: the order is not
// forgotten; when the carrier is back, it finishes with one shipment.
func TestCarrierDisabledMidFlight(t *testing.T) {
	fc := newFakeCarrier()
	fc.loseNext = 1
	h := newHarness(t, fc, noQuickRetries)
	id := h.addOrder("C1", nil)
	h.set(id, sReady)
	h.cycle()
	h.noCarriers = true
	h.restart()
	h.cycle()
	rec := h.record(id)
	if !rec.Open || decodeState(rec.Pending).Settled {
		t.Fatalf("settled without its carrier: %+v", rec)
	}
	if o := h.order(id); o.StateName != sReady {
		t.Fatalf("state %s", o.StateName)
	}
	h.noCarriers = false
	h.restart()
	h.cycle()
	h.cycle()
	if o := h.order(id); o.StateName != sRegistered {
		t.Fatalf("state %s; history %+v", o.StateName, h.history(id))
	}
	if fc.createsFor("C1") != 1 {
		t.Errorf("creates %d", fc.createsFor("C1"))
	}
}

// lossyMoySklad applies PUTs but loses the answer of the first n.
type lossyMoySklad struct {
	MoySklad
	lose atomic.Int32
}

func (l *lossyMoySklad) UpdateOrder(ctx context.Context, id string, u moysklad.OrderUpdate) (moysklad.Order, error) {
	o, err := l.MoySklad.UpdateOrder(ctx, id, u)
	if err == nil && l.lose.Add(-1) >= 0 {
		return moysklad.Order{}, &moysklad.NetworkError{Method: "PUT", Path: "/entity/customerorder/" + id, Err: context.DeadlineExceeded}
	}
	return o, err
}

// The answer to our own write-back is lost: the next cycle sees the status
// applied and settles the order as written, without a second PUT.
func TestLostWriteBackAnswer(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc)
	lossy := &lossyMoySklad{}
	lossy.lose.Store(1)
	h.wrapMS = func(ms MoySklad) MoySklad { lossy.MoySklad = ms; return lossy }
	h.restart()
	id := h.addOrder("L1", nil)
	h.set(id, sReady)
	h.cycle()
	h.cycle()
	o := h.order(id)
	if o.StateName != sRegistered || o.Puts != 1 {
		t.Fatalf("state %s, puts %d", o.StateName, o.Puts)
	}
	rec := h.record(id)
	if rec.Open || !decodeState(rec.Pending).Settled || rec.LastState != sRegistered {
		t.Errorf("record not settled: %+v", rec)
	}
	if h.hasEvent(id, "left_trigger") {
		t.Error("our own write-back was taken for a manager's change")
	}
}

// refusingMoySklad refuses (400) every PUT that carries a file.
type refusingMoySklad struct {
	MoySklad
	refused atomic.Int32
}

func (r *refusingMoySklad) UpdateOrder(ctx context.Context, id string, u moysklad.OrderUpdate) (moysklad.Order, error) {
	for _, a := range u.Attributes {
		if a.File != nil {
			r.refused.Add(1)
			return moysklad.Order{}, &moysklad.Error{StatusCode: 400, Errors: []moysklad.APIError{{Code: 14005, Error: "file too large"}}}
		}
	}
	return r.MoySklad.UpdateOrder(ctx, id, u)
}

// MoySklad refuses the waybill file: the order still gets its status and
// tracking number, and says why the waybill is missing.
func TestRefusedWaybillDegrades(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc)
	ref := &refusingMoySklad{}
	h.wrapMS = func(ms MoySklad) MoySklad { ref.MoySklad = ms; return ref }
	h.restart()
	id := h.addOrder("W1", nil)
	h.set(id, sReady)
	for i := 0; i < 4; i++ {
		h.cycle()
	}
	o := h.order(id)
	if o.StateName != sRegistered || o.Attr("Трек-номер") == "" || !strings.Contains(o.Attr("Ошибка доставки"), "Накладную не удалось прикрепить") {
		t.Fatalf("state %s, tracking %q, error %q", o.StateName, o.Attr("Трек-номер"), o.Attr("Ошибка доставки"))
	}
	if n := ref.refused.Load(); n != 2 {
		t.Errorf("refused %d times, want 2", n)
	}
}

// A create whose answer never came may still be in flight: a "not found"
// right after it does not justify sending it again until the grace period
// has passed.
func TestUnansweredCreateIsNotResentWithinGrace(t *testing.T) {
	fc := newFakeCarrier()
	lost := &carriers.Error{Kind: carriers.KindAmbiguous, Carrier: "cdek", Op: "create order", Message: "нет ответа"}
	fc.submitErrs = []error{lost} // the request never reached the carrier, but we cannot know
	h := newHarness(t, fc, func(c *Config) { c.ReconcileGrace = 400 * time.Millisecond })
	id := h.addOrder("U1", nil)
	h.set(id, sReady)
	h.cycle()
	h.cycle() // not found, but within the grace: wait
	if n := fc.calls["submit"]; n != 1 {
		t.Fatalf("re-sent within the grace: %d submits", n)
	}
	if !h.hasEvent(id, "waiting") {
		t.Error("no waiting event")
	}
	h.clock.Advance(450 * time.Millisecond)
	h.cycle()
	h.cycle()
	if o := h.order(id); o.StateName != sRegistered {
		t.Fatalf("state %s; history %+v", o.StateName, h.history(id))
	}
	if n := fc.createsFor("U1"); n != 1 {
		t.Errorf("creates %d", n)
	}
}

// An answered transient failure (the carrier said 503) is re-sent after a
// lookup without waiting for the grace.
func TestAnsweredFailureIsResentAfterLookup(t *testing.T) {
	fc := newFakeCarrier()
	fc.submitErrs = []error{errTransient}
	h := newHarness(t, fc, func(c *Config) { c.ReconcileGrace = time.Hour })
	id := h.addOrder("U2", nil)
	h.set(id, sReady)
	h.cycle()
	h.cycle()
	if o := h.order(id); o.StateName != sRegistered || fc.createsFor("U2") != 1 {
		t.Fatalf("state %s, creates %d", o.StateName, fc.createsFor("U2"))
	}
}

// pagingWatch slows the listing down and records any PUT made while pages
// are still being read.
type pagingWatch struct {
	MoySklad
	paging     atomic.Bool
	putsDuring atomic.Int32
	// submitted is closed when the first order reaches the carrier; the
	// listing holds its second page until then (or a bound), so orders
	// provably start while pages are still being read.
	submitted chan struct{}
	once      sync.Once
}

func (w *pagingWatch) submit() { w.once.Do(func() { close(w.submitted) }) }

func (w *pagingWatch) ListOrdersPages(ctx context.Context, q moysklad.ListOrdersQuery, fn func([]moysklad.Order) error) error {
	w.paging.Store(true)
	defer w.paging.Store(false)
	return w.MoySklad.ListOrdersPages(ctx, q, func(page []moysklad.Order) error {
		if err := fn(page); err != nil {
			return err
		}
		select { // the next page takes a while
		case <-w.submitted:
		case <-time.After(5 * time.Second):
		}
		return nil
	})
}

func (w *pagingWatch) UpdateOrder(ctx context.Context, id string, u moysklad.OrderUpdate) (moysklad.Order, error) {
	if w.paging.Load() {
		w.putsDuring.Add(1)
	}
	return w.MoySklad.UpdateOrder(ctx, id, u)
}

// Orders start while later pages load, but no write-back happens before
// the listing is over (a PUT would shift the offsets of the pages to come).
func TestNoWriteBackWhileListing(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc, func(c *Config) { c.Workers = 16 })
	w := &pagingWatch{submitted: make(chan struct{})}
	h.wrapMS = func(ms MoySklad) MoySklad { w.MoySklad = ms; return w }
	h.restart()
	var overlapped atomic.Bool
	fc.beforeSubmit = func() {
		if w.paging.Load() {
			overlapped.Store(true)
		}
		w.submit()
	}
	var ids []string
	for i := 0; i < 250; i++ {
		id := h.addOrder(fmt.Sprintf("G%03d", i), nil)
		if err := h.ms.SetOrderState(id, sReady); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	h.cycle()
	if n := w.putsDuring.Load(); n != 0 {
		t.Errorf("%d PUTs while the listing paged", n)
	}
	for _, id := range ids {
		if o := h.order(id); o.StateName != sRegistered || o.Puts != 1 {
			t.Fatalf("%s: %s, %d PUTs", o.Name, o.StateName, o.Puts)
		}
	}
	// The carrier work did overlap the listing: orders of the first page
	// reached the carrier before the last page was read.
	if !overlapped.Load() {
		t.Error("no order reached the carrier while pages were still being read")
	}
}
