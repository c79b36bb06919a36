package poller

import (
	"bytes"
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"

	"github.com/shipbridge/shipbridge/moysklad"
)

// waybillOf is the fake carrier's waybill of the order with that number.
func waybillOf(number string) []byte { return []byte("%PDF-1.4 " + number) }

// blob returns the order's stored waybill, and whether there is one.
func (h *harness) blob(id string) ([]byte, bool) {
	h.t.Helper()
	var got []byte
	found, err := h.st.ReadBlob(id, blobWaybill, func(b []byte) error {
		got = bytes.Clone(b)
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return got, found
}

// The waybill waits for its write-back in the store, not in the record's
// pending JSON: the bulk request reads it from there, and the write-back's
// confirmation deletes it.
func TestWaybillWaitsInTheStore(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc)
	f := &bulkFaults{}
	var checked atomic.Bool
	var id string
	f.fault = func(ctx context.Context, us []moysklad.BulkUpdate) ([]moysklad.BulkResult, error) {
		// What is saved while the update travels.
		rec := h.record(id)
		st := decodeState(rec.Pending)
		wb := st.WriteBack
		switch {
		case wb == nil || wb.Waybill == nil || !wb.WaybillStored || wb.Waybill.Content != nil || wb.Waybill.Filename == "":
			t.Errorf("pending write-back %+v", wb)
		case bytes.Contains(rec.Pending, []byte(`"Content":"`)):
			t.Errorf("the waybill's content is in the pending JSON: %s", rec.Pending)
		}
		if b, ok := h.blob(id); !ok || !bytes.HasPrefix(b, []byte("%PDF-")) {
			t.Errorf("stored waybill %q, %v", b, ok)
		}
		// The update names the file; its content is read when it is sent.
		for _, u := range us {
			for _, a := range u.Update.Attributes {
				if a.File != nil && (a.File.Content != nil || a.File.Source == nil || a.File.Size == 0) {
					t.Errorf("file of the update: %+v", a.File)
				}
			}
		}
		checked.Store(true)
		return f.bulk.UpdateOrders(ctx, us)
	}
	h.wrapBulk(f)
	id = h.addOrder("WS1", nil)
	h.set(id, sReady)
	h.cycle()
	if !checked.Load() {
		t.Fatal("no bulk request")
	}
	o := h.order(id)
	rec := h.record(id)
	if o.StateName != sRegistered || o.Puts != 1 || o.Attributes["Накладная"].File == nil ||
		!bytes.Equal(o.Attributes["Накладная"].File.Content, waybillOf(rec.Number)) {
		t.Fatalf("state %s, %d writes, file %+v%s", o.StateName, o.Puts, o.Attributes["Накладная"].File, h.timeline(id))
	}
	if _, ok := h.blob(id); ok {
		t.Error("the waybill is still stored after its write-back was confirmed")
	}
	if rec.Open || decodeState(rec.Pending).WriteBack != nil {
		t.Errorf("record %+v", rec)
	}
}

// The process dies after the outcome was saved and before MoySklad has it
// (the bulk request never arrived): the waybill is still in the store, and
// the next process writes it, once, without asking the carrier again.
func TestStoredWaybillSurvivesARestart(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc, noQuickRetries)
	f := &bulkFaults{}
	var once atomic.Bool
	f.fault = func(ctx context.Context, us []moysklad.BulkUpdate) ([]moysklad.BulkResult, error) {
		if once.Swap(true) {
			return f.bulk.UpdateOrders(ctx, us)
		}
		return lostAll(us)
	}
	h.wrapBulk(f)
	id := h.addOrder("WS2", nil)
	h.set(id, sReady)
	h.cycle()
	if o := h.order(id); o.StateName != sReady || o.Puts != 0 {
		t.Fatalf("state %s, %d writes", o.StateName, o.Puts)
	}
	h.restart()
	number := h.record(id).Number
	if b, ok := h.blob(id); !ok || !bytes.Equal(b, waybillOf(number)) {
		t.Fatalf("after the restart the stored waybill is %q, %v", b, ok)
	}
	waybills := fc.count("waybill")
	h.cycle()
	o := h.order(id)
	if o.StateName != sRegistered || o.Puts != 1 || o.Attributes["Накладная"].File == nil ||
		!bytes.Equal(o.Attributes["Накладная"].File.Content, waybillOf(number)) {
		t.Fatalf("state %s, %d writes, file %+v%s", o.StateName, o.Puts, o.Attributes["Накладная"].File, h.timeline(id))
	}
	if n := fc.count("waybill") - waybills; n != 0 {
		t.Errorf("the waybill was asked from the carrier %d more times", n)
	}
	if _, ok := h.blob(id); ok {
		t.Error("the waybill is still stored")
	}
	if n := fc.createsFor("WS2"); n != 1 {
		t.Errorf("%d creates", n)
	}
}

// A waybill missing from the store (it cannot be: it is saved with the
// record that refers to it) does not hold the order back: the status and
// tracking number are written with a note, and the waybill is asked from
// the carrier again and attached later.
func TestMissingStoredWaybillIsAskedAgain(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc, noQuickRetries)
	f := &bulkFaults{}
	var once atomic.Bool
	f.fault = func(ctx context.Context, us []moysklad.BulkUpdate) ([]moysklad.BulkResult, error) {
		if once.Swap(true) {
			return f.bulk.UpdateOrders(ctx, us)
		}
		return lostAll(us)
	}
	h.wrapBulk(f)
	id := h.addOrder("WS3", nil)
	h.set(id, sReady)
	h.cycle()
	rec := h.record(id)
	if err := h.st.SaveBlob(rec, blobWaybill, nil); err != nil {
		t.Fatal(err)
	}
	h.cycle()
	o := h.order(id)
	if o.StateName != sRegistered || o.Attr("Трек-номер") == "" || o.Attributes["Накладная"].File != nil || o.Attr("Ошибка доставки") != waybillLaterText {
		t.Fatalf("state %s, tracking %q, file %+v, error %q%s", o.StateName, o.Attr("Трек-номер"), o.Attributes["Накладная"].File, o.Attr("Ошибка доставки"), h.timeline(id))
	}
	if !h.hasEvent(id, "waybill_lost") || !h.record(id).Open {
		t.Fatalf("no waybill_lost event, or the order is closed%s", h.timeline(id))
	}
	for range 3 {
		h.cycle()
	}
	o = h.order(id)
	if o.Attributes["Накладная"].File == nil || !bytes.Equal(o.Attributes["Накладная"].File.Content, waybillOf(rec.Number)) || o.Attr("Ошибка доставки") != "" || h.record(id).Open {
		t.Fatalf("the waybill was not attached again: file %+v, error %q%s", o.Attributes["Накладная"].File, o.Attr("Ошибка доставки"), h.timeline(id))
	}
	if _, ok := h.blob(id); ok {
		t.Error("the waybill is still stored")
	}
	if n := fc.createsFor("WS3"); n != 1 {
		t.Errorf("%d creates", n)
	}
}

// A record written before blobs (schema 3) carries its waybill in the
// pending JSON: it is written back all the same, and its next save moves
// the waybill into the store.
func TestInlineWaybillOfAnOlderRecord(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc, noQuickRetries)
	f := &bulkFaults{}
	var lost atomic.Bool
	lost.Store(true)
	f.fault = func(ctx context.Context, us []moysklad.BulkUpdate) ([]moysklad.BulkResult, error) {
		if lost.Load() {
			return lostAll(us)
		}
		return f.bulk.UpdateOrders(ctx, us)
	}
	h.wrapBulk(f)
	id := h.addOrder("WS4", nil)
	h.set(id, sReady)
	h.cycle()
	// Rewrite the record as the previous version kept it.
	rec := h.record(id)
	st := decodeState(rec.Pending)
	st.WriteBack.Waybill.Content = waybillOf(rec.Number)
	st.WriteBack.WaybillStored = false
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	rec.Pending = raw
	if err := h.st.SaveBlob(rec, blobWaybill, nil); err != nil {
		t.Fatal(err)
	}
	h.restart()
	// Still lost once more: the pass saves the outcome again, now with
	// the waybill in the store.
	h.cycle()
	if b, ok := h.blob(id); !ok || !bytes.Equal(b, waybillOf(rec.Number)) {
		t.Fatalf("stored waybill %q, %v%s", b, ok, h.timeline(id))
	}
	if bytes.Contains(h.record(id).Pending, []byte(`"Content":"`)) {
		t.Errorf("the waybill is still in the pending JSON: %s", h.record(id).Pending)
	}
	lost.Store(false)
	h.cycle()
	o := h.order(id)
	if o.StateName != sRegistered || o.Puts != 1 || o.Attributes["Накладная"].File == nil ||
		!bytes.Equal(o.Attributes["Накладная"].File.Content, waybillOf(rec.Number)) {
		t.Fatalf("state %s, %d writes, file %+v%s", o.StateName, o.Puts, o.Attributes["Накладная"].File, h.timeline(id))
	}
	if _, ok := h.blob(id); ok {
		t.Error("the waybill is still stored")
	}
}

// One PUT per order (Config.PutWriteBack) reads the stored waybill too.
func TestStoredWaybillByPut(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc, func(c *Config) { c.PutWriteBack = true })
	id := h.addOrder("WS5", nil)
	h.set(id, sReady)
	h.cycle()
	o := h.order(id)
	rec := h.record(id)
	if o.StateName != sRegistered || o.Puts != 1 || o.Attributes["Накладная"].File == nil ||
		!bytes.Equal(o.Attributes["Накладная"].File.Content, waybillOf(rec.Number)) {
		t.Fatalf("state %s, %d writes, file %+v%s", o.StateName, o.Puts, o.Attributes["Накладная"].File, h.timeline(id))
	}
	if _, ok := h.blob(id); ok {
		t.Error("the waybill is still stored")
	}
}

// count is how many times the carrier was asked for op ("waybill", …).
func (f *fakeCarrier) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}
