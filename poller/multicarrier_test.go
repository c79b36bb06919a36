package poller

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/shipbridge/shipbridge/carriers"
)

// withPost registers the Почта-like fake beside the harness's carrier.
func withPost(h *harness, pf *postFake) {
	h.t.Helper()
	h.extra = append(h.extra, extraCarrier{c: pf, pr: carriers.Profile{Names: []string{"Почта России"}, WeightUnit: "kg", LengthCM: 20, WidthCM: 15, HeightCM: 10, CashOnDelivery: "auto"}})
	h.restart()
}

// Two carriers at once: a CDEK-like asynchronous, idempotent carrier and a
// Почта-like synchronous, non-idempotent one with FinderAll and Batcher.
// Each order goes to its own carrier in the same cycle; the Почта order is
// batched after its creation and before its waybill step, with its carrier
// data stored and handed back; a lost create answer at Почта is
// reconciled by listing, never re-sent blindly (it would duplicate).
func TestTwoCarriersInOneCycle(t *testing.T) {
	fc := newFakeCarrier()
	fc.pendingFor = 2
	pf := newPostFake()
	pf.loseNext = 1
	h := newHarness(t, fc)
	withPost(h, pf)

	cdekID := h.addOrder("TC-1", nil)
	postID := h.addOrder("TP-1", map[string]any{"Служба доставки": "Почта России", "Код ПВЗ": "101000"})
	h.set(cdekID, sReady)
	h.set(postID, sReady)
	h.cycle()

	if o := h.order(cdekID); o.StateName != sRegistered || o.Attr("Трек-номер") == "" {
		t.Fatalf("CDEK order: %s %q; history %+v", o.StateName, o.Attr("Трек-номер"), h.timeline(cdekID))
	}
	o := h.order(postID)
	if o.StateName != sRegistered || !strings.HasPrefix(o.Attr("Трек-номер"), "800") {
		t.Fatalf("Почта order: %s %q; history %+v", o.StateName, o.Attr("Трек-номер"), h.timeline(postID))
	}
	if n := pf.live("TP-1"); n != 1 || pf.creates["TP-1"] != 1 {
		t.Fatalf("Почта: %d live, %d creates under TP-1; want 1 and 1 (no blind re-send)", n, pf.creates["TP-1"])
	}
	if fc.createsFor("TP-1") != 0 || pf.creates["TC-1"] != 0 {
		t.Fatal("an order went to the other carrier")
	}
	rec := h.record(postID)
	var d postData
	if err := json.Unmarshal(rec.CarrierData, &d); err != nil || d.ID == 0 || d.Batch == "" {
		t.Fatalf("carrier data %s (%v): want the internal id and the batch", rec.CarrierData, err)
	}
	if rec.Carrier != "pochta" || Phase(rec.Phase) != phaseRegistered {
		t.Fatalf("record %s %s", rec.Carrier, rec.Phase)
	}
	if len(pf.seenData) != 1 || !strings.Contains(string(pf.seenData[0]), `"id":`) {
		t.Fatalf("Batch was handed %q; want the data of the creation", pf.seenData)
	}
	// Batch intent is recorded before the call, and after the shipment was
	// found (the lost answer) — never before a shipment exists.
	var kinds []string
	for _, e := range h.history(postID) {
		switch e.Kind {
		case "carrier_submit", "carrier_found", "carrier_batch", "carrier_batched", "status":
			kinds = append(kinds, e.Kind)
		}
	}
	if got := strings.Join(kinds, ","); got != "carrier_submit,carrier_found,carrier_batch,carrier_batched,status" {
		t.Errorf("history order %s", got)
	}
	// The CDEK order was never batched (its carrier has no Batcher).
	if h.hasEvent(cdekID, "carrier_batch") {
		t.Error("CDEK order batched")
	}

	// Ready again: re-asserted, not batched twice.
	h.set(postID, sReady)
	h.cycle()
	if pf.batchCall != 1 {
		t.Errorf("Batch called %d times", pf.batchCall)
	}
	// Delete goes to Почта, with the stored data.
	h.set(postID, sDelete)
	h.cycle()
	if o := h.order(postID); o.StateName != sDeleted || pf.live("TP-1") != 0 {
		t.Fatalf("after delete: %s, %d live", o.StateName, pf.live("TP-1"))
	}
}

// timeline is an order's history as kind: message lines, for failures.
func (h *harness) timeline(id string) string {
	var b strings.Builder
	for _, e := range h.history(id) {
		if e.Kind == "moysklad_exchange" || e.Kind == "carrier_exchange" {
			continue
		}
		b.WriteString("\n  " + e.Kind + ": " + e.Message)
	}
	return b.String()
}
