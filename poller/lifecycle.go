package poller

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/store"
)

// Phase is what is known about an order's shipment at its carrier
// (store.OrderRecord.Phase). It records the carrier side only, whatever the
// manager asks next; the manager's action is orderState.Trigger.
type Phase string

// The phases of an order at its carrier.
const (
	phaseNone       Phase = "none"       // no shipment at the carrier
	phaseSubmitting Phase = "submitting" // create intent recorded; the outcome is not known
	phaseAccepted   Phase = "accepted"   // the carrier took the request; not confirmed yet
	phaseRegistered Phase = "registered" // the shipment exists, with a tracking number
	phaseDeleting   Phase = "deleting"   // delete intent recorded; the outcome is not known
)

// phases lists the phases in the order the diagram shows them.
var phases = []Phase{phaseNone, phaseSubmitting, phaseAccepted, phaseRegistered, phaseDeleting}

// Event is something that moves an order from one phase to another.
type Event string

// The events of the lifecycle.
const (
	evSubmit         Event = "submit"          // create intent recorded, the create is about to be sent
	evAccepted       Event = "accepted"        // the carrier took the create; its answer is saved
	evConfirmed      Event = "confirmed"       // the carrier answered with a tracking number
	evFound          Event = "found"           // a lookup by number found our shipment
	evNotCreated     Event = "not_created"     // the carrier refused the create, or provably has nothing
	evRejected       Event = "rejected"        // the carrier refused the shipment after accepting it
	evCancelled      Event = "cancelled"       // the shipment was cancelled or is gone at the carrier: a new attempt
	evReferenceLost  Event = "reference_lost"  // the carrier no longer knows the reference: look up by number
	evDelete         Event = "delete"          // delete intent recorded, the delete is about to be sent
	evDeleted        Event = "deleted"         // the carrier deleted the shipment (or had none): a new attempt
	evDeleteRefused  Event = "delete_refused"  // the carrier refused the delete; the shipment stays
	evDeletingRemote Event = "deleting_remote" // the carrier reports a delete in progress
	evStillThere     Event = "still_there"     // an unfinished delete did not happen: the shipment is live
	evUnreadable     Event = "unreadable"      // the stored phase is unknown to this version
	evNumberTaken    Event = "number_taken"    // a shipment not ours holds the number: next attempt's number
)

// transition is one allowed move of the lifecycle.
type transition struct {
	From  Phase
	Event Event
	To    Phase
	// Means says what the move is, for the README table.
	Means string
}

// lifecycle is the table of every allowed move. move refuses any other.
var lifecycle = []transition{
	{phaseNone, evSubmit, phaseSubmitting, "intent saved (number, time), then the create is sent"},
	{phaseSubmitting, evSubmit, phaseSubmitting, "re-send under the same number after a lookup proved nothing was created"},
	{phaseSubmitting, evAccepted, phaseAccepted, "the carrier took the create; its answer (reference, carrier data) is saved before any wait"},
	{phaseSubmitting, evConfirmed, phaseRegistered, "a synchronous carrier answered with a tracking number"},
	{phaseSubmitting, evFound, phaseAccepted, "lookup by number found our pending shipment"},
	{phaseSubmitting, evFound, phaseRegistered, "lookup by number found our registered shipment"},
	{phaseSubmitting, evNotCreated, phaseNone, "refused synchronously, or not found after the reconcile grace"},
	{phaseSubmitting, evNumberTaken, phaseNone, "lookup found a shipment not ours under the number: the next free number is used"},
	{phaseAccepted, evConfirmed, phaseRegistered, "the carrier confirmed the shipment"},
	{phaseAccepted, evFound, phaseRegistered, "refused as a duplicate: our live shipment under the number is adopted"},
	{phaseAccepted, evFound, phaseAccepted, "refused as a duplicate: our pending shipment under the number is adopted"},
	{phaseAccepted, evRejected, phaseNone, "the carrier refused the shipment after accepting it"},
	{phaseAccepted, evCancelled, phaseNone, "cancelled at the carrier: the number is spent, next attempt"},
	{phaseAccepted, evReferenceLost, phaseSubmitting, "the carrier does not know the reference after the grace: look up by number"},
	{phaseAccepted, evNumberTaken, phaseNone, "refused as a duplicate of a shipment not ours: the next free number is used"},
	{phaseNone, evFound, phaseRegistered, "before a create, or a delete with no shipment in the store: lookup by the order's numbers found ours"},
	{phaseNone, evFound, phaseAccepted, "before a create, or a delete with no shipment in the store: lookup found ours, still pending"},
	{phaseNone, evNumberTaken, phaseNone, "before a create: a shipment not ours holds the number, the next free number is used"},
	{phaseRegistered, evCancelled, phaseNone, "gone at the carrier (re-assert found it deleted): next attempt"},
	{phaseRegistered, evDeletingRemote, phaseDeleting, "re-assert found a delete in progress at the carrier"},
	{phaseRegistered, evDelete, phaseDeleting, "intent saved, then the delete is sent"},
	{phaseDeleting, evDelete, phaseDeleting, "the delete is sent again"},
	{phaseDeleting, evDeleted, phaseNone, "deleted at the carrier: next attempt"},
	{phaseDeleting, evDeleteRefused, phaseRegistered, "the carrier refused the delete"},
	{phaseDeleting, evStillThere, phaseAccepted, "the delete did not happen; the shipment is pending"},
	{phaseDeleting, evStillThere, phaseRegistered, "the delete did not happen; the shipment is live"},
	{"", evUnreadable, phaseNone, "a phase this version cannot read restarts from none"},
}

// allowed reports whether the table has the move.
func allowed(from Phase, ev Event, to Phase) bool {
	for _, tr := range lifecycle {
		if tr.Event == ev && tr.To == to && (tr.From == from || (tr.From == "" && ev == evUnreadable)) {
			return true
		}
	}
	return false
}

// phase returns the order's phase.
func (t *task) phase() Phase { return Phase(t.rec.Phase) }

// move is the one place where an order changes phase: it checks the move
// against the lifecycle table, records the history event (kind, msg and
// data, with the move; a generic "phase" event when kind is empty) and
// saves the record. A move the table does not
// have is refused and logged; it changes nothing. It reports whether the
// move was made and saved.
func (t *task) move(ev Event, to Phase, kind, msg string, data any) bool {
	from := t.phase()
	if !allowed(from, ev, to) {
		t.p.log.Error("lifecycle: move not in the table", zap.String("order", t.o.Name),
			zap.String("from", string(from)), zap.String("event", string(ev)), zap.String("to", string(to)))
		t.event("lifecycle_refused", fmt.Sprintf("Внутренняя ошибка: переход %s —%s→ %s не предусмотрен", from, ev, to), nil)
		return false
	}
	t.rec.Phase = string(to)
	if kind == "" {
		kind, msg = "phase", fmt.Sprintf("Этап заказа у службы доставки: %s → %s", from, to)
	}
	t.event(kind, msg, movedData{Move: fmt.Sprintf("%s -%s-> %s", from, ev, to), Detail: data})
	if err := t.save(); err != nil {
		t.p.log.Error("lifecycle: save", zap.String("order", t.o.Name), zap.Error(err))
		t.saveErr = err
		return false
	}
	return true
}

// movedData is the history data of an event that moved the order.
type movedData struct {
	Move   string `json:"move"`
	Detail any    `json:"detail,omitempty"`
}

// newAttempt is the one way an order starts afresh at its carrier after a
// shipment was deleted, cancelled or lost: the number is spent, the next
// registration gets the next attempt's number, and nothing of the old
// shipment is kept.
func (t *task) newAttempt(ev Event, kind, msg string, data any) bool {
	if !allowed(t.phase(), ev, phaseNone) {
		return t.move(ev, phaseNone, kind, msg, data) // refused and logged; nothing changes
	}
	if t.rec.Number != "" {
		t.rec.Attempt++
	}
	t.rec.Number, t.rec.Reference, t.rec.TrackingNumber, t.rec.WaybillFor = "", "", "", ""
	t.rec.CarrierData = nil
	t.st.BatchedFor = ""
	return t.move(ev, phaseNone, kind, msg, data)
}

// LifecycleMermaid renders the lifecycle table as a Mermaid state diagram.
func LifecycleMermaid() string {
	var b strings.Builder
	b.WriteString("```mermaid\nstateDiagram-v2\n")
	b.WriteString("    [*] --> none\n")
	type edge struct{ from, to Phase }
	labels := map[edge][]string{}
	var order []edge
	for _, tr := range lifecycle {
		if tr.From == "" || tr.Means == "" {
			continue
		}
		e := edge{tr.From, tr.To}
		if _, ok := labels[e]; !ok {
			order = append(order, e)
		}
		labels[e] = append(labels[e], string(tr.Event))
	}
	for _, e := range order {
		fmt.Fprintf(&b, "    %s --> %s: %s\n", e.from, e.to, strings.Join(labels[e], ", "))
	}
	b.WriteString("```\n")
	return b.String()
}

// LifecycleTable renders the lifecycle table as a Markdown table.
func LifecycleTable() string {
	var b strings.Builder
	b.WriteString("| From | Event | To | What happens |\n|---|---|---|---|\n")
	for _, tr := range lifecycle {
		if tr.Means == "" {
			continue
		}
		from := string(tr.From)
		if from == "" {
			from = "(any unknown)"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", from, tr.Event, tr.To, tr.Means)
	}
	return b.String()
}

// RetryNow makes the order's scheduled retry due now: the next cycle (or
// `once`) handles it. It reports false when the order has no unfinished
// work.
func RetryNow(st *store.Store, id string, now time.Time) (bool, error) {
	rec, ok, err := st.Order(id)
	if err != nil || !ok {
		return false, err
	}
	var s orderState
	if len(rec.Pending) > 0 {
		_ = json.Unmarshal(rec.Pending, &s)
	}
	if s.Settled || s.Trigger == "" {
		return false, nil
	}
	rec.NextAttemptAt = time.Time{}
	rec.Open = true
	return true, st.Save(rec, store.Event{At: now, Kind: "retry_now", Message: "Повтор запущен вручную (shipbridge retry)"})
}
