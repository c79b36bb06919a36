package web

import (
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/shipbridge/shipbridge/store"
)

// OrderState is where an order stands, as the orders page groups and
// filters them. It is derived from the stored record alone.
type OrderState string

// The states of the orders page.
const (
	StateNone       OrderState = "none"       // no shipment was asked for, or the carrier is not connected
	StatePending    OrderState = "pending"    // a carrier request is under way
	StateRetry      OrderState = "retry"      // a carrier or MoySklad call failed; a retry is scheduled
	StateFailed     OrderState = "failed"     // the carrier or shipbridge refused the data; the manager must fix it
	StateRegistered OrderState = "registered" // the shipment exists; not handed over yet (or not tracked)
	StateInTransit  OrderState = "in_transit" // on its way or at the pickup point
	StateDelivered  OrderState = "delivered"  // handed to the recipient
	StateReturned   OrderState = "returned"   // refused or not collected: coming or come back
	StateLost       OrderState = "lost"       // lost or destroyed by the carrier
	StateDeleted    OrderState = "deleted"    // the shipment was deleted at the manager's request
	// StateRegisteredToday is a filter, not a state: registered orders whose
	// registration happened today.
	StateRegisteredToday OrderState = "registered_today"
)

// Phases of store.OrderRecord.Phase, as the poller writes them.
const (
	phaseNone       = "none"
	phaseSubmitting = "submitting"
	phaseAccepted   = "accepted"
	phaseRegistered = "registered"
	phaseDeleting   = "deleting"
)

// Delivery statuses of store.Delivery.Status (carriers.TrackStatus values).
const (
	trackAccepted     = "accepted"
	trackInTransit    = "in_transit"
	trackAtPickup     = "at_pickup"
	trackDelivered    = "delivered"
	trackNotDelivered = "not_delivered"
	trackReturned     = "returned"
	trackLost         = "lost"
)

// StateOf classifies a record for the orders page.
func StateOf(rec store.OrderRecord) OrderState {
	if rec.Open && rec.Retries > 0 && !rec.NextAttemptAt.IsZero() {
		return StateRetry
	}
	switch rec.Phase {
	case phaseRegistered:
		switch rec.Delivery.Status {
		case trackInTransit, trackAtPickup:
			return StateInTransit
		case trackDelivered:
			return StateDelivered
		case trackNotDelivered, trackReturned:
			return StateReturned
		case trackLost:
			return StateLost
		}
		return StateRegistered
	case phaseSubmitting, phaseAccepted, phaseDeleting:
		return StatePending
	}
	switch {
	case rec.Error != "":
		return StateFailed
	case rec.Attempt > 1 && rec.Number == "":
		// A deletion spends the number and moves the attempt on.
		return StateDeleted
	}
	return StateNone
}

var stateTitles = map[OrderState]string{
	StateNone:            "Без отправления",
	StatePending:         "Оформляется",
	StateRetry:           "Ждёт повтора",
	StateFailed:          "Ошибка",
	StateRegistered:      "Зарегистрирован",
	StateInTransit:       "В пути",
	StateDelivered:       "Доставлен",
	StateReturned:        "Возврат",
	StateLost:            "Утерян",
	StateDeleted:         "Удалён",
	StateRegisteredToday: "Зарегистрированы сегодня",
}

type stateOption struct {
	Value OrderState
	Title string
}

// stateOptions are the choices of the state filter, in the order shown.
var stateOptions = func() []stateOption {
	var out []stateOption
	for _, st := range []OrderState{StateRegisteredToday, StateFailed, StateRetry, StatePending, StateRegistered,
		StateInTransit, StateDelivered, StateReturned, StateLost, StateDeleted, StateNone} {
		out = append(out, stateOption{st, stateTitles[st]})
	}
	return out
}()

var phaseTitles = map[string]string{
	phaseNone:       "нет отправления",
	phaseSubmitting: "отправляется перевозчику",
	phaseAccepted:   "принят перевозчиком, ждёт подтверждения",
	phaseRegistered: "зарегистрирован у перевозчика",
	phaseDeleting:   "удаляется у перевозчика",
}

// phaseTitle is the workflow phase in Russian; an unknown phase is shown as it is.
func phaseTitle(phase string) string {
	if phase == "" {
		return phaseTitles[phaseNone]
	}
	if t, ok := phaseTitles[phase]; ok {
		return t
	}
	return phase
}

var deliveryTitles = map[string]string{
	trackAccepted:     "принят, ещё не передан в доставку",
	trackInTransit:    "в пути",
	trackAtPickup:     "ждёт в пункте выдачи",
	trackDelivered:    "вручён получателю",
	trackNotDelivered: "не вручён, возвращается",
	trackReturned:     "возвращён отправителю",
	trackLost:         "утерян",
}

// deliveryText is the parcel's delivery status: the carrier's own Russian
// name when it gave one, else the neutral status in Russian, with the date.
func deliveryText(d store.Delivery) string {
	text := d.Name
	if text == "" {
		text = deliveryTitles[d.Status]
	}
	if text == "" {
		text = d.Status
	}
	if text != "" && !d.At.IsZero() {
		text += ", " + d.At.Local().Format("02.01.2006 15:04")
	}
	return text
}

// defaultCarrierTitles are the carriers' names as managers know them.
var defaultCarrierTitles = map[string]string{
	"cdek":   "СДЭК",
	"pochta": "Почта России",
}

// SetCarrierTitles sets the names shown for carrier keys (e.g. the first
// configured MoySklad name of each carrier); keys not given keep the
// built-in names. Call it before serving.
func (s *Server) SetCarrierTitles(titles map[string]string) {
	for k, v := range titles {
		if strings.TrimSpace(v) != "" {
			s.titles[k] = v
		}
	}
}

func (s *Server) carrierTitle(key string) string {
	if t, ok := s.titles[key]; ok {
		return t
	}
	return key
}

// trackingURL is the carrier's public tracking page of a parcel, "" when
// the carrier has none known here.
func trackingURL(carrier, tracking string) string {
	if tracking == "" {
		return ""
	}
	switch carrier {
	case "cdek":
		return "https://www.cdek.ru/ru/tracking?order_id=" + url.QueryEscape(tracking)
	case "pochta":
		return "https://www.pochta.ru/tracking?barcode=" + url.QueryEscape(tracking)
	}
	return ""
}

// moyskladURL is the order in MoySklad's web interface, where the waybill
// is attached (the store does not keep waybills).
func moyskladURL(id string) string {
	if id == "" {
		return ""
	}
	return "https://online.moysklad.ru/app/#customerorder/edit?id=" + url.QueryEscape(id)
}

// stateCount is one count at the top of the orders page.
type stateCount struct {
	State OrderState
	Title string
	N     int
}

// orderRow is one row of the orders page.
type orderRow struct {
	store.OrderRecord
	State OrderState
}

type indexPage struct {
	Now    time.Time
	Counts []stateCount
	Rows   []orderRow
	// Total is how many orders the store holds; Matched how many pass the
	// filter (Rows holds at most the limit of them).
	Total, Matched int
	// State and Query are the filter as asked.
	State OrderState
	Query string
}

// headline are the counts shown at the top, in order, with their titles.
var headline = []stateOption{
	{StateRegisteredToday, "Зарегистрированы сегодня"},
	{StateFailed, "Ошибки"},
	{StateRetry, "Ждут повтора"},
	{StateInTransit, "В пути"},
	{StateDelivered, "Доставлены"},
	{StateReturned, "Возвраты"},
}

// buildIndex reads every record, counts them by state, and keeps the most
// recently changed that pass the filter: state ("" for all) and q, a
// case-insensitive part of the order name or tracking number.
func (s *Server) buildIndex(state, q string, limit int) (indexPage, error) {
	now := s.now()
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())
	page := indexPage{Now: now, State: OrderState(state), Query: q}
	if _, ok := stateTitles[page.State]; !ok {
		page.State = ""
	}
	needle := strings.ToLower(strings.TrimSpace(q))
	counts := map[OrderState]int{}
	var rows []orderRow
	var todayErr error
	err := s.store.Orders(func(rec store.OrderRecord) bool {
		page.Total++
		st := StateOf(rec)
		counts[st]++
		today := false
		if rec.Phase == phaseRegistered && !rec.UpdatedAt.Before(midnight) {
			today, todayErr = s.registeredSince(rec.ID, midnight)
			if todayErr != nil {
				return false
			}
			if today {
				counts[StateRegisteredToday]++
			}
		}
		switch {
		case page.State == StateRegisteredToday && !today:
			return true
		case page.State != "" && page.State != StateRegisteredToday && st != page.State:
			return true
		case needle != "" && !strings.Contains(strings.ToLower(rec.Name), needle) &&
			!strings.Contains(strings.ToLower(rec.TrackingNumber), needle):
			return true
		}
		rows = append(rows, orderRow{OrderRecord: rec, State: st})
		return true
	})
	if err == nil {
		err = todayErr
	}
	if err != nil {
		return indexPage{}, err
	}
	slices.SortFunc(rows, func(a, b orderRow) int {
		if c := b.UpdatedAt.Compare(a.UpdatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	page.Matched = len(rows)
	if len(rows) > limit {
		rows = rows[:limit]
	}
	page.Rows = rows
	for _, h := range headline {
		page.Counts = append(page.Counts, stateCount{State: h.Value, Title: h.Title, N: counts[h.Value]})
	}
	return page, nil
}

// registeredSince reports whether the order's shipment was registered (or
// found registered at the carrier) at or after t, by its history.
func (s *Server) registeredSince(id string, t time.Time) (bool, error) {
	events, err := s.store.History(id)
	if err != nil {
		return false, err
	}
	for i := len(events) - 1; i >= 0; i-- {
		ev := events[i]
		if ev.At.Before(t) {
			return false, nil
		}
		if ev.Kind == "carrier_registered" || ev.Kind == "carrier_found" {
			return true, nil
		}
	}
	return false, nil
}
