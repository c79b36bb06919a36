package poller

import (
	"testing"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/moysklad/moyskladtest"
)

// cyclesUntil runs cycles until done reports true, at most n.
func (h *harness) cyclesUntil(n int, done func() bool) bool {
	h.t.Helper()
	for i := 0; i < n; i++ {
		if done() {
			return true
		}
		h.cycle()
	}
	return done()
}

// A: the integration user may read orders but not edit them (403, code
// 1017). The write-back is the operator's problem, not the order's: it is
// kept with its waybill and nothing is counted against the order however
// many cycles refuse it; once the right is given back it lands exactly
// once. Both the bulk update and the PUT.
func TestWriteDeniedKeepsOutcome(t *testing.T) {
	for _, put := range []bool{false, true} {
		name := "bulk"
		if put {
			name = "put"
		}
		t.Run(name, func(t *testing.T) {
			fc := newFakeCarrier()
			h := newHarness(t, fc, noQuickRetries, func(c *Config) { c.PutWriteBack = put })
			id := h.addOrder("00101", nil)
			h.ms.DenyOrderEdits(true)
			h.set(id, sReady)
			for i := 0; i < 2*maxRefusedWriteBacks+2; i++ {
				h.cycle()
			}
			o := h.order(id)
			if o.StateName != sReady || o.Puts != 0 {
				t.Fatalf("while denied: %s, %d writes", o.StateName, o.Puts)
			}
			st := decodeState(h.record(id).Pending)
			if st.Settled || st.WriteBack == nil || st.WriteBack.Waybill == nil || st.WriteBack.Refusals != 0 || st.WriteBack.Denied < 2 {
				t.Fatalf("state while denied: %+v %+v", st, st.WriteBack)
			}
			if !h.hasEvent(id, "moysklad_write_denied") || h.hasEvent(id, "moysklad_update_abandoned") || h.hasEvent(id, "moysklad_update_failed") {
				t.Errorf("history: %+v", h.history(id))
			}
			h.ms.DenyOrderEdits(false)
			h.cycle()
			h.cycle()
			o = h.order(id)
			if o.StateName != sRegistered || o.Puts != 1 || o.Attr("Трек-номер") == "" || o.Attributes["Накладная"].File == nil {
				t.Fatalf("after the right is back: %s, %d writes, tracking %q, waybill %+v", o.StateName, o.Puts, o.Attr("Трек-номер"), o.Attributes["Накладная"])
			}
			if fc.createsFor("00101") != 1 {
				t.Errorf("%d creates", fc.createsFor("00101"))
			}
			h.cycle()
			if h.order(id).Puts != 1 {
				t.Errorf("written again: %d", h.order(id).Puts)
			}
		})
	}
}

// B: an order that needed carrier retries before keeps its waybill on its
// first MoySklad refusal (the carrier's retries are not write refusals),
// and its write-back lands once MoySklad takes it.
func TestWriteRefusalAfterCarrierRetries(t *testing.T) {
	fc := newFakeCarrier()
	busy := &carriers.Error{Kind: carriers.KindTransient, Carrier: "cdek", Op: "create order", Message: "503"}
	fc.submitErrs = []error{busy, busy}
	h := newHarness(t, fc, noQuickRetries)
	id := h.addOrder("00102", nil)
	h.ms.RefuseOrderWrites(id, 11002, "Ошибка инициализации статуса: статус не принадлежит данному типу документа")
	h.set(id, sReady)
	if !h.cyclesUntil(10, func() bool { return h.hasEvent(id, "moysklad_update_failed") }) {
		t.Fatalf("never refused: %+v", h.history(id))
	}
	if h.record(id).Retries < 2 {
		t.Fatalf("carrier retries %d, want 2", h.record(id).Retries)
	}
	h.ms.RefuseOrderWrites(id, 0, "")
	h.cycle()
	h.cycle()
	o := h.order(id)
	if o.StateName != sRegistered || o.Puts != 1 || o.Attributes["Накладная"].File == nil || o.Attr("Ошибка доставки") != "" {
		t.Fatalf("%s, %d writes, waybill %+v, error %q; history %+v", o.StateName, o.Puts, o.Attributes["Накладная"], o.Attr("Ошибка доставки"), h.history(id))
	}
	if h.hasEvent(id, "moysklad_update_abandoned") {
		t.Error("abandoned")
	}
}

// C: MoySklad refuses a bulk request with an invalid element as a whole (400,
// an array of {errors} not aligned with the request). The other orders of
// the request still land; the bad one ends as a refused write left to the
// operator, with the message on its record, not in an endless loop.
func TestBulkRejectAllArray(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc, noQuickRetries)
	h.ms.SetBulkErrors(moyskladtest.BulkRejectAll)
	var ids []string
	for _, n := range []string{"00201", "00202", "00203", "00204"} {
		ids = append(ids, h.addOrder(n, nil))
	}
	bad := ids[2]
	h.ms.RefuseOrderWrites(bad, 3006, "Ошибка сохранения: документ заблокирован")
	for _, id := range ids {
		h.set(id, sReady)
	}
	h.cycle()
	for _, id := range ids {
		if id == bad {
			continue
		}
		o := h.order(id)
		if o.StateName != sRegistered || o.Puts != 1 || o.Attributes["Накладная"].File == nil {
			t.Errorf("%s: %s, %d writes", o.Name, o.StateName, o.Puts)
		}
	}
	if !h.cyclesUntil(3*maxRefusedWriteBacks, func() bool { return decodeState(h.record(bad).Pending).Settled }) {
		t.Fatalf("the bad order never settles: %+v", h.history(bad))
	}
	rec := h.record(bad)
	if !h.hasEvent(bad, "moysklad_update_abandoned") || rec.Error == "" || h.order(bad).StateName != sReady {
		t.Errorf("bad order: error %q, state %s, history %+v", rec.Error, h.order(bad).StateName, h.history(bad))
	}
	for _, id := range ids {
		if id != bad && h.order(id).Puts != 1 {
			t.Errorf("%s written %d times", h.order(id).Name, h.order(id).Puts)
		}
	}
}
