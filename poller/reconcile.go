package poller

import (
	"context"
	"fmt"

	"github.com/shipbridge/shipbridge/carriers"
)

// lookup is the one way the workflow looks a shipment up by our number:
// with FinderAll when the carrier has it (every live shipment under the
// number), else with Finder. It returns our live shipment, or nil when the
// carrier has none under the number.
func (t *task) lookup(ctx context.Context, s carriers.Shipment) (*carriers.Registration, error) {
	if fa := t.caps.FinderAll; fa != nil {
		regs, err := fa.FindAll(ctx, s)
		if err != nil {
			return nil, err
		}
		var first *carriers.Registration
		for i := range regs {
			r := regs[i]
			if r.Status == carriers.StatusCancelled || r.Status == carriers.StatusRejected {
				continue
			}
			if carriers.Owns(s, r) {
				return &r, nil
			}
			if first == nil {
				first = &r
			}
		}
		return first, nil
	}
	if f := t.caps.Finder; f != nil {
		reg, found, err := f.Find(ctx, s)
		if err != nil || !found || reg.Status == carriers.StatusCancelled || reg.Status == carriers.StatusRejected {
			return nil, err
		}
		return &reg, nil
	}
	return nil, nil
}

// graceOver reports whether a "not found" now proves that the last create
// made nothing: its reconcile grace has passed since it was sent.
func (t *task) graceOver() bool {
	return t.p.now().Sub(t.st.IntentAt) >= t.tm.ReconcileGrace
}

// reconcile settles a create whose outcome is unknown (phase submitting) by
// looking the shipment up by our number. With resend, a shipment that is
// not found is sent again (under the same number); without, the order is
// taken to have no shipment once the grace period has passed. It reports
// whether the lifecycle may go on in this pass.
func (t *task) reconcile(ctx context.Context, resend bool) bool {
	c := t.c
	s, _ := t.shipment()
	if !t.caps.CanFind() {
		// Only an Idempotent carrier may lack a lookup (Register refuses
		// others): a re-send under the same number cannot duplicate.
		if resend {
			return t.submit(ctx, s)
		}
		return t.move(evNotCreated, phaseNone, "carrier_not_found",
			fmt.Sprintf("%s не умеет искать заказ по номеру; создание %s считается не выполненным", t.title(c), t.rec.Number), nil)
	}
	found, err := t.lookup(ctx, s)
	if err != nil {
		t.retryLater(err)
		return false
	}
	if found != nil {
		return t.adopt(*found, evFound, "carrier_found", fmt.Sprintf("Заказ %s найден в %s: %s", t.rec.Number, t.title(c), found.Reference))
	}
	t.event("carrier_not_found", fmt.Sprintf("Заказ %s не найден в %s", t.rec.Number, t.title(c)), nil)
	if resend && !(t.st.Unanswered && !t.graceOver()) {
		return t.submit(ctx, s)
	}
	if !t.graceOver() {
		// The carrier may not show a fresh order yet; ask again later.
		t.rec.NextAttemptAt = t.st.IntentAt.Add(t.tm.ReconcileGrace)
		t.event("waiting", "Ожидание: служба доставки могла ещё не показать новый заказ", nil)
		return false
	}
	return t.move(evNotCreated, phaseNone, "", "", nil)
}

// resolveCarrier finishes what is uncertain at the carrier without creating
// or deleting anything (the manager moved the order out of the trigger
// status while our work was unfinished).
func (t *task) resolveCarrier(ctx context.Context) {
	c, pr, ok := t.carrier()
	if !ok {
		return
	}
	t.useCarrier(c, pr)
	switch t.phase() {
	case phaseSubmitting:
		if t.caps.CanFind() {
			t.reconcile(ctx, false)
		}
	case phaseAccepted:
		t.confirm(ctx)
	case phaseDeleting:
		t.checkDeleted(ctx)
	}
}

// checkDeleted settles an unfinished delete (phase deleting) when the
// manager wants the shipment again.
func (t *task) checkDeleted(ctx context.Context) bool {
	c := t.c
	reg, err := c.Registration(ctx, t.rec.Reference)
	switch {
	case carriers.KindOf(err) == carriers.KindNotFound || (err == nil && reg.Status == carriers.StatusCancelled):
		return t.newAttempt(evDeleted, "carrier_deleted", fmt.Sprintf("Заказ %s удалён в %s", t.rec.Number, t.title(c)), nil)
	case err == nil && reg.Status == carriers.StatusCancelling:
		// The carrier is still deciding the delete: wait for it.
		t.retryLater(&carriers.Error{Kind: carriers.KindTransient, Carrier: c.Name(), Op: "delete order",
			Message: fmt.Sprintf("%s ещё удаляет заказ %s", t.title(c), t.rec.Number)})
		return false
	case err == nil:
		return t.adopt(reg, evStillThere, "carrier_still_there", fmt.Sprintf("Заказ %s не удалён в %s", t.rec.Number, t.title(c)))
	default:
		t.retryLater(err)
		return false
	}
}
