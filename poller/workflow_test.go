package poller

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shipbridge/shipbridge/carriers"
)

func TestRule1And3RegisterExactlyOnce(t *testing.T) {
	fc := newFakeCarrier()
	fc.pendingFor = 2
	h := newHarness(t, fc)
	id := h.addOrder("00001", nil)
	h.set(id, sReady)
	h.cycle()
	o := h.order(id)
	if o.StateName != sRegistered {
		t.Fatalf("state = %s; history: %+v", o.StateName, h.history(id))
	}
	if o.Attr("Трек-номер") == "" || o.Attributes["Накладная"].File == nil || !strings.HasPrefix(string(o.Attributes["Накладная"].File.Content), "%PDF") {
		t.Errorf("tracking %q, waybill %+v", o.Attr("Трек-номер"), o.Attributes["Накладная"])
	}
	if o.Attr("Ошибка доставки") != "" {
		t.Errorf("error not cleared: %q", o.Attr("Ошибка доставки"))
	}
	if o.Puts != 1 {
		t.Errorf("PUTs = %d, want 1", o.Puts)
	}
	// More cycles change nothing: our own PUT is not news.
	h.cycle()
	h.cycle()
	if fc.createsFor("00001") != 1 || h.order(id).Puts != 1 {
		t.Errorf("creates %d, puts %d after more cycles", fc.createsFor("00001"), h.order(id).Puts)
	}
	for _, k := range []string{"seen", "carrier_submit", "carrier_accepted", "carrier_registered", "waybill", "status"} {
		if !h.hasEvent(id, k) {
			t.Errorf("history lacks %s", k)
		}
	}
}

func TestRule1UnknownOrEmptyCarrierUntouched(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc)
	empty := h.addOrder("00002", map[string]any{"Служба доставки": nil})
	dhl := h.addOrder("00003", map[string]any{"Служба доставки": "DHL"})
	h.set(empty, sReady)
	h.set(dhl, sReady)
	h.cycle()
	h.cycle()
	for _, id := range []string{empty, dhl} {
		o := h.order(id)
		if o.StateName != sReady || o.Puts != 0 {
			t.Errorf("%s: state %s, puts %d", o.Name, o.StateName, o.Puts)
		}
		if !h.hasEvent(id, "ignored") {
			t.Errorf("%s: no ignored event", o.Name)
		}
		if n := len(h.history(id)); n != 2 {
			t.Errorf("%s: %d events after two cycles, want 2 (seen, ignored)", o.Name, n)
		}
	}
	if fc.calls["submit"] != 0 {
		t.Errorf("carrier called %d times", fc.calls["submit"])
	}
}

func TestRule2ValidationListsEveryProblem(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc)
	bad := h.ms.AddCounterparty(moyskladtestCounterparty("Пётр", ""))
	id := h.addOrder("00004", map[string]any{"Код ПВЗ": nil})
	if err := h.ms.UpdateOrder(id, func(e *orderEdit) { e.AgentID = bad }); err != nil {
		t.Fatal(err)
	}
	h.set(id, sReady)
	h.cycle()
	o := h.order(id)
	if o.StateName != sFailed {
		t.Fatalf("state = %s", o.StateName)
	}
	msg := o.Attr("Ошибка доставки")
	for _, want := range []string{"Не указан телефон", "ни код ПВЗ, ни адрес"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if fc.calls["submit"] != 0 {
		t.Error("an invalid order reached the carrier")
	}
	// Rule 8: fix and set ready again → fresh attempt.
	if err := h.ms.UpdateCounterparty(bad, moyskladtestCounterparty("", "89161234567")); err != nil {
		t.Fatal(err)
	}
	if err := h.ms.SetOrderAttribute(id, "Код ПВЗ", "MSK67"); err != nil {
		t.Fatal(err)
	}
	h.set(id, sReady)
	h.cycle()
	if o := h.order(id); o.StateName != sRegistered || o.Attr("Ошибка доставки") != "" {
		t.Errorf("after fix: state %s, error %q", o.StateName, o.Attr("Ошибка доставки"))
	}
}

func TestCarrierValidateProblemsJoinMapping(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc)
	id := h.addOrder("00005", map[string]any{"Код ПВЗ": "BAD"})
	h.set(id, sReady)
	h.cycle()
	if o := h.order(id); o.StateName != sFailed || !strings.Contains(o.Attr("Ошибка доставки"), "«BAD» не существует") {
		t.Errorf("state %s, error %q", o.StateName, o.Attr("Ошибка доставки"))
	}
}

func TestRule4AsyncRejectionCarriesCarrierReason(t *testing.T) {
	fc := newFakeCarrier()
	fc.rejectCodes["00006"] = "v2_recipient_phone_invalid"
	h := newHarness(t, fc)
	id := h.addOrder("00006", nil)
	h.set(id, sReady)
	h.cycle()
	o := h.order(id)
	if o.StateName != sFailed || !strings.Contains(o.Attr("Ошибка доставки"), "v2_recipient_phone_invalid") {
		t.Fatalf("state %s, error %q", o.StateName, o.Attr("Ошибка доставки"))
	}
	// Rule 8 again: the manager fixes it; the same number is used, CDEK
	// has no live order under it.
	fc.set(func(f *fakeCarrier) { delete(f.rejectCodes, "00006") })
	h.set(id, sReady)
	h.cycle()
	if o := h.order(id); o.StateName != sRegistered {
		t.Errorf("retry after fix: %s", o.StateName)
	}
	if n := fc.liveShipments()["00006"]; n != 1 {
		t.Errorf("live shipments %d", n)
	}
}

func TestRule4SyncRejection(t *testing.T) {
	fc := newFakeCarrier()
	fc.submitErrs = []error{&carriers.Error{Kind: carriers.KindInvalid, Carrier: "cdek", Code: "v2_field_is_empty", Message: "СДЭК: не заполнено поле recipient.name"}}
	h := newHarness(t, fc)
	id := h.addOrder("00007", nil)
	h.set(id, sReady)
	h.cycle()
	if o := h.order(id); o.StateName != sFailed || !strings.Contains(o.Attr("Ошибка доставки"), "recipient.name") {
		t.Errorf("state %s, error %q", o.StateName, o.Attr("Ошибка доставки"))
	}
}

func TestRule5OutageRetriesWithoutDuplicates(t *testing.T) {
	fc := newFakeCarrier()
	outage := &carriers.Error{Kind: carriers.KindTransient, Carrier: "cdek", HTTPStatus: 502, Message: "СДЭК временно недоступен"}
	fc.failAll = outage
	h := newHarness(t, fc)
	id := h.addOrder("00008", nil)
	h.set(id, sReady)
	for i := 0; i < 4; i++ {
		h.cycle()
		if o := h.order(id); o.StateName != sReady {
			t.Fatalf("cycle %d: state %s", i, o.StateName)
		}
	}
	if o := h.order(id); !strings.Contains(o.Attr("Ошибка доставки"), "овтор запланирован") {
		t.Errorf("error does not say a retry is scheduled: %q", o.Attr("Ошибка доставки"))
	}
	fc.set(func(f *fakeCarrier) { f.failAll = nil })
	h.cycle()
	o := h.order(id)
	if o.StateName != sRegistered || o.Attr("Ошибка доставки") != "" {
		t.Fatalf("after outage: %s %q", o.StateName, o.Attr("Ошибка доставки"))
	}
	if fc.liveShipments()["00008"] != 1 {
		t.Errorf("live shipments: %v", fc.liveShipments())
	}
}

func TestRule5MoySkladOutageKeepsOutcome(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc)
	id := h.addOrder("00009", nil)
	h.set(id, sReady)
	// Every PUT fails with 503 (and its retries inside the client).
	h.ms.FailNext(1000, 503)
	if err := h.p.Cycle(context.Background()); err == nil {
		t.Log("cycle survived listing failure") // the list itself fails → infrastructure error is fine too
	}
	h.ms.FailNext(0, 0)
	h.cycle()
	h.cycle()
	if o := h.order(id); o.StateName != sRegistered {
		t.Fatalf("state %s", o.StateName)
	}
	if fc.createsFor("00009") != 1 {
		t.Errorf("creates = %d", fc.createsFor("00009"))
	}
}

func TestRule6DeleteAndRefusal(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc)
	a := h.addOrder("00010", nil)
	b := h.addOrder("00011", nil)
	never := h.addOrder("00012", nil)
	h.set(a, sReady)
	h.set(b, sReady)
	h.cycle()
	fc.set(func(f *fakeCarrier) { f.refuseDel["00011"] = true })
	h.set(a, sDelete)
	h.set(b, sDelete)
	h.set(never, sDelete)
	h.cycle()
	oa := h.order(a)
	if oa.StateName != sDeleted || oa.Attr("Трек-номер") != "" || oa.Attributes["Накладная"].File != nil {
		t.Errorf("deleted order: %s, tracking %q, waybill %+v", oa.StateName, oa.Attr("Трек-номер"), oa.Attributes["Накладная"])
	}
	ob := h.order(b)
	if ob.StateName != sNotDeleted || !strings.Contains(ob.Attr("Ошибка доставки"), "Создан") || ob.Attr("Трек-номер") == "" {
		t.Errorf("refused delete: %s, %q, tracking %q", ob.StateName, ob.Attr("Ошибка доставки"), ob.Attr("Трек-номер"))
	}
	if on := h.order(never); on.StateName != sDeleted {
		t.Errorf("never registered: %s", on.StateName)
	}
	if live := fc.liveShipments(); live["00010"] != 0 || live["00011"] != 1 {
		t.Errorf("live = %v", live)
	}
}

func TestRule7ReadyAgain(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc)
	id := h.addOrder("00013", nil)
	h.set(id, sReady)
	h.cycle()
	first := h.order(id).Attr("Трек-номер")
	// Ready again while registered: re-asserted, no second shipment.
	h.set(id, sReady)
	h.cycle()
	if o := h.order(id); o.StateName != sRegistered || o.Attr("Трек-номер") != first {
		t.Errorf("re-assert: %s %q", o.StateName, o.Attr("Трек-номер"))
	}
	if fc.createsFor("00013") != 1 {
		t.Fatalf("creates %d", fc.createsFor("00013"))
	}
	// Delete, then ready: a new shipment with a new number.
	h.set(id, sDelete)
	h.cycle()
	h.set(id, sReady)
	h.cycle()
	o := h.order(id)
	if o.StateName != sRegistered || o.Attr("Трек-номер") == first || o.Attr("Трек-номер") == "" {
		t.Errorf("re-register: %s %q (first %q)", o.StateName, o.Attr("Трек-номер"), first)
	}
	if fc.createsFor("00013-2") != 1 {
		t.Errorf("second attempt creates = %d", fc.createsFor("00013-2"))
	}
	live := fc.liveShipments()
	if live["00013"] != 0 || live["00013-2"] != 1 {
		t.Errorf("live = %v", live)
	}
}

func TestLostCreateResponseReconciles(t *testing.T) {
	fc := newFakeCarrier()
	fc.loseNext = 1
	h := newHarness(t, fc)
	id := h.addOrder("00014", nil)
	h.set(id, sReady)
	h.cycle()
	h.cycle()
	if o := h.order(id); o.StateName != sRegistered {
		t.Fatalf("state %s; history %+v", o.StateName, h.history(id))
	}
	if fc.createsFor("00014") != 1 {
		t.Errorf("creates = %d, want 1", fc.createsFor("00014"))
	}
	if !h.hasEvent(id, "carrier_found") {
		t.Error("no reconcile by number in history")
	}
}

func TestCrashAfterCarrierAcceptedResumes(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc)
	id := h.addOrder("00015", nil)
	h.set(id, sReady)
	// The process dies right after the carrier took the request, before
	// anything more is recorded: the worker stops dead.
	fc.afterSubmit = runtime.Goexit
	_ = h.p.Cycle(context.Background())
	fc.afterSubmit = nil
	if o := h.order(id); o.StateName != sReady {
		t.Fatalf("state after crash %s", o.StateName)
	}
	if rec := h.record(id); Phase(rec.Phase) != phaseSubmitting && Phase(rec.Phase) != phaseAccepted {
		t.Fatalf("phase after crash %s", rec.Phase)
	}
	h.restart()
	h.cycle()
	if o := h.order(id); o.StateName != sRegistered {
		t.Fatalf("after restart: %s; history %+v", o.StateName, h.history(id))
	}
	if fc.createsFor("00015") != 1 {
		t.Errorf("creates = %d", fc.createsFor("00015"))
	}
}

func TestRule9HistoryHasRequestsAndStatuses(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc)
	id := h.addOrder("00016", nil)
	h.set(id, sReady)
	h.cycle()
	evs := h.history(id)
	var last uint64
	for _, e := range evs {
		if e.Seq <= last || e.At.IsZero() {
			t.Errorf("event out of order or without time: %+v", e)
		}
		last = e.Seq
	}
	var submit, status bool
	for _, e := range evs {
		if e.Kind == "carrier_submit" && strings.Contains(string(e.Data), "+79161234567") {
			submit = true
		}
		if e.Kind == "status" && strings.Contains(e.Message, sRegistered) {
			status = true
		}
	}
	if !submit || !status {
		t.Errorf("history lacks the request or the status change: %+v", evs)
	}
}

func TestRule10FirstRunTakesExistingOrders(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc)
	var ids []string
	for _, n := range []string{"00017", "00018", "00019"} {
		id := h.addOrder(n, nil)
		h.set(id, sReady)
		ids = append(ids, id)
	}
	h.cycle()
	for _, id := range ids {
		if o := h.order(id); o.StateName != sRegistered {
			t.Errorf("%s: %s", o.Name, o.StateName)
		}
	}
}

func TestUnknownReferenceFallsBackToLookup(t *testing.T) {
	fc := newFakeCarrier()
	fc.pendingFor = 1000 // the carrier keeps the request pending
	h := newHarness(t, fc, func(c *Config) { c.SettleTimeout = 20 * time.Millisecond })
	id := h.addOrder("00020", nil)
	h.set(id, sReady)
	h.cycle()
	if rec := h.record(id); Phase(rec.Phase) != phaseAccepted {
		t.Fatalf("phase %s", rec.Phase)
	}
	// The carrier loses the request (it answers "not found" for the uuid
	// and has nothing under the number).
	fc.set(func(f *fakeCarrier) {
		f.shipments = map[string]*fakeShipment{}
		f.pendingFor = 0
	})
	h.cycle()
	h.cycle()
	if o := h.order(id); o.StateName != sRegistered {
		t.Fatalf("state %s; history %+v", o.StateName, h.history(id))
	}
	if live := fc.liveShipments(); live["00020"] != 1 {
		t.Errorf("live = %v", live)
	}
}
