package poller

import (
	"context"
	"fmt"

	"github.com/shipbridge/shipbridge/carriers"
)

// found is what a lookup by number learnt.
type found struct {
	// ours is our live shipment under the number (carriers.Owns), nil when
	// there is none.
	ours *carriers.Registration
	// foreign is a live shipment under the number that is not provably
	// ours (made by hand, by another system, for another order); it is
	// never adopted.
	foreign *carriers.Registration
	// unsure is true when a carrier that answers one shipment per number
	// (Finder, e.g. CDEK: the most recent, whatever its state) answered
	// with a refused one: an older live shipment may hide behind it, so
	// its "nothing live" proves nothing.
	unsure bool
}

// lookup is the one way the workflow looks a shipment up by a number (s's):
// with FinderAll when the carrier has it (every live shipment under the
// number), else with Finder. A shipment is ours only when carriers.Owns
// says so; see Config.TrustNumberOnly for carriers that cannot read the
// mark back yet.
func (t *task) lookup(ctx context.Context, s carriers.Shipment) (found, error) {
	var regs []carriers.Registration
	switch {
	case t.caps.FinderAll != nil:
		all, err := t.caps.FinderAll.FindAll(ctx, s)
		if err != nil {
			return found{}, err
		}
		regs = all
	case t.caps.Finder != nil:
		reg, ok, err := t.caps.Finder.Find(ctx, s)
		if err != nil {
			return found{}, err
		}
		if ok {
			regs = append(regs, reg)
		}
	}
	var f found
	for i := range regs {
		r := regs[i]
		if r.Status == carriers.StatusRejected && t.caps.FinderAll == nil {
			f.unsure = true
		}
		if r.Status == carriers.StatusCancelled || r.Status == carriers.StatusRejected {
			continue
		}
		switch {
		case t.owns(s, r):
			if f.ours == nil {
				f.ours = &r
			}
		case f.foreign == nil:
			f.foreign = &r
		}
	}
	return f, nil
}

// owns reports whether r, found by s's number, is the order's shipment.
func (t *task) owns(s carriers.Shipment, r carriers.Registration) bool {
	if carriers.Owns(s, r) {
		return true
	}
	if r.Mark == "" && t.c != nil && t.p.trustNumberOnly(t.c.Name()) {
		// The carrier cannot report marks yet (Config.TrustNumberOnly).
		return r.RecipientPhone == "" || s.Recipient.Phone == "" || digitsOf(r.RecipientPhone) == digitsOf(s.Recipient.Phone)
	}
	return false
}

func (p *Poller) trustNumberOnly(carrier string) bool {
	for _, c := range p.cfg.TrustNumberOnly {
		if c == carrier {
			return true
		}
	}
	return false
}

func digitsOf(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			out = append(out, s[i])
		}
	}
	return string(out)
}

// numberTaken handles a live shipment under the order's number that is not
// ours: the order moves on to the next free number (the next attempt), and
// the history says so. It is never adopted.
func (t *task) numberTaken(other carriers.Registration) bool {
	old := t.rec.Number
	s, _ := t.shipment()
	s.Number, s.Attempt = "", t.rec.Attempt+1
	next := t.c.Number(s)
	return t.newAttempt(evNumberTaken, "number_taken",
		fmt.Sprintf("Номер %s в %s занят заказом %s, созданным не shipbridge для этого заказа: заказ будет оформлен под номером %s", old, t.title(t.c), other.Reference, next),
		map[string]any{"number": old, "other": other, "next_number": next})
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
	f, err := t.lookup(ctx, s)
	if err != nil {
		t.retryLater(err)
		return false
	}
	if f.ours != nil {
		return t.adopt(*f.ours, evFound, "carrier_found", fmt.Sprintf("Заказ %s найден в %s: %s", t.rec.Number, t.title(c), f.ours.Reference))
	}
	if f.foreign != nil {
		if resend {
			return t.numberTaken(*f.foreign)
		}
		// Ours cannot hide beside a live one: a carrier that finds only
		// one shipment per number refuses a second live one.
		t.event("carrier_found_foreign", fmt.Sprintf("Под номером %s в %s есть заказ %s, но он не создан shipbridge для этого заказа", t.rec.Number, t.title(c), f.foreign.Reference), f.foreign)
	}
	t.event("carrier_not_found", fmt.Sprintf("Заказ %s не найден в %s", t.rec.Number, t.title(c)), map[string]any{"unsure": f.unsure})
	if resend && !(t.st.Unanswered && !t.graceOver()) {
		// A re-send under the same number: a carrier that answers one
		// shipment per number refuses a duplicate of a hidden live one.
		return t.submit(ctx, s)
	}
	if f.unsure && t.graceOver() {
		// Not found proves nothing: do not conclude that the create made
		// nothing.
		msg := fmt.Sprintf("%s показывает по номеру %s только последний, отклонённый заказ: за ним может быть действующий. Проверьте заказ в личном кабинете %s", t.title(c), t.rec.Number, t.title(c))
		if t.st.Trigger == keyDelete {
			t.notDeleted(msg)
			return false
		}
		t.retryLater(&carriers.Error{Kind: carriers.KindTransient, Carrier: c.Name(), Op: "find order", Message: msg})
		return false
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
