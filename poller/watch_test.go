package poller

import (
	"context"
	"strings"
	"testing"

	"github.com/shipbridge/shipbridge/moysklad"
	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
)

// watchCheck runs Changed and returns its answer and how many MoySklad
// requests it sent.
func watchCheck(t *testing.T, h *harness) (Change, int) {
	t.Helper()
	before := h.ms.Requests()
	c, err := h.p.Changed(context.Background())
	if err != nil {
		t.Fatalf("Changed: %v", err)
	}
	return c, h.ms.Requests() - before
}

func TestChangedManagerStatusChangeAndOwnOutcomes(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc)
	a := h.addOrder("00001", nil)
	b := h.addOrder("00002", nil)

	// Before any cycle: nothing to compare with, nothing asked.
	if c, n := watchCheck(t, h); c.Changed || n != 0 {
		t.Fatalf("before the first cycle: %+v, %d requests", c, n)
	}
	h.cycle() // nothing in a trigger status: sets the cursor
	if c, n := watchCheck(t, h); c.Changed || n != 1 || !c.Asked {
		t.Fatalf("idle: %+v, %d requests; want not changed with 1 request", c, n)
	}

	// A manager's edit outside the trigger statuses is no news.
	if err := h.ms.UpdateOrder(b, func(e *moyskladtest.OrderEdit) { e.Description = "позвонить" }); err != nil {
		t.Fatal(err)
	}
	if c, _ := watchCheck(t, h); c.Changed {
		t.Fatalf("an edit of an order in «Новый»: %+v", c)
	}

	// A manager sets «Готов к отгрузке»: changed, with one request.
	h.set(a, sReady)
	c, n := watchCheck(t, h)
	if !c.Changed || n != 1 || !strings.Contains(c.Reason, "00001") {
		t.Fatalf("after the status change: %+v, %d requests", c, n)
	}
	if got := h.ms.RequestsByEndpoint()["GET /entity/customerorder"]; got < 1 {
		t.Fatalf("the check did not ask the order list")
	}

	// The cycle registers it and writes the outcome: right after it the
	// echo of that write is no news.
	h.cycle()
	if o := h.order(a); o.StateName != sRegistered {
		t.Fatalf("state %s", o.StateName)
	}
	if c, n := watchCheck(t, h); c.Changed || n != 1 {
		t.Fatalf("right after the cycle that wrote its outcome: %+v, %d requests", c, n)
	}
	// Again a moment later: still nothing (no cycle forever on the echo).
	h.clock.Advance(10 * h.cfg.RetryMax)
	if c, _ := watchCheck(t, h); c.Changed {
		t.Fatalf("later: %+v", c)
	}

	// The manager sends it back to ready (a flip): news again.
	h.set(a, sDelete)
	if c, _ := watchCheck(t, h); !c.Changed {
		t.Fatalf("delete requested: %+v", c)
	}
	h.cycle()
	if o := h.order(a); o.StateName != sDeleted {
		t.Fatalf("state %s", o.StateName)
	}
	if c, _ := watchCheck(t, h); c.Changed {
		t.Fatalf("after the delete cycle: %+v", c)
	}
}

// TestChangedOwnWriteInTriggerStatus: an order shipbridge wrote while it
// stays in a trigger status is recognised by the 'updated' our write got.
func TestChangedOwnWriteInTriggerStatus(t *testing.T) {
	h := newHarness(t, newFakeCarrier())
	a := h.addOrder("00003", nil)
	h.cycle()
	h.set(a, sReady)
	// As if shipbridge had written the order and kept MoySklad's answer.
	if err := h.ms.UpdateOrder(a, func(e *moyskladtest.OrderEdit) { e.Description = "записано shipbridge" }); err != nil {
		t.Fatal(err)
	}
	o := h.order(a)
	rec, _, _ := h.st.Order(a)
	rec.ID, rec.Name, rec.LastUpdated = a, "00003", moysklad.Moment{Time: o.Updated}.String()
	if err := h.st.Save(rec); err != nil {
		t.Fatal(err)
	}
	if c, _ := watchCheck(t, h); c.Changed || !strings.Contains(c.Reason, "own write") {
		t.Fatalf("own write: %+v", c)
	}
	// A manager's change after our write is news.
	h.clock.Advance(5e6)
	if err := h.ms.UpdateOrder(a, func(e *moyskladtest.OrderEdit) { e.Description = "менеджер" }); err != nil {
		t.Fatal(err)
	}
	if c, _ := watchCheck(t, h); !c.Changed {
		t.Fatalf("manager's edit after our write: %+v", c)
	}
}

// TestChangedRetryDue: a retry that falls due between cycles is found in
// the store, without a request.
func TestChangedRetryDue(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc, noQuickRetries)
	a := h.addOrder("00004", nil)
	h.cycle()
	h.set(a, sReady)
	fc.set(func(f *fakeCarrier) { f.failAll = errTransient })
	h.cycle()
	rec := h.record(a)
	if rec.NextAttemptAt.IsZero() {
		t.Fatalf("no retry planned: %+v", rec)
	}
	if c, _ := watchCheck(t, h); c.Changed {
		t.Fatalf("retry not due yet: %+v", c)
	}
	h.clock.Advance(rec.NextAttemptAt.Sub(h.clock.Now()))
	c, n := watchCheck(t, h)
	if !c.Changed || n != 0 || !strings.Contains(c.Reason, "retry") {
		t.Fatalf("retry due: %+v, %d requests; want changed, no request", c, n)
	}
	fc.set(func(f *fakeCarrier) { f.failAll = nil })
	h.cycle()
	if o := h.order(a); o.StateName != sRegistered {
		t.Fatalf("state %s", o.StateName)
	}
	if c, _ := watchCheck(t, h); c.Changed {
		t.Fatalf("after the retry: %+v", c)
	}
}
