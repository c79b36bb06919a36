package poller

import (
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/carriers"
)

// Issue 11, point 8: a waybill the carrier keeps failing to give does not
// hold the status and the tracking number back for more than WaybillWait;
// the order is written registered with a note, and the waybill is attached
// when it comes (an attribute-only write that also clears the note).
func TestWaybillThatKeepsFailingDoesNotHoldRegistrationBack(t *testing.T) {
	fc := newFakeCarrier()
	fc.set(func(f *fakeCarrier) {
		f.waybillErr = &carriers.Error{Kind: carriers.KindTransient, Carrier: "cdek", Op: "get waybill", Code: "v2_entity_not_ready", Message: "Накладная ещё не готова"}
	})
	h := newHarness(t, fc, func(c *Config) { c.WaybillWait = 2 * time.Minute })
	id := h.addOrder("WB-1", nil)
	h.set(id, sReady)
	h.cycle()
	if o := h.order(id); o.StateName != sReady || o.Attr("Трек-номер") != "" {
		t.Fatalf("before WaybillWait: %s, tracking %q", o.StateName, o.Attr("Трек-номер"))
	}
	h.clock.Advance(3 * time.Minute)
	h.cycle()
	o := h.order(id)
	rec := h.record(id)
	if o.StateName != sRegistered || o.Attr("Трек-номер") == "" || o.Attributes["Накладная"].File != nil || o.Attr("Ошибка доставки") != waybillLaterText {
		t.Fatalf("after WaybillWait: %s, tracking %q, error %q; history %s", o.StateName, o.Attr("Трек-номер"), o.Attr("Ошибка доставки"), h.timeline(id))
	}
	if !rec.Open || rec.NextAttemptAt.IsZero() {
		t.Fatalf("the order must stay open for its waybill: %+v", rec)
	}
	// Still failing: nothing is written, the wait goes on.
	puts := h.ms.PutsPerOrder(id)
	h.clock.Advance(time.Hour)
	h.cycle()
	if h.ms.PutsPerOrder(id) != puts || !h.record(id).Open {
		t.Fatalf("a still-missing waybill wrote %d PUTs or closed the order", h.ms.PutsPerOrder(id)-puts)
	}
	// The waybill comes: attached, the note cleared, the status untouched.
	fc.set(func(f *fakeCarrier) { f.waybillErr = nil })
	h.clock.Advance(time.Hour)
	h.cycle()
	o = h.order(id)
	if o.StateName != sRegistered || o.Attributes["Накладная"].File == nil || o.Attr("Ошибка доставки") != "" || h.record(id).Open {
		t.Fatalf("after the waybill came: %s, waybill %v, error %q, open %v; history %s", o.StateName, o.Attributes["Накладная"].File, o.Attr("Ошибка доставки"), h.record(id).Open, h.timeline(id))
	}
	if fc.createsFor("WB-1") != 1 {
		t.Errorf("creates %d", fc.createsFor("WB-1"))
	}
}
