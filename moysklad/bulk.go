package moysklad

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"go.uber.org/zap"
)

// Bulk update of customer orders: POST /entity/customerorder with a JSON
// array of partial orders, each carrying its meta (doc _customerOrder.md
// «Массовое создание и обновление Заказов покупателей»; _general.md
// «Создание и обновление нескольких объектов»: «Обновляемые сущности должны
// содержать идентификатор в виде метаданных», at most 1,000 per request).
// The answer is an array with one element per request element, in order:
// the stored order, or an error object {"errors":[…]} without meta (schema
// customerorders-batch.yaml → BatchResponseEntity, error.yaml; the
// wmakeev/moysklad client maps errors to elements by index). One request
// costs one request's rate-limit weight however many orders it carries.

// Bulk limits. MaxBulkItems is MoySklad's array limit (413 above it).
// DefaultBulkMaxBytes keeps a request well under the 10 MB body limit
// (error 1044): waybill PDFs travel base64-encoded in the body.
const (
	MaxBulkItems        = 1000
	DefaultBulkMaxBytes = 6 << 20
)

// BulkUpdate is one order's change in UpdateOrders.
type BulkUpdate struct {
	// ID is the order id.
	ID     string
	Update OrderUpdate
}

// BulkOutcome is what became of one update of UpdateOrders.
type BulkOutcome int

const (
	// BulkApplied: MoySklad stored the update.
	BulkApplied BulkOutcome = iota + 1
	// BulkRefused: MoySklad refused this update (Err is an *Error with the
	// service's codes); nothing of it was stored. Do not send it again
	// unchanged.
	BulkRefused
	// BulkUnknown: the request was sent but its answer was lost (network
	// error, timeout, 5xx, an answer that cannot be matched to the
	// request): the update may or may not be stored. Re-read the order,
	// then decide. Err wraps ErrBulkAnswerLost.
	BulkUnknown
	// BulkNotSent: the update was not sent, or certainly not processed
	// (429 after the retries, an earlier request of the call lost its
	// answer, the context ended, the update alone is too large). It can be
	// sent again as is (see Err).
	BulkNotSent
)

// String names the outcome.
func (o BulkOutcome) String() string {
	switch o {
	case BulkApplied:
		return "applied"
	case BulkRefused:
		return "refused"
	case BulkUnknown:
		return "unknown"
	case BulkNotSent:
		return "not sent"
	}
	return fmt.Sprintf("BulkOutcome(%d)", int(o))
}

// BulkResult is the result of one update of UpdateOrders.
type BulkResult struct {
	ID      string
	Outcome BulkOutcome
	// Updated is the order's updated moment as stored (BulkApplied).
	Updated Moment
	// Err explains every outcome but BulkApplied.
	Err error
}

var (
	// ErrBulkAnswerLost marks updates whose request was sent but whose
	// answer never arrived or could not be read: the caller re-reads the
	// orders, then decides.
	ErrBulkAnswerLost = errors.New("moysklad: bulk update answer lost; re-read the orders")
	// ErrBulkNotSent marks updates left unsent because an earlier request
	// of the same call failed.
	ErrBulkNotSent = errors.New("moysklad: bulk update not sent after an earlier failure")
	// ErrBulkItemTooLarge marks an update that alone exceeds the body bound.
	ErrBulkItemTooLarge = errors.New("moysklad: update too large for a bulk request")
)

// bulkItem is one element of the request body: the order's meta and the
// partial update.
type bulkItem struct {
	meta Meta
	u    OrderUpdate
}

// MarshalJSON encodes {"meta":{…},"attributes":[…],"state":…} (the byte order appendBulkItem
// streams too).
func (b bulkItem) MarshalJSON() ([]byte, error) {
	body, err := json.Marshal(b.u)
	if err != nil {
		return nil, err
	}
	meta, err := json.Marshal(b.meta)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteString(`{"meta":`)
	buf.Write(meta)
	if len(body) > 2 { // not "{}"
		buf.WriteByte(',')
		buf.Write(body[1:])
	} else {
		buf.WriteByte('}')
	}
	return buf.Bytes(), nil
}

// bulkAnswerItem is one element of the answer: an order (only what is
// needed of it) or an error object.
type bulkAnswerItem struct {
	Meta    Meta       `json:"meta"`
	ID      string     `json:"id"`
	Updated Moment     `json:"updated"`
	Errors  []APIError `json:"errors"`
}

// UpdateOrders changes many orders with as few requests as the limits
// allow: POST /entity/customerorder with an array of partial orders, at
// most MaxBulkItems per request and at most Config.BulkMaxBytes of body
// (default DefaultBulkMaxBytes); updates are encoded one by one into the
// current request, so at most one request body is held in memory.
//
// It returns one result per update, in order. The error is nil when every
// update was applied or refused by MoySklad (see each result); otherwise it
// wraps ErrBulkAnswerLost when some outcome is unknown, or explains why
// updates were not sent. A request refused as a whole with 4xx refuses its
// updates; 429 is retried like every request; 5xx and network failures
// make its updates BulkUnknown (MoySklad may have stored some) and stop
// the call: the remaining updates are BulkNotSent.
//
// An update refused with 14001 (a file attribute that holds a file is not
// overwritten) is handled as UpdateOrder does: its file attributes are
// cleared in a bulk request, then the update is sent again.
func (c *Client) UpdateOrders(ctx context.Context, updates []BulkUpdate) ([]BulkResult, error) {
	res, err := c.updateOrders(ctx, updates)
	var again []int
	for i, r := range res {
		if r.Outcome == BulkRefused && isFileRefusal(r.Err) {
			if _, ok := updates[i].Update.fileClears(); ok {
				again = append(again, i)
			}
		}
	}
	if len(again) == 0 || err != nil {
		return res, err
	}
	c.log.Info("moysklad refused to overwrite file attributes; clearing them first", zap.Int("orders", len(again)))
	clears := make([]BulkUpdate, len(again))
	for k, i := range again {
		cl, _ := updates[i].Update.fileClears()
		clears[k] = BulkUpdate{ID: updates[i].ID, Update: cl}
	}
	cres, err := c.updateOrders(ctx, clears)
	var resend []int
	for k, i := range again {
		if cres[k].Outcome == BulkApplied {
			resend = append(resend, i)
			continue
		}
		res[i].Outcome = cres[k].Outcome
		res[i].Err = fmt.Errorf("moysklad: clear file attributes of order %s before replacing them: %w", updates[i].ID, cres[k].Err)
	}
	if err != nil {
		return res, err
	}
	second := make([]BulkUpdate, len(resend))
	for k, i := range resend {
		second[k] = updates[i]
	}
	sres, err := c.updateOrders(ctx, second)
	for k, i := range resend {
		res[i] = sres[k]
	}
	return res, err
}

// updateOrders sends the updates in bounded requests, without the 14001
// handling.
func (c *Client) updateOrders(ctx context.Context, updates []BulkUpdate) ([]BulkResult, error) {
	res := make([]BulkResult, len(updates))
	for i, u := range updates {
		res[i] = BulkResult{ID: u.ID, Outcome: BulkNotSent, Err: ErrBulkNotSent}
	}
	var (
		body    *streamBody // the chunk's request body, its files streamed
		chunk   []int       // indexes of updates in body
		stopErr error
	)
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		body.str("]")
		err := c.sendBulk(ctx, body, chunk, updates, res)
		body = nil
		chunk = chunk[:0]
		return err
	}
	for i, u := range updates {
		if u.ID == "" {
			res[i] = BulkResult{Outcome: BulkNotSent, Err: errors.New("moysklad: bulk update without an order id")}
			continue
		}
		if u.Update.State == nil && len(u.Update.Attributes) == 0 {
			res[i] = BulkResult{ID: u.ID, Outcome: BulkNotSent, Err: fmt.Errorf("moysklad: update of order %s changes nothing", u.ID)}
			continue
		}
		var item streamBody
		if err := appendBulkItem(&item, c.orderMeta(u.ID), u.Update); err != nil {
			res[i] = BulkResult{ID: u.ID, Outcome: BulkNotSent, Err: fmt.Errorf("moysklad: encode update of order %s: %w", u.ID, err)}
			continue
		}
		if item.Len()+2 > int64(c.bulkMaxBytes) {
			res[i] = BulkResult{ID: u.ID, Outcome: BulkNotSent, Err: fmt.Errorf("%w: order %s, %d bytes (bound %d)", ErrBulkItemTooLarge, u.ID, item.Len(), c.bulkMaxBytes)}
			continue
		}
		if len(chunk) == MaxBulkItems || (len(chunk) > 0 && body.Len()+1+item.Len()+1 > int64(c.bulkMaxBytes)) {
			if stopErr = flush(); stopErr != nil {
				break
			}
		}
		if len(chunk) == 0 {
			body = &streamBody{}
			body.str("[")
		} else {
			body.str(",")
		}
		body.append(&item)
		chunk = append(chunk, i)
	}
	if stopErr == nil {
		stopErr = flush()
	}
	return res, stopErr
}

// orderMeta is the meta that identifies an order in a bulk request.
func (c *Client) orderMeta(id string) Meta {
	return Meta{Href: c.base + "/entity/customerorder/" + url.PathEscape(id),
		MetadataHref: c.base + "/entity/customerorder/metadata", Type: "customerorder", MediaType: "application/json"}
}

// sendBulk sends one bulk request and fills the results of its updates.
// A non-nil error stops the call.
func (c *Client) sendBulk(ctx context.Context, body *streamBody, chunk []int, updates []BulkUpdate, res []BulkResult) error {
	set := func(o BulkOutcome, err error) {
		for _, i := range chunk {
			res[i] = BulkResult{ID: updates[i].ID, Outcome: o, Err: err}
		}
	}
	var answer []json.RawMessage
	err := c.do(ctx, request{method: http.MethodPost, path: "/entity/customerorder", stream: body, keepErrorBody: true}, &answer)
	status := http.StatusOK
	if err != nil {
		var e *Error
		switch {
		case errors.As(err, &e) && e.body != nil && bytes.HasPrefix(bytes.TrimSpace(e.body), []byte("[")) && json.Unmarshal(e.body, &answer) == nil:
			// A non-2xx answer with per-element results: read them below.
			status = e.StatusCode
		case errors.As(err, &e) && (e.StatusCode == http.StatusTooManyRequests || e.HasCode(CodeRateLimit) || e.HasCode(CodeParallelLimit)):
			// Refused for the budget before any processing.
			set(BulkNotSent, err)
			return err
		case errors.As(err, &e) && e.StatusCode >= 400 && e.StatusCode < 500:
			// The request as a whole was refused (413, malformed, …): none
			// of its updates were stored; the rest of the call may go on.
			set(BulkRefused, err)
			return nil
		case errors.Is(err, ErrAnswerTooLarge):
			lost := fmt.Errorf("%w: %w", ErrBulkAnswerLost, err)
			set(BulkUnknown, lost)
			return lost
		case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
			// The request may have left before the context ended.
			lost := fmt.Errorf("%w: %w", ErrBulkAnswerLost, err)
			set(BulkUnknown, lost)
			return lost
		default:
			// 5xx, network failure, undecodable 2xx answer: unknown.
			lost := fmt.Errorf("%w: %w", ErrBulkAnswerLost, err)
			set(BulkUnknown, lost)
			return lost
		}
	}
	if len(answer) != len(chunk) {
		lost := fmt.Errorf("%w: %d answer elements for %d updates", ErrBulkAnswerLost, len(answer), len(chunk))
		set(BulkUnknown, lost)
		return lost
	}
	items := make([]bulkAnswerItem, len(answer))
	for k, raw := range answer {
		if err := json.Unmarshal(raw, &items[k]); err != nil {
			lost := fmt.Errorf("%w: answer element %d: %v", ErrBulkAnswerLost, k, err)
			set(BulkUnknown, lost)
			return lost
		}
		if len(items[k].Errors) == 0 {
			got := items[k].ID
			if got == "" {
				got = items[k].Meta.ID()
			}
			if got != updates[chunk[k]].ID {
				lost := fmt.Errorf("%w: answer element %d is order %q, expected %q", ErrBulkAnswerLost, k, got, updates[chunk[k]].ID)
				set(BulkUnknown, lost)
				return lost
			}
		}
	}
	for k, i := range chunk {
		it := items[k]
		if len(it.Errors) > 0 {
			res[i] = BulkResult{ID: updates[i].ID, Outcome: BulkRefused,
				Err: &Error{StatusCode: status, Errors: it.Errors, Method: http.MethodPost, Path: "/entity/customerorder"}}
			continue
		}
		res[i] = BulkResult{ID: updates[i].ID, Outcome: BulkApplied, Updated: it.Updated}
	}
	return nil
}
