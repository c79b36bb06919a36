// Package cdektest is an in-process simulator of the CDEK API v2 for tests
// and the demo: OAuth tokens that expire, orders accepted with 202 and
// validated asynchronously, lookups by uuid, number and CDEK number,
// deletion allowed only in status CREATED, waybill print forms that become
// READY after a delay (a not-yet-created order is refused with
// v2_entity_not_ready), lookups by number that answer the most recent order
// whatever its state, delivery points, tariff modes and ware_key checks,
// test hooks that move an order through its statuses or back to the sender
// (SetStatus, ReturnToSender), and fault injection. It answers with the
// JSON shapes of CDEK's real answers (see the samples in ../testdata).
//
// Asynchronous work is evaluated lazily: every request (and every
// inspection hook) first applies whatever became due on the clock, so a
// test that waits long enough always sees the settled state.
package cdektest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// City is a city the simulator recognises, by CDEK code, postal code or name.
type City struct {
	Code        int
	Name        string
	PostalCodes []string
}

// DefaultCities are the cities recognised when Options.Cities is nil.
func DefaultCities() []City {
	return []City{
		{Code: 44, Name: "Москва", PostalCodes: []string{"101000", "109044", "115035", "125009", "127006"}},
		{Code: 137, Name: "Санкт-Петербург", PostalCodes: []string{"190000", "191186", "195027"}},
		{Code: 270, Name: "Новосибирск", PostalCodes: []string{"630000", "630032", "630099"}},
		{Code: 250, Name: "Екатеринбург", PostalCodes: []string{"620000", "620014"}},
		{Code: 424, Name: "Казань", PostalCodes: []string{"420000", "420111"}},
		{Code: 438, Name: "Ростов-на-Дону", PostalCodes: []string{"344000", "344002"}},
		{Code: 152, Name: "Калининград", PostalCodes: []string{"236000", "236022"}},
	}
}

// DefaultPoints are the pickup-point (office) codes known when
// Options.Points is nil.
func DefaultPoints() []string {
	return []string{"MSK65", "MSK67", "MSK123", "SPB12", "SPB7", "NSK23", "EKB3", "KZN21"}
}

// Options configures a Server. Zero values take the defaults noted.
type Options struct {
	// ClientID and ClientSecret are the accepted credentials
	// (default "sim-client" / "sim-secret").
	ClientID     string
	ClientSecret string
	// TokenTTL is the lifetime of issued tokens (default 3599 s, as CDEK).
	TokenTTL time.Duration
	// SettleDelay is how long a create or delete request stays ACCEPTED
	// before it is decided (default 30 ms).
	SettleDelay func() time.Duration
	// PrintDelay is how long a print form takes to become READY (default 30 ms).
	PrintDelay func() time.Duration
	// NotFoundWindow: lookups of an order younger than this answer "not
	// found", as CDEK sometimes does right after a create (default 0).
	NotFoundWindow time.Duration
	// NotFoundStatus is the HTTP status of "not found" answers for orders
	// and print forms: 400 as CDEK documents (default) or 404.
	NotFoundStatus int
	// Points are the known pickup points / offices; Cities the recognised cities.
	Points []string
	Cities []City
	// TakeOnlyPoints are offices that do not take parcels in (is_reception
	// false in GET /v2/deliverypoints).
	TakeOnlyPoints []string
	// Latency, when set, delays every answer.
	Latency func() time.Duration
	// FailRate is the share of API requests (not token requests) answered
	// with HTTP 500; Seed seeds that choice.
	FailRate float64
	Seed     uint64
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Server is a running simulator. All methods are safe for concurrent use.
type Server struct {
	opts     Options
	ts       *httptest.Server
	points   map[string]bool
	takeOnly map[string]bool
	cities   []City

	mu           sync.Mutex
	rng          *mrand.Rand
	tokens       map[string]time.Time
	tokensIssued int
	orders       []*order
	byUUID       map[string]*order
	prints       map[string]*printForm
	calls        map[string]int
	creates      map[string]int
	failNext     []int
	failTokens   []int
	loseCreates  int
	seq          int
}

type apiErr struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type request struct {
	UUID     string
	Type     string
	State    string
	At       time.Time
	DueAt    time.Time
	Errors   []apiErr
	Warnings []apiErr
}

// status is one entry of an order's history. Deleted is CDEK's «Признак
// удаления статуса» (OrderStatusDto.deleted in CDEK's OpenAPI: «true —
// статус удалён; false — активен. Значение true может быть только у
// финальных статусов»): set only by RevokeStatus, on a final status CDEK
// took back.
type status struct {
	Code    string
	Name    string
	Reason  string
	At      time.Time
	Deleted bool
}

type order struct {
	uuid       string
	seq        int
	number     string
	cdekNumber string
	createdAt  time.Time
	body       orderBody
	create     *request
	del        *request
	statuses   []status
	// isReturn marks a return order; returnOrder and direct link a direct
	// order and its return (related_entities return_order / direct_order).
	isReturn    bool
	returnOrder *order
	direct      *order
}

type printForm struct {
	uuid      string
	orders    []printRef
	copies    int
	createdAt time.Time
	readyAt   time.Time
	state     string // ACCEPTED, READY, INVALID
	errors    []apiErr
	req       request
}

type printRef struct {
	OrderUUID  string `json:"order_uuid,omitempty"`
	CDEKNumber string `json:"cdek_number,omitempty"`
}

// NewServer starts a simulator on a loopback port.
func NewServer(opts Options) *Server {
	if opts.ClientID == "" {
		opts.ClientID = "sim-client"
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = "sim-secret"
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = 3599 * time.Second
	}
	if opts.SettleDelay == nil {
		opts.SettleDelay = func() time.Duration { return 30 * time.Millisecond }
	}
	if opts.PrintDelay == nil {
		opts.PrintDelay = func() time.Duration { return 30 * time.Millisecond }
	}
	if opts.NotFoundStatus == 0 {
		opts.NotFoundStatus = http.StatusBadRequest
	}
	if opts.Points == nil {
		opts.Points = DefaultPoints()
	}
	if opts.Cities == nil {
		opts.Cities = DefaultCities()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts:     opts,
		points:   map[string]bool{},
		takeOnly: map[string]bool{},
		cities:   opts.Cities,
		rng:      mrand.New(mrand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		tokens:   map[string]time.Time{},
		byUUID:   map[string]*order{},
		prints:   map[string]*printForm{},
		calls:    map[string]int{},
		creates:  map[string]int{},
	}
	for _, p := range opts.Points {
		s.points[strings.ToUpper(p)] = true
	}
	for _, p := range opts.TakeOnlyPoints {
		s.takeOnly[strings.ToUpper(p)] = true
	}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the base URL to configure the client with.
func (s *Server) URL() string { return s.ts.URL }

// Close stops the server.
func (s *Server) Close() { s.ts.Close() }

// ClientID returns the accepted client id.
func (s *Server) ClientID() string { return s.opts.ClientID }

// ClientSecret returns the accepted client secret.
func (s *Server) ClientSecret() string { return s.opts.ClientSecret }

// FailNext makes the next n API requests (not token requests) fail with
// the given HTTP status.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < n; i++ {
		s.failNext = append(s.failNext, status)
	}
}

// FailNextToken makes the next n token requests fail with the given HTTP
// status (a 5xx from CDEK's front, before any credential check).
func (s *Server) FailNextToken(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < n; i++ {
		s.failTokens = append(s.failTokens, status)
	}
}

// LoseNextCreateResponse makes the next n order creations succeed at the
// "CDEK" side while the HTTP connection is dropped before any answer.
func (s *Server) LoseNextCreateResponse(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loseCreates += n
}

// ExpireTokens makes every token issued so far expired, as if an hour had passed.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	past := s.opts.Now().Add(-time.Second)
	for k := range s.tokens {
		s.tokens[k] = past
	}
}

// TokensIssued returns how many tokens were issued.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokensIssued
}

// Calls returns the number of requests per endpoint, keyed like
// "POST /v2/orders", "GET /v2/orders/{uuid}", "GET /v2/orders?im_number".
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// CreatesForNumber returns how many create requests carried the number,
// including ones whose answer was lost or that were later found invalid.
func (s *Server) CreatesForNumber(number string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.creates[number]
}

// ActiveOrdersForNumber returns how many successfully created, not deleted
// orders carry the number.
func (s *Server) ActiveOrdersForNumber(number string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	n := 0
	for _, o := range s.orders {
		if o.number == number && o.active() {
			n++
		}
	}
	return n
}

// OrderInfo is a snapshot of one simulated order.
type OrderInfo struct {
	UUID        string
	Number      string
	CDEKNumber  string
	CreateState string
	Status      string
	Deleted     bool
	ErrorCodes  []string
	CreatedAt   time.Time
	// ToCountryCode is the to_location.country_code the order was sent
	// with ("" for none).
	ToCountryCode string
}

// Orders returns a snapshot of every order, oldest first.
func (s *Server) Orders() []OrderInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	out := make([]OrderInfo, 0, len(s.orders))
	for _, o := range s.orders {
		info := OrderInfo{UUID: o.uuid, Number: o.number, CDEKNumber: o.cdekNumber, CreateState: o.create.State,
			Status: o.latest().Code, Deleted: o.deleted(), CreatedAt: o.createdAt}
		if o.body.ToLocation != nil {
			info.ToCountryCode = o.body.ToLocation.CountryCode
		}
		for _, e := range o.create.Errors {
			info.ErrorCodes = append(info.ErrorCodes, e.Code)
		}
		out = append(out, info)
	}
	return out
}

// SetOrderStatus moves the active order with the number to a CDEK status
// (e.g. "RECEIVED_AT_SHIPMENT_WAREHOUSE" when the courier takes the parcel),
// after which CDEK refuses deletion.
func (s *Server) SetOrderStatus(number, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	for i := len(s.orders) - 1; i >= 0; i-- {
		o := s.orders[i]
		if o.number == number && o.active() {
			s.appendStatus(o, code, "")
			return nil
		}
	}
	return fmt.Errorf("cdektest: no active order with number %q", number)
}

// SetStatus appends a CDEK status (Appendix 1 code, e.g. "TAKEN_BY_COURIER",
// "DELIVERED", "NOT_DELIVERED") to the order with the uuid, dated now (and
// after its latest status), as CDEK does when the parcel moves. reason is
// the Appendix 2 reason_code ("" for none; e.g. "26" lost, "11" refused).
func (s *Server) SetStatus(uuid, code, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	o := s.byUUID[uuid]
	if o == nil {
		return fmt.Errorf("cdektest: no order %s", uuid)
	}
	if o.create.State != "SUCCESSFUL" {
		return fmt.Errorf("cdektest: order %s is not created (%s)", uuid, o.create.State)
	}
	s.appendStatus(o, code, reason)
	return nil
}

func (s *Server) appendStatus(o *order, code, reason string) {
	now := s.now()
	if !now.After(o.latest().At) {
		now = o.latest().At.Add(time.Second)
	}
	o.statuses = append(o.statuses, status{Code: code, Name: statusNames[code], Reason: reason, At: now})
}

// RevokeStatus takes back the order's current final status (DELIVERED,
// NOT_DELIVERED or POSTOMAT_RECEIVED, e.g. a «Вручен» set by mistake), as
// CDEK does: the status stays in the history with deleted: true, and the
// order gets the status next (e.g. "ACCEPTED_AT_PICK_UP_POINT"), dated after
// it. With next "" nothing newer is added: the revoked status stays the
// newest entry and the order is back in its previous live status.
func (s *Server) RevokeStatus(uuid, next string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	o := s.byUUID[uuid]
	if o == nil || o.create.State != "SUCCESSFUL" {
		return fmt.Errorf("cdektest: no created order %s", uuid)
	}
	i := o.latestIndex()
	switch o.statuses[i].Code {
	case "DELIVERED", "NOT_DELIVERED", "POSTOMAT_RECEIVED":
	default:
		return fmt.Errorf("cdektest: order %s is in %s, not a final status", uuid, o.statuses[i].Code)
	}
	o.statuses[i].Deleted = true
	if next == "" {
		return nil
	}
	at := o.statuses[i].At
	s.appendStatus(o, next, "")
	// CDEK's date_time has whole seconds: the newer status must read as
	// newer, not as a tie.
	if last := &o.statuses[len(o.statuses)-1]; !last.At.Truncate(time.Second).After(at.Truncate(time.Second)) {
		last.At = at.Truncate(time.Second).Add(time.Second)
	}
	return nil
}

// ReturnToSender ends the order with the uuid as CDEK ends a parcel that
// went back: the order becomes NOT_DELIVERED (reason 11, «отказ от
// получения», unless it already is) and gets a return order
// (related_entities type return_order, is_return true) that is DELIVERED
// to the sender. It returns the return order's uuid.
func (s *Server) ReturnToSender(uuid string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	o := s.byUUID[uuid]
	if o == nil || o.create.State != "SUCCESSFUL" {
		return "", fmt.Errorf("cdektest: no created order %s", uuid)
	}
	if o.latest().Code != "NOT_DELIVERED" {
		s.appendStatus(o, "NOT_DELIVERED", "11")
	}
	if o.returnOrder != nil {
		return o.returnOrder.uuid, nil
	}
	s.seq++
	now := s.now()
	r := &order{uuid: newUUID(), seq: s.seq, createdAt: now, body: o.body, isReturn: true, direct: o,
		create: &request{UUID: newUUID(), Type: "CREATE", State: "SUCCESSFUL", At: now, DueAt: now}}
	r.number = "" // a return order carries no shop number
	r.cdekNumber = strconv.Itoa(1100000000 + r.seq)
	r.statuses = []status{{Code: "CREATED", Name: statusNames["CREATED"], At: now}}
	s.appendStatus(r, "DELIVERED", "")
	o.returnOrder = r
	s.byUUID[r.uuid] = r
	return r.uuid, nil
}

// statusNames are CDEK's names of the order statuses ([SPEC-common]
// «Приложение 1. Статусы заказов»).
var statusNames = map[string]string{
	"ACCEPTED":                               "Принят",
	"CREATED":                                "Создан",
	"REMOVED":                                "Удален",
	"INVALID":                                "Некорректный заказ",
	"RECEIVED_AT_SHIPMENT_WAREHOUSE":         "Принят на склад отправителя",
	"DELIVERED":                              "Вручен",
	"NOT_DELIVERED":                          "Не вручен",
	"READY_FOR_SHIPMENT_IN_SENDER_CITY":      "Готов к отправке в городе-отправителе",
	"TAKEN_BY_TRANSPORTER_FROM_SENDER_CITY":  "Сдан перевозчику в городе-отправителе",
	"SENT_TO_RECIPIENT_CITY":                 "Отправлен в город-получатель",
	"ACCEPTED_IN_RECIPIENT_CITY":             "Встречен в городе-получателе",
	"ACCEPTED_AT_RECIPIENT_CITY_WAREHOUSE":   "Принят на склад доставки",
	"TAKEN_BY_COURIER":                       "Выдан на доставку",
	"ACCEPTED_AT_PICK_UP_POINT":              "Принят на склад до востребования",
	"ACCEPTED_AT_TRANSIT_WAREHOUSE":          "Принят на склад транзита",
	"RETURNED_TO_SENDER_CITY_WAREHOUSE":      "Возвращен на склад отправителя",
	"RETURNED_TO_TRANSIT_WAREHOUSE":          "Возвращен на склад транзита",
	"RETURNED_TO_RECIPIENT_CITY_WAREHOUSE":   "Возвращен на склад доставки",
	"READY_FOR_SHIPMENT_IN_TRANSIT_CITY":     "Выдан на отправку в городе-транзите",
	"TAKEN_BY_TRANSPORTER_FROM_TRANSIT_CITY": "Сдан перевозчику в городе-транзите",
	"SENT_TO_TRANSIT_CITY":                   "Отправлен в город-транзит",
	"ACCEPTED_IN_TRANSIT_CITY":               "Встречен в городе-транзите",
	"SENT_TO_SENDER_CITY":                    "Отправлен в город-отправитель",
	"ACCEPTED_IN_SENDER_CITY":                "Встречен в городе-отправителе",
	"POSTOMAT_POSTED":                        "Заложен в постамат",
	"POSTOMAT_SEIZED":                        "Изъят из постамата курьером",
	"POSTOMAT_RECEIVED":                      "Изъят из постамата клиентом",
}

func (s *Server) now() time.Time { return s.opts.Now().UTC().Truncate(time.Millisecond) }

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// latest is the newest status CDEK has not revoked (deleted: false).
func (o *order) latest() status { return o.statuses[o.latestIndex()] }

// latestIndex is the index of latest in o.statuses.
func (o *order) latestIndex() int {
	best := -1
	for i, st := range o.statuses {
		if st.Deleted {
			continue
		}
		if best < 0 || !st.At.Before(o.statuses[best].At) {
			best = i
		}
	}
	if best < 0 {
		return 0
	}
	return best
}

func (o *order) deleted() bool { return o.latest().Code == "REMOVED" }

// active: successfully created, not deleted, not in a final status.
func (o *order) active() bool {
	if o.create.State != "SUCCESSFUL" {
		return false
	}
	switch o.latest().Code {
	case "REMOVED", "DELIVERED", "NOT_DELIVERED":
		return false
	}
	return true
}

// ---- HTTP ----

const timeLayout = "2006-01-02T15:04:05-0700"

func ts(t time.Time) string { return t.UTC().Format(timeLayout) }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) requestEnvelope(typ string, errs ...apiErr) map[string]any {
	return map[string]any{
		"requests": []any{map[string]any{
			"type": typ, "date_time": ts(s.now()), "state": "INVALID", "errors": errs,
		}},
		"related_entities": []any{},
	}
}

func topLevel(errs ...apiErr) map[string]any { return map[string]any{"errors": errs} }

var (
	reOrder     = regexp.MustCompile(`^/v2/orders/([^/]+)$`)
	rePrint     = regexp.MustCompile(`^/v2/print/orders/([^/]+?)(\.pdf)?$`)
	reUUIDShape = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

func endpointKey(r *http.Request) string {
	p := r.URL.Path
	switch {
	case p == "/v2/oauth/token":
		return r.Method + " /v2/oauth/token"
	case p == "/v2/orders" && r.Method == http.MethodGet:
		q := r.URL.Query()
		switch {
		case q.Has("im_number"):
			return "GET /v2/orders?im_number"
		case q.Has("cdek_number"):
			return "GET /v2/orders?cdek_number"
		}
		return "GET /v2/orders"
	case reOrder.MatchString(p):
		return r.Method + " /v2/orders/{uuid}"
	case strings.HasPrefix(p, "/v2/print/orders/") && strings.HasSuffix(p, ".pdf"):
		return r.Method + " /v2/print/orders/{uuid}.pdf"
	case strings.HasPrefix(p, "/v2/print/orders/"):
		return r.Method + " /v2/print/orders/{uuid}"
	case p == "/v2/deliverypoints":
		return r.Method + " /v2/deliverypoints"
	}
	return r.Method + " " + p
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	key := endpointKey(r)
	s.mu.Lock()
	s.calls[key]++
	s.mu.Unlock()

	if s.opts.Latency != nil {
		if d := s.opts.Latency(); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-r.Context().Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
	if r.URL.Path == "/v2/oauth/token" {
		s.mu.Lock()
		st := 0
		if len(s.failTokens) > 0 {
			st, s.failTokens = s.failTokens[0], s.failTokens[1:]
		}
		s.mu.Unlock()
		if st != 0 {
			writeJSON(w, st, topLevel(apiErr{Code: "v2_internal_error", Message: "Internal error"}))
			return
		}
		s.handleToken(w, r)
		return
	}
	if code, msg, ok := s.authorize(r); !ok {
		writeJSON(w, http.StatusUnauthorized, topLevel(apiErr{Code: code, Message: msg}))
		return
	}
	if st := s.fault(); st != 0 {
		if st == http.StatusTooManyRequests {
			writeJSON(w, st, topLevel(apiErr{Code: "v2_too_many_requests", Message: "Too many requests"}))
		} else {
			writeJSON(w, st, s.requestEnvelope("GET", apiErr{Code: "v2_internal_error", Message: "Internal error"}))
		}
		return
	}
	p := r.URL.Path
	switch {
	case p == "/v2/orders" && r.Method == http.MethodPost:
		s.handleCreate(w, r)
	case p == "/v2/orders" && r.Method == http.MethodGet:
		s.handleFind(w, r)
	case reOrder.MatchString(p) && r.Method == http.MethodGet:
		s.handleGet(w, reOrder.FindStringSubmatch(p)[1])
	case reOrder.MatchString(p) && r.Method == http.MethodDelete:
		s.handleDelete(w, reOrder.FindStringSubmatch(p)[1])
	case p == "/v2/deliverypoints" && r.Method == http.MethodGet:
		s.handleDeliveryPoints(w, r)
	case p == "/v2/print/orders" && r.Method == http.MethodPost:
		s.handlePrintCreate(w, r)
	case rePrint.MatchString(p) && r.Method == http.MethodGet:
		m := rePrint.FindStringSubmatch(p)
		if m[2] == ".pdf" {
			s.handlePrintDownload(w, m[1])
		} else {
			s.handlePrintGet(w, m[1])
		}
	default:
		writeJSON(w, http.StatusNotFound, topLevel(apiErr{Code: "v2_bad_request", Message: "Bad request"}))
	}
}

func (s *Server) fault() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failNext) > 0 {
		st := s.failNext[0]
		s.failNext = s.failNext[1:]
		return st
	}
	if s.opts.FailRate > 0 && s.rng.Float64() < s.opts.FailRate {
		return http.StatusInternalServerError
	}
	return 0
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "unauthorized", "error_description": "Full authentication is required to access this resource"})
		return
	}
	_ = r.ParseForm() // query and x-www-form-urlencoded body, as CDEK accepts both
	if r.Form.Get("grant_type") != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "unsupported_grant_type", "error_description": "Unsupported grant type"})
		return
	}
	id, secret := r.Form.Get("client_id"), r.Form.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok && id == "" {
		id, secret = u, p
	}
	if id != s.opts.ClientID || secret != s.opts.ClientSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid_client", "error_description": "Bad client credentials"})
		return
	}
	tok := "sim." + strings.ReplaceAll(newUUID(), "-", "") + strings.ReplaceAll(newUUID(), "-", "")
	s.mu.Lock()
	s.tokens[tok] = s.opts.Now().Add(s.opts.TokenTTL)
	s.tokensIssued++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok, "token_type": "bearer", "expires_in": int(s.opts.TokenTTL / time.Second),
		"scope": "location:all order:all payment:all", "jti": newUUID(),
	})
}

// authorize checks the bearer token: missing or unknown → unauthorized,
// expired → v2_token_expired.
func (s *Server) authorize(r *http.Request) (code, msg string, ok bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "unauthorized", "Full authentication is required to access this resource", false
	}
	tok, found := strings.CutPrefix(h, "Bearer ")
	if !found || tok == "" {
		return "v2_authorization_incorrect", "Authorization header is incorrect", false
	}
	s.mu.Lock()
	exp, known := s.tokens[tok]
	s.mu.Unlock()
	if !known {
		return "unauthorized", "Full authentication is required to access this resource", false
	}
	if !s.opts.Now().Before(exp) {
		return "v2_token_expired", "Access token is expired", false
	}
	return "", "", true
}
