package poller

import (
	"context"
	"fmt"
	"strings"

	"github.com/shipbridge/shipbridge/carriers"
)

// delete deletes the order's shipment, if it has one.
func (t *task) delete(ctx context.Context) {
	var (
		c  carriers.Carrier
		pr carriers.Profile
		ok bool
	)
	if t.phase() == phaseNone {
		// The store knows no shipment, but a lost or restored store does
		// not prove that the carrier has none: ask it (deleteStep).
		c, pr, ok = t.p.reg.Match(t.fields.Carrier)
		if !ok && t.rec.Carrier != "" {
			c, pr, ok = t.p.reg.Get(t.rec.Carrier)
		}
		if !ok {
			t.deleted("Заказ на доставку не был создан: удалять нечего")
			return
		}
	} else {
		c, pr, ok = t.p.reg.Get(t.rec.Carrier)
	}
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
		return t.findToDelete(ctx)
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

// maxNumbersAsked bounds the attempts whose numbers are looked up when the
// store knows no shipment for an order to delete.
const maxNumbersAsked = 10

// findToDelete looks the order's shipment up at its carrier when the store
// knows none (a lost or restored store, a create never confirmed): under
// every number the order may have had (its name and the derived code, for
// attempts 1 to a bound). Ours is adopted and then deleted; one not ours
// is reported, never deleted; only when the carrier has nothing is the
// order «deleted». It reports whether the lifecycle may go on.
func (t *task) findToDelete(ctx context.Context) bool {
	if !t.caps.CanFind() {
		t.deleted(fmt.Sprintf("Заказ на доставку не был создан (по данным shipbridge; %s не умеет искать заказы по номеру): удалять нечего", t.title(t.c)))
		return false
	}
	base, _ := t.shipment()
	base.Number = ""
	last := min(max(t.rec.Attempt, 1)+3, maxNumbersAsked)
	var asked []string
	seen := map[string]bool{}
	for a := 1; a <= last; a++ {
		for _, name := range []string{base.OrderName, ""} {
			s := base
			s.Attempt, s.OrderName = a, name
			n := t.c.Number(s)
			if n == "" || seen[n] {
				continue
			}
			seen[n] = true
			asked = append(asked, n)
			s.Number = n
			s.OrderName = base.OrderName
			f, err := t.lookup(ctx, s)
			if err != nil {
				t.retryLater(err)
				return false
			}
			switch {
			case f.ours != nil:
				t.rec.Carrier = t.c.Name()
				t.rec.Attempt = a
				t.rec.Number = n
				return t.adopt(*f.ours, evFound, "carrier_found",
					fmt.Sprintf("В shipbridge нет данных о заказе на доставку, но в %s найден наш заказ %s (%s): он будет удалён", t.title(t.c), n, f.ours.Reference))
			case f.unsure:
				t.event("carrier_unsure", fmt.Sprintf("%s показывает по номеру %s только последний, отклонённый заказ", t.title(t.c), n), nil)
				t.notDeleted(fmt.Sprintf("%s показывает по номеру %s только последний, отклонённый заказ: за ним может быть действующий. Проверьте заказ в личном кабинете и при необходимости удалите его вручную", t.title(t.c), n))
				return false
			case f.foreign != nil:
				t.event("carrier_found_foreign", fmt.Sprintf("Под номером %s в %s есть заказ %s, созданный не shipbridge для этого заказа", n, t.title(t.c), f.foreign.Reference), f.foreign)
				t.notDeleted(fmt.Sprintf("В %s есть заказ с номером %s (%s), но shipbridge не может подтвердить, что он создан для этого заказа: проверьте его в личном кабинете и при необходимости удалите вручную", t.title(t.c), n, f.foreign.Reference))
				return false
			}
		}
	}
	t.event("carrier_not_found", fmt.Sprintf("В %s нет заказов с номерами %s", t.title(t.c), strings.Join(asked, ", ")), map[string]any{"numbers": asked})
	t.deleted("Заказ на доставку не был создан: удалять нечего")
	return false
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
