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
// updates (an answer that does not say which updates are at fault: see
// sendBulk; a 401 or 403 refuses every update and stops the call); 429 is
// retried like every request; 5xx and network failures
// make its updates BulkUnknown (MoySklad may have stored some) and stop
// the call: the remaining updates are BulkNotSent.
//
// An update refused with 14001 (a file attribute that holds a file is not
// overwritten) is handled as UpdateOrder does: its file attributes are
// cleared in a bulk request, then the update is sent again.
func (c *Client) UpdateOrders(ctx context.Context, updates []BulkUpdate) ([]BulkResult, error) {
	res, err := c.updateAttributed(ctx, updates)
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
	cres, err := c.updateAttributed(ctx, clears)
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
	sres, err := c.updateAttributed(ctx, second)
	for k, i := range resend {
		res[i] = sres[k]
	}
	return res, err
}

// updateAttributed is updateOrders, with the updates of a request refused
// without naming the updates at fault sent again until each has its own
// result (attribute).
func (c *Client) updateAttributed(ctx context.Context, updates []BulkUpdate) ([]BulkResult, error) {
	res, err := c.updateOrders(ctx, updates)
	idx := unattributed(res)
	if len(idx) == 0 {
		return res, err
	}
	if err != nil {
		for _, i := range idx {
			res[i] = BulkResult{ID: updates[i].ID, Outcome: BulkNotSent, Err: ErrBulkNotSent}
		}
		return res, err
	}
	c.log.Info("moysklad refused a bulk update without naming the orders at fault; sending them in smaller requests", zap.Int("orders", len(idx)))
	return res, c.attribute(ctx, updates, res, idx)
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
//
// A 4xx answer is read in every form it may take: an object {"errors":[…]}
// (doc _general.md), or an array of such objects, aligned with the
// request's elements or not. The array form is UNCONFIRMED: an audit
// reported it from the OpenAPI files (customerorders-batch.yaml default
// response CommonError, responses.yaml BatchBadRequest), which are not in
// the snapshot of moysklad/api-remap-1.2-doc we could read (md/ only), so
// every plausible shape is accepted. Its errors are attributed to
// updates by position when the array is aligned, else by the meta of the
// error or of its element (doc _general.md «Структура объекта error»:
// meta); updates it does not name are marked with errBulkUnattributed, and
// UpdateOrders sends them again in smaller requests, so that one bad update
// cannot refuse the others. A 401 or 403 of the whole request
// (IsAccessRefused) refuses its updates and stops the call: every other
// request would be refused alike.
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
		case errors.As(err, &e) && (e.StatusCode == http.StatusTooManyRequests || e.HasCode(CodeRateLimit) || e.HasCode(CodeParallelLimit)):
			// Refused for the budget before any processing.
			set(BulkNotSent, err)
			return err
		case errors.As(err, &e) && IsAccessRefused(e) && !bytes.HasPrefix(bytes.TrimSpace(e.body), []byte("[")):
			// The token or its user's rights, not the updates: every
			// request of the call would be refused alike.
			set(BulkRefused, err)
			return err
		case errors.As(err, &e) && e.StatusCode >= 400 && e.StatusCode < 500:
			c.bulkRefusal(e, chunk, updates, res)
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

// errBulkUnattributed marks an update of a request MoySklad refused with
// 4xx whose answer does not say which updates were at fault. Nothing of the
// request was stored; UpdateOrders sends such updates again in smaller
// requests. No result of UpdateOrders carries it.
var errBulkUnattributed = errors.New("moysklad: bulk request refused without naming the update at fault")

// bulkRefusal fills the results of a request refused with 4xx (see
// sendBulk). Nothing of the request was stored.
func (c *Client) bulkRefusal(e *Error, chunk []int, updates []BulkUpdate, res []BulkResult) {
	refuse := func(i int, errs []APIError) {
		res[i] = BulkResult{ID: updates[i].ID, Outcome: BulkRefused,
			Err: &Error{StatusCode: e.StatusCode, Errors: errs, Method: e.Method, Path: e.Path}}
	}
	// The elements of the answer: an array of {errors}, or the one object.
	var elems []bulkAnswerItem
	body := bytes.TrimSpace(e.body)
	if bytes.HasPrefix(body, []byte("[")) {
		if json.Unmarshal(body, &elems) != nil {
			elems = nil
		}
	} else {
		elems = []bulkAnswerItem{{Errors: e.Errors}}
	}
	pos := map[string]int{} // order id → index of updates
	for _, i := range chunk {
		pos[updates[i].ID] = i
	}
	// Aligned: one element per update, each an error naming no other
	// order, or the stored order itself (an answer with per-element results
	// under a 4xx status).
	aligned := len(elems) == len(chunk) && len(chunk) > 0
	for k := 0; aligned && k < len(elems); k++ {
		el, want := elems[k], updates[chunk[k]].ID
		if len(el.Errors) == 0 {
			got := el.ID
			if got == "" {
				got = el.Meta.ID()
			}
			aligned = got == want
			continue
		}
		for _, id := range errorOrders(el) {
			if id != want {
				aligned = false
			}
		}
	}
	if aligned {
		for k, i := range chunk {
			if len(elems[k].Errors) == 0 {
				res[i] = BulkResult{ID: updates[i].ID, Outcome: BulkApplied, Updated: elems[k].Updated}
				continue
			}
			refuse(i, elems[k].Errors)
		}
		return
	}
	// By meta: errors that name their order.
	named := map[int][]APIError{}
	var anonymous []APIError
	for _, el := range elems {
		for _, ae := range el.Errors {
			id := ""
			if ae.Meta != nil {
				id = ae.Meta.ID()
			} else if el.Meta.Href != "" {
				id = el.Meta.ID()
			}
			if i, ok := pos[id]; ok {
				named[i] = append(named[i], ae)
			} else {
				anonymous = append(anonymous, ae)
			}
		}
	}
	if len(chunk) == 1 && len(named) == 0 {
		// The only update of the request is the one at fault.
		errs := anonymous
		if len(errs) == 0 {
			errs = e.Errors
		}
		refuse(chunk[0], errs)
		return
	}
	for _, i := range chunk {
		if errs, ok := named[i]; ok {
			refuse(i, errs)
			continue
		}
		res[i] = BulkResult{ID: updates[i].ID, Outcome: BulkRefused, Err: fmt.Errorf("%w: %w", errBulkUnattributed, e)}
	}
}

// errorOrders returns the ids of the orders an answer element's errors
// name by their meta.
func errorOrders(el bulkAnswerItem) []string {
	var ids []string
	if el.Meta.Href != "" {
		ids = append(ids, el.Meta.ID())
	}
	for _, ae := range el.Errors {
		if ae.Meta != nil && ae.Meta.Href != "" {
			ids = append(ids, ae.Meta.ID())
		}
	}
	return ids
}

// unattributed returns the indexes of results marked errBulkUnattributed.
func unattributed(res []BulkResult) []int {
	var idx []int
	for i, r := range res {
		if r.Outcome == BulkRefused && errors.Is(r.Err, errBulkUnattributed) {
			idx = append(idx, i)
		}
	}
	return idx
}

// attribute sends the updates at idx again, halving the set each time a
// request is refused without naming the update at fault, until every update
// has its own result: k bad updates among n cost about 2·k·log2(n)
// requests. A non-nil error stops it; the updates it did not send are
// BulkNotSent.
func (c *Client) attribute(ctx context.Context, updates []BulkUpdate, res []BulkResult, idx []int) error {
	if len(idx) == 0 {
		return nil
	}
	halves := [][]int{idx}
	if len(idx) > 1 {
		halves = [][]int{idx[:len(idx)/2], idx[len(idx)/2:]}
	}
	for h, part := range halves {
		sub := make([]BulkUpdate, len(part))
		for k, i := range part {
			sub[k] = updates[i]
		}
		sres, err := c.updateOrders(ctx, sub)
		for k, i := range part {
			res[i] = sres[k]
		}
		if err == nil {
			var again []int
			for _, k := range unattributed(sres) {
				again = append(again, part[k])
			}
			err = c.attribute(ctx, updates, res, again)
		}
		if err != nil {
			for _, rest := range halves[h+1:] {
				for _, i := range rest {
					res[i] = BulkResult{ID: updates[i].ID, Outcome: BulkNotSent, Err: ErrBulkNotSent}
				}
			}
			for _, i := range unattributed(res) {
				res[i] = BulkResult{ID: updates[i].ID, Outcome: BulkNotSent, Err: ErrBulkNotSent}
			}
			return err
		}
	}
	return nil
}
