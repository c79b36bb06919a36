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

	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/internal/exchange"
	"github.com/shipbridge/shipbridge/moysklad"
	"github.com/shipbridge/shipbridge/store"
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
// (store.OrderRecord.Pending): the manager's action and how far its
// handling got. The carrier side is the record's Phase (see lifecycle.go).
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
	// prove that nothing was created, until the reconcile grace has passed.
	Unanswered bool `json:"unanswered,omitempty"`
	// WriteBack is the outcome waiting to be written to MoySklad.
	WriteBack *writeBack `json:"write_back,omitempty"`
	// RetryNoted is true once the order says that a retry is scheduled.
	RetryNoted bool `json:"retry_noted,omitempty"`
	// BatchedFor is the carrier reference of the shipment put into its
	// hand-over batch (carriers.Batcher).
	BatchedFor string `json:"batched_for,omitempty"`
	// WaybillLater is true while the order is written registered without
	// its waybill (the carrier kept failing to give it for WaybillWait):
	// the action stays open until the waybill is attached.
	WaybillLater bool `json:"waybill_later,omitempty"`
}

// writeBack is one PUT to MoySklad: the status and the attributes to set.
type writeBack struct {
	State string `json:"state"` // state key
	// Tracking is the tracking number to write; ClearTracking empties it.
	Tracking      string `json:"tracking,omitempty"`
	ClearTracking bool   `json:"clear_tracking,omitempty"`
	// Waybill is the file to attach; ClearWaybill empties the attribute.
	// Its content is kept in the store, as the order's blob blobWaybill,
	// from the save that records the write-back until the save that ends
	// it (WaybillStored): not in this JSON, which every save encodes and
	// every load decodes, nor in the memory of a worker that waits for its
	// bulk request. Only a record written before blobs (schema 3) has it
	// here; its next save moves it.
	Waybill       *carriers.Document `json:"waybill,omitempty"`
	WaybillStored bool               `json:"waybill_stored,omitempty"`
	ClearWaybill  bool               `json:"clear_waybill,omitempty"`
	// Error is the text for the manager; empty clears the attribute.
	Error   string `json:"error,omitempty"`
	Outcome string `json:"outcome"`
	// Late marks the attribute-only write that attaches a waybill which came
	// after the order was written registered (WaybillLater), or says it never
	// will; it ends the action.
	Late bool `json:"late,omitempty"`
	// Refusals counts MoySklad's refusals of this write-back (4xx about the
	// update itself), NotWritten its attempts that failed or lost their
	// answer, Denied the attempts MoySklad refused for the token or its
	// user's rights (not this order's fault: never counted against it).
	// None of them counts carrier retries (store.OrderRecord.Retries).
	// Records written before these fields decode them as 0.
	Refusals   int `json:"refusals,omitempty"`
	NotWritten int `json:"not_written,omitempty"`
	Denied     int `json:"denied,omitempty"`
}

// waybillStored reports whether the state's write-back has its waybill in
// the store.
func (st orderState) waybillStored() bool {
	wb := st.WriteBack
	return wb != nil && wb.Waybill != nil && wb.WaybillStored
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
	// fields are the order's attributes, read once per pass.
	fields orderFields
	rec    store.OrderRecord
	st     orderState

	// c is the order's carrier, pr its profile, caps its capabilities and
	// tm its timings (the profile's, defaults from the Config); set by
	// useCarrier.
	c    carriers.Carrier
	pr   carriers.Profile
	caps carriers.Capabilities
	tm   carriers.Timings

	// reassert is true when the manager set «ready» again for a shipment
	// registered in an earlier action.
	reassert bool

	mu     sync.Mutex
	events []store.Event

	// acceptedAt is when the carrier accepted a request sent in this
	// cycle; the first status check waits FirstPollDelay from then.
	acceptedAt time.Time
	// quick counts the retries made within this pass (see retryInPass).
	quick int
	// lastKind is the kind of the error of the last retryLater.
	lastKind carriers.Kind
	// saveErr is the first store failure of the pass.
	saveErr error
	// blob is true while the saved record has its waybill in the store
	// (writeBack.WaybillStored): the save that ends it deletes the blob.
	blob bool
}

// blobWaybill names the order's blob that holds the waybill of its pending
// write-back (store.SaveBlob).
const blobWaybill = "waybill"

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
	// A waybill the write-back has in memory goes into the store with this
	// save, and out of the record's JSON and of memory (see
	// writeBack.Waybill).
	var put *carriers.Document
	wb := t.st.WriteBack
	if wb != nil && wb.Waybill != nil && len(wb.Waybill.Content) > 0 {
		put = wb.Waybill
		wb.Waybill = &carriers.Document{Filename: put.Filename, ContentType: put.ContentType}
		wb.WaybillStored = true
	}
	stored := wb != nil && wb.Waybill != nil && wb.WaybillStored
	undo := func() {
		if put != nil {
			wb.Waybill, wb.WaybillStored = put, false
		}
	}
	b, err := json.Marshal(t.st)
	if err != nil {
		undo()
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
	switch {
	case put != nil:
		err = t.p.st.SaveBlob(t.rec, blobWaybill, put.Content, evs...)
	case t.blob && !stored:
		err = t.p.st.SaveBlob(t.rec, blobWaybill, nil, evs...)
	default:
		err = t.p.st.Save(t.rec, evs...)
	}
	if err != nil {
		undo()
		if t.saveErr == nil {
			t.saveErr = err
		}
		return fmt.Errorf("save order %s: %w", t.rec.ID, err)
	}
	t.blob = stored
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

// load reads the order's record (a fresh one for an order never seen) and
// builds its task.
func (p *Poller) load(ctx context.Context, meta *Resolved, o moysklad.Order) (*task, error) {
	rec, found, err := p.st.Order(o.ID)
	if err != nil {
		return nil, err
	}
	if !found {
		rec = store.OrderRecord{ID: o.ID, Name: o.Name, Phase: string(phaseNone), Attempt: 1}
	}
	if rec.Name != o.Name && o.Name != "" {
		rec.Name = o.Name
	}
	if rec.Phase == "" {
		rec.Phase = string(phaseNone)
	}
	if rec.Attempt < 1 {
		rec.Attempt = 1
	}
	t := &task{stop: ctx, p: p, meta: meta, o: o, rec: rec, st: decodeState(rec.Pending), fields: readFields(o, meta.attrs)}
	t.blob = t.st.waybillStored()
	return t, nil
}

// handle drives one order as far as it can go in this cycle. It returns an
// error only when the store failed; every other failure is an outcome
// recorded on the order.
func (p *Poller) handle(ctx context.Context, meta *Resolved, o moysklad.Order, gate *writeGate) error {
	t, err := p.load(ctx, meta, o)
	if err != nil {
		return err
	}
	ctx = t.recorder(context.WithoutCancel(ctx))

	trigger := meta.trigger(o)
	if !t.begin(trigger) {
		return nil
	}
	if trigger == "" {
		t.leftTrigger(ctx)
		if t.st.WriteBack == nil {
			return t.finish(t.save())
		}
		// A late waybill to attach (WaybillLater): sent like any outcome.
	} else if t.st.WriteBack == nil {
		switch trigger {
		case keyReady:
			t.ready(ctx)
		case keyDelete:
			t.delete(ctx)
		}
	}
	if !t.st.Settled && t.st.WriteBack == nil && t.rec.NextAttemptAt.IsZero() && t.stop.Err() == nil {
		// The lifecycle stopped without an outcome or a retry time (its
		// step bound): try again later, not in a tight loop.
		t.rec.NextAttemptAt = p.now().Add(p.cfg.RetryBase)
	}
	if err := t.save(); err != nil {
		return err
	}
	if t.st.WriteBack != nil {
		// No PUT while the cycle's listing still pages (see Cycle); the
		// outcome is saved, and the cycle hands the order back after.
		if gate.hold(o) {
			return t.finish(nil)
		}
		t.writeBack(ctx, gate)
		return t.finish(t.save())
	}
	return t.finish(nil)
}

// finish returns err, or the first store failure of the pass.
func (t *task) finish(err error) error {
	if err != nil {
		return err
	}
	return t.saveErr
}

// begin decides whether the order has anything to do in this pass. A new
// manager action (a trigger status, or the same one set again) starts
// afresh; an order already handled, or waiting for its retry time, has
// nothing to do.
func (t *task) begin(trigger string) bool {
	updated := t.o.Updated.String()
	newAction := trigger != "" && (trigger != t.st.Trigger || updated != t.st.TriggerUpdated)
	switch {
	case newAction:
		// A new action starts afresh, except for what is known about a
		// carrier request still in flight: when it was sent bounds how
		// long a "not found" from the carrier may be a lag.
		t.st = orderState{Trigger: trigger, TriggerUpdated: updated, IntentAt: t.st.IntentAt, Unanswered: t.st.Unanswered, BatchedFor: t.st.BatchedFor}
		t.reassert = trigger == keyReady && t.phase() == phaseRegistered
		t.rec.Retries = 0
		t.rec.NextAttemptAt = time.Time{}
		t.rec.LastUpdated = updated
		t.rec.LastState = t.o.State.Name
		f := t.fields
		t.event("seen", fmt.Sprintf("В МойСклад: статус «%s», служба доставки «%s»", stateName(t.meta, trigger), f.Carrier), map[string]any{
			"state": t.o.State.Name, "updated": updated, "carrier": f.Carrier, "pickup_point": f.PickupPoint, "tariff": f.Tariff,
		})
		return true
	case t.st.Settled || t.st.Trigger == "":
		return false // nothing new: our own echo or an order already handled
	case t.rec.NextAttemptAt.After(t.p.now()):
		return false // waiting for its retry time
	}
	return true
}

// leftTrigger handles an order that is no longer in a trigger status while
// our work was unfinished.
func (t *task) leftTrigger(ctx context.Context) {
	if t.st.WaybillLater || (t.st.WriteBack != nil && t.st.WriteBack.Late) {
		// Registered without its waybill: attach it when the carrier has
		// it, whatever status the order is in now (only the attribute is
		// written). A waybill write whose answer was lost is sent again.
		if t.st.WriteBack == nil {
			t.lateWaybill(ctx)
		}
		return
	}
	if wb := t.st.WriteBack; wb != nil && wb.State != "" && sameState(t.meta.states[wb.State], t.o.State) {
		// Our own write-back landed but its answer was lost.
		t.landed(wb, "", map[string]any{"state": stateName(t.meta, wb.State), "seen_after_lost_answer": true})
		return
	}
	// The manager moved the order out of the trigger status while our work
	// was unfinished (or deleted it): settle what the carrier knows, write
	// nothing.
	what := fmt.Sprintf("Статус заказа сменился на «%s» до окончания обработки", t.o.State.Name)
	if t.o.State.Name == "" && t.o.State.Meta.Href == "" {
		what = "Заказ удалён в МойСклад до окончания обработки"
	}
	t.event("left_trigger", what, nil)
	t.resolveCarrier(ctx)
	if ph := t.phase(); ph != phaseSubmitting && ph != phaseAccepted && ph != phaseDeleting {
		t.st.Settled = true
		t.st.WriteBack = nil
	}
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

// title is the carrier's name for managers: the first of its configured
// names ("СДЭК"), else its key.
func (t *task) title(c carriers.Carrier) string {
	if _, pr, ok := t.p.reg.Get(c.Name()); ok && len(pr.Names) > 0 {
		return pr.Names[0]
	}
	return c.Name()
}

// carrier returns the carrier of the order: the one that holds its
// shipment, else the one named on the order.
func (t *task) carrier() (carriers.Carrier, carriers.Profile, bool) {
	if t.rec.Carrier != "" && t.phase() != phaseNone {
		// The shipment (or a request that may have made one) belongs to
		// this carrier, whatever the order names now.
		return t.p.reg.Get(t.rec.Carrier)
	}
	return t.p.reg.Match(t.fields.Carrier)
}

// useCarrier makes c the task's carrier, with its capabilities (detected at
// Register) and timings.
func (t *task) useCarrier(c carriers.Carrier, pr carriers.Profile) {
	t.c, t.pr = c, pr
	t.caps, _ = t.p.reg.Capabilities(c.Name())
	t.tm = t.p.timings(pr)
}

// timings returns the profile's timings, each zero one replaced by the
// workflow's default (Config).
func (p *Poller) timings(pr carriers.Profile) carriers.Timings {
	tm := pr.Timings
	if tm.FirstPollDelay <= 0 {
		tm.FirstPollDelay = p.cfg.FirstPollDelay
	}
	if tm.ReconcileGrace <= 0 {
		tm.ReconcileGrace = p.cfg.ReconcileGrace
	}
	if tm.SettleTimeout <= 0 {
		tm.SettleTimeout = p.cfg.SettleTimeout
	}
	return tm
}

// carrierGone handles an order whose shipment belongs to a carrier that is
// no longer enabled: nothing can be settled without it, so the order waits
// (and says why) instead of being forgotten.
func (t *task) carrierGone() {
	err := &carriers.Error{Kind: carriers.KindConfig, Carrier: t.rec.Carrier, Op: "resume",
		Message: fmt.Sprintf("Служба доставки %s отключена в настройках shipbridge, а по заказу есть незавершённая операция (номер %s)", t.rec.Carrier, t.rec.Number)}
	t.c = disabledCarrier(t.rec.Carrier)
	t.retryLater(err)
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
func (t *task) shipment() (carriers.Shipment, []carriers.Problem) {
	s, problems := buildShipment(t.o, t.fields, t.pr, t.rec.Attempt)
	if s.Mark == "" {
		s.Mark = markOf(t.rec.ID)
	}
	if t.phase() != phaseNone {
		s.Number = t.rec.Number
	}
	s.CarrierData = t.rec.CarrierData
	s.KnownTracking = strings.TrimSpace(t.fields.TrackingNumber)
	return s, problems
}

// markOf is shipbridge's identity mark for an order (carriers.Shipment.Mark).
func markOf(orderID string) string { return "shipbridge:" + orderID }

// registration is the order's shipment as the carrier calls expect it.
func (t *task) registration() carriers.Registration {
	return carriers.Registration{Number: t.rec.Number, Reference: t.rec.Reference, TrackingNumber: t.rec.TrackingNumber,
		Status: carriers.StatusRegistered, CarrierData: t.rec.CarrierData}
}

// retryLater schedules another attempt after a transient or ambiguous
// failure. The order keeps its status; after a few failures its error
// attribute says, once, that a retry is scheduled.
func (t *task) retryLater(err error) {
	c := t.c
	t.rec.Retries++
	d := t.p.backoff(t.rec.Retries)
	t.rec.NextAttemptAt = t.p.now().Add(d)
	kind := carriers.KindOf(err)
	t.lastKind = kind
	msg := carriers.ManagerMessage(err)
	t.event("retry", fmt.Sprintf("%s; повтор через %s (в %s)", msg, d.Round(time.Second), t.rec.NextAttemptAt.Format("15:04:05")),
		map[string]any{"error": errDetail(err), "retries": t.rec.Retries, "next_attempt_at": t.rec.NextAttemptAt})
	level := t.p.log.Warn
	if kind == carriers.KindConfig {
		level = t.p.log.Error
	}
	level("carrier call failed; will retry", zap.String("order", t.o.Name), zap.String("carrier", c.Name()),
		zap.String("kind", kind.String()), zap.Int("retries", t.rec.Retries), zap.Duration("in", d),
		zap.Time("at", t.rec.NextAttemptAt), zap.Error(err))
	t.p.obs.OrderOutcome(c.Name(), outcomeWaiting)
	t.p.carrierFailed(c.Name(), err)
	if t.rec.Retries >= 3 && !t.st.RetryNoted && t.st.Trigger == keyReady {
		// Tell the manager once, without changing the status.
		t.st.RetryNoted = true
		t.rec.Error = msg
		t.st.WriteBack = &writeBack{State: "", Error: retryNote(msg), Outcome: outcomeWaiting}
	}
}

// retryNote is the manager's text for an order whose retry is scheduled:
// the carrier's message, and once that a retry is scheduled.
func retryNote(msg string) string {
	base := strings.TrimSpace(msg)
	for _, tail := range []string{"; повтор запланирован", ", повтор запланирован", ". повтор запланирован", "; проверка повторится"} {
		if i := strings.LastIndex(strings.ToLower(base), tail); i >= 0 && i+len(tail) == len(strings.ToLower(base)) {
			base = base[:i]
		}
	}
	base = strings.TrimRight(base, ". ")
	return base + ". Повтор запланирован автоматически"
}

// retryInPass turns a retry scheduled for a blip (a transient failure, the
// first few of this pass) into a short wait within the pass, when the
// cycle has the time: a single failed call must not push the order into a
// minutes-long backoff. It reports whether the caller may go on.
func (t *task) retryInPass() bool {
	if t.rec.NextAttemptAt.IsZero() || t.st.WriteBack != nil || t.quick >= t.p.cfg.QuickRetries || t.stop.Err() != nil {
		return false
	}
	if t.lastKind != carriers.KindTransient && t.lastKind != carriers.KindAmbiguous {
		return false
	}
	d := t.p.cfg.QuickRetry << t.quick
	if dl, ok := t.stop.Deadline(); ok && !t.p.now().Add(d+t.tm.SettleTimeout/2).Before(dl) {
		return false // no time left in this cycle: the backoff stands
	}
	t.quick++
	t.event("retry_now", fmt.Sprintf("Повтор в этом же цикле через %s", d.Round(time.Millisecond)), nil)
	if err := t.p.sleep(t.stop, d); err != nil {
		return false
	}
	t.rec.NextAttemptAt = time.Time{}
	return true
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
