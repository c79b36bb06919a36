package poller

import (
	"context"
	"fmt"
	"time"

	"github.com/shipbridge/shipbridge/carriers"
)

// maxSteps bounds the lifecycle moves of one pass, as a guard: every move
// is either a remote call or ends the pass, so a pass needs at most a
// handful (submitting → found → accepted → registered → write-back).
const maxSteps = 8

// ready registers a shipment for the order, or re-asserts the one it has.
func (t *task) ready(ctx context.Context) {
	c, pr, ok := t.carrier()
	if !ok && t.phase() != phaseNone {
		t.carrierGone()
		return
	}
	if !ok {
		f := t.fields
		msg := "Служба доставки не указана: заказ оставлен без изменений"
		if f.Carrier != "" {
			msg = fmt.Sprintf("Служба доставки «%s» не подключена к shipbridge: заказ оставлен без изменений", f.Carrier)
		}
		t.event("ignored", msg, map[string]string{"carrier": f.Carrier})
		t.p.obs.OrderOutcome("", outcomeIgnored)
		t.st.Settled = true
		return
	}
	t.rec.Carrier = c.Name()
	t.useCarrier(c, pr)
	if !t.resolveAddress(ctx) {
		return
	}
	for step := 0; step < maxSteps && t.st.WriteBack == nil && t.stop.Err() == nil && t.saveErr == nil; step++ {
		t.lastKind = 0
		if !t.readyStep(ctx) && !t.retryInPass() {
			return
		}
	}
}

// readyStep makes one move towards a registered shipment. It reports
// whether the lifecycle may go on in this pass.
func (t *task) readyStep(ctx context.Context) bool {
	switch t.phase() {
	case phaseNone:
		s, problems := t.shipment()
		problems = mergeProblems(problems, t.c.Validate(s))
		if len(problems) > 0 {
			text := problemsText(problems)
			t.event("invalid", text, problems)
			t.fail(text)
			return false
		}
		if goOn, decided := t.lookBeforeCreate(ctx, s); decided {
			return goOn
		}
		return t.submit(ctx, s)
	case phaseSubmitting:
		return t.reconcile(ctx, true)
	case phaseAccepted:
		return t.confirm(ctx)
	case phaseRegistered:
		if t.reassert && !t.stillLive(ctx) {
			return true // gone at the carrier, or on its way out
		}
		t.registered(ctx)
		return false
	case phaseDeleting:
		// Ready again while a delete was unfinished: find out whether the
		// shipment still exists.
		return t.checkDeleted(ctx)
	default:
		return t.move(evUnreadable, phaseNone, "phase_reset", fmt.Sprintf("Неизвестная фаза %q: заказ начат заново", t.rec.Phase), nil)
	}
}

// stillLive checks, before «registered» is re-asserted for a shipment
// registered in an earlier action, that the carrier still has it. It
// reports false, with the phase moved on, when the shipment is gone
// (deleted in the carrier's own cabinet: the order gets a new attempt) or
// being deleted. When the check itself fails, what is known is re-asserted.
func (t *task) stillLive(ctx context.Context) bool {
	t.reassert = false
	reg, err := t.c.Registration(ctx, t.rec.Reference)
	switch {
	case carriers.KindOf(err) == carriers.KindNotFound || (err == nil && reg.Status == carriers.StatusCancelled):
		t.newAttempt(evCancelled, "carrier_gone", fmt.Sprintf("Заказа %s больше нет в %s: он будет оформлен заново", t.rec.Number, t.title(t.c)), nil)
		return false
	case err == nil && reg.Status == carriers.StatusCancelling:
		t.move(evDeletingRemote, phaseDeleting, "carrier_deleting", fmt.Sprintf("%s удаляет заказ %s", t.title(t.c), t.rec.Number), reg)
		return false
	}
	return true
}

// lookBeforeCreate asks the carrier, before the first create of an attempt,
// whether a shipment already exists under the number. With its memory
// intact shipbridge would not need to ask; but a store that was lost or
// restored from an older backup forgets shipments it made, and a re-send
// would then duplicate a parcel at a carrier that accepts duplicates
// (Почта России), or, at CDEK, create a refused duplicate that hides the
// live order from every later lookup by number. One lookup per attempt
// prevents both. Ours is adopted; one not ours moves the order to the next
// free number; a failed lookup postpones the create. decided is false when
// the create should go ahead.
func (t *task) lookBeforeCreate(ctx context.Context, s carriers.Shipment) (goOn, decided bool) {
	if !t.caps.CanFind() {
		return false, false
	}
	s.Number = t.c.Number(s)
	t.rec.Number = s.Number
	f, err := t.lookup(ctx, s)
	switch {
	case err != nil:
		t.retryLater(err)
		return false, true
	case f.ours != nil:
		return t.adopt(*f.ours, evFound, "carrier_found", fmt.Sprintf("Заказ %s уже есть в %s: %s", s.Number, t.title(t.c), f.ours.Reference)), true
	case f.foreign != nil:
		return t.numberTaken(*f.foreign), true
	}
	return false, false
}

// submit records the intent, then sends the shipment, then saves the
// carrier's answer before anything waits. It reports whether the lifecycle
// may go on in this pass.
func (t *task) submit(ctx context.Context, s carriers.Shipment) bool {
	if done, goOn := t.lookUnderOtherNumbers(ctx, s); done {
		return goOn
	}
	c := t.c
	t.rec.Number = c.Number(s)
	t.rec.Reference = ""
	t.rec.TrackingNumber = ""
	t.st.IntentAt = t.p.now()
	t.st.Unanswered = true // until an answer arrives; a crash keeps it
	if !t.move(evSubmit, phaseSubmitting, "carrier_submit",
		fmt.Sprintf("Отправка заказа в %s под номером %s (попытка %d)", t.title(c), t.rec.Number, t.rec.Attempt), s) {
		return false // intent not saved: nothing is sent
	}
	reg, err := c.Submit(ctx, s)
	t.st.Unanswered = carriers.KindOf(err) == carriers.KindAmbiguous
	if err != nil {
		switch carriers.KindOf(err) {
		case carriers.KindRejected, carriers.KindInvalid:
			// The carrier refused synchronously: nothing was created.
			t.move(evNotCreated, phaseNone, "carrier_rejected", carriers.ManagerMessage(err), errDetail(err))
			t.fail(carriers.ManagerMessage(err))
			return false
		default:
			// Maybe sent, maybe not: stay in submitting, reconcile first.
			t.retryLater(err)
			return false
		}
	}
	t.acceptedAt = t.p.now()
	return t.adopt(reg, evAccepted, "carrier_accepted", fmt.Sprintf("%s принял запрос: %s", t.title(c), reg.Reference))
}

// adopt takes a carrier registration as the order's shipment, moving to
// registered when it is done, else to accepted, and saves it.
func (t *task) adopt(reg carriers.Registration, ev Event, kind, msg string) bool {
	if reg.Number != "" {
		t.rec.Number = reg.Number
	}
	if reg.Reference != "" {
		t.rec.Reference = reg.Reference
	}
	t.rec.TrackingNumber = reg.TrackingNumber
	if len(reg.CarrierData) > 0 {
		t.rec.CarrierData = reg.CarrierData
	}
	to := phaseAccepted
	if reg.Done() {
		to = phaseRegistered
		if ev == evAccepted {
			ev = evConfirmed
		}
	}
	return t.move(ev, to, kind, msg, reg)
}

// confirm waits (bounded) for an accepted request to be confirmed or
// refused.
func (t *task) confirm(ctx context.Context) bool {
	c := t.c
	deadline := t.p.now().Add(t.tm.SettleTimeout)
	// A request just sent is not decided yet: wait before the first check,
	// counting from the carrier's answer (a busy process may send late).
	sent := t.st.IntentAt
	if !t.acceptedAt.IsZero() {
		sent = t.acceptedAt
	}
	if !sent.IsZero() {
		if d := sent.Add(t.tm.FirstPollDelay).Sub(t.p.now()); d > 0 {
			if err := t.p.sleep(t.stop, min(d, t.tm.FirstPollDelay)); err != nil {
				return false
			}
		}
	}
	for {
		reg, err := c.Registration(ctx, t.rec.Reference)
		switch {
		case err == nil && reg.Done():
			return t.adopt(reg, evConfirmed, "carrier_registered", fmt.Sprintf("%s зарегистрировал заказ, трек-номер %s", t.title(c), reg.TrackingNumber))
		case err == nil && reg.Status == carriers.StatusCancelled:
			// Cancelled at the carrier (e.g. in its own cabinet): the
			// number is spent, a new registration gets the next one.
			return t.newAttempt(evCancelled, "carrier_cancelled", fmt.Sprintf("Заказ %s отменён в %s", t.rec.Number, t.title(c)), reg)
		case err == nil:
			// Still pending.
		case carriers.KindOf(err) == carriers.KindRejected || carriers.KindOf(err) == carriers.KindInvalid:
			t.event("carrier_rejected", carriers.ManagerMessage(err), errDetail(err))
			// A refusal may mean the number is already registered (a
			// lost answer earlier): adopt that shipment if it is ours.
			if t.caps.CanFind() {
				s, _ := t.shipment()
				f, ferr := t.lookup(ctx, s)
				switch {
				case ferr == nil && f.ours != nil && f.ours.Reference != t.rec.Reference:
					return t.adopt(*f.ours, evFound, "carrier_found", fmt.Sprintf("Заказ %s уже зарегистрирован в %s: %s", t.rec.Number, t.title(c), f.ours.Reference))
				case ferr == nil && f.ours == nil && f.foreign != nil && f.foreign.Reference != t.rec.Reference && t.st.Trigger == keyReady:
					// Refused because another's shipment holds the number.
					return t.numberTaken(*f.foreign)
				}
			}
			t.rec.Reference = ""
			t.move(evRejected, phaseNone, "", "", nil)
			if t.st.Trigger == keyReady {
				t.fail(carriers.ManagerMessage(err))
			}
			return true
		case carriers.KindOf(err) == carriers.KindNotFound:
			// Right after a create the carrier may not show it yet; long
			// after, the reference is wrong: look the shipment up by our
			// number instead.
			if t.p.now().Sub(t.st.IntentAt) >= t.tm.ReconcileGrace {
				msg := fmt.Sprintf("%s не знает заказ %s; поиск по номеру %s", t.title(c), t.rec.Reference, t.rec.Number)
				t.rec.Reference = ""
				return t.move(evReferenceLost, phaseSubmitting, "carrier_not_found", msg, errDetail(err))
			}
		default:
			t.retryLater(err)
			return false
		}
		if !t.p.now().Before(deadline) {
			t.rec.NextAttemptAt = t.p.now().Add(t.p.cfg.PollInterval)
			t.event("waiting", fmt.Sprintf("%s ещё проверяет заказ; проверка продолжится в следующем цикле", t.title(c)), nil)
			t.p.obs.OrderOutcome(c.Name(), outcomeWaiting)
			return false
		}
		if err := t.p.sleep(t.stop, t.p.cfg.PollInterval); err != nil {
			return false
		}
	}
}

// registered prepares the success write-back: the shipment put into its
// hand-over batch (a Batcher carrier), then tracking number, waybill,
// cleared error, status registered.
func (t *task) registered(ctx context.Context) {
	if !t.batch(ctx) {
		return
	}
	wb := &writeBack{State: keyRegistered, Tracking: t.rec.TrackingNumber, Outcome: outcomeRegistered}
	attached := t.fields.Waybill
	if w := t.caps.Waybill; w != nil && (attached == "" || t.rec.WaybillFor != t.rec.Reference) {
		doc, err := w.Waybill(ctx, t.registration())
		switch {
		case err == nil:
			wb.Waybill = &doc
			t.event("waybill", fmt.Sprintf("Накладная получена: %s, %d байт", doc.Filename, len(doc.Content)), map[string]any{"filename": doc.Filename, "size": len(doc.Content)})
		case carriers.KindOf(err) == carriers.KindRejected || carriers.KindOf(err) == carriers.KindInvalid:
			// The shipment is registered; say that the waybill is missing.
			wb.Error = "Заказ зарегистрирован, но накладную получить не удалось: " + carriers.ManagerMessage(err)
			t.event("waybill_failed", wb.Error, errDetail(err))
		case t.p.now().Sub(t.st.IntentAt) < t.p.cfg.WaybillWait:
			t.retryLater(err)
			return
		default:
			// The waybill keeps failing: the shipment exists, so the status
			// and tracking number go out now and the waybill follows.
			wb.Error = waybillLaterText
			t.st.WaybillLater = true
			t.event("waybill_later", "Накладная пока не получена: заказ записан зарегистрированным, накладная будет приложена позже", errDetail(err))
		}
	}
	t.st.WriteBack = wb
}

// waybillLaterText is the manager's note on an order registered before its
// waybill came; it is cleared when the waybill is attached.
const waybillLaterText = "Заказ зарегистрирован; накладная у службы доставки ещё не готова — shipbridge приложит её автоматически, как только она будет готова"

// lateWaybill asks the carrier again for the waybill of an order written
// registered without it (WaybillLater) and, when it comes, attaches it with
// an attribute-only write that also clears the note. A refusal, or
// WaybillGiveUp after the create, ends the wait with a reason on the order.
func (t *task) lateWaybill(ctx context.Context) {
	c, pr, ok := t.carrier()
	if !ok || t.phase() != phaseRegistered {
		t.st.WaybillLater, t.st.Settled = false, true
		return
	}
	t.useCarrier(c, pr)
	if t.caps.Waybill == nil {
		t.st.WaybillLater, t.st.Settled = false, true
		return
	}
	doc, err := t.caps.Waybill.Waybill(ctx, t.registration())
	switch {
	case err == nil:
		t.event("waybill", fmt.Sprintf("Накладная получена: %s, %d байт", doc.Filename, len(doc.Content)), map[string]any{"filename": doc.Filename, "size": len(doc.Content)})
		t.st.WaybillLater = false
		t.st.WriteBack = &writeBack{Waybill: &doc, Outcome: outcomeRegistered, Late: true}
	case carriers.KindOf(err) == carriers.KindRejected || carriers.KindOf(err) == carriers.KindInvalid ||
		t.p.now().Sub(t.st.IntentAt) >= t.p.cfg.WaybillGiveUp:
		msg := "Заказ зарегистрирован, но накладную получить не удалось: " + carriers.ManagerMessage(err)
		t.event("waybill_failed", msg, errDetail(err))
		t.st.WaybillLater = false
		t.st.WriteBack = &writeBack{Error: msg, Outcome: outcomeRegistered, Late: true}
	default:
		t.rec.Retries++
		t.rec.NextAttemptAt = t.p.now().Add(t.p.backoff(t.rec.Retries))
		t.event("waybill_later", "Накладная всё ещё не готова; следующая попытка "+t.rec.NextAttemptAt.Format(time.RFC3339), errDetail(err))
	}
}

// batch puts a registered shipment into its carrier's hand-over batch, once
// per shipment, with the intent recorded before the call and the answer
// (the carrier's data, naming the batch) saved after. It reports whether
// the shipment may go on to its waybill.
func (t *task) batch(ctx context.Context) bool {
	b := t.caps.Batcher
	if b == nil || t.st.BatchedFor == t.rec.Reference {
		return true
	}
	day := t.p.now()
	t.event("carrier_batch", fmt.Sprintf("Включение заказа %s в партию %s на %s", t.rec.Number, t.title(t.c), day.Format("02.01.2006")), t.registration())
	if t.save() != nil {
		return false
	}
	reg, err := b.Batch(ctx, t.registration(), day)
	switch {
	case err == nil:
		if len(reg.CarrierData) > 0 {
			t.rec.CarrierData = reg.CarrierData
		}
		t.st.BatchedFor = t.rec.Reference
		t.event("carrier_batched", fmt.Sprintf("Заказ %s включён в партию %s", t.rec.Number, t.title(t.c)), reg)
		return t.save() == nil
	case carriers.KindOf(err) == carriers.KindRejected || carriers.KindOf(err) == carriers.KindInvalid:
		msg := "Заказ зарегистрирован, но не включён в партию: " + carriers.ManagerMessage(err)
		t.event("carrier_batch_refused", msg, errDetail(err))
		t.st.WriteBack = &writeBack{State: keyRegistered, Tracking: t.rec.TrackingNumber, Error: msg, Outcome: outcomeRegistered}
		return false
	default:
		t.retryLater(err)
		return false
	}
}

// fail prepares the failure write-back with the manager's message.
func (t *task) fail(msg string) {
	t.rec.Error = msg
	t.st.WriteBack = &writeBack{State: keyFailed, Error: msg, Outcome: outcomeFailed}
}
