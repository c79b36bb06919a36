package cdek

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/shipbridge/shipbridge/internal/exchange"
)

// Defaults used when the corresponding Config field is zero.
const (
	DefaultBaseURL          = "https://api.edu.cdek.ru"
	DefaultPollInterval     = 2 * time.Second
	DefaultMaxWait          = 60 * time.Second
	DefaultTokenExpiryDelta = 60 * time.Second
	DefaultNotFoundGrace    = 60 * time.Second
	DefaultMaxBodyBytes     = 4 << 20
	DefaultMaxPDFBytes      = 20 << 20
	DefaultHTTPTimeout      = 30 * time.Second
	DefaultReadAttempts     = 3
)

// Sleeper waits for d or until ctx ends, whichever is first, and returns
// ctx's error in the latter case.
type Sleeper func(ctx context.Context, d time.Duration) error

// sleep is the real Sleeper.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Observer receives one call per HTTP exchange with CDEK, including token
// requests. endpoint is a path template such as "/v2/orders/{uuid}"; status
// is 0 when no response was received.
type Observer interface {
	ObserveRequest(method, endpoint string, status int, d time.Duration, err error)
}

// SenderLocation is the address parcels are handed over at when no
// shipment point (CDEK office) is configured: CDEK's from_location, the
// keys carriers.cdek.from_location.*.
type SenderLocation struct {
	// Code is CDEK's city code (GET /v2/location/cities); optional but the
	// most reliable way to name a city.
	Code        int    `mapstructure:"code"`
	PostalCode  string `mapstructure:"postal_code"`
	City        string `mapstructure:"city"`
	Address     string `mapstructure:"address"`
	CountryCode string `mapstructure:"country_code"`
}

// IsZero reports whether no part of the address is set (the country code
// alone does not count).
func (l SenderLocation) IsZero() bool {
	return l.Code == 0 && l.PostalCode == "" && l.City == "" && l.Address == ""
}

// Sender is the shop as it appears on CDEK orders (CDEK's sender, the keys
// carriers.cdek.sender.*).
type Sender struct {
	Name    string `mapstructure:"name"`
	Company string `mapstructure:"company"`
	Phone   string `mapstructure:"phone"`
}

// Config configures the CDEK client and the adapter. Only BaseURL,
// ClientID, ClientSecret and one of ShipmentPoint / FromLocation are
// required; zero values elsewhere take the documented defaults.
type Config struct {
	// BaseURL is https://api.cdek.ru in production, https://api.edu.cdek.ru for tests.
	BaseURL      string
	ClientID     string
	ClientSecret string
	// HTTPClient is used for every call; default: a client with a 30 s timeout.
	HTTPClient *http.Client
	// Logger gets debug lines per request; never tokens or secrets. Default: no-op.
	Logger *zap.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Sleep waits between polls and between the tries of a call; default a
	// real timer. Tests inject a fake.
	Sleep Sleeper
	// ReadAttempts is how many times an idempotent call (token, GET, print
	// form download) is tried on a 5xx, 429, timeout or reset before the
	// failure is reported (default 3; the waits between tries add up to at
	// most about 2.5 s). A create is never re-sent.
	ReadAttempts int
	// PollInterval is the pause between polls of asynchronous requests such as
	// print forms (default 2 s: CDEK renders a waybill in 1–2 s).
	PollInterval time.Duration
	// MaxWait bounds each polling loop in addition to ctx (default 60 s).
	MaxWait time.Duration
	// TokenExpiryDelta: a token is refreshed this long before it expires (default 60 s).
	TokenExpiryDelta time.Duration
	// NotFoundGrace is how long after our own Submit a "not found" from CDEK
	// is read as replication lag (Pending) rather than as a missing order (default 60 s).
	NotFoundGrace time.Duration
	// MaxBodyBytes bounds JSON answers (default 4 MiB); MaxPDFBytes bounds waybills (default 20 MiB).
	MaxBodyBytes int64
	MaxPDFBytes  int64
	// Observer, when set, is told about every HTTP exchange.
	Observer Observer

	// OrderType is CDEK's order type: 1 online store (default), 2 delivery.
	OrderType int
	// TariffCode is used for pickup-point delivery (default 136),
	// DoorTariffCode for delivery to an address (default 137).
	TariffCode     int
	DoorTariffCode int
	// ShipmentPoint is the CDEK office parcels are dropped at; when empty,
	// FromLocation is sent instead.
	ShipmentPoint string
	FromLocation  SenderLocation
	Sender        Sender
	// PrintCopies is the number of waybill copies per page (default 2).
	PrintCopies int
}

// String describes the configuration without the client secret.
func (c Config) String() string {
	red := func(v string) string {
		if v == "" {
			return `""`
		}
		return "[redacted]"
	}
	return fmt.Sprintf("cdek.Config{BaseURL:%q ClientID:%s ClientSecret:%s OrderType:%d TariffCode:%d DoorTariffCode:%d ShipmentPoint:%q}",
		c.BaseURL, red(c.ClientID), red(c.ClientSecret), c.OrderType, c.TariffCode, c.DoorTariffCode, c.ShipmentPoint)
}

// GoString is String, so %#v does not print the secret either.
func (c Config) GoString() string { return c.String() }

func (c Config) withDefaults() Config {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = sleep
	}
	if c.ReadAttempts <= 0 {
		c.ReadAttempts = DefaultReadAttempts
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.MaxWait <= 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.TokenExpiryDelta <= 0 {
		c.TokenExpiryDelta = DefaultTokenExpiryDelta
	}
	if c.NotFoundGrace <= 0 {
		c.NotFoundGrace = DefaultNotFoundGrace
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxPDFBytes <= 0 {
		c.MaxPDFBytes = DefaultMaxPDFBytes
	}
	if c.OrderType == 0 {
		c.OrderType = 1
	}
	if c.TariffCode == 0 {
		c.TariffCode = 136
	}
	if c.DoorTariffCode == 0 {
		c.DoorTariffCode = 137
	}
	if c.PrintCopies <= 0 {
		c.PrintCopies = 2
	}
	return c
}

// Client is a thin CDEK API v2 client: one method per call, OAuth handled
// inside, answers decoded tolerantly. Failures are *APIError (CDEK
// answered with an error), *AuthError (no token) or *TransportError (no
// usable answer). Idempotent calls (token, GETs, print-form downloads) are
// tried up to Config.ReadAttempts times on a 5xx, 429 or lost answer; a
// create or delete is sent once. It is safe for concurrent use.
type Client struct {
	base    *url.URL
	http    *http.Client
	log     *zap.Logger
	now     func() time.Time
	sleep   Sleeper
	tries   int
	obs     Observer
	maxBody int64
	maxPDF  int64
	tokens  *tokenCache
}

// NewClient builds a client from cfg (only the connection fields are used).
func NewClient(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, fmt.Errorf("cdek: base URL %q is not an http(s) URL", cfg.BaseURL)
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("cdek: client_id and client_secret are required")
	}
	c := &Client{
		base:    base,
		http:    cfg.HTTPClient,
		log:     cfg.Logger,
		now:     cfg.Now,
		sleep:   cfg.Sleep,
		tries:   cfg.ReadAttempts,
		obs:     cfg.Observer,
		maxBody: cfg.MaxBodyBytes,
		maxPDF:  cfg.MaxPDFBytes,
	}
	cc := &clientcredentials.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		TokenURL:     base.String() + "/v2/oauth/token",
		// CDEK wants grant_type, client_id and client_secret as form
		// parameters, not HTTP Basic auth.
		AuthStyle: oauth2.AuthStyleInParams,
	}
	c.tokens = newTokenCache(&tokenFetcher{cfg: cc, client: c}, cfg.TokenExpiryDelta)
	return c, nil
}

// tokenFetcher asks CDEK for a fresh token on every call; tokenCache wraps
// it in oauth2.ReuseTokenSourceWithExpiry.
type tokenFetcher struct {
	cfg    *clientcredentials.Config
	client *Client
}

// Token asks for a token, retrying (like any idempotent call) when the
// token endpoint fails with a 5xx, a 429 or no answer; a refusal of the
// credentials is reported at once.
func (f *tokenFetcher) Token() (*oauth2.Token, error) {
	var (
		tok *oauth2.Token
		err error
	)
	for try := 1; ; try++ {
		tok, err = f.once()
		var ae *AuthError
		if err == nil || !errors.As(err, &ae) || !ae.retryable() || try >= f.client.tries {
			return tok, err
		}
		if serr := f.client.sleep(context.Background(), f.client.backoff(try)); serr != nil {
			return nil, err
		}
	}
}

func (f *tokenFetcher) once() (*oauth2.Token, error) {
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, f.client.http)
	start := f.client.now()
	tok, err := f.cfg.Token(ctx)
	status := 0
	if err == nil {
		status = http.StatusOK
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		status = re.Response.StatusCode
	}
	d := f.client.now().Sub(start)
	f.client.observe(http.MethodPost, "/v2/oauth/token", status, d, err)
	if err != nil {
		return nil, newAuthError(err)
	}
	f.client.log.Debug("cdek token issued", zap.Time("expiry", tok.Expiry))
	return tok, nil
}

// tokenCache caches the token with early refresh and can be told that a
// token was refused, so the next call fetches a fresh one.
type tokenCache struct {
	raw   oauth2.TokenSource
	delta time.Duration

	mu   sync.Mutex
	src  oauth2.TokenSource
	last string
}

func newTokenCache(raw oauth2.TokenSource, delta time.Duration) *tokenCache {
	return &tokenCache{raw: raw, delta: delta, src: oauth2.ReuseTokenSourceWithExpiry(nil, raw, delta)}
}

func (t *tokenCache) token() (string, error) {
	t.mu.Lock()
	src := t.src
	t.mu.Unlock()
	tok, err := src.Token()
	if err != nil {
		return "", err
	}
	t.mu.Lock()
	if t.src == src {
		t.last = tok.AccessToken
	}
	t.mu.Unlock()
	return tok.AccessToken, nil
}

// invalidate drops the cached token if it is still the refused one.
func (t *tokenCache) invalidate(refused string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == refused {
		t.src = oauth2.ReuseTokenSourceWithExpiry(nil, t.raw, t.delta)
		t.last = ""
	}
}

func (c *Client) observe(method, endpoint string, status int, d time.Duration, err error) {
	if c.obs != nil {
		c.obs.ObserveRequest(method, endpoint, status, d, err)
	}
}

// call describes one API request.
type call struct {
	method   string
	endpoint string // template for logs and metrics
	path     string // path below the base URL, already escaped
	query    url.Values
	abs      *url.URL // full URL instead of path (downloads)
	body     any
	limit    int64
	// idempotent calls are tried again on a 5xx, 429 or lost answer.
	idempotent bool
}

// result is a raw successful answer.
type result struct {
	status int
	header http.Header
	body   []byte
}

var tokenErrorCodes = map[string]bool{
	"v2_token_expired":           true,
	"v2_authorization_incorrect": true,
	"unauthorized":               true,
}

// do sends the call with a bearer token, refreshing the token and retrying
// once when CDEK refuses it.
func (c *Client) do(ctx context.Context, cl call) (result, error) {
	var payload []byte
	if cl.body != nil {
		b, err := json.Marshal(cl.body)
		if err != nil {
			return result{}, fmt.Errorf("cdek: encode %s %s: %w", cl.method, cl.endpoint, err)
		}
		payload = b
	}
	u := cl.abs
	if u == nil {
		cp := *c.base
		cp.RawPath = ""
		cp.Path = c.base.Path + cl.path
		u = &cp
		if cl.query != nil {
			u.RawQuery = cl.query.Encode()
		}
	}
	limit := cl.limit
	if limit <= 0 {
		limit = c.maxBody
	}
	refreshed := false
	for try := 1; ; try++ {
		tok, err := c.tokens.token()
		if err != nil {
			return result{}, err
		}
		res, err := c.once(ctx, cl, u, payload, tok, limit)
		var ae *APIError
		if !refreshed && errors.As(err, &ae) && ae.tokenRefused() {
			c.log.Debug("cdek refused the token; fetching a fresh one", zap.String("endpoint", cl.endpoint), zap.Strings("codes", ae.Codes()))
			c.tokens.invalidate(tok)
			refreshed = true
			try--
			continue
		}
		if err == nil || !cl.idempotent || !retryable(err) || try >= c.tries || ctx.Err() != nil {
			return res, err
		}
		d := c.backoff(try)
		c.log.Debug("cdek call failed; trying again", zap.String("method", cl.method), zap.String("endpoint", cl.endpoint),
			zap.Int("try", try), zap.Duration("in", d), zap.Error(err))
		if serr := c.sleep(ctx, d); serr != nil {
			return res, err
		}
	}
}

// retryable reports whether an idempotent call may be tried again: no
// answer (timeout, reset), an unusable answer, a 5xx or a 429.
func retryable(err error) bool {
	var (
		te *TransportError
		ae *APIError
	)
	switch {
	case errors.As(err, &te):
		return true
	case errors.As(err, &ae):
		return ae.Status >= 500 || ae.Status == http.StatusTooManyRequests
	}
	return false
}

// backoff is the wait before try+1: 400 ms × 3^(try-1), jittered to
// 50–150 %, so three tries wait at most 0.6 s + 1.8 s.
func (c *Client) backoff(try int) time.Duration {
	d := 400 * time.Millisecond
	for i := 1; i < try; i++ {
		d *= 3
	}
	return time.Duration(float64(d) * (0.5 + rand.Float64()))
}

func (c *Client) once(ctx context.Context, cl call, u *url.URL, payload []byte, token string, limit int64) (result, error) {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), cl.method, u.String(), body)
	if err != nil {
		return result{}, fmt.Errorf("cdek: build %s %s: %w", cl.method, cl.endpoint, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := c.now()
	resp, err := c.http.Do(req)
	if err != nil {
		terr := &TransportError{Method: cl.method, Endpoint: cl.endpoint, Sent: wrote.Load(), Err: stripURL(err)}
		c.observe(cl.method, cl.endpoint, 0, c.now().Sub(start), terr)
		c.record(ctx, cl.method, u, payload, 0, nil, "", c.now().Sub(start), terr)
		c.log.Debug("cdek request failed", zap.String("method", cl.method), zap.String("endpoint", cl.endpoint), zap.Bool("sent", terr.Sent), zap.Error(terr))
		return result{}, terr
	}
	data, rerr := readLimited(resp.Body, resp.ContentLength, limit)
	resp.Body.Close()
	d := c.now().Sub(start)
	if rerr != nil {
		terr := &TransportError{Method: cl.method, Endpoint: cl.endpoint, Sent: true, Status: resp.StatusCode, Err: rerr}
		c.observe(cl.method, cl.endpoint, resp.StatusCode, d, terr)
		return result{}, terr
	}
	c.log.Debug("cdek request", zap.String("method", cl.method), zap.String("endpoint", cl.endpoint), zap.Int("status", resp.StatusCode), zap.Duration("took", d))
	c.record(ctx, cl.method, u, payload, resp.StatusCode, data, resp.Header.Get("Content-Type"), d, nil)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		ae := newAPIError(cl.method, cl.endpoint, resp.StatusCode, data)
		c.observe(cl.method, cl.endpoint, resp.StatusCode, d, ae)
		return result{}, ae
	}
	c.observe(cl.method, cl.endpoint, resp.StatusCode, d, nil)
	return result{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// record reports the exchange to the operation's history, if it keeps
// one. Only the path and query are kept (never credentials; tokens travel
// in headers, which are not recorded), and binary answers are summarised.
func (c *Client) record(ctx context.Context, method string, u *url.URL, payload []byte, status int, body []byte, contentType string, d time.Duration, err error) {
	e := exchange.Exchange{System: "cdek", Method: method, URL: u.RequestURI(), Status: status, Request: string(payload), Duration: d}
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

// stripURL drops the request URL from a *url.Error: the message stays
// readable and never carries query values.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func readLimited(r io.Reader, size, limit int64) ([]byte, error) {
	var data []byte
	var err error
	if size > 0 && size <= min(limit, 1<<20) {
		// The announced length (a waybill PDF: tens of kilobytes) is read
		// into one buffer of that size instead of one grown step by step
		// (bounded: the length is only announced).
		buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead))
		_, err = buf.ReadFrom(io.LimitReader(r, limit+1))
		data = buf.Bytes()
	} else {
		data, err = io.ReadAll(io.LimitReader(r, limit+1))
	}
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("response body exceeds %d bytes", limit)
	}
	return data, nil
}

func (c *Client) decode(cl call, res result, out any) error {
	if len(bytes.TrimSpace(res.body)) == 0 {
		return &TransportError{Method: cl.method, Endpoint: cl.endpoint, Sent: true, Status: res.status, Err: errors.New("empty response body")}
	}
	if err := json.Unmarshal(res.body, out); err != nil {
		return &TransportError{Method: cl.method, Endpoint: cl.endpoint, Sent: true, Status: res.status, Err: fmt.Errorf("decode answer: %w", err)}
	}
	return nil
}

// CreateOrder sends POST /v2/orders. A nil error means CDEK accepted the
// request (HTTP 202) and returned the order's uuid; it does not mean the
// order exists: follow the CREATE request with GetOrder.
func (c *Client) CreateOrder(ctx context.Context, req OrderRequest) (EntityResponse, error) {
	cl := call{method: http.MethodPost, endpoint: "/v2/orders", path: "/v2/orders", body: req}
	return c.entityCall(ctx, cl)
}

// DeleteOrder sends DELETE /v2/orders/{uuid}. CDEK answers 202 and decides
// later: follow the DELETE request with GetOrder. Deletion is refused
// unless the order is in status CREATED.
func (c *Client) DeleteOrder(ctx context.Context, uuid string) (EntityResponse, error) {
	if err := checkUUID(uuid); err != nil {
		return EntityResponse{}, err
	}
	cl := call{method: http.MethodDelete, endpoint: "/v2/orders/{uuid}", path: "/v2/orders/" + uuid}
	return c.entityCall(ctx, cl)
}

// CreateWaybill sends POST /v2/print/orders for the given orders and
// returns the print form's uuid in the answer's entity.
func (c *Client) CreateWaybill(ctx context.Context, orderUUIDs []string, copies int) (EntityResponse, error) {
	pr := PrintRequest{CopyCount: copies}
	for _, u := range orderUUIDs {
		pr.Orders = append(pr.Orders, PrintOrder{OrderUUID: u})
	}
	cl := call{method: http.MethodPost, endpoint: "/v2/print/orders", path: "/v2/print/orders", body: pr}
	return c.entityCall(ctx, cl)
}

func (c *Client) entityCall(ctx context.Context, cl call) (EntityResponse, error) {
	res, err := c.do(ctx, cl)
	if err != nil {
		return EntityResponse{}, err
	}
	var out EntityResponse
	if err := c.decode(cl, res, &out); err != nil {
		return EntityResponse{}, err
	}
	if out.UUID() == "" {
		// A 2xx without an entity: report CDEK's errors if it gave any.
		ae := &APIError{Method: cl.method, Endpoint: cl.endpoint, Status: res.status, Items: append(collectErrors(out.Requests), out.Errors...)}
		if len(ae.Items) == 0 {
			ae.Items = []ErrorItem{{Code: "no_entity", Message: "answer has no entity uuid"}}
		}
		return out, ae
	}
	return out, nil
}

// GetOrder sends GET /v2/orders/{uuid}.
func (c *Client) GetOrder(ctx context.Context, uuid string) (OrderResponse, error) {
	if err := checkUUID(uuid); err != nil {
		return OrderResponse{}, err
	}
	return c.getOrder(ctx, call{method: http.MethodGet, endpoint: "/v2/orders/{uuid}", path: "/v2/orders/" + uuid, idempotent: true})
}

// GetOrderByIMNumber sends GET /v2/orders?im_number=. When several orders
// share the number CDEK returns the most recent one.
func (c *Client) GetOrderByIMNumber(ctx context.Context, number string) (OrderResponse, error) {
	return c.getOrder(ctx, call{method: http.MethodGet, endpoint: "/v2/orders?im_number", path: "/v2/orders", query: url.Values{"im_number": {number}}, idempotent: true})
}

// GetOrderByCDEKNumber sends GET /v2/orders?cdek_number=.
func (c *Client) GetOrderByCDEKNumber(ctx context.Context, cdekNumber string) (OrderResponse, error) {
	return c.getOrder(ctx, call{method: http.MethodGet, endpoint: "/v2/orders?cdek_number", path: "/v2/orders", query: url.Values{"cdek_number": {cdekNumber}}, idempotent: true})
}

func (c *Client) getOrder(ctx context.Context, cl call) (OrderResponse, error) {
	res, err := c.do(ctx, cl)
	if err != nil {
		return OrderResponse{}, err
	}
	var out OrderResponse
	if err := c.decode(cl, res, &out); err != nil {
		return OrderResponse{}, err
	}
	if out.Entity == nil || out.Entity.UUID == "" {
		// CDEK has answered 200 with only an INVALID GET request before.
		ae := &APIError{Method: cl.method, Endpoint: cl.endpoint, Status: res.status, Items: collectErrors(out.Requests)}
		if ae.NotFound() || len(ae.Items) > 0 {
			return out, ae
		}
		return out, &TransportError{Method: cl.method, Endpoint: cl.endpoint, Sent: true, Status: res.status, Err: errors.New("answer has no order")}
	}
	return out, nil
}

// GetWaybill sends GET /v2/print/orders/{uuid}.
func (c *Client) GetWaybill(ctx context.Context, uuid string) (PrintResponse, error) {
	if err := checkUUID(uuid); err != nil {
		return PrintResponse{}, err
	}
	cl := call{method: http.MethodGet, endpoint: "/v2/print/orders/{uuid}", path: "/v2/print/orders/" + uuid, idempotent: true}
	res, err := c.do(ctx, cl)
	if err != nil {
		return PrintResponse{}, err
	}
	var out PrintResponse
	if err := c.decode(cl, res, &out); err != nil {
		return PrintResponse{}, err
	}
	if out.Entity == nil {
		return out, &APIError{Method: cl.method, Endpoint: cl.endpoint, Status: res.status, Items: collectErrors(out.Requests)}
	}
	return out, nil
}

// DeliveryPoint is one CDEK office or parcel locker, the fields of GET
// /v2/deliverypoints that the adapter reads (reference §7; [SPEC] schema
// DeliveryPointDto, served as an array).
type DeliveryPoint struct {
	Code        string `json:"code"`
	UUID        string `json:"uuid,omitempty"`
	Type        string `json:"type,omitempty"` // PVZ or POSTAMAT
	Name        string `json:"name,omitempty"`
	IsHandout   *bool  `json:"is_handout,omitempty"`
	IsReception *bool  `json:"is_reception,omitempty"`
	Location    struct {
		CityCode    Int    `json:"city_code,omitempty"`
		City        string `json:"city,omitempty"`
		PostalCode  string `json:"postal_code,omitempty"`
		CountryCode string `json:"country_code,omitempty"`
		Address     string `json:"address,omitempty"`
	} `json:"location"`
}

// GetDeliveryPoints sends GET /v2/deliverypoints?code=. CDEK answers a JSON
// array (empty when no office has the code); [SPEC] declares one object, so
// both are accepted.
func (c *Client) GetDeliveryPoints(ctx context.Context, code string) ([]DeliveryPoint, error) {
	cl := call{method: http.MethodGet, endpoint: "/v2/deliverypoints", path: "/v2/deliverypoints", query: url.Values{"code": {code}}, idempotent: true}
	res, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	body := bytes.TrimSpace(res.body)
	if len(body) > 0 && body[0] == '{' {
		var one DeliveryPoint
		if err := c.decode(cl, res, &one); err != nil {
			return nil, err
		}
		if one.Code == "" {
			return nil, nil
		}
		return []DeliveryPoint{one}, nil
	}
	var out []DeliveryPoint
	if err := c.decode(cl, res, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// DownloadWaybill fetches a print form's file with the bearer token. rawURL
// must point at the API host (or another *.cdek.ru host); an "http://"
// link, which CDEK has been seen to send, is upgraded to the base URL's
// scheme. The token is never sent anywhere else.
func (c *Client) DownloadWaybill(ctx context.Context, rawURL string) ([]byte, error) {
	u, err := c.downloadURL(rawURL)
	if err != nil {
		return nil, err
	}
	cl := call{method: http.MethodGet, endpoint: "/v2/print/orders/{uuid}.pdf", abs: u, limit: c.maxPDF, idempotent: true}
	res, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return res.body, nil
}

// downloadURL resolves and checks a print-form link.
func (c *Client) downloadURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil {
		return nil, fmt.Errorf("cdek: bad print form URL: %w", err)
	}
	if !u.IsAbs() {
		u = c.base.ResolveReference(u)
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case strings.EqualFold(u.Host, c.base.Host):
		u.Scheme = c.base.Scheme
	case host == "cdek.ru" || strings.HasSuffix(host, ".cdek.ru"):
		u.Scheme = "https"
	default:
		return nil, fmt.Errorf("cdek: print form URL points at %q, not at the CDEK API; refusing to send the token there", u.Host)
	}
	u.User = nil
	return u, nil
}

// ErrBadUUID is returned, before any call, for an entity uuid that could
// not have come from CDEK.
var ErrBadUUID = errors.New("cdek: malformed entity uuid")

func checkUUID(s string) error {
	if s == "" || len(s) > 64 {
		return ErrBadUUID
	}
	for _, r := range s {
		if !(r == '-' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')) {
			return ErrBadUUID
		}
	}
	return nil
}

// APIError is an error answer from CDEK: its HTTP status and every error
// it listed, from either envelope.
type APIError struct {
	Method   string
	Endpoint string
	Status   int
	Items    []ErrorItem
	// Body is the start of an answer that held no recognisable errors.
	Body string
	// Foreign is true when the answer is not one of CDEK's JSON envelopes
	// with errors: an HTML page from a proxy, a wrong base URL, an empty
	// body. Such an answer never means "not found".
	Foreign bool
}

func newAPIError(method, endpoint string, status int, body []byte) *APIError {
	e := &APIError{Method: method, Endpoint: endpoint, Status: status}
	var env struct {
		Requests         []Request   `json:"requests"`
		Errors           []ErrorItem `json:"errors"`
		Error            string      `json:"error"`
		ErrorDescription string      `json:"error_description"`
	}
	if json.Unmarshal(body, &env) == nil {
		e.Items = append(collectErrors(env.Requests), env.Errors...)
		if env.Error != "" {
			e.Items = append(e.Items, ErrorItem{Code: env.Error, Message: env.ErrorDescription})
		}
	}
	if len(e.Items) == 0 {
		e.Body = truncate(strings.TrimSpace(string(body)), 300)
		e.Foreign = true
	}
	return e
}

func collectErrors(reqs []Request) []ErrorItem {
	var out []ErrorItem
	for _, r := range reqs {
		out = append(out, r.Errors...)
	}
	return out
}

// Error describes the answer for the operator.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cdek: %s %s: HTTP %d", e.Method, e.Endpoint, e.Status)
	for _, it := range e.Items {
		b.WriteString("; ")
		b.WriteString(it.Code)
		if it.Message != "" {
			b.WriteString(": ")
			b.WriteString(it.Message)
		}
	}
	if e.Body != "" {
		b.WriteString("; body: ")
		b.WriteString(e.Body)
	}
	return b.String()
}

// Codes returns CDEK's error codes in order.
func (e *APIError) Codes() []string {
	out := make([]string, 0, len(e.Items))
	for _, it := range e.Items {
		out = append(out, it.Code)
	}
	return out
}

// Has reports whether CDEK listed the code.
func (e *APIError) Has(code string) bool {
	for _, it := range e.Items {
		if it.Code == code {
			return true
		}
	}
	return false
}

// NotFound reports whether the answer is CDEK's own "no such entity": one
// of its not-found codes, with HTTP 400 (as [SPEC] declares), 404 (as
// observed) or 200. A 404 without CDEK's JSON (a proxy's page, a wrong base
// URL) is not "not found".
func (e *APIError) NotFound() bool {
	for _, it := range e.Items {
		switch it.Code {
		case "v2_entity_not_found", "v2_entity_not_found_im_number", "v2_order_not_found":
			return true
		}
	}
	return false
}

func (e *APIError) tokenRefused() bool {
	if e.Status == http.StatusUnauthorized {
		return true
	}
	for _, it := range e.Items {
		if tokenErrorCodes[it.Code] {
			return true
		}
	}
	return false
}

// IsNotFound reports whether err is a CDEK "not found" answer.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.NotFound()
}

// AuthError means no token could be obtained: CDEK refused the credentials
// (Status 400/401 with an OAuth code such as invalid_client) or the token
// endpoint was unreachable.
type AuthError struct {
	Status      int
	Code        string
	Description string
	Err         error
}

func newAuthError(err error) *AuthError {
	ae := &AuthError{Err: err}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.Response != nil {
			ae.Status = re.Response.StatusCode
		}
		ae.Code = re.ErrorCode
		ae.Description = re.ErrorDescription
		if ae.Code == "" {
			var env struct {
				Errors []ErrorItem `json:"errors"`
			}
			if json.Unmarshal(re.Body, &env) == nil && len(env.Errors) > 0 {
				ae.Code, ae.Description = env.Errors[0].Code, env.Errors[0].Message
			}
		}
		ae.Err = nil // RetrieveError.Error prints the whole body; keep only the parsed parts
	}
	return ae
}

// Error describes the failure; it never includes the credentials.
func (e *AuthError) Error() string {
	var b strings.Builder
	b.WriteString("cdek: token request failed")
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Code != "" {
		b.WriteString(": ")
		b.WriteString(e.Code)
	}
	if e.Description != "" {
		b.WriteString(": ")
		b.WriteString(e.Description)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(stripURL(e.Err).Error())
	}
	return b.String()
}

// Unwrap returns the transport cause, if any.
func (e *AuthError) Unwrap() error { return e.Err }

// retryable reports whether the token request may be tried again: no
// answer, a 5xx or a 429.
func (e *AuthError) retryable() bool {
	return e.Status == 0 || e.Status >= 500 || e.Status == http.StatusTooManyRequests
}

// CredentialsRefused reports whether CDEK answered that the credentials
// are wrong (as opposed to being unreachable).
func (e *AuthError) CredentialsRefused() bool {
	return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden ||
		(e.Status == http.StatusBadRequest && e.Code != "")
}

// TransportError means no usable answer arrived. Sent reports whether the
// request had been written to the connection, i.e. whether CDEK may have
// acted on it.
type TransportError struct {
	Method   string
	Endpoint string
	Sent     bool
	// Status is set when a response arrived but its body was unusable.
	Status int
	Err    error
}

// Error describes the failure.
func (e *TransportError) Error() string {
	state := "not sent"
	if e.Sent {
		state = "sent"
	}
	if e.Status != 0 {
		return fmt.Sprintf("cdek: %s %s (%s, HTTP %d): %v", e.Method, e.Endpoint, state, e.Status, e.Err)
	}
	return fmt.Sprintf("cdek: %s %s (%s): %v", e.Method, e.Endpoint, state, e.Err)
}

// Unwrap returns the cause.
func (e *TransportError) Unwrap() error { return e.Err }
