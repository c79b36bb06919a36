package moysklad

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/internal/exchange"
)

// DefaultBaseURL is the production endpoint of the JSON API 1.2.
const DefaultBaseURL = "https://api.moysklad.ru/api/remap/1.2"

// DefaultUserAgent identifies shipbridge to MoySklad (it shows up in the audit log).
const DefaultUserAgent = "shipbridge/dev (+https://github.com/shipbridge/shipbridge)"

// DefaultMaxBodyBytes bounds one answer (Config.MaxBodyBytes). A page of
// 100 orders with their expanded positions is usually a few megabytes; a
// wholesale shop's page can be larger, and then the listing asks for
// smaller pages (listPages). Anything far larger is not an answer
// shipbridge can use, and must not exhaust a small VPS's memory.
const DefaultMaxBodyBytes = 16 << 20

// elideFileContent replaces uploaded files' base64 content
// ("content":"…") with its size, so that a history shows what was sent
// without the bytes. It scans the payload once, without a regular
// expression: a bulk update carries megabytes of base64.
func elideFileContent(payload []byte) string {
	const key = `"content":"`
	var b strings.Builder
	rest := payload
	for {
		i := bytes.Index(rest, []byte(key))
		if i < 0 {
			break
		}
		j := i + len(key)
		k := j
		for k < len(rest) && isBase64Byte(rest[k]) {
			k++
		}
		if k == len(rest) || rest[k] != '"' {
			// Not base64 up to the closing quote: keep it as it is.
			b.Write(rest[:j])
			rest = rest[j:]
			continue
		}
		if b.Cap() == 0 {
			b.Grow(min(len(payload), 1<<16))
		}
		b.Write(rest[:i])
		fmt.Fprintf(&b, `"content":"(%d bytes of base64)"`, k-j)
		rest = rest[k+1:]
	}
	if b.Len() == 0 {
		return string(payload)
	}
	b.Write(rest)
	return b.String()
}

// isBase64Byte reports whether c belongs to the standard base64 alphabet
// or its padding.
func isBase64Byte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '='
}

// ErrAnswerTooLarge is returned, without retrying, when an answer exceeds
// the client's bound.
var ErrAnswerTooLarge = errors.New("answer too large")

// Observer receives measurements for metrics. Implementations must be safe
// for concurrent use.
type Observer interface {
	// ObserveRequest is called after every HTTP attempt. endpoint is the path
	// with ids replaced by "{id}"; status is 0 when no answer arrived.
	ObserveRequest(method, endpoint string, status int, d time.Duration, err error)
	// ObserveRateLimitWait is called whenever a request had to wait for the
	// client-side limiter (or a pause MoySklad asked for).
	ObserveRateLimitWait(d time.Duration)
}

type nopObserver struct{}

func (nopObserver) ObserveRequest(string, string, int, time.Duration, error) {}
func (nopObserver) ObserveRateLimitWait(time.Duration)                       {}

// Config configures a Client. Zero values get defaults.
type Config struct {
	// BaseURL defaults to DefaultBaseURL.
	BaseURL string
	// Token is the bearer access token (required). It is never logged.
	Token string
	// RequestsPerWindow request starts are allowed per Window (default 11 per 3 s).
	RequestsPerWindow int
	Window            time.Duration
	// RequestWeight is how many units of MoySklad's budget (45 units per
	// 3 s) one request costs (doc _restrictions.md «Лимит запросов за
	// 3-секундный период»): 1 for a solution token; for a user token or
	// login/password 3 until 2026-11-30 and 4 from 2026-12-01 (hence 11
	// requests per 3 s). 0 derives it from RequestsPerWindow as the doc's
	// table does: 45 / RequestsPerWindow rounded down, at least 1 (11 → 4,
	// 15 → 3, 22 → 2, 45 → 1). It is used to read X-RateLimit-Remaining:
	// fewer units left than one request costs means the next one would get
	// 429, so everyone pauses.
	RequestWeight int
	// MaxParallel requests may be in flight at once (default 4; MoySklad allows 5).
	MaxParallel int
	// HTTPClient defaults to a client whose Transport negotiates gzip itself
	// and closes idle connections after 25 s (MoySklad drops them at 30 s).
	HTTPClient *http.Client
	// Logger defaults to zap.NewNop().
	Logger *zap.Logger
	// UserAgent defaults to DefaultUserAgent.
	UserAgent string
	// Now is the clock of the rate limiter. It is used only together with
	// an injected Sleep (a fake clock needs both); otherwise the limiter runs
	// on time.Now so that a frozen test clock cannot stall it.
	Now func() time.Time
	// Observer receives metrics (default: none).
	Observer Observer
	// MaxRetries is the number of repetitions after the first attempt (default 5;
	// negative means none).
	MaxRetries int
	// RetryBaseDelay is the first backoff (default 500 ms); it doubles per
	// attempt up to RetryMaxDelay (default 30 s), with jitter.
	RetryBaseDelay time.Duration
	RetryMaxDelay  time.Duration
	// Sleep waits for d or until ctx is done (default: a timer). Tests inject a fast one.
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand returns a number in [0,1) for jitter (default math/rand/v2).
	Rand func() float64
	// BulkMaxBytes bounds the body of one UpdateOrders request (default
	// DefaultBulkMaxBytes, at most 9 MiB: MoySklad refuses bodies over 10 MB).
	BulkMaxBytes int
	// WindowMargin pads each rate window (default 1 ms, for the server's
	// millisecond rounding); see windowLimiter for why no more is needed.
	WindowMargin time.Duration
	// MaxBodyBytes bounds one answer's (decompressed) body (default
	// DefaultMaxBodyBytes); a larger one fails with ErrAnswerTooLarge.
	MaxBodyBytes int64
}

// Client talks to MoySklad. It is safe for concurrent use.
type Client struct {
	base      string
	basePath  string
	token     string
	ua        string
	hc        *http.Client
	log       *zap.Logger
	obs       Observer
	sleep     func(context.Context, time.Duration) error
	rnd       func() float64
	retries   int
	baseDelay time.Duration
	maxDelay  time.Duration
	window    time.Duration
	perWindow int // requests per window (the client's own limiter)
	weight    int // units one request costs
	// bulkMaxBytes bounds one bulk request body.
	bulkMaxBytes int
	// maxBody bounds one answer's body.
	maxBody int64
	limiter *windowLimiter
	sem     chan struct{}
	// places caches the country and region entities read for addresses
	// (see ResolveAddress): a small fixed set, read once per client.
	places placeCache

	requests        atomic.Int64
	rateLimitWaits  atomic.Int64
	tooManyRequests atomic.Int64
}

// New builds a client.
func New(cfg Config) (*Client, error) {
	if cfg.Token == "" {
		return nil, errors.New("moysklad: token is required")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("moysklad: bad base URL %q", cfg.BaseURL)
	}
	if cfg.RequestsPerWindow <= 0 {
		cfg.RequestsPerWindow = 11
	}
	if cfg.Window <= 0 {
		cfg.Window = 3 * time.Second
	}
	if cfg.RequestWeight <= 0 {
		cfg.RequestWeight = max(1, budgetUnits/cfg.RequestsPerWindow)
	}
	if cfg.MaxParallel <= 0 {
		cfg.MaxParallel = 4
	}
	if cfg.BulkMaxBytes <= 0 {
		cfg.BulkMaxBytes = DefaultBulkMaxBytes
	}
	cfg.BulkMaxBytes = min(cfg.BulkMaxBytes, 9<<20)
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: NewTransport()}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	if cfg.Now == nil || cfg.Sleep == nil {
		cfg.Now = time.Now
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 5
	} else if cfg.MaxRetries < 0 {
		cfg.MaxRetries = 0
	}
	if cfg.RetryBaseDelay <= 0 {
		cfg.RetryBaseDelay = 500 * time.Millisecond
	}
	if cfg.RetryMaxDelay <= 0 {
		cfg.RetryMaxDelay = 30 * time.Second
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleepCtx
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	if cfg.WindowMargin <= 0 {
		cfg.WindowMargin = time.Millisecond
	}
	c := &Client{
		base: u.String(), basePath: u.Path, token: cfg.Token, ua: cfg.UserAgent, hc: cfg.HTTPClient,
		log: cfg.Logger, obs: cfg.Observer, sleep: cfg.Sleep, rnd: cfg.Rand,
		retries: cfg.MaxRetries, baseDelay: cfg.RetryBaseDelay, maxDelay: cfg.RetryMaxDelay,
		window: cfg.Window, perWindow: cfg.RequestsPerWindow, weight: cfg.RequestWeight, bulkMaxBytes: cfg.BulkMaxBytes, maxBody: cfg.MaxBodyBytes,
		sem: make(chan struct{}, cfg.MaxParallel),
	}
	c.limiter = newWindowLimiter(cfg.RequestsPerWindow, cfg.Window, cfg.WindowMargin, cfg.Now, cfg.Sleep)
	return c, nil
}

// NewTransport returns the HTTP transport the client uses by default: gzip is
// negotiated and decoded by the transport itself (MoySklad answers 415 without
// Accept-Encoding: gzip), keep-alive is on, and idle connections are closed
// after 25 s because MoySklad recommends not reusing connections idle for 30 s.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          16,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       25 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 5 * time.Minute, // MoySklad may take up to 300 s
		ExpectContinueTimeout: time.Second,
		DisableCompression:    false,
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Requests returns the number of HTTP attempts made so far.
func (c *Client) Requests() int64 { return c.requests.Load() }

// RateLimitWaits returns how many times a request had to wait for the rate limiter.
func (c *Client) RateLimitWaits() int64 { return c.rateLimitWaits.Load() }

// TooManyRequests returns how many 429 answers the client has received.
func (c *Client) TooManyRequests() int64 { return c.tooManyRequests.Load() }

// BaseURL returns the API base URL the client talks to.
func (c *Client) BaseURL() string { return c.base }

// request describes one logical call.
type request struct {
	method string
	path   string // relative to base, starting with "/"
	query  string // already encoded
	body   any
	// raw, when set, is the already encoded body (body is then ignored).
	raw []byte
	// stream, when set, is the body, read afresh for each attempt (body
	// and raw are then ignored).
	stream *streamBody
	// keepErrorBody keeps a non-2xx answer's body in the *Error (for
	// bulk answers, whose per-element results may come with a 4xx).
	keepErrorBody bool
	// idempotent requests are retried on 5xx and network errors; others only
	// when MoySklad certainly did not process them (429).
	idempotent bool
}

// do performs a call with retries and decodes a 2xx JSON answer into out.
func (c *Client) do(ctx context.Context, r request, out any) error {
	payload := r.raw
	if payload == nil && r.body != nil && r.stream == nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return fmt.Errorf("moysklad: encode %s %s: %w", r.method, r.path, err)
		}
		payload = b
	}
	for attempt := 0; ; attempt++ {
		err := c.attempt(ctx, r, payload, out)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("moysklad: %s %s: %w", r.method, r.path, ctx.Err())
		}
		if !c.mayRetry(r, err) || attempt >= c.retries {
			return err
		}
		d := c.backoff(attempt, err)
		c.log.Warn("moysklad request failed, retrying",
			zap.String("method", r.method), zap.String("path", r.path),
			zap.Int("attempt", attempt+1), zap.Duration("backoff", d), zap.Error(err))
		if err := c.sleep(ctx, d); err != nil {
			return fmt.Errorf("moysklad: %s %s: %w", r.method, r.path, err)
		}
	}
}

func (c *Client) mayRetry(r request, err error) bool {
	if !IsRetryable(err) {
		return false
	}
	if r.idempotent {
		return true
	}
	var e *Error
	return errors.As(err, &e) && (e.StatusCode == http.StatusTooManyRequests || e.HasCode(CodeRateLimit) || e.HasCode(CodeParallelLimit))
}

// backoff returns the pause before retry number attempt+1: capped exponential
// with jitter, and never shorter than what MoySklad asked for.
func (c *Client) backoff(attempt int, err error) time.Duration {
	d := c.baseDelay << min(attempt, 20)
	if d > c.maxDelay || d <= 0 {
		d = c.maxDelay
	}
	d = d/2 + time.Duration(c.rnd()*float64(d/2))
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		ra := e.RetryAfter + time.Duration(c.rnd()*float64(c.window/20))
		if ra > c.maxDelay {
			ra = c.maxDelay
		}
		return ra
	}
	return d
}

var idSegment = regexp.MustCompile(`/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)

func endpointLabel(path string) string { return idSegment.ReplaceAllString(path, "/{id}") }

// attempt performs one HTTP exchange: it waits for a concurrency slot and
// the rate limiter, sends the request once and decodes the answer into out.
func (c *Client) attempt(ctx context.Context, r request, payload []byte, out any) error {
	sl, err := c.acquireSlots(ctx)
	if err != nil {
		return err
	}
	defer c.releaseSlots(sl)
	req, err := c.newHTTPRequest(ctx, r, payload)
	if err != nil {
		return err
	}
	return c.exchange(ctx, r, req, payload, out)
}

// acquireSlots takes a concurrency slot first and only then the rate slot,
// so that a recorded start is an actual start. It counts and reports a wait
// for the rate limiter.
func (c *Client) acquireSlots(ctx context.Context) (*slot, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	sl, waited, err := c.limiter.acquire(ctx)
	if err != nil {
		<-c.sem
		return nil, err
	}
	if waited > 0 {
		c.rateLimitWaits.Add(1)
		c.obs.ObserveRateLimitWait(waited)
	}
	return sl, nil
}

// releaseSlots gives back the rate slot and then the concurrency slot.
func (c *Client) releaseSlots(sl *slot) {
	c.limiter.release(sl)
	<-c.sem
}

// newHTTPRequest builds the HTTP request of r with its URL, credentials and
// content headers.
func (c *Client) newHTTPRequest(ctx context.Context, r request, payload []byte) (*http.Request, error) {
	var body io.Reader
	switch {
	case r.stream != nil:
		body = r.stream.reader()
	case payload != nil:
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.base+r.pathAndQuery(), body)
	if err != nil {
		return nil, fmt.Errorf("moysklad: build %s %s: %w", r.method, r.path, err)
	}
	if r.stream != nil {
		// Its length is known: no chunked encoding, and the transport may
		// send it again on a fresh connection.
		req.ContentLength = r.stream.Len()
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(r.stream.reader()), nil }
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", c.ua)
	req.Header.Set("Accept", "application/json;charset=utf-8")
	if payload != nil || r.stream != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	// Accept-Encoding is deliberately not set: the transport adds gzip and
	// then decodes the body itself.
	return req, nil
}

// pathAndQuery returns the request's path with its query, if any.
func (r request) pathAndQuery() string {
	if r.query == "" {
		return r.path
	}
	return r.path + "?" + r.query
}

// exchange sends req once, reports the attempt (see report) and interprets
// the answer.
func (c *Client) exchange(ctx context.Context, r request, req *http.Request, payload []byte, out any) (err error) {
	start := time.Now()
	c.countRequest()
	status := 0
	var data []byte
	defer func() { c.report(ctx, r, payload, status, data, time.Since(start), err) }()

	resp, data, err := c.roundTrip(ctx, r, req)
	if resp != nil {
		status = resp.StatusCode
	}
	if err != nil {
		return err
	}
	c.log.Debug("moysklad request", zap.String("method", r.method), zap.String("path", r.path),
		zap.Int("status", status), zap.Duration("took", time.Since(start)))
	return c.decodeAnswer(r, resp, data, out)
}

// countRequest counts an HTTP attempt. MoySklad advises against more than
// 100 requests per connection; dropping idle connections every 100th
// attempt approximates that.
func (c *Client) countRequest() {
	if n := c.requests.Add(1); n%100 == 0 {
		c.hc.CloseIdleConnections()
	}
}

// roundTrip sends req and reads the answer's body, at most c.maxBody bytes,
// and lets observeLimits read the rate-limit headers. resp is nil when no
// answer arrived; its body is closed on return. On a read error data holds
// what was read; on an answer over c.maxBody it is nil.
func (c *Client) roundTrip(ctx context.Context, r request, req *http.Request) (resp *http.Response, data []byte, err error) {
	resp, err = c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, &NetworkError{Method: r.method, Path: r.path, Err: stripURL(err)}
	}
	defer resp.Body.Close()
	data, err = io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	c.observeLimits(resp)
	if err == nil && int64(len(data)) > c.maxBody {
		// Not a network hiccup: asking again would only read it again.
		return resp, nil, fmt.Errorf("moysklad: %s %s: %w (more than %d bytes)", r.method, r.path, ErrAnswerTooLarge, c.maxBody)
	}
	if err != nil {
		if ctx.Err() != nil {
			return resp, data, ctx.Err()
		}
		return resp, data, &NetworkError{Method: r.method, Path: r.path, Err: err}
	}
	return resp, data, nil
}

// decodeAnswer turns a non-2xx answer into an *Error (see decodeError) and
// decodes a 2xx answer's JSON into out, unless out is nil.
func (c *Client) decodeAnswer(r request, resp *http.Response, data []byte, out any) error {
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.decodeError(r, resp, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("moysklad: decode %s %s answer: %w", r.method, r.path, err)
	}
	return nil
}

// report hands one attempt to the observer and to the operation's history,
// if it keeps one; the token travels in a header and is never part of it.
// status is 0 when no answer arrived.
func (c *Client) report(ctx context.Context, r request, payload []byte, status int, data []byte, took time.Duration, err error) {
	c.obs.ObserveRequest(r.method, endpointLabel(r.path), status, took, err)
	// The token travels in a header and is never part of the history. Only
	// what the history keeps is copied (bulk answers weigh hundreds of
	// kilobytes).
	e := exchange.Exchange{System: "moysklad", Method: r.method, URL: r.pathAndQuery(), Status: status,
		Response: exchange.TruncateBytes(data), Duration: took}
	if r.stream != nil {
		e.Request = r.stream.elided()
	} else {
		e.Request = elideFileContent(payload)
	}
	if err != nil {
		e.Err = err.Error()
	}
	exchange.Record(ctx, e)
}

// stripURL removes the URL (which may carry a query) from a transport error.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (c *Client) decodeError(r request, resp *http.Response, data []byte) error {
	e := &Error{StatusCode: resp.StatusCode, Method: r.method, Path: r.path}
	if r.keepErrorBody {
		e.body = data
	}
	if len(bytes.TrimSpace(data)) > 0 {
		var body struct {
			Errors []APIError `json:"errors"`
		}
		if json.Unmarshal(data, &body) == nil {
			e.Errors = body.Errors
		} else {
			var arr []struct {
				Errors []APIError `json:"errors"`
			}
			if json.Unmarshal(data, &arr) == nil {
				for _, a := range arr {
					e.Errors = append(e.Errors, a.Errors...)
				}
			}
		}
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		c.tooManyRequests.Add(1)
		e.RetryAfter = retryAfter(resp.Header)
		if e.RetryAfter > 0 {
			c.limiter.pause(e.RetryAfter)
		}
	}
	return e
}

// retryAfter reads X-Lognex-Retry-After (ms), then X-Lognex-Reset (ms), then
// the standard Retry-After (seconds).
func retryAfter(h http.Header) time.Duration {
	for _, k := range []string{"X-Lognex-Retry-After", "X-Lognex-Reset"} {
		if v := h.Get(k); v != "" {
			if ms, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && ms > 0 {
				return time.Duration(ms) * time.Millisecond
			}
		}
	}
	if v := h.Get("Retry-After"); v != "" {
		if s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && s > 0 {
			return time.Duration(s) * time.Second
		}
	}
	return 0
}

// budgetUnits is MoySklad's budget per 3-second window in units (doc
// _restrictions.md: «из "корзинки" 45 запросов … будет списываться не 1
// запрос, а 2, 3 или 4»).
const budgetUnits = 45

// observeLimits pauses everyone when MoySklad says the budget cannot pay
// for one more request. X-RateLimit-Remaining counts units of the budget
// (the 45-unit bucket; a user token's request costs 4 from 2026-12-01), so
// "Remaining 3" already means the next request gets 429. When
// X-RateLimit-Limit × weight fits in the 45-unit budget (Limit 11 for a
// weight of 4), the headers evidently count requests, and one costs one.
// (Whether Remaining drops by the weight is not confirmed by MoySklad's
// docs; both readings are handled.)
func (c *Client) observeLimits(resp *http.Response) {
	v := resp.Header.Get("X-RateLimit-Remaining")
	if v == "" {
		return
	}
	rem, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return
	}
	lim, _ := strconv.Atoi(strings.TrimSpace(resp.Header.Get("X-RateLimit-Limit")))
	cost := c.weight
	if lim > 0 && lim*cost <= budgetUnits {
		// The headers count requests (e.g. Limit 11 for a weight of 4).
		cost = 1
	}
	if rem >= cost {
		return
	}
	d := retryAfter(resp.Header)
	if d <= 0 {
		// No pause given: wait until the missing units come back, at the
		// rate the headers (or the client's own window) describe.
		iv := c.window
		if ms, err := strconv.Atoi(resp.Header.Get("X-Lognex-Retry-TimeInterval")); err == nil && ms > 0 {
			iv = time.Duration(ms) * time.Millisecond
		}
		perUnit := iv / time.Duration(c.perWindow*cost)
		if lim > 0 {
			perUnit = iv / time.Duration(lim)
		}
		d = perUnit * time.Duration(cost-max(rem, 0))
	}
	c.limiter.pause(d)
}
