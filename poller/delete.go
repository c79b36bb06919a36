package poller

import (
	"context"
	"fmt"

	"github.com/shipbridge/shipbridge/carriers"
)

// delete deletes the order's shipment, if it has one.
func (t *task) delete(ctx context.Context) {
	if t.phase() == phaseNone {
		t.deleted("Заказ на доставку не был создан: удалять нечего")
		return
	}
	c, pr, ok := t.p.reg.Get(t.rec.Carrier)
	if !ok {
		t.notDeleted(fmt.Sprintf("Служба доставки %s отключена в настройках shipbridge: удалите заказ %s в её личном кабинете", t.rec.Carrier, t.rec.Number))
		return
	}
	t.useCarrier(c, pr)
	for step := 0; step < maxSteps && t.st.WriteBack == nil && t.stop.Err() == nil && t.saveErr == nil; step++ {
		t.lastKind = 0
		if !t.deleteStep(ctx) && !t.retryInPass() {
			return
		}
	}
}

// deleteStep makes one move towards no shipment. It reports whether the
// lifecycle may go on in this pass.
func (t *task) deleteStep(ctx context.Context) bool {
	c := t.c
	switch t.phase() {
	case phaseNone:
		t.deleted("")
		return false
	case phaseSubmitting:
		return t.reconcile(ctx, false)
	case phaseAccepted:
		return t.confirm(ctx)
	case phaseRegistered, phaseDeleting:
		d := t.caps.Deleter
		if d == nil {
			t.notDeleted(fmt.Sprintf("Служба доставки %s не поддерживает удаление заказа: удалите его в личном кабинете", t.title(c)))
			return false
		}
		if t.phase() != phaseDeleting {
			t.st.IntentAt = t.p.now()
		}
		if !t.move(evDelete, phaseDeleting, "carrier_delete", fmt.Sprintf("Удаление заказа %s в %s", t.rec.Number, t.title(c)), t.registration()) {
			return false // intent not saved: nothing is sent
		}
		err := d.Delete(ctx, t.registration())
		switch {
		case err == nil:
			t.deletedAtCarrier("carrier_deleted", fmt.Sprintf("Заказ %s удалён в %s", t.rec.Number, t.title(c)), nil)
		case carriers.KindOf(err) == carriers.KindRejected || carriers.KindOf(err) == carriers.KindInvalid:
			msg := carriers.ManagerMessage(err)
			t.move(evDeleteRefused, phaseRegistered, "carrier_delete_refused", msg, errDetail(err))
			t.notDeleted(msg)
		case carriers.KindOf(err) == carriers.KindNotFound:
			t.deletedAtCarrier("carrier_deleted", fmt.Sprintf("%s не знает заказ %s: он уже удалён", t.title(c), t.rec.Number), errDetail(err))
		default:
			t.retryLater(err)
		}
		return false
	}
	return t.move(evUnreadable, phaseNone, "phase_reset", fmt.Sprintf("Неизвестная фаза %q: заказ начат заново", t.rec.Phase), nil)
}

// deletedAtCarrier records that the carrier no longer has the shipment
// (a new attempt) and prepares the write-back.
func (t *task) deletedAtCarrier(kind, msg string, data any) {
	if !t.newAttempt(evDeleted, kind, msg, data) {
		return
	}
	t.deleted("")
}

// deleted prepares the write-back of an order that has no shipment.
func (t *task) deleted(note string) {
	if note != "" {
		t.event("nothing_to_delete", note, nil)
	}
	if t.phase() != phaseNone {
		return // not reached: the callers moved the order to none
	}
	if t.rec.Number != "" {
		// A number recorded for a create the carrier refused: nothing
		// exists under it, and the next registration may use it again.
		t.rec.Number, t.rec.Reference, t.rec.TrackingNumber = "", "", ""
	}
	t.rec.Error = ""
	t.rec.WaybillFor = ""
	t.st.WriteBack = &writeBack{State: keyDeleted, ClearTracking: true, ClearWaybill: true, Outcome: outcomeDeleted}
}

// notDeleted prepares the write-back of a delete that did not happen.
func (t *task) notDeleted(msg string) {
	t.rec.Error = msg
	t.st.WriteBack = &writeBack{State: keyNotDeleted, Error: msg, Outcome: outcomeNotDeleted}
}
