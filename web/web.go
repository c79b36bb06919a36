// Package web serves shipbridge's HTTP endpoints: /healthz, /metrics and a
// small read-only page of recent orders and their history. Everything is
// served from the binary; there are no external assets.
package web

import (
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"maps"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/shipbridge/shipbridge/store"
)

//go:embed templates/*.html
var templateFS embed.FS

// Store is what the pages read.
type Store interface {
	Recent(limit int) ([]store.OrderRecord, error)
	Orders(fn func(store.OrderRecord) bool) error
	Order(id string) (store.OrderRecord, bool, error)
	OrderByName(name string) (store.OrderRecord, bool, error)
	History(orderID string) ([]store.Event, error)
	Backup(w io.Writer) (int64, error)
}

// Health reports whether the service is healthy: nil when the store is open
// and the last cycle did not fail for infrastructure reasons.
type Health func() error

// Server is the HTTP handler of `shipbridge run`.
type Server struct {
	store    Store
	health   Health
	gatherer prometheus.Gatherer
	log      *zap.Logger
	now      func() time.Time
	pages    *template.Template
	mux      *http.ServeMux
	// titles are the carriers' names as managers know them, by key.
	titles map[string]string
}

// New builds the handler.
func New(st Store, health Health, gatherer prometheus.Gatherer, log *zap.Logger, now func() time.Time) (*Server, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if now == nil {
		now = time.Now
	}
	s := &Server{store: st, health: health, gatherer: gatherer, log: log, now: now, mux: http.NewServeMux(),
		titles: maps.Clone(defaultCarrierTitles)}
	pages, err := template.New("").Funcs(template.FuncMap{
		"time": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.Local().Format("2006-01-02 15:04:05")
		},
		"carrier":      s.carrierTitle,
		"phase":        phaseTitle,
		"state":        func(st OrderState) string { return stateTitles[st] },
		"delivery":     deliveryText,
		"trackingURL":  trackingURL,
		"moyskladURL":  moyskladURL,
		"stateOptions": func() []stateOption { return stateOptions },
	}).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	s.pages = pages
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("GET /{$}", s.index)
	s.mux.HandleFunc("GET /orders/{id}", s.order)
	s.mux.HandleFunc("GET /backup", s.backup)
	s.mux.HandleFunc("GET /api/orders/{id}", s.orderJSON)
	return s, nil
}

// ServeHTTP serves the endpoints with safe default headers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	h.Set("Referrer-Policy", "no-referrer")
	s.mux.ServeHTTP(w, r)
}

// NewHTTPServer wraps a handler in an http.Server with timeouts.
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if err := s.health(); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "unhealthy", "error": err.Error()})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]string{"status": "ok"})
}

// backup streams a consistent copy of the store: a hot backup while the
// daemon keeps running (curl -o shipbridge-backup.db http://127.0.0.1:8080/backup).
func (s *Server) backup(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="shipbridge-`+s.now().UTC().Format("20060102-150405")+`.db"`)
	n, err := s.store.Backup(w)
	if err != nil {
		// Headers are gone once bytes are; the client sees a short body.
		s.log.Error("backup failed", zap.Int64("written", n), zap.Error(err))
		return
	}
	s.log.Info("backup served", zap.Int64("bytes", n))
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 100
	if v, err := strconv.Atoi(q.Get("limit")); err == nil && v > 0 && v <= 1000 {
		limit = v
	}
	page, err := s.buildIndex(q.Get("state"), q.Get("q"), limit)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.render(w, "index.html", page)
}

// lookup finds an order by MoySklad id, then by name.
func (s *Server) lookup(key string) (store.OrderRecord, bool, error) {
	rec, ok, err := s.store.Order(key)
	if err == nil && !ok {
		rec, ok, err = s.store.OrderByName(key)
	}
	return rec, ok, err
}

type orderPage struct {
	Order  store.OrderRecord
	State  OrderState
	Events []store.Event
}

func (s *Server) order(w http.ResponseWriter, r *http.Request) {
	rec, ok, err := s.lookup(r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	if !ok {
		http.Error(w, "order not found", http.StatusNotFound)
		return
	}
	events, err := s.store.History(rec.ID)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.render(w, "order.html", orderPage{Order: rec, State: StateOf(rec), Events: events})
}

// OrderHistory is an order's record with its events, as `shipbridge
// history --json` prints it and GET /api/orders/{id} serves it.
type OrderHistory struct {
	Order  store.OrderRecord `json:"order"`
	Events []store.Event     `json:"events"`
}

// orderJSON serves an order's history as JSON; `shipbridge history` reads
// it while the daemon holds the store.
func (s *Server) orderJSON(w http.ResponseWriter, r *http.Request) {
	rec, ok, err := s.lookup(r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "order not found"})
		return
	}
	events, err := s.store.History(rec.ID)
	if err != nil {
		s.fail(w, err)
		return
	}
	if events == nil {
		events = []store.Event{}
	}
	_ = json.NewEncoder(w).Encode(OrderHistory{Order: rec, Events: events})
}

func (s *Server) render(w http.ResponseWriter, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := s.pages.ExecuteTemplate(w, name, data); err != nil {
		s.log.Error("render page", zap.String("page", name), zap.Error(err))
	}
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	s.log.Error("web: store read failed", zap.Error(err))
	http.Error(w, "internal error", http.StatusInternalServerError)
}

// ErrUnhealthy is a generic health failure.
var ErrUnhealthy = errors.New("unhealthy")
