// Package moyskladtest is an in-process simulator of the MoySklad JSON API
// 1.2, in the spirit of net/http/httptest: it answers the customer-order
// endpoints shipbridge uses in the JSON shapes of the real API and refuses
// what the real API refuses (wrong token, missing gzip, rate and parallel
// limits, expand above limit 100, unknown states and attributes).
//
// The rate window and in-flight limit are measured on the wall clock; the
// timestamps of the data (updated) use Options.Now.
package moyskladtest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// APIPath is the path prefix of the JSON API 1.2.
const APIPath = "/api/remap/1.2"

// DefaultToken is the token of a server created without Options.Token.
const DefaultToken = "moyskladtest-token-0cbfc512618efa7d5fa306250bca064c"

// Options configures a Server. Zero values get defaults.
type Options struct {
	// Token is the only bearer token accepted (default DefaultToken).
	Token string
	// RequestsPerWindow units of budget are available in any sliding
	// interval of Window (default 45 per 3 s, MoySklad's documented
	// bucket); a request that would exceed it gets 429/1049.
	RequestsPerWindow int
	Window            time.Duration
	// RequestWeight is the units one request costs (default 1, a solution
	// token; 4 models a user token from 2026-12-01: 11 requests per 3 s).
	// Every request weighs the same, a bulk POST of 1,000 orders included
	// (doc _restrictions.md: the weight is per HTTP request). The headers
	// count units: X-RateLimit-Limit is RequestsPerWindow and
	// X-RateLimit-Remaining the units left.
	RequestWeight int
	// MaxParallel requests may be in flight; more get 429/1073 (default 5).
	MaxParallel int
	// Latency, when set, is slept inside every accepted request.
	Latency func() time.Duration
	// Now is the clock of the data (updated, created); default time.Now.
	Now func() time.Time
	// ExpandedPositions is how many positions an expanded order carries
	// (default 100); the rest must be read from …/{id}/positions.
	ExpandedPositions int
	// Seed seeds the random source of FailRate (default 1).
	Seed uint64
}

// Server is a running simulator. It is safe for concurrent use.
type Server struct {
	srv  *httptest.Server
	opts Options

	mu        sync.Mutex
	rng       *rand.Rand
	arrivals  []time.Time // accepted request arrivals inside the window (each costs RequestWeight)
	inflight  int
	maxInFl   int
	failNext  int
	failCode  int
	failRate  float64
	latency   func() time.Duration
	requests  int
	byEP      map[string]int
	tooMany   int
	parallel  int
	putsTotal map[string]int
	putTimes  map[string][]time.Time
	seq       uint64

	// denyEdit, refuseWrites and bulkErrors are guarded by mu (route
	// holds it): see DenyOrderEdits, RefuseOrderWrites, SetBulkErrors.
	denyEdit     bool
	refuseWrites map[string]APIRefusal
	bulkErrors   BulkErrors

	data
}

// NewServer starts a simulator on a loopback port.
func NewServer(opts Options) *Server {
	if opts.Token == "" {
		opts.Token = DefaultToken
	}
	if opts.RequestsPerWindow <= 0 {
		opts.RequestsPerWindow = 45
	}
	if opts.Window <= 0 {
		opts.Window = 3 * time.Second
	}
	if opts.RequestWeight <= 0 {
		opts.RequestWeight = 1
	}
	if opts.MaxParallel <= 0 {
		opts.MaxParallel = 5
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ExpandedPositions <= 0 {
		opts.ExpandedPositions = 100
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	s := &Server{
		opts:      opts,
		rng:       rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		latency:   opts.Latency,
		byEP:      map[string]int{},
		putsTotal: map[string]int{},
		putTimes:  map[string][]time.Time{},
	}
	s.data.init()
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.data.base = s.srv.URL + APIPath
	return s
}

// URL returns the API base URL, ending in /api/remap/1.2.
func (s *Server) URL() string { return s.srv.URL + APIPath }

// Token returns the accepted bearer token.
func (s *Server) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts.Token
}

// SetToken makes tok the only accepted token, as generating a new token in
// MoySklad revokes the old ones: a request with the old token gets 401 with
// code 1056 (doc md/_errors.md, error 1056; md/_general.md: 401).
func (s *Server) SetToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.Token = tok
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// FailNext makes the next n authenticated, in-budget requests fail with the
// given HTTP status (e.g. 500, 503, 429).
func (s *Server) FailNext(n int, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext, s.failCode = n, status
}

// FailRate makes each request fail with 503 with probability p (0 disables).
func (s *Server) FailRate(p float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failRate = p
}

// SetLatency replaces the latency function (nil: none).
func (s *Server) SetLatency(f func() time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = f
}

// Requests returns the number of HTTP requests received (including refused ones).
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// RequestsByEndpoint counts requests by "METHOD /path" with ids replaced by {id}.
func (s *Server) RequestsByEndpoint() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.byEP))
	for k, v := range s.byEP {
		out[k] = v
	}
	return out
}

// TooManyRequests returns how many 429 answers were sent (rate, parallel and injected).
func (s *Server) TooManyRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tooMany
}

// ParallelRejects returns how many requests were refused for the parallel limit (1073).
func (s *Server) ParallelRejects() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.parallel
}

// MaxInFlight returns the largest number of requests seen in flight at once.
func (s *Server) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFl
}

// PutsPerOrder returns how many accepted PUTs the order received.
func (s *Server) PutsPerOrder(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.putsTotal[id]
}

// MaxPutsPerMinute returns the largest number of PUTs the order received
// within any minute (MoySklad bans above 100).
func (s *Server) MaxPutsPerMinute(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := s.putTimes[id]
	best := 0
	for i := range ts {
		j := i
		for j < len(ts) && ts[j].Sub(ts[i]) < time.Minute {
			j++
		}
		best = max(best, j-i)
	}
	return best
}

// reply is a computed answer, written after the in-flight slot is released.
type reply struct {
	status int
	header http.Header
	body   []byte // nil: no body
	ctype  string
}

func jsonReply(status int, v any) reply {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return reply{status: status, body: b, ctype: "application/json;charset=utf-8"}
}

// apiErr builds MoySklad's {"errors":[…]} body.
func apiErr(status, code int, msg, param string) reply {
	e := map[string]any{"error": msg}
	if code != 0 {
		e["code"] = code
		e["moreInfo"] = "https://dev.moysklad.ru/doc/api/remap/1.2/#error_" + strconv.Itoa(code)
	}
	if param != "" {
		e["parameter"] = param
	}
	return jsonReply(status, map[string]any{"errors": []any{e}})
}

func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for _, tok := range strings.Split(v, ",") {
			tok = strings.TrimSpace(tok)
			if i := strings.IndexByte(tok, ';'); i >= 0 {
				if strings.TrimSpace(tok[i+1:]) == "q=0" {
					continue
				}
				tok = strings.TrimSpace(tok[:i])
			}
			if strings.EqualFold(tok, "gzip") {
				return true
			}
		}
	}
	return false
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	rep := s.handle(r)
	h := w.Header()
	for k, v := range rep.header {
		h[k] = v
	}
	if rep.body == nil {
		w.WriteHeader(rep.status)
		return
	}
	h.Set("Content-Type", rep.ctype)
	h.Set("Vary", "Accept-Encoding")
	body := rep.body
	if acceptsGzip(r) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(body)
		_ = zw.Close()
		body = buf.Bytes()
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rep.status)
	_, _ = w.Write(body)
}

// handle runs the admission checks in the order the real service applies
// them and then routes. The in-flight slot is released before the answer is
// written, so a client that sees the answer never races the counter.
func (s *Server) handle(r *http.Request) reply {
	arrival := time.Now()
	ep := r.Method + " " + endpointLabel(strings.TrimPrefix(r.URL.Path, APIPath))
	s.mu.Lock()
	s.requests++
	s.byEP[ep]++
	s.mu.Unlock()

	if !acceptsGzip(r) {
		return reply{status: http.StatusUnsupportedMediaType}
	}
	if !s.authorized(r) {
		return apiErr(http.StatusUnauthorized, 1056, "Ошибка аутентификации: Неправильный пароль или имя пользователя", "")
	}

	s.mu.Lock()
	if s.inflight >= s.opts.MaxParallel {
		s.tooMany++
		s.parallel++
		s.mu.Unlock()
		rep := apiErr(http.StatusTooManyRequests, 1073, "Превышено ограничение на одновременное количество запросов", "")
		rep.header = http.Header{"X-Lognex-Auth": {"429005"}, "X-Lognex-Auth-Message": {"Превышено ограничение на одновременное количество запросов"}}
		return rep
	}
	limHdr, ok := s.admitLocked(arrival)
	if !ok {
		s.tooMany++
		s.mu.Unlock()
		rep := apiErr(http.StatusTooManyRequests, 1049, "Превышено ограничение на количество запросов в единицу времени", "")
		limHdr.Set("X-Lognex-Auth", "429002")
		rep.header = limHdr
		return rep
	}
	s.inflight++
	s.maxInFl = max(s.maxInFl, s.inflight)
	fail := 0
	if s.failNext > 0 {
		s.failNext--
		fail = s.failCode
	} else if s.failRate > 0 && s.rng.Float64() < s.failRate {
		fail = http.StatusServiceUnavailable
	}
	lat := s.latency
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inflight--
		s.mu.Unlock()
	}()

	if lat != nil {
		if d := lat(); d > 0 {
			time.Sleep(d)
		}
	}
	var rep reply
	switch {
	case fail == http.StatusTooManyRequests:
		s.mu.Lock()
		s.tooMany++
		s.mu.Unlock()
		rep = apiErr(fail, 1049, "Превышено ограничение на количество запросов в единицу времени", "")
		limHdr.Set("X-RateLimit-Remaining", "0")
		limHdr.Set("X-Lognex-Retry-After", strconv.FormatInt(s.opts.Window.Milliseconds(), 10))
		limHdr.Set("X-Lognex-Reset", strconv.FormatInt(s.opts.Window.Milliseconds(), 10))
	case fail >= 500:
		rep = apiErr(fail, 0, "Внутренняя ошибка сервера (смоделирована)", "")
	case fail != 0:
		rep = apiErr(fail, 0, http.StatusText(fail), "")
	default:
		rep = s.route(r)
	}
	if rep.header == nil {
		rep.header = http.Header{}
	}
	for k, v := range limHdr {
		rep.header[k] = v
	}
	return rep
}

func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	const p = "Bearer "
	s.mu.Lock()
	tok := s.opts.Token
	s.mu.Unlock()
	return len(h) > len(p) && strings.EqualFold(h[:len(p)], p) && h[len(p):] == tok
}

// admitLocked applies the sliding window: at most RequestsPerWindow units
// (RequestWeight per accepted arrival) in any interval of Window. It
// returns the rate-limit headers, in units.
func (s *Server) admitLocked(now time.Time) (http.Header, bool) {
	w := s.opts.Window
	n := s.opts.RequestsPerWindow
	wt := s.opts.RequestWeight
	cut := 0
	for cut < len(s.arrivals) && now.Sub(s.arrivals[cut]) >= w {
		cut++
	}
	s.arrivals = s.arrivals[cut:]
	h := http.Header{}
	h.Set("X-RateLimit-Limit", strconv.Itoa(n))
	h.Set("X-Lognex-Retry-TimeInterval", strconv.FormatInt(w.Milliseconds(), 10))
	// untilFree is the time until one more request fits: until enough of
	// the oldest arrivals leave the window.
	untilFree := func() string {
		used := len(s.arrivals) * wt
		for _, a := range s.arrivals {
			if used+wt <= n {
				break
			}
			used -= wt
			if used+wt <= n {
				d := a.Add(w).Sub(now)
				return strconv.FormatInt(int64((d+time.Millisecond-1)/time.Millisecond), 10)
			}
		}
		return "0"
	}
	if (len(s.arrivals)+1)*wt > n {
		h.Set("X-RateLimit-Remaining", strconv.Itoa(max(0, n-len(s.arrivals)*wt)))
		h.Set("X-Lognex-Retry-After", untilFree())
		h.Set("X-Lognex-Reset", untilFree())
		return h, false
	}
	s.arrivals = append(s.arrivals, now)
	rem := n - len(s.arrivals)*wt
	h.Set("X-RateLimit-Remaining", strconv.Itoa(rem))
	if rem < wt {
		h.Set("X-Lognex-Retry-After", untilFree())
		h.Set("X-Lognex-Reset", untilFree())
	} else {
		h.Set("X-Lognex-Retry-After", "0")
		h.Set("X-Lognex-Reset", "0")
	}
	return h, true
}

func endpointLabel(p string) string {
	parts := strings.Split(p, "/")
	for i, seg := range parts {
		if looksLikeID(seg) {
			parts[i] = "{id}"
		}
	}
	return strings.Join(parts, "/")
}

func looksLikeID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdef", c) {
				return false
			}
		}
	}
	return true
}

// newID returns a fresh UUID-shaped id (version-1 style, like MoySklad's).
func (s *Server) newID() string {
	s.seq++
	return fmt.Sprintf("%08x-%04x-11f1-0a80-%012x", uint32(s.seq*2654435761), uint16(s.seq), s.seq)
}
