package pochta

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/internal/exchange"
)

// Client is a thin «Отправка» client: one method per call, the two
// authorization headers on every request, kebab-case JSON decoded
// tolerantly. Failures are *APIError (Pochta answered with an error — also
// inside an HTTP 200) or *TransportError (no usable answer). It is safe for
// concurrent use and never puts the token or the Basic key into an error,
// a log line or the exchange history.
type Client struct {
	base    *url.URL
	http    *http.Client
	log     *zap.Logger
	now     func() time.Time
	obs     Observer
	maxBody int64
	maxPDF  int64
	token   string
	userKey string
}

// NewClient builds a client from cfg (only the connection fields are used).
func NewClient(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, fmt.Errorf("pochta: base URL %q is not an http(s) URL", cfg.BaseURL)
	}
	if cfg.Token == "" || cfg.Login == "" || cfg.Password == "" {
		return nil, errors.New("pochta: token, login and password are required")
	}
	return &Client{
		base:    base,
		http:    cfg.HTTPClient,
		log:     cfg.Logger,
		now:     cfg.Now,
		obs:     cfg.Observer,
		maxBody: cfg.MaxBodyBytes,
		maxPDF:  cfg.MaxPDFBytes,
		token:   cfg.Token,
		userKey: base64.StdEncoding.EncodeToString([]byte(cfg.Login + ":" + cfg.Password)),
	}, nil
}

// String describes the client without its credentials.
func (c *Client) String() string { return "pochta.Client{" + c.base.String() + "}" }

// GoString is String, so %#v does not print the credentials either.
func (c *Client) GoString() string { return c.String() }

// call describes one API request.
type call struct {
	method   string
	endpoint string // template for logs and metrics
	path     string // path below the base URL, already escaped
	query    url.Values
	body     any
	accept   string
	limit    int64
}

// result is a raw answer with a 2xx status.
type result struct {
	status      int
	contentType string
	body        []byte
}

func (c *Client) observe(method, endpoint string, status int, d time.Duration, err error) {
	if c.obs != nil {
		c.obs.ObserveRequest(method, endpoint, status, d, err)
	}
}

// do sends the call. A non-2xx answer is an *APIError.
func (c *Client) do(ctx context.Context, cl call) (result, error) {
	var payload []byte
	if cl.body != nil {
		b, err := json.Marshal(cl.body)
		if err != nil {
			return result{}, fmt.Errorf("pochta: encode %s %s: %w", cl.method, cl.endpoint, err)
		}
		payload = b
	}
	cp := *c.base
	cp.RawPath = ""
	cp.Path = c.base.Path + cl.path
	u := &cp
	if cl.query != nil {
		u.RawQuery = cl.query.Encode()
	}
	limit := cl.limit
	if limit <= 0 {
		limit = c.maxBody
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), cl.method, u.String(), body)
	if err != nil {
		return result{}, fmt.Errorf("pochta: build %s %s: %w", cl.method, cl.endpoint, err)
	}
	// Reference §2.1: both headers on every call.
	req.Header.Set("Authorization", "AccessToken "+c.token)
	req.Header.Set("X-User-Authorization", "Basic "+c.userKey)
	accept := cl.accept
	if accept == "" {
		accept = "application/json;charset=UTF-8"
	}
	req.Header.Set("Accept", accept)
	if payload != nil {
		req.Header.Set("Content-Type", "application/json;charset=UTF-8")
	}
	start := c.now()
	resp, err := c.http.Do(req)
	if err != nil {
		terr := &TransportError{Method: cl.method, Endpoint: cl.endpoint, Sent: wrote.Load(), Err: stripURL(err)}
		d := c.now().Sub(start)
		c.observe(cl.method, cl.endpoint, 0, d, terr)
		c.record(ctx, cl.method, u, payload, 0, nil, "", d, terr)
		c.log.Debug("pochta request failed", zap.String("method", cl.method), zap.String("endpoint", cl.endpoint), zap.Bool("sent", terr.Sent), zap.Error(terr))
		return result{}, terr
	}
	data, rerr := readLimited(resp.Body, limit)
	resp.Body.Close()
	d := c.now().Sub(start)
	ct := resp.Header.Get("Content-Type")
	if rerr != nil {
		terr := &TransportError{Method: cl.method, Endpoint: cl.endpoint, Sent: true, Status: resp.StatusCode, Err: rerr}
		c.observe(cl.method, cl.endpoint, resp.StatusCode, d, terr)
		c.record(ctx, cl.method, u, payload, resp.StatusCode, nil, ct, d, terr)
		return result{}, terr
	}
	c.log.Debug("pochta request", zap.String("method", cl.method), zap.String("endpoint", cl.endpoint), zap.Int("status", resp.StatusCode), zap.Duration("took", d))
	c.record(ctx, cl.method, u, payload, resp.StatusCode, data, ct, d, nil)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		ae := newAPIError(cl.method, cl.endpoint, resp.StatusCode, data)
		c.observe(cl.method, cl.endpoint, resp.StatusCode, d, ae)
		return result{}, ae
	}
	c.observe(cl.method, cl.endpoint, resp.StatusCode, d, nil)
	return result{status: resp.StatusCode, contentType: ct, body: data}, nil
}

// record reports the exchange to the operation's history. Only the path
// and query are kept: the credentials travel in headers, never recorded.
func (c *Client) record(ctx context.Context, method string, u *url.URL, payload []byte, status int, body []byte, contentType string, d time.Duration, err error) {
	e := exchange.Exchange{System: "pochta", Method: method, URL: u.RequestURI(), Status: status, Request: string(payload), Duration: d}
	switch {
	case body == nil:
	case strings.Contains(contentType, "json") || json.Valid(body):
		e.Response = string(body)
	default:
		e.Response = fmt.Sprintf("[%d bytes of %s]", len(body), contentType)
	}
	if err != nil {
		e.Err = err.Error()
	}
	exchange.Record(ctx, e)
}

func readLimited(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("response body exceeds %d bytes", limit)
	}
	return data, nil
}

// decodeArray decodes an answer that should be a JSON array. An object
// with errors in its place is an *APIError (Pochta answers errors with 200).
func decodeArray[T any](cl call, res result) ([]T, error) {
	b := bytes.TrimSpace(res.body)
	if len(b) == 0 {
		return nil, &TransportError{Method: cl.method, Endpoint: cl.endpoint, Sent: true, Status: res.status, Err: errors.New("empty response body")}
	}
	if b[0] == '{' {
		ae := newAPIError(cl.method, cl.endpoint, res.status, b)
		if len(ae.Items) == 0 {
			ae.Items = []ErrorItem{{Code: "UNEXPECTED_ANSWER", Description: "an object where a list was expected", Position: -1}}
		}
		return nil, ae
	}
	var out []T
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, &TransportError{Method: cl.method, Endpoint: cl.endpoint, Sent: true, Status: res.status, Err: fmt.Errorf("decode answer: %w", err)}
	}
	return out, nil
}

// decodeObject decodes an object answer into out and its envelope. An
// answer that carries only errors (envelope C or D in a 200) is an
// *APIError.
func decodeObject(cl call, res result, out any) (envelope, error) {
	b := bytes.TrimSpace(res.body)
	if len(b) == 0 {
		return envelope{}, &TransportError{Method: cl.method, Endpoint: cl.endpoint, Sent: true, Status: res.status, Err: errors.New("empty response body")}
	}
	env, ok := parseEnvelope(b)
	if !ok {
		return envelope{}, &TransportError{Method: cl.method, Endpoint: cl.endpoint, Sent: true, Status: res.status, Err: errors.New("answer is not a JSON object")}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return env, &TransportError{Method: cl.method, Endpoint: cl.endpoint, Sent: true, Status: res.status, Err: fmt.Errorf("decode answer: %w", err)}
		}
	}
	return env, nil
}

func ids(in []Int) []int64 {
	out := make([]int64, 0, len(in))
	for _, v := range in {
		out = append(out, int64(v))
	}
	return out
}

// CreateOrders sends PUT /2.0/user/backlog (reference §2.3). Pochta answers
// HTTP 200 both for created orders and for rejected ones; both come back
// in the CreateResponse, by position. A non-2xx answer is an *APIError.
func (c *Client) CreateOrders(ctx context.Context, orders []OrderRequest) (CreateResponse, error) {
	cl := call{method: http.MethodPut, endpoint: "/2.0/user/backlog", path: "/2.0/user/backlog", body: orders}
	res, err := c.do(ctx, cl)
	if err != nil {
		return CreateResponse{}, err
	}
	env, err := decodeObject(cl, res, nil)
	if err != nil {
		return CreateResponse{}, err
	}
	out := CreateResponse{Orders: env.Orders}
	byPos := map[int]int{}
	for _, it := range env.items() {
		i, ok := byPos[it.Position]
		if !ok {
			i = len(out.Errors)
			byPos[it.Position] = i
			out.Errors = append(out.Errors, PositionErrors{Position: it.Position})
		}
		out.Errors[i].Items = append(out.Errors[i].Items, it)
	}
	return out, nil
}

// SearchBacklog sends GET /1.0/backlog/search?query= (orders in «Новые»,
// sample backlog_search_200). Pochta may match more than the exact number:
// callers filter.
func (c *Client) SearchBacklog(ctx context.Context, query string) ([]Order, error) {
	cl := call{method: http.MethodGet, endpoint: "/1.0/backlog/search", path: "/1.0/backlog/search", query: url.Values{"query": {query}}}
	res, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return decodeArray[Order](cl, res)
}

// SearchShipments sends GET /1.0/shipment/search?query= (orders inside
// batches, sample shipment_search_200).
func (c *Client) SearchShipments(ctx context.Context, query string) ([]Order, error) {
	cl := call{method: http.MethodGet, endpoint: "/1.0/shipment/search", path: "/1.0/shipment/search", query: url.Values{"query": {query}}}
	res, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return decodeArray[Order](cl, res)
}

func (c *Client) getOrder(ctx context.Context, kind string, id int64) (Order, error) {
	cl := call{method: http.MethodGet, endpoint: "/1.0/" + kind + "/{id}", path: "/1.0/" + kind + "/" + strconv.FormatInt(id, 10)}
	res, err := c.do(ctx, cl)
	if err != nil {
		return Order{}, err
	}
	var o Order
	env, err := decodeObject(cl, res, &o)
	if err != nil {
		return Order{}, err
	}
	if o.ID == 0 {
		ae := &APIError{Method: cl.method, Endpoint: cl.endpoint, Status: res.status, Items: env.items()}
		if len(ae.Items) == 0 {
			ae.Items = []ErrorItem{{Code: "UNEXPECTED_ANSWER", Description: "answer has no order id", Position: -1}}
		}
		return Order{}, ae
	}
	return o, nil
}

// GetBacklogOrder sends GET /1.0/backlog/{id}: an order in «Новые»; a
// batched or unknown one is "not found" (sample error_1001_resource_not_found).
func (c *Client) GetBacklogOrder(ctx context.Context, id int64) (Order, error) {
	return c.getOrder(ctx, "backlog", id)
}

// GetShipmentOrder sends GET /1.0/shipment/{id}: an order inside a batch.
func (c *Client) GetShipmentOrder(ctx context.Context, id int64) (Order, error) {
	return c.getOrder(ctx, "shipment", id)
}

// ListBatches sends GET /1.0/batch?mailType=&mailCategory= . Pochta lists
// only batches in status CREATED ([LAPAY-ISS] #22). Note the camelCase
// parameters (reference §2.12 item 8).
func (c *Client) ListBatches(ctx context.Context, mailType, mailCategory string) ([]Batch, error) {
	q := url.Values{"size": {"100"}}
	if mailType != "" {
		q.Set("mailType", mailType)
	}
	if mailCategory != "" {
		q.Set("mailCategory", mailCategory)
	}
	cl := call{method: http.MethodGet, endpoint: "/1.0/batch", path: "/1.0/batch", query: q}
	res, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return decodeArray[Batch](cl, res)
}

// GetBatch sends GET /1.0/batch/{name}.
func (c *Client) GetBatch(ctx context.Context, name string) (Batch, error) {
	cl := call{method: http.MethodGet, endpoint: "/1.0/batch/{name}", path: "/1.0/batch/" + url.PathEscape(name)}
	res, err := c.do(ctx, cl)
	if err != nil {
		return Batch{}, err
	}
	var b Batch
	env, err := decodeObject(cl, res, &b)
	if err != nil {
		return Batch{}, err
	}
	if b.Name == "" {
		ae := &APIError{Method: cl.method, Endpoint: cl.endpoint, Status: res.status, Items: env.items()}
		if len(ae.Items) == 0 {
			ae.Items = []ErrorItem{{Code: "UNEXPECTED_ANSWER", Description: "answer has no batch name", Position: -1}}
		}
		return Batch{}, ae
	}
	return b, nil
}

func (c *Client) batchCall(ctx context.Context, cl call) (BatchResponse, error) {
	res, err := c.do(ctx, cl)
	if err != nil {
		return BatchResponse{}, err
	}
	env, err := decodeObject(cl, res, nil)
	if err != nil {
		return BatchResponse{}, err
	}
	return BatchResponse{Batches: env.Batches, ResultIDs: ids(env.ResultIDs), Errors: env.items()}, nil
}

// CreateBatch sends POST /1.0/user/shipment?sending-date= with the order
// ids: every call opens a new batch (sample batch_create_200).
func (c *Client) CreateBatch(ctx context.Context, orderIDs []int64, sendingDate time.Time) (BatchResponse, error) {
	q := url.Values{}
	if !sendingDate.IsZero() {
		q.Set("sending-date", sendingDate.Format("2006-01-02"))
	}
	return c.batchCall(ctx, call{method: http.MethodPost, endpoint: "/1.0/user/shipment", path: "/1.0/user/shipment", query: q, body: orderIDs})
}

// AddToBatch sends POST /1.0/batch/{name}/shipment with order ids (POST:
// move ids; PUT on the same path creates orders — reference §2.12 item 7).
func (c *Client) AddToBatch(ctx context.Context, name string, orderIDs []int64) (BatchResponse, error) {
	return c.batchCall(ctx, call{method: http.MethodPost, endpoint: "/1.0/batch/{name}/shipment", path: "/1.0/batch/" + url.PathEscape(name) + "/shipment", body: orderIDs})
}

func (c *Client) deleteCall(ctx context.Context, endpoint string, orderIDs []int64) (ResultResponse, error) {
	cl := call{method: http.MethodDelete, endpoint: endpoint, path: endpoint, body: orderIDs}
	res, err := c.do(ctx, cl)
	if err != nil {
		return ResultResponse{}, err
	}
	env, err := decodeObject(cl, res, nil)
	if err != nil {
		return ResultResponse{}, err
	}
	return ResultResponse{ResultIDs: ids(env.ResultIDs), Errors: env.items()}, nil
}

// DeleteBacklog sends DELETE /1.0/backlog with order ids: deletes orders
// in «Новые» (reference §2.6).
func (c *Client) DeleteBacklog(ctx context.Context, orderIDs []int64) (ResultResponse, error) {
	return c.deleteCall(ctx, "/1.0/backlog", orderIDs)
}

// DeleteShipments sends DELETE /1.0/shipment with order ids: deletes
// orders from batches still in status CREATED (reference §2.6).
func (c *Client) DeleteShipments(ctx context.Context, orderIDs []int64) (ResultResponse, error) {
	return c.deleteCall(ctx, "/1.0/shipment", orderIDs)
}

// Forms sends GET /1.0/forms/{id}/forms: every print form of one batched
// order, as a PDF (reference §2.5). The answer is a file or a JSON error;
// which one is decided by Content-Type, as [LAPAY] callApi does.
func (c *Client) Forms(ctx context.Context, id int64, sendingDate time.Time, printType string) (data []byte, contentType string, err error) {
	q := url.Values{}
	if !sendingDate.IsZero() {
		q.Set("sending-date", sendingDate.Format("2006-01-02"))
	}
	if printType != "" {
		q.Set("print-type", printType)
	}
	cl := call{method: http.MethodGet, endpoint: "/1.0/forms/{id}/forms", path: "/1.0/forms/" + strconv.FormatInt(id, 10) + "/forms",
		query: q, accept: "application/pdf, application/json", limit: c.maxPDF}
	res, err := c.do(ctx, cl)
	if err != nil {
		return nil, "", err
	}
	ct := strings.ToLower(res.contentType)
	switch {
	case strings.Contains(ct, "pdf") || strings.Contains(ct, "zip") || strings.Contains(ct, "octet-stream"):
		return res.body, res.contentType, nil
	case strings.Contains(ct, "json") || json.Valid(res.body):
		ae := newAPIError(cl.method, cl.endpoint, res.status, res.body)
		if len(ae.Items) == 0 {
			ae.Items = []ErrorItem{{Code: "UNEXPECTED_ANSWER", Description: "JSON where a file was expected", Position: -1}}
		}
		return nil, "", ae
	case bytes.HasPrefix(res.body, []byte("%PDF-")):
		return res.body, "application/pdf", nil
	}
	return nil, "", &TransportError{Method: cl.method, Endpoint: cl.endpoint, Sent: true, Status: res.status,
		Err: fmt.Errorf("unexpected content type %q", res.contentType)}
}

// CleanAddresses sends POST /1.0/clean/address: Pochta's address
// normalisation, one answer per input, matched by id ([PSDK]
// AddressCleanup; request [{"id","original-address"}]).
func (c *Client) CleanAddresses(ctx context.Context, addresses map[string]string) ([]CleanAddress, error) {
	type req struct {
		ID              string `json:"id"`
		OriginalAddress string `json:"original-address"`
	}
	body := make([]req, 0, len(addresses))
	for id, a := range addresses {
		body = append(body, req{ID: id, OriginalAddress: a})
	}
	cl := call{method: http.MethodPost, endpoint: "/1.0/clean/address", path: "/1.0/clean/address", body: body}
	res, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return decodeArray[CleanAddress](cl, res)
}

// CleanNames sends POST /1.0/clean/physical: Pochta's FIO normalisation,
// one answer per input, matched by id ([PSDK] FullNameRequest:
// [{"id","original-fio"}]). The adapter splits names itself; this is for
// callers that want Pochta's opinion.
func (c *Client) CleanNames(ctx context.Context, names map[string]string) ([]CleanName, error) {
	type req struct {
		ID          string `json:"id"`
		OriginalFIO string `json:"original-fio"`
	}
	body := make([]req, 0, len(names))
	for id, n := range names {
		body = append(body, req{ID: id, OriginalFIO: n})
	}
	cl := call{method: http.MethodPost, endpoint: "/1.0/clean/physical", path: "/1.0/clean/physical", body: body}
	res, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return decodeArray[CleanName](cl, res)
}

// Limit sends GET /1.0/settings/limit: the account's request quota.
func (c *Client) Limit(ctx context.Context) (Limit, error) {
	cl := call{method: http.MethodGet, endpoint: "/1.0/settings/limit", path: "/1.0/settings/limit"}
	res, err := c.do(ctx, cl)
	if err != nil {
		return Limit{}, err
	}
	var l Limit
	env, err := decodeObject(cl, res, &l)
	if err != nil {
		return Limit{}, err
	}
	if items := env.items(); len(items) > 0 {
		return Limit{}, &APIError{Method: cl.method, Endpoint: cl.endpoint, Status: res.status, Items: items}
	}
	return l, nil
}

// ShippingPoints sends GET /1.0/user-shipping-points: the account's
// acceptance offices and the mail types each accepts.
func (c *Client) ShippingPoints(ctx context.Context) ([]ShippingPoint, error) {
	cl := call{method: http.MethodGet, endpoint: "/1.0/user-shipping-points", path: "/1.0/user-shipping-points"}
	res, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return decodeArray[ShippingPoint](cl, res)
}
