package poller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/internal/exchange"
	"github.com/shipbridge/shipbridge/moysklad"
	"github.com/shipbridge/shipbridge/store"
)

// Phases of an order at its carrier (store.OrderRecord.Phase). They record
// what is known about the carrier shipment, whatever the manager asks next.
const (
	phaseNone       = "none"       // no shipment at the carrier
	phaseSubmitting = "submitting" // create intent recorded; the outcome is not known
	phaseAccepted   = "accepted"   // the carrier took the request; not confirmed yet
	phaseRegistered = "registered" // the shipment exists, with a tracking number
	phaseDeleting   = "deleting"   // delete intent recorded; the outcome is not known
)

// Outcomes, for metrics and the demo.
const (
	outcomeRegistered = "registered"
	outcomeFailed     = "failed"
	outcomeDeleted    = "deleted"
	outcomeNotDeleted = "not_deleted"
	outcomeIgnored    = "ignored"
	outcomeWaiting    = "waiting"
)

// orderState is the workflow's own data kept with each order record
// (store.OrderRecord.Pending).
type orderState struct {
	// Trigger is the manager's action being handled ("ready" or "delete"),
	// TriggerUpdated the order's MoySklad 'updated' when it was seen. A new
	// value of either is a new action.
	Trigger        string `json:"trigger,omitempty"`
	TriggerUpdated string `json:"trigger_updated,omitempty"`
	// Settled is true once the action is fully handled.
	Settled bool `json:"settled,omitempty"`
	// IntentAt is when the current carrier create or delete was first sent.
	IntentAt time.Time `json:"intent_at,omitempty"`
	// Unanswered is true while the last create may still be in flight at
	// the carrier: sent (or about to be) with no answer received — a
	// timeout, a lost connection, a crash. A "not found" then does not
	// prove that nothing was created, until ReconcileGrace has passed.
	Unanswered bool `json:"unanswered,omitempty"`
	// WriteBack is the outcome waiting to be written to MoySklad.
	WriteBack *writeBack `json:"write_back,omitempty"`
	// RetryNoted is true once the order says that a retry is scheduled.
	RetryNoted bool `json:"retry_noted,omitempty"`
}

// writeBack is one PUT to MoySklad: the status and the attributes to set.
type writeBack struct {
	State string `json:"state"` // state key
	// Tracking is the tracking number to write; ClearTracking empties it.
	Tracking      string `json:"tracking,omitempty"`
	ClearTracking bool   `json:"clear_tracking,omitempty"`
	// Waybill is the file to attach; ClearWaybill empties the attribute.
	Waybill      *carriers.Document `json:"waybill,omitempty"`
	ClearWaybill bool               `json:"clear_waybill,omitempty"`
	// Error is the text for the manager; empty clears the attribute.
	Error   string `json:"error,omitempty"`
	Outcome string `json:"outcome"`
}

func decodeState(raw json.RawMessage) orderState {
	var st orderState
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &st) // a record this version cannot read restarts its action
	}
	return st
}

// task is the handling of one order during one cycle.
type task struct {
	// stop is the cycle's context: when it ends the order stops between
	// steps. The steps themselves run on a context that is not cancelled,
	// so a carrier call in flight finishes and its answer is recorded.
	stop context.Context
	p    *Poller
	meta *Resolved
	o    moysklad.Order
	rec  store.OrderRecord
	st   orderState

	// reassert is true when the manager set «ready» again for a shipment
	// registered in an earlier action.
	reassert bool

	mu     sync.Mutex
	events []store.Event

	// acceptedAt is when the carrier accepted a request sent in this
	// cycle; the first status check waits FirstPollDelay from then.
	acceptedAt time.Time
}

func (t *task) event(kind, msg string, data any) {
	ev := store.Event{At: t.p.now(), Kind: kind, Message: msg}
	if data != nil {
		if b, err := json.Marshal(data); err == nil {
			ev.Data = b
		}
	}
	t.mu.Lock()
	t.events = append(t.events, ev)
	t.mu.Unlock()
}

// save persists the record and the events gathered since the last save, in
// one transaction. It is called before every remote effect.
func (t *task) save() error {
	b, err := json.Marshal(t.st)
	if err != nil {
		return err
	}
	t.rec.Pending = b
	// The store indexes open orders so that each cycle finds unfinished
	// work without reading every record.
	t.rec.Open = !t.st.Settled && t.st.Trigger != ""
	t.mu.Lock()
	evs := t.events
	t.events = nil
	t.mu.Unlock()
	if err := t.p.st.Save(t.rec, evs...); err != nil {
		return fmt.Errorf("save order %s: %w", t.rec.ID, err)
	}
	return nil
}

// recorder returns a context that logs every carrier exchange into the
// order's history.
func (t *task) recorder(ctx context.Context) context.Context {
	return exchange.WithRecorder(ctx, func(e exchange.Exchange) {
		kind := "carrier_exchange"
		if e.System == "moysklad" {
			kind = "moysklad_exchange"
		}
		msg := fmt.Sprintf("%s %s → %d", e.Method, e.URL, e.Status)
		if e.Err != "" {
			msg = fmt.Sprintf("%s %s → %s", e.Method, e.URL, e.Err)
		}
		t.event(kind, msg, e)
	})
}

// handle drives one order as far as it can go in this cycle. It returns an
// error only when the store failed; every other failure is an outcome
// recorded on the order.
func (p *Poller) handle(ctx context.Context, meta *Resolved, o moysklad.Order, gate *writeGate) error {
	rec, found, err := p.st.Order(o.ID)
	if err != nil {
		return err
	}
	if !found {
		rec = store.OrderRecord{ID: o.ID, Name: o.Name, Phase: phaseNone, Attempt: 1}
	}
	if rec.Name != o.Name && o.Name != "" {
		rec.Name = o.Name
	}
	if rec.Phase == "" {
		rec.Phase = phaseNone
	}
	if rec.Attempt < 1 {
		rec.Attempt = 1
	}
	t := &task{stop: ctx, p: p, meta: meta, o: o, rec: rec, st: decodeState(rec.Pending)}
	ctx = t.recorder(context.WithoutCancel(ctx))

	trigger := meta.trigger(o)
	updated := o.Updated.String()
	newAction := trigger != "" && (trigger != t.st.Trigger || updated != t.st.TriggerUpdated)
	switch {
	case newAction:
		// A new action starts afresh, except for what is known about a
		// carrier request still in flight: when it was sent bounds how
		// long a "not found" from the carrier may be a lag.
		t.st = orderState{Trigger: trigger, TriggerUpdated: updated, IntentAt: t.st.IntentAt, Unanswered: t.st.Unanswered}
		t.reassert = trigger == keyReady && t.rec.Phase == phaseRegistered
		t.rec.Retries = 0
		t.rec.NextAttemptAt = time.Time{}
		t.rec.LastUpdated = updated
		t.rec.LastState = o.State.Name
		fields := readFields(o, meta.attrs)
		t.event("seen", fmt.Sprintf("В МойСклад: статус «%s», служба доставки «%s»", stateName(meta, trigger), fields.Carrier), map[string]any{
			"state": o.State.Name, "updated": updated, "carrier": fields.Carrier, "pickup_point": fields.PickupPoint, "tariff": fields.Tariff,
		})
	case t.st.Settled || t.st.Trigger == "":
		return nil // nothing new: our own echo or an order already handled
	case t.rec.NextAttemptAt.After(p.now()):
		return nil // waiting for its retry time
	}

	if trigger == "" {
		if wb := t.st.WriteBack; wb != nil && wb.State != "" && sameState(meta.states[wb.State], o.State) {
			// Our own write-back landed but its answer was lost.
			t.landed(wb, "", map[string]any{"state": stateName(meta, wb.State), "seen_after_lost_answer": true})
			return t.save()
		}
		// The manager moved the order out of the trigger status while our
		// work was unfinished (or deleted it): settle what the carrier
		// knows, write nothing.
		what := fmt.Sprintf("Статус заказа сменился на «%s» до окончания обработки", o.State.Name)
		if o.State.Name == "" && o.State.Meta.Href == "" {
			what = "Заказ удалён в МойСклад до окончания обработки"
		}
		t.event("left_trigger", what, nil)
		t.resolveCarrier(ctx, false)
		if t.rec.Phase != phaseSubmitting && t.rec.Phase != phaseAccepted && t.rec.Phase != phaseDeleting {
			t.st.Settled = true
			t.st.WriteBack = nil
		}
		return t.save()
	}

	if t.st.WriteBack == nil {
		switch trigger {
		case keyReady:
			t.ready(ctx)
		case keyDelete:
			t.delete(ctx)
		}
	}
	if !t.st.Settled && t.st.WriteBack == nil && t.rec.NextAttemptAt.IsZero() && t.stop.Err() == nil {
		// The state machine stopped without an outcome or a retry time
		// (its step bound): try again later, not in a tight loop.
		t.rec.NextAttemptAt = p.now().Add(p.cfg.RetryBase)
	}
	if err := t.save(); err != nil {
		return err
	}
	if t.st.WriteBack != nil {
		// No PUT while the cycle's listing still pages (see Cycle); the
		// outcome is saved, and the cycle hands the order back after.
		if gate.hold(o) {
			return nil
		}
		t.writeBack(ctx)
		return t.save()
	}
	return nil
}

// sameState reports whether an order's state is s.
func sameState(s, orderState moysklad.State) bool {
	id := orderState.Meta.ID()
	if id == "" {
		id = orderState.ID
	}
	return id != "" && (s.ID == id || s.Meta.ID() == id)
}

func stateName(meta *Resolved, key string) string {
	return meta.states[key].Name
}

// carrier returns the carrier of the order: the one that holds its
// shipment, else the one named on the order.
// title is the carrier's name for managers: the first of its configured
// names ("СДЭК"), else its key.
func (t *task) title(c carriers.Carrier) string {
	if _, pr, ok := t.p.reg.Get(c.Name()); ok && len(pr.Names) > 0 {
		return pr.Names[0]
	}
	return c.Name()
}

func (t *task) carrier() (carriers.Carrier, carriers.Profile, bool) {
	if t.rec.Carrier != "" && t.rec.Phase != phaseNone {
		// The shipment (or a request that may have made one) belongs to
		// this carrier, whatever the order names now.
		return t.p.reg.Get(t.rec.Carrier)
	}
	f := readFields(t.o, t.meta.attrs)
	return t.p.reg.Match(f.Carrier)
}

// carrierGone handles an order whose shipment belongs to a carrier that is
// no longer enabled: nothing can be settled without it, so the order waits
// (and says why) instead of being forgotten.
func (t *task) carrierGone() {
	err := &carriers.Error{Kind: carriers.KindConfig, Carrier: t.rec.Carrier, Op: "resume",
		Message: fmt.Sprintf("Служба доставки %s отключена в настройках shipbridge, а по заказу есть незавершённая операция (номер %s)", t.rec.Carrier, t.rec.Number)}
	t.retryLater(disabledCarrier(t.rec.Carrier), err)
}

// disabledCarrier stands for a carrier that is not in the registry; it
// only names it and refuses everything.
type disabledCarrier string

func (d disabledCarrier) Name() string                                  { return string(d) }
func (d disabledCarrier) Number(s carriers.Shipment) string             { return s.Number }
func (d disabledCarrier) Validate(carriers.Shipment) []carriers.Problem { return nil }
func (d disabledCarrier) Submit(context.Context, carriers.Shipment) (carriers.Registration, error) {
	return carriers.Registration{}, d.err()
}
func (d disabledCarrier) Registration(context.Context, string) (carriers.Registration, error) {
	return carriers.Registration{}, d.err()
}
func (d disabledCarrier) err() error {
	return &carriers.Error{Kind: carriers.KindConfig, Carrier: string(d), Message: "служба доставки отключена в настройках"}
}

// shipment builds the shipment for the current attempt. Once a number was
// recorded for the attempt it is kept, even if the order was renamed since:
// lookups and re-sends must use the number the carrier may already know.
func (t *task) shipment(pr carriers.Profile) (carriers.Shipment, []carriers.Problem) {
	s, problems := buildShipment(t.o, readFields(t.o, t.meta.attrs), pr, t.rec.Attempt)
	if t.rec.Phase != phaseNone {
		s.Number = t.rec.Number
	}
	return s, problems
}

// ready registers a shipment for the order, or re-asserts the one it has.
func (t *task) ready(ctx context.Context) {
	c, pr, ok := t.carrier()
	if !ok && t.rec.Phase != phaseNone {
		t.carrierGone()
		return
	}
	if !ok {
		f := readFields(t.o, t.meta.attrs)
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
	for step := 0; step < 8 && t.st.WriteBack == nil && t.stop.Err() == nil; step++ {
		switch t.rec.Phase {
		case phaseNone:
			s, problems := t.shipment(pr)
			problems = mergeProblems(problems, c.Validate(s))
			if len(problems) > 0 {
				text := problemsText(problems)
				t.event("invalid", text, problems)
				t.fail(c, text)
				return
			}
			if !t.submit(ctx, c, s) {
				return
			}
		case phaseSubmitting:
			s, _ := t.shipment(pr)
			if !t.reconcile(ctx, c, s, true) {
				return
			}
		case phaseAccepted:
			if !t.confirm(ctx, c, pr) {
				return
			}
		case phaseRegistered:
			if t.reassert && !t.stillLive(ctx, c) {
				continue // gone at the carrier, or on its way out
			}
			t.registered(ctx, c)
			return
		case phaseDeleting:
			// Ready again while a delete was unfinished: find out whether
			// the shipment still exists.
			if !t.checkDeleted(ctx, c) {
				return
			}
		default:
			t.rec.Phase = phaseNone
		}
	}
}

// stillLive checks, before «registered» is re-asserted for a shipment
// registered in an earlier action, that the carrier still has it. It
// reports false, with the phase moved on, when the shipment is gone
// (deleted in the carrier's own cabinet: the order gets a new attempt) or
// being deleted. When the check itself fails, what is known is re-asserted.
func (t *task) stillLive(ctx context.Context, c carriers.Carrier) bool {
	t.reassert = false
	reg, err := c.Registration(ctx, t.rec.Reference)
	switch {
	case carriers.KindOf(err) == carriers.KindNotFound || (err == nil && reg.Status == carriers.StatusCancelled):
		t.event("carrier_gone", fmt.Sprintf("Заказа %s больше нет в %s: он будет оформлен заново", t.rec.Number, t.title(c)), nil)
		t.rec.Attempt++
		t.rec.Phase = phaseNone
		t.rec.Number, t.rec.Reference, t.rec.TrackingNumber, t.rec.WaybillFor = "", "", "", ""
		return false
	case err == nil && reg.Status == carriers.StatusCancelling:
		t.rec.Phase = phaseDeleting
		return false
	}
	return true
}

// submit records the intent, then sends the shipment. It reports whether
// the state machine may go on in this cycle.
func (t *task) submit(ctx context.Context, c carriers.Carrier, s carriers.Shipment) bool {
	t.rec.Number = c.Number(s)
	t.rec.Phase = phaseSubmitting
	t.rec.Reference = ""
	t.rec.TrackingNumber = ""
	t.st.IntentAt = t.p.now()
	t.st.Unanswered = true // until an answer arrives; a crash keeps it
	t.event("carrier_submit", fmt.Sprintf("Отправка заказа в %s под номером %s (попытка %d)", t.title(c), t.rec.Number, t.rec.Attempt), s)
	if err := t.save(); err != nil {
		t.p.log.Error("intent not saved; not sending", zap.String("order", t.o.Name), zap.Error(err))
		return false
	}
	reg, err := c.Submit(ctx, s)
	t.st.Unanswered = carriers.KindOf(err) == carriers.KindAmbiguous
	if err != nil {
		switch carriers.KindOf(err) {
		case carriers.KindRejected, carriers.KindInvalid:
			// The carrier refused synchronously: nothing was created.
			t.rec.Phase = phaseNone
			t.event("carrier_rejected", carriers.ManagerMessage(err), errDetail(err))
			t.fail(c, carriers.ManagerMessage(err))
			return false
		default:
			// Maybe sent, maybe not: stay in submitting, reconcile first.
			t.retryLater(c, err)
			return false
		}
	}
	t.acceptedAt = t.p.now()
	t.adopt(reg)
	t.event("carrier_accepted", fmt.Sprintf("%s принял запрос: %s", t.title(c), reg.Reference), reg)
	return true
}

// reconcile settles a create whose outcome is unknown by looking the
// shipment up by our number. With resend, a shipment that is not found is
// sent again (under the same number); without, the order is taken to have
// no shipment once the grace period has passed.
func (t *task) reconcile(ctx context.Context, c carriers.Carrier, s carriers.Shipment, resend bool) bool {
	f, ok := c.(carriers.Finder)
	if !ok {
		if resend {
			return t.submit(ctx, c, s)
		}
		t.rec.Phase = phaseNone
		return true
	}
	reg, found, err := f.Find(ctx, s)
	if err != nil {
		t.retryLater(c, err)
		return false
	}
	if found && reg.Status != carriers.StatusCancelled {
		t.adopt(reg)
		t.event("carrier_found", fmt.Sprintf("Заказ %s найден в %s: %s", t.rec.Number, t.title(c), reg.Reference), reg)
		return true
	}
	t.event("carrier_not_found", fmt.Sprintf("Заказ %s не найден в %s", t.rec.Number, t.title(c)), nil)
	if resend && !(t.st.Unanswered && t.p.now().Sub(t.st.IntentAt) < t.p.cfg.ReconcileGrace) {
		return t.submit(ctx, c, s)
	}
	if t.p.now().Sub(t.st.IntentAt) < t.p.cfg.ReconcileGrace {
		// The carrier may not show a fresh order yet; ask again later.
		t.rec.NextAttemptAt = t.st.IntentAt.Add(t.p.cfg.ReconcileGrace)
		t.event("waiting", "Ожидание: служба доставки могла ещё не показать новый заказ", nil)
		return false
	}
	t.rec.Phase = phaseNone
	return true
}

// adopt takes a carrier registration as the order's shipment.
func (t *task) adopt(reg carriers.Registration) {
	if reg.Number != "" {
		t.rec.Number = reg.Number
	}
	if reg.Reference != "" {
		t.rec.Reference = reg.Reference
	}
	t.rec.TrackingNumber = reg.TrackingNumber
	if reg.Done() {
		t.rec.Phase = phaseRegistered
	} else {
		t.rec.Phase = phaseAccepted
	}
}

// confirm waits (bounded) for an accepted request to be confirmed or
// refused.
func (t *task) confirm(ctx context.Context, c carriers.Carrier, pr carriers.Profile) bool {
	deadline := t.p.now().Add(t.p.cfg.SettleTimeout)
	// A request just sent is not decided yet: wait before the first check,
	// counting from the carrier's answer (a busy process may send late).
	sent := t.st.IntentAt
	if !t.acceptedAt.IsZero() {
		sent = t.acceptedAt
	}
	if !sent.IsZero() {
		if d := sent.Add(t.p.cfg.FirstPollDelay).Sub(t.p.now()); d > 0 {
			if err := t.p.sleep(t.stop, min(d, t.p.cfg.FirstPollDelay)); err != nil {
				return false
			}
		}
	}
	for {
		reg, err := c.Registration(ctx, t.rec.Reference)
		switch {
		case err == nil && reg.Done():
			t.adopt(reg)
			t.event("carrier_registered", fmt.Sprintf("%s зарегистрировал заказ, трек-номер %s", t.title(c), reg.TrackingNumber), reg)
			return true
		case err == nil && reg.Status == carriers.StatusCancelled:
			// Cancelled at the carrier (e.g. in its own cabinet): the
			// number is spent, a new registration gets the next one.
			t.event("carrier_cancelled", fmt.Sprintf("Заказ %s отменён в %s", t.rec.Number, t.title(c)), reg)
			t.rec.Attempt++
			t.rec.Phase = phaseNone
			t.rec.Number, t.rec.Reference, t.rec.TrackingNumber = "", "", ""
			return true
		case err == nil:
			// Still pending.
		case carriers.KindOf(err) == carriers.KindRejected || carriers.KindOf(err) == carriers.KindInvalid:
			t.event("carrier_rejected", carriers.ManagerMessage(err), errDetail(err))
			// A refusal may mean the number is already registered (a
			// lost answer earlier): adopt that shipment if it is live.
			if f, ok := c.(carriers.Finder); ok {
				s, _ := t.shipment(pr)
				if found, ferr := t.findLive(ctx, f, s); ferr == nil && found != nil && found.Reference != t.rec.Reference {
					t.adopt(*found)
					t.event("carrier_found", fmt.Sprintf("Заказ %s уже зарегистрирован в %s: %s", t.rec.Number, t.title(c), found.Reference), found)
					return true
				}
			}
			t.rec.Phase = phaseNone
			t.rec.Reference = ""
			if t.st.Trigger == keyReady {
				t.fail(c, carriers.ManagerMessage(err))
			}
			return true
		case carriers.KindOf(err) == carriers.KindNotFound:
			// Right after a create the carrier may not show it yet; long
			// after, the reference is wrong: look the shipment up by our
			// number instead.
			if t.p.now().Sub(t.st.IntentAt) >= t.p.cfg.ReconcileGrace {
				t.event("carrier_not_found", fmt.Sprintf("%s не знает заказ %s; поиск по номеру %s", t.title(c), t.rec.Reference, t.rec.Number), errDetail(err))
				t.rec.Phase = phaseSubmitting
				t.rec.Reference = ""
				return true
			}
		default:
			t.retryLater(c, err)
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

func (t *task) findLive(ctx context.Context, f carriers.Finder, s carriers.Shipment) (*carriers.Registration, error) {
	reg, found, err := f.Find(ctx, s)
	if err != nil || !found || reg.Status == carriers.StatusCancelled || reg.Status == carriers.StatusRejected {
		return nil, err
	}
	return &reg, nil
}

// registered prepares the success write-back: tracking number, waybill,
// cleared error, status registered.
func (t *task) registered(ctx context.Context, c carriers.Carrier) {
	wb := &writeBack{State: keyRegistered, Tracking: t.rec.TrackingNumber, Outcome: outcomeRegistered}
	attached := readFields(t.o, t.meta.attrs).Waybill
	if w, ok := c.(carriers.WaybillPrinter); ok && (attached == "" || t.rec.WaybillFor != t.rec.Reference) {
		doc, err := w.Waybill(ctx, t.registration())
		switch {
		case err == nil:
			wb.Waybill = &doc
			t.event("waybill", fmt.Sprintf("Накладная получена: %s, %d байт", doc.Filename, len(doc.Content)), map[string]any{"filename": doc.Filename, "size": len(doc.Content)})
		case carriers.KindOf(err) == carriers.KindRejected || carriers.KindOf(err) == carriers.KindInvalid:
			// The shipment is registered; say that the waybill is missing.
			wb.Error = "Заказ зарегистрирован, но накладную получить не удалось: " + carriers.ManagerMessage(err)
			t.event("waybill_failed", wb.Error, errDetail(err))
		default:
			t.retryLater(c, err)
			return
		}
	}
	t.st.WriteBack = wb
}

func (t *task) registration() carriers.Registration {
	return carriers.Registration{Number: t.rec.Number, Reference: t.rec.Reference, TrackingNumber: t.rec.TrackingNumber, Status: carriers.StatusRegistered}
}

// fail prepares the failure write-back with the manager's message.
func (t *task) fail(c carriers.Carrier, msg string) {
	t.rec.Error = msg
	t.st.WriteBack = &writeBack{State: keyFailed, Error: msg, Outcome: outcomeFailed}
	_ = c
}

// delete deletes the order's shipment, if it has one.
func (t *task) delete(ctx context.Context) {
	if t.rec.Phase == phaseNone {
		t.deleted("Заказ на доставку не был создан: удалять нечего")
		return
	}
	c, _, ok := t.p.reg.Get(t.rec.Carrier)
	if !ok {
		msg := fmt.Sprintf("Служба доставки %s отключена в настройках shipbridge: удалите заказ %s в её личном кабинете", t.rec.Carrier, t.rec.Number)
		t.rec.Error = msg
		t.st.WriteBack = &writeBack{State: keyNotDeleted, Error: msg, Outcome: outcomeNotDeleted}
		return
	}
	for step := 0; step < 8 && t.st.WriteBack == nil && t.stop.Err() == nil; step++ {
		switch t.rec.Phase {
		case phaseNone:
			t.deleted("")
			return
		case phaseSubmitting:
			_, pr, _ := t.p.reg.Get(c.Name())
			s, _ := t.shipment(pr)
			if !t.reconcile(ctx, c, s, false) {
				return
			}
		case phaseAccepted:
			_, pr, _ := t.p.reg.Get(c.Name())
			if !t.confirm(ctx, c, pr) {
				return
			}
		case phaseRegistered, phaseDeleting:
			d, ok := c.(carriers.Deleter)
			if !ok {
				msg := fmt.Sprintf("Служба доставки %s не поддерживает удаление заказа: удалите его в личном кабинете", t.title(c))
				t.rec.Error = msg
				t.st.WriteBack = &writeBack{State: keyNotDeleted, Error: msg, Outcome: outcomeNotDeleted}
				return
			}
			if t.rec.Phase != phaseDeleting {
				t.rec.Phase = phaseDeleting
				t.st.IntentAt = t.p.now()
				t.event("carrier_delete", fmt.Sprintf("Удаление заказа %s в %s", t.rec.Number, t.title(c)), t.registration())
				if err := t.save(); err != nil {
					return
				}
			}
			err := d.Delete(ctx, t.registration())
			switch {
			case err == nil:
				t.event("carrier_deleted", fmt.Sprintf("Заказ %s удалён в %s", t.rec.Number, t.title(c)), nil)
				t.deleted("")
			case carriers.KindOf(err) == carriers.KindRejected || carriers.KindOf(err) == carriers.KindInvalid:
				t.rec.Phase = phaseRegistered
				msg := carriers.ManagerMessage(err)
				t.rec.Error = msg
				t.event("carrier_delete_refused", msg, errDetail(err))
				t.st.WriteBack = &writeBack{State: keyNotDeleted, Error: msg, Outcome: outcomeNotDeleted}
			case carriers.KindOf(err) == carriers.KindNotFound:
				t.deleted("")
			default:
				t.retryLater(c, err)
			}
			return
		}
	}
}

// deleted records that the order has no shipment and prepares the
// write-back; the next registration gets a new number.
func (t *task) deleted(note string) {
	if note != "" {
		t.event("nothing_to_delete", note, nil)
	}
	if t.rec.Number != "" && (t.rec.Phase == phaseDeleting || t.rec.Phase == phaseRegistered || t.rec.Reference != "") {
		t.rec.Attempt++
	}
	t.rec.Phase = phaseNone
	t.rec.Number = ""
	t.rec.Reference = ""
	t.rec.TrackingNumber = ""
	t.rec.Error = ""
	t.rec.WaybillFor = ""
	t.st.WriteBack = &writeBack{State: keyDeleted, ClearTracking: true, ClearWaybill: true, Outcome: outcomeDeleted}
}

// checkDeleted settles an unfinished delete when the manager wants the
// shipment again.
func (t *task) checkDeleted(ctx context.Context, c carriers.Carrier) bool {
	reg, err := c.Registration(ctx, t.rec.Reference)
	switch {
	case carriers.KindOf(err) == carriers.KindNotFound || (err == nil && reg.Status == carriers.StatusCancelled):
		t.rec.Attempt++
		t.rec.Phase = phaseNone
		t.rec.Number, t.rec.Reference, t.rec.TrackingNumber, t.rec.WaybillFor = "", "", "", ""
		return true
	case err == nil && reg.Status == carriers.StatusCancelling:
		// The carrier is still deciding the delete: wait for it.
		t.retryLater(c, &carriers.Error{Kind: carriers.KindTransient, Carrier: c.Name(), Op: "delete order",
			Message: fmt.Sprintf("%s ещё удаляет заказ %s", t.title(c), t.rec.Number)})
		return false
	case err == nil:
		t.adopt(reg)
		if t.rec.Phase != phaseRegistered {
			t.rec.Phase = phaseAccepted
		}
		return true
	default:
		t.retryLater(c, err)
		return false
	}
}

// resolveCarrier finishes what is uncertain at the carrier without creating
// or deleting anything.
func (t *task) resolveCarrier(ctx context.Context, _ bool) {
	c, pr, ok := t.carrier()
	if !ok {
		return
	}
	switch t.rec.Phase {
	case phaseSubmitting:
		s, _ := t.shipment(pr)
		if f, ok := c.(carriers.Finder); ok {
			reg, found, err := f.Find(ctx, s)
			if err != nil {
				t.retryLater(c, err)
				return
			}
			if found {
				t.adopt(reg)
				return
			}
			if t.p.now().Sub(t.st.IntentAt) >= t.p.cfg.ReconcileGrace {
				t.rec.Phase = phaseNone
			} else {
				t.rec.NextAttemptAt = t.st.IntentAt.Add(t.p.cfg.ReconcileGrace)
			}
		}
	case phaseAccepted:
		t.confirm(ctx, c, pr)
	case phaseDeleting:
		t.checkDeleted(ctx, c)
	}
}

// retryLater schedules another attempt after a transient or ambiguous
// failure. The order keeps its status; after a few failures its error
// attribute says that a retry is scheduled.
func (t *task) retryLater(c carriers.Carrier, err error) {
	t.rec.Retries++
	d := t.p.backoff(t.rec.Retries)
	t.rec.NextAttemptAt = t.p.now().Add(d)
	kind := carriers.KindOf(err)
	msg := carriers.ManagerMessage(err)
	t.event("retry", fmt.Sprintf("%s; повтор через %s", msg, d.Round(time.Second)), errDetail(err))
	level := t.p.log.Warn
	if kind == carriers.KindConfig {
		level = t.p.log.Error
	}
	level("carrier call failed; will retry", zap.String("order", t.o.Name), zap.String("carrier", c.Name()),
		zap.String("kind", kind.String()), zap.Int("retries", t.rec.Retries), zap.Duration("in", d), zap.Error(err))
	t.p.obs.OrderOutcome(c.Name(), outcomeWaiting)
	t.p.carrierFailed(c.Name(), err)
	if t.rec.Retries >= 3 && !t.st.RetryNoted && t.st.Trigger == keyReady {
		// Tell the manager once, without changing the status.
		t.st.RetryNoted = true
		t.rec.Error = msg
		t.st.WriteBack = &writeBack{State: "", Error: msg + ". Повтор запланирован автоматически", Outcome: outcomeWaiting}
	}
}

// backoff is capped exponential backoff with jitter.
func (p *Poller) backoff(retries int) time.Duration {
	d := p.cfg.RetryBase
	for i := 1; i < retries && d < p.cfg.RetryMax; i++ {
		d *= 2
	}
	if d > p.cfg.RetryMax {
		d = p.cfg.RetryMax
	}
	// ±20% jitter so that many orders do not retry at once.
	j := time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	return j
}

// writeBack sends the pending outcome to MoySklad in one partial PUT.
func (t *task) writeBack(ctx context.Context) {
	wb := t.st.WriteBack
	u := moysklad.OrderUpdate{}
	if wb.State != "" {
		s := t.meta.states[wb.State]
		u.State = &s.Meta
	}
	a := t.meta.attrs
	switch {
	case wb.Tracking != "":
		u.Attributes = append(u.Attributes, moysklad.StringValue(a.TrackingNumber.Meta, wb.Tracking))
	case wb.ClearTracking:
		u.Attributes = append(u.Attributes, moysklad.ClearValue(a.TrackingNumber.Meta))
	}
	switch {
	case wb.Waybill != nil:
		u.Attributes = append(u.Attributes, moysklad.FileValue(a.Waybill.Meta, wb.Waybill.Filename, wb.Waybill.Content))
	case wb.ClearWaybill:
		u.Attributes = append(u.Attributes, moysklad.ClearFileValue(a.Waybill.Meta))
	}
	if wb.Error != "" {
		text := wb.Error
		if a.Error.Type == "string" {
			// A MoySklad string attribute holds at most 255 characters.
			text = truncateRunes(text, 255)
		}
		u.Attributes = append(u.Attributes, moysklad.TextValue(a.Error.Meta, text))
	} else {
		u.Attributes = append(u.Attributes, moysklad.ClearValue(a.Error.Meta))
	}
	summary := map[string]any{"state": stateName(t.meta, wb.State), "tracking": wb.Tracking, "clear_tracking": wb.ClearTracking, "clear_waybill": wb.ClearWaybill, "error": wb.Error}
	if wb.Waybill != nil {
		summary["waybill"] = wb.Waybill.Filename
	}
	start := t.p.now()
	updated, err := t.p.ms.UpdateOrder(ctx, t.o.ID, u)
	if err != nil {
		t.rec.Retries++
		d := t.p.backoff(t.rec.Retries)
		if !moysklad.IsRetryable(err) {
			// MoySklad refused the update itself (4xx). It is never sent
			// again unchanged in a loop: re-read the metadata, then drop
			// the file (the usual culprit: size or type), then give up
			// and leave the order to the operator.
			t.p.invalidateMetadata()
			t.p.log.Error("MoySklad refused the order update", zap.String("order", t.o.Name), zap.Int("refusals", t.rec.Retries), zap.Error(err))
			switch {
			case t.rec.Retries >= maxRefusedWriteBacks:
				t.event("moysklad_update_abandoned", fmt.Sprintf("МойСклад %d раз отклонил запись результата (%v); заказ оставлен оператору", t.rec.Retries, err), summary)
				t.st.WriteBack = nil
				t.st.Settled = true
				t.rec.NextAttemptAt = time.Time{}
				return
			case t.rec.Retries >= 2 && wb.Waybill != nil:
				wb.Error = strings.TrimSpace(wb.Error + " Накладную не удалось прикрепить к заказу: МойСклад её не принял; она есть в личном кабинете перевозчика.")
				wb.Waybill = nil
			}
		} else {
			d = t.p.cfg.RetryBase / 4
		}
		t.rec.NextAttemptAt = t.p.now().Add(d)
		t.event("moysklad_update_failed", fmt.Sprintf("Не удалось записать результат в МойСклад: %v; повтор через %s", err, d.Round(time.Second)), summary)
		return
	}
	summary["took_ms"] = t.p.now().Sub(start).Milliseconds()
	t.landed(wb, updated.Updated.String(), summary)
}

// maxRefusedWriteBacks is how many times a write-back MoySklad refuses (4xx)
// is tried, changed each time, before it is left to the operator.
const maxRefusedWriteBacks = 4

// landed records a write-back that MoySklad applied. updated is the
// order's new 'updated', so that the echo of our own change is no news.
func (t *task) landed(wb *writeBack, updated string, summary map[string]any) {
	msg := "Заказ обновлён в МойСклад"
	if wb.State != "" {
		msg = fmt.Sprintf("Статус в МойСклад: «%s»", stateName(t.meta, wb.State))
		t.rec.LastState = stateName(t.meta, wb.State)
	}
	t.event("status", msg, summary)
	if wb.Waybill != nil {
		t.rec.WaybillFor = t.rec.Reference
	}
	// Our own update changes 'updated'; remember it so the echo is no news.
	if updated != "" {
		t.st.TriggerUpdated = updated
		t.rec.LastUpdated = updated
	}
	t.st.WriteBack = nil
	if wb.State != "" {
		t.st.Settled = true
		t.rec.Error = wb.Error
		t.rec.Retries = 0
		t.rec.NextAttemptAt = time.Time{}
		t.p.obs.OrderOutcome(t.rec.Carrier, wb.Outcome)
	}
}

// truncateRunes cuts s to at most n characters.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// errDetail is the operator's view of a carrier error for the history.
func errDetail(err error) map[string]any {
	d := map[string]any{"error": err.Error(), "kind": carriers.KindOf(err).String()}
	var ce *carriers.Error
	if errors.As(err, &ce) {
		d["code"] = ce.Code
		d["detail"] = ce.Detail
		d["http_status"] = ce.HTTPStatus
	}
	return d
}
