package poller

import (
	"testing"
)

// consistent checks that MoySklad and the carrier agree about an order:
// registered ⇔ exactly one live shipment whose tracking number is on the
// order; deleted ⇔ none.
func consistent(t *testing.T, h *harness, fc *fakeCarrier, id, name string) {
	t.Helper()
	o := h.order(id)
	live := 0
	for number, n := range fc.liveShipments() {
		if number == name || len(number) > len(name) && number[:len(name)+1] == name+"-" {
			live += n
		}
	}
	switch o.StateName {
	case sRegistered, sNotDeleted:
		if live != 1 || o.Attr("Трек-номер") == "" {
			t.Errorf("%s: %s with %d live shipments, tracking %q", name, o.StateName, live, o.Attr("Трек-номер"))
		}
	case sDeleted, sFailed:
		if live != 0 {
			t.Errorf("%s: %s with %d live shipments", name, o.StateName, live)
		}
	default:
		t.Errorf("%s: unsettled state %s", name, o.StateName)
	}
}

func TestFlipBeforeACycle(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc)
	id := h.addOrder("F1", nil)
	h.set(id, sReady)
	h.set(id, sDelete)
	h.set(id, sReady)
	h.cycle()
	h.cycle()
	consistent(t, h, fc, id, "F1")
	if h.order(id).StateName != sRegistered || fc.createsFor("F1") != 1 {
		t.Errorf("state %s, creates %d", h.order(id).StateName, fc.createsFor("F1"))
	}
}

func TestFlipBetweenCycles(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc)
	id := h.addOrder("F2", nil)
	h.set(id, sReady)
	h.cycle()
	h.set(id, sDelete)
	h.set(id, sReady)
	h.cycle()
	consistent(t, h, fc, id, "F2")
	h.set(id, sDelete)
	h.cycle()
	consistent(t, h, fc, id, "F2")
	if h.order(id).StateName != sDeleted {
		t.Fatalf("state %s", h.order(id).StateName)
	}
	h.set(id, sReady)
	h.cycle()
	consistent(t, h, fc, id, "F2")
}

func TestFlipDuringCarrierCall(t *testing.T) {
	fc := newFakeCarrier()
	fc.pendingFor = 3
	h := newHarness(t, fc)
	id := h.addOrder("F3", nil)
	h.set(id, sReady)
	flipped := false
	fc.afterSubmit = func() {
		if flipped {
			return
		}
		flipped = true
		// The manager changes their mind while the carrier validates.
		_ = h.ms.SetOrderState(id, sDelete)
		_ = h.ms.SetOrderState(id, sReady)
		_ = h.ms.SetOrderState(id, sDelete)
	}
	h.cycle()
	for i := 0; i < 3; i++ {
		h.cycle()
	}
	consistent(t, h, fc, id, "F3")
	if fc.createsFor("F3") != 1 {
		t.Errorf("creates %d", fc.createsFor("F3"))
	}
}

func TestFlipDuringDelete(t *testing.T) {
	fc := newFakeCarrier()
	h := newHarness(t, fc)
	id := h.addOrder("F4", nil)
	h.set(id, sReady)
	h.cycle()
	h.set(id, sDelete)
	fc.set(func(f *fakeCarrier) { f.failAll = errTransient })
	h.cycle() // the delete fails transiently; the intent stays
	fc.set(func(f *fakeCarrier) { f.failAll = nil })
	h.set(id, sReady) // the manager wants it after all
	h.cycle()
	h.cycle()
	consistent(t, h, fc, id, "F4")
}
