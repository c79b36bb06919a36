package poller

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/carriers/cdek/cdektest"
)

// A live shipment under the order's number that is not ours (no mark: made
// by hand) is seen by the lookup before the create: it is never adopted and
// never touched; the order is registered under the next free number, and
// the history says why. (Sending the create first would make a CDEK-like
// carrier refuse it as a duplicate, and that refused create would then hide
// the live one from every lookup by number.)
func TestForeignShipmentUnderNumberIsNotAdopted(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc)
	id := h.addOrder("F1", nil)
	foreign := fc.plant("F1", "", "+79990001122")
	h.set(id, sReady)
	h.cycle()
	o := h.order(id)
	rec := h.record(id)
	if o.StateName != sRegistered || rec.Reference == foreign || rec.Number != "F1-2" || fc.createsFor("F1") != 0 {
		t.Fatalf("state %s, number %s, reference %s (foreign %s), creates under F1 %d; history %s", o.StateName, rec.Number, rec.Reference, foreign, fc.createsFor("F1"), h.timeline(id))
	}
	if !h.hasEvent(id, "number_taken") {
		t.Errorf("the history does not say the number was taken: %s", h.timeline(id))
	}
	if fc.liveShipments()["F1"] != 1 {
		t.Errorf("the foreign shipment was touched: %v", fc.liveShipments())
	}
}

// A create that never reached the carrier (no answer), where the lookup
// finds a live shipment under the number carrying another order's mark
// (same number, another order): not ours, not adopted; the order is
// registered under the next free number, and the history says why.
func TestLostAnswerFindsAnotherOrdersShipment(t *testing.T) {
	fc := newFakeCarrier()
	fc.submitErrs = []error{&carriers.Error{Kind: carriers.KindAmbiguous, Carrier: "cdek", Op: "create order", Message: "нет ответа"}}
	h := newHarness(t, fc)
	id := h.addOrder("F2", nil)
	foreign := fc.plant("F2", "shipbridge:some-other-order", "+79161234567")
	h.set(id, sReady)
	h.cycle()
	rec := h.record(id)
	if o := h.order(id); o.StateName != sRegistered || rec.Number != "F2-2" || rec.Reference == foreign {
		t.Fatalf("state %s number %s; history %s", o.StateName, rec.Number, h.timeline(id))
	}
	if !h.hasEvent(id, "number_taken") {
		t.Errorf("the history does not say the number was taken: %s", h.timeline(id))
	}
}

// Our mark with another recipient phone is not ours either (carriers.Owns).
func TestMarkWithAnotherPhoneIsNotOurs(t *testing.T) {
	fc := newFakeCarrier()
	fc.submitErrs = []error{&carriers.Error{Kind: carriers.KindAmbiguous, Carrier: "cdek", Op: "create order", Message: "нет ответа"}}
	h := newHarness(t, fc)
	id := h.addOrder("F3", nil)
	fc.plant("F3", markOf(id), "+79990000000")
	h.set(id, sReady)
	h.cycle()
	if rec := h.record(id); rec.Number != "F3-2" {
		t.Fatalf("number %s; history %s", rec.Number, h.timeline(id))
	}
}

// A lost answer whose shipment IS ours (our mark, our phone) is adopted:
// one shipment, no re-send.
func TestLostAnswerAdoptsOurs(t *testing.T) {
	fc := newFakeCarrier()
	fc.loseNext = 1
	h := newHarness(t, fc)
	id := h.addOrder("F4", nil)
	h.set(id, sReady)
	h.cycle()
	if o := h.order(id); o.StateName != sRegistered || fc.createsFor("F4") != 1 || h.record(id).Number != "F4" {
		t.Fatalf("state %s, creates %d; history %s", o.StateName, fc.createsFor("F4"), h.timeline(id))
	}
}

// loseStore starts over with an empty store, as after a lost disk.
func (h *harness) loseStore() {
	h.t.Helper()
	h.st.Close()
	h.dbPath = filepath.Join(h.t.TempDir(), "fresh.db")
	h.start()
}

// A lost store must not turn a live shipment into «удален»: delete asks
// the carrier under every number the order may have had, and deletes ours.
func TestDeleteWithLostStoreFindsAndDeletesOurs(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc)
	id := h.addOrder("D1", nil)
	h.set(id, sReady)
	h.cycle()
	h.set(id, sDelete)
	h.cycle()
	h.set(id, sReady)
	h.cycle() // now registered as D1-2
	if rec := h.record(id); rec.Number != "D1-2" {
		t.Fatalf("number %s", rec.Number)
	}
	h.loseStore()
	h.set(id, sDelete)
	h.cycle()
	if o := h.order(id); o.StateName != sDeleted {
		t.Fatalf("state %s; history %s", o.StateName, h.timeline(id))
	}
	if live := fc.liveShipments(); live["D1-2"] != 0 || live["D1"] != 0 {
		t.Fatalf("live shipments left at the carrier: %v", live)
	}
	if !h.hasEvent(id, "carrier_found") || !h.hasEvent(id, "carrier_deleted") {
		t.Errorf("history %s", h.timeline(id))
	}
}

// A shipment under the order's number that is not provably ours is never
// deleted: the manager is told (not_deleted).
func TestDeleteWithLostStoreLeavesForeignAlone(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc)
	id := h.addOrder("D2", nil)
	fc.plant("D2", "", "")
	h.set(id, sDelete)
	h.cycle()
	o := h.order(id)
	if o.StateName != sNotDeleted || !strings.Contains(o.Attr("Ошибка доставки"), "D2") {
		t.Fatalf("state %s %q; history %s", o.StateName, o.Attr("Ошибка доставки"), h.timeline(id))
	}
	if fc.liveShipments()["D2"] != 1 || fc.calls["delete"] != 0 {
		t.Fatalf("the foreign shipment was deleted")
	}
}

// With nothing at the carrier, delete of an unknown order is «удален» after
// the carrier was asked.
func TestDeleteWithNothingAnywhere(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc)
	id := h.addOrder("D3", nil)
	h.set(id, sDelete)
	h.cycle()
	if o := h.order(id); o.StateName != sDeleted || fc.calls["find"] == 0 {
		t.Fatalf("state %s, %d lookups", o.StateName, fc.calls["find"])
	}
}

// A single failed call (a blip) does not push the order into a backoff:
// it is registered within the same cycle, end to end against the CDEK
// simulator.
func TestCDEKBlipRegistersInTheSameCycle(t *testing.T) {
	h, sim := newCDEKHarness(t, cdektest.Options{}, func(c *Config) { c.RetryBase, c.RetryMax = 10*time.Minute, 30*time.Minute })
	id := h.addOrder("E-700", nil)
	h.set(id, sReady)
	sim.FailNext(1, 502)
	if err := h.p.Cycle(context.Background()); err != nil {
		t.Fatal(err)
	}
	if o := h.order(id); o.StateName != sRegistered {
		t.Fatalf("state %s after one cycle; history %s", o.StateName, h.timeline(id))
	}
	if n := sim.CreatesForNumber("E-700"); n != 1 {
		t.Errorf("creates %d", n)
	}
}

// The carrier's answer is saved before any wait: while the workflow waits
// for the first status check, the store already has the reference.
func TestAnswerSavedBeforeTheWait(t *testing.T) {
	fc := newFakeCarrier()
	fc.pendingFor = 1
	h := newHarness(t, fc)
	id := h.addOrder("S1", nil)
	h.set(id, sReady)
	var during []string
	h.p.sleep = func(ctx context.Context, d time.Duration) error {
		rec, _, _ := h.st.Order(id)
		during = append(during, rec.Phase+"/"+rec.Reference)
		return h.clock.Sleep(ctx, d)
	}
	h.cycle()
	if len(during) == 0 || during[0] != "accepted/uuid-1" {
		t.Fatalf("stored while waiting: %v", during)
	}
	if o := h.order(id); o.StateName != sRegistered {
		t.Fatalf("state %s", o.StateName)
	}
}

// An order waiting for its retry is visible (Progress, history), the
// manager is told once that a retry is scheduled, and `retry` makes it due.
func TestWaitingRetryIsVisibleAndRetryNow(t *testing.T) {
	fc := newFakeCarrier()
	fc.failAll = &carriers.Error{Kind: carriers.KindTransient, Carrier: "cdek", HTTPStatus: 502, Message: "СДЭК временно недоступен; повтор запланирован"}
	h := newHarness(t, fc, noQuickRetries, func(c *Config) { c.RetryBase, c.RetryMax = 10*time.Minute, 30*time.Minute })
	id := h.addOrder("W1", nil)
	h.set(id, sReady)
	for i := 0; i < 3; i++ {
		h.clock.Advance(time.Hour)
		if err := h.p.Cycle(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	msg := h.order(id).Attr("Ошибка доставки")
	if n := strings.Count(strings.ToLower(msg), "повтор запланирован"); n != 1 {
		t.Errorf("the manager's text says %d times that a retry is scheduled: %q", n, msg)
	}
	rec := h.record(id)
	pr := h.p.Progress()
	if pr.Waiting != 1 || !pr.NextRetryAt.Equal(rec.NextAttemptAt) || !rec.NextAttemptAt.After(h.clock.Now()) {
		t.Fatalf("progress %+v, record next %s", pr, rec.NextAttemptAt)
	}
	fc.set(func(f *fakeCarrier) { f.failAll = nil })
	// Without retry the next cycle leaves it waiting …
	if err := h.p.Cycle(context.Background()); err != nil {
		t.Fatal(err)
	}
	if o := h.order(id); o.StateName != sReady {
		t.Fatalf("handled before its retry time: %s", o.StateName)
	}
	// … with retry it is handled at once.
	ok, err := RetryNow(h.st, id, h.clock.Now())
	if err != nil || !ok {
		t.Fatalf("RetryNow = %v, %v", ok, err)
	}
	if err := h.p.Cycle(context.Background()); err != nil {
		t.Fatal(err)
	}
	if o := h.order(id); o.StateName != sRegistered {
		t.Fatalf("after retry: %s; history %s", o.StateName, h.timeline(id))
	}
	if ok, _ := RetryNow(h.st, id, h.clock.Now()); ok {
		t.Error("RetryNow of a settled order reported true")
	}
}

func TestRetryNoteSaysItOnce(t *testing.T) {
	for in, want := range map[string]string{
		"СДЭК временно недоступен; повтор запланирован": "СДЭК временно недоступен. Повтор запланирован автоматически",
		"СДЭК не отвечает": "СДЭК не отвечает. Повтор запланирован автоматически",
		"СДЭК ещё не подтвердил удаление заказа; проверка повторится": "СДЭК ещё не подтвердил удаление заказа. Повтор запланирован автоматически",
	} {
		if got := retryNote(in); got != want {
			t.Errorf("retryNote(%q) = %q, want %q", in, got, want)
		}
	}
}

// After a lost store, «ready» again finds the order's live shipment before
// any create and keeps it. CDEK's lookup answers only the most recent order
// under a number: a refused duplicate (sent by another system) may hide an
// older live one, and a delete with no shipment in the store then does not
// conclude «удален».
func TestDeleteWithLostStoreDoesNotTrustAHiddenLiveOne(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc)
	id := h.addOrder("H1", nil)
	h.set(id, sReady)
	h.cycle() // live H1
	h.loseStore()
	h.set(id, sReady)
	h.cycle() // the store knows nothing: the lookup before the create finds H1, ours
	if fc.createsFor("H1") != 1 || fc.liveShipments()["H1"] != 1 || h.order(id).StateName != sRegistered || !h.hasEvent(id, "carrier_found") {
		t.Fatalf("creates %d, live %v, state %s; history %s", fc.createsFor("H1"), fc.liveShipments(), h.order(id).StateName, h.timeline(id))
	}
	// Another system sends H1 again: refused as a duplicate, it is now the
	// most recent order under H1 and hides the live one.
	if _, err := fc.Submit(context.Background(), carriers.Shipment{OrderName: "H1", Number: "H1", Mark: "someone-else", Recipient: carriers.Contact{Phone: "+79990000000"}}); err != nil && carriers.KindOf(err) != carriers.KindRejected {
		t.Fatal(err)
	}
	if fc.createsFor("H1") != 2 || fc.liveShipments()["H1"] != 1 {
		t.Fatalf("creates %d, live %v", fc.createsFor("H1"), fc.liveShipments())
	}
	h.loseStore()
	h.set(id, sDelete)
	h.cycle()
	o := h.order(id)
	if o.StateName != sNotDeleted || !strings.Contains(o.Attr("Ошибка доставки"), "H1") {
		t.Fatalf("state %s %q; history %s", o.StateName, o.Attr("Ошибка доставки"), h.timeline(id))
	}
	if fc.liveShipments()["H1"] != 1 {
		t.Fatal("the live shipment is gone")
	}
}

// With FinderAll (Почта-like), a foreign shipment under the number beside
// a create that never arrived: the order moves to the next free number;
// a lost answer beside a foreign one adopts ours.
func TestFinderAllSeesForeignAndOurs(t *testing.T) {
	fc := newFakeCarrier()
	pf := newPostFake()
	h := newHarness(t, fc)
	withPost(h, pf)
	pf.plant("PF-1", "", "+79990000000")
	pf.plant("PF-2", "", "+79990000000")
	attrs := map[string]any{"Служба доставки": "Почта России", "Код ПВЗ": "101000"}
	a := h.addOrder("PF-1", attrs)
	b := h.addOrder("PF-2", attrs)
	// PF-1: the lookup before the create sees the foreign one; the order
	// moves to PF-1-2, whose first create never reaches Почта and is
	// re-sent after the lookup finds nothing.
	pf.dropNext = 1
	h.set(a, sReady)
	for i := 0; i < 3 && h.order(a).StateName != sRegistered; i++ {
		h.cycle()
		h.clock.Advance(5 * time.Minute)
	}
	if rec := h.record(a); rec.Number != "PF-1-2" || h.order(a).StateName != sRegistered || pf.live("PF-1") != 1 || pf.live("PF-1-2") != 1 {
		t.Fatalf("PF-1: number %s state %s; history %s", rec.Number, h.order(a).StateName, h.timeline(a))
	}
	// PF-2: a foreign one under PF-2 too, so the order goes to PF-2-2,
	// whose create arrives while its answer is lost: the lookup finds ours
	// beside nothing else and adopts it, without a second create.
	pf.loseNext = 1
	h.set(b, sReady)
	h.cycle()
	if rec := h.record(b); rec.Number != "PF-2-2" || h.order(b).StateName != sRegistered || pf.live("PF-2") != 1 || pf.creates["PF-2-2"] != 1 {
		t.Fatalf("PF-2: number %s state %s live %d creates %d; history %s", rec.Number, h.order(b).StateName, pf.live("PF-2"), pf.creates["PF-2"], h.timeline(b))
	}
}
