// Package metrics holds shipbridge's Prometheus metrics. A Metrics value is
// built once where the program is wired and handed to the poller and the
// API clients as their observer; nothing is registered globally.
package metrics

import (
	"errors"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/shipbridge/shipbridge/carriers"
	"github.com/shipbridge/shipbridge/poller"
)

// Metrics are the counters, gauges and histograms shipbridge exports.
type Metrics struct {
	Registry *prometheus.Registry

	cycles          *prometheus.CounterVec
	cycleDuration   prometheus.Histogram
	lastSuccess     prometheus.Gauge
	orders          *prometheus.CounterVec
	apiCalls        *prometheus.CounterVec
	apiDuration     *prometheus.HistogramVec
	rateLimitWaits  prometheus.Counter
	rateLimitWaitS  prometheus.Counter
	lastCycleFailed prometheus.Gauge

	carrierHealthy *prometheus.GaugeVec
	carrierAuth    *prometheus.CounterVec
	carrierQuota   *prometheus.CounterVec

	// troubleMu guards trouble: each unhealthy carrier's reason.
	troubleMu    sync.Mutex
	trouble      map[string]CarrierProblem
	tracked      *prometheus.CounterVec
	trackChanges *prometheus.CounterVec

	quotas *quotaCollector

	msWriteHealthy  prometheus.Gauge
	msWriteFailures *prometheus.CounterVec
	// msDenied is MoySklad's last access refusal of a write ("" while
	// writes are accepted), guarded by troubleMu.
	msDenied string
}

// New creates the metrics in their own registry, with the Go and process
// collectors.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		cycles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shipbridge_cycles_total", Help: "Poll cycles run, by result (ok, error).",
		}, []string{"result"}),
		cycleDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "shipbridge_cycle_duration_seconds", Help: "Duration of poll cycles.",
			Buckets: []float64{0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600},
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shipbridge_last_successful_cycle_timestamp_seconds", Help: "Unix time of the last cycle that ran without an infrastructure error.",
		}),
		lastCycleFailed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shipbridge_last_cycle_failed", Help: "1 when the last cycle failed for infrastructure reasons, else 0.",
		}),
		orders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shipbridge_orders_total", Help: "Order outcomes, by carrier and outcome (registered, failed, deleted, not_deleted, ignored, waiting; delivered, returned by tracking).",
		}, []string{"carrier", "outcome"}),
		apiCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shipbridge_api_requests_total", Help: "HTTP requests to external APIs, by system, endpoint and status code (0: no response).",
		}, []string{"system", "method", "endpoint", "code"}),
		apiDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "shipbridge_api_request_duration_seconds", Help: "Duration of HTTP requests to external APIs.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30},
		}, []string{"system"}),
		rateLimitWaits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shipbridge_rate_limit_waits_total", Help: "Times a MoySklad request waited for the rate limiter.",
		}),
		rateLimitWaitS: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shipbridge_rate_limit_wait_seconds_total", Help: "Time spent waiting for the MoySklad rate limiter.",
		}),
		tracked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shipbridge_tracked_shipments_total", Help: "Shipments a carrier answered about in tracking passes, by carrier and parcel status.",
		}, []string{"carrier", "status"}),
		trackChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shipbridge_tracking_changes_total", Help: "Parcel status changes seen by tracking, by carrier and new status.",
		}, []string{"carrier", "status"}),
	}
	m.carrierHealthy = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "shipbridge_carrier_healthy",
		Help: "1 while the carrier accepts our requests; 0 after it refused our credentials or settings, or said our request quota is exhausted, until a shipment is registered or deleted with it again.",
	}, []string{"carrier"})
	m.carrierAuth = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shipbridge_carrier_auth_failures_total",
		Help: "Carrier calls refused because of our credentials or settings (the operator must act), by carrier.",
	}, []string{"carrier"})
	m.carrierQuota = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shipbridge_carrier_quota_exhausted_total",
		Help: "Carrier calls refused because the request quota or rate limit is exhausted, by carrier.",
	}, []string{"carrier"})
	m.msWriteHealthy = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "shipbridge_moysklad_write_healthy",
		Help: "1 while MoySklad accepts our write-backs; 0 after it refused a write for the token or its user's rights (401/403), until a write-back lands again.",
	})
	m.msWriteHealthy.Set(1)
	m.msWriteFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shipbridge_moysklad_write_failures_total",
		Help: "Write-backs to MoySklad that need the operator, by reason (access: 401/403, the token or its user's rights; stuck: an order's write-back keeps failing).",
	}, []string{"reason"})
	m.Registry.MustRegister(m.msWriteHealthy, m.msWriteFailures)
	m.trouble = map[string]CarrierProblem{}
	m.quotas = &quotaCollector{
		used: prometheus.NewDesc("shipbridge_carrier_quota_used",
			"Requests of the carrier's current quota period (Почта России: the day) already used, as the carrier last reported it.", []string{"carrier"}, nil),
		allowed: prometheus.NewDesc("shipbridge_carrier_quota_allowed",
			"Requests the carrier allows in its current quota period, as it last reported it.", []string{"carrier"}, nil),
		readers: map[string]QuotaReader{},
	}
	m.Registry.MustRegister(m.tracked, m.trackChanges, m.quotas)
	m.Registry.MustRegister(m.cycles, m.cycleDuration, m.lastSuccess, m.lastCycleFailed, m.orders, m.apiCalls, m.apiDuration,
		m.rateLimitWaits, m.rateLimitWaitS, m.carrierHealthy, m.carrierAuth, m.carrierQuota,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// CycleDone records a finished cycle.
func (m *Metrics) CycleDone(d time.Duration, err error) {
	m.cycleDuration.Observe(d.Seconds())
	if err != nil {
		m.cycles.WithLabelValues("error").Inc()
		m.lastCycleFailed.Set(1)
		return
	}
	m.cycles.WithLabelValues("ok").Inc()
	m.lastCycleFailed.Set(0)
	m.lastSuccess.Set(float64(time.Now().Unix()))
}

// OrderOutcome counts an order outcome.
func (m *Metrics) OrderOutcome(carrier, outcome string) {
	if carrier == "" {
		carrier = "none"
	}
	m.orders.WithLabelValues(carrier, outcome).Inc()
	if outcome == "registered" || outcome == "deleted" {
		// The carrier did what we asked: our credentials and quota work.
		m.carrierOK(carrier)
	}
}

// CarrierProblem is why a carrier is unhealthy.
type CarrierProblem struct {
	// Carrier is the carrier's key (cdek).
	Carrier string
	// Reason is "credentials" (the carrier refused our credentials or
	// settings) or "quota" (our request quota is exhausted).
	Reason string
	// Err is the carrier's error as the operator reads it (no secrets).
	Err string
	// Since is when the problem was first seen.
	Since time.Time
}

// String describes the problem for /healthz and the once command.
func (p CarrierProblem) String() string {
	what := "refuses our credentials or settings"
	if p.Reason == ReasonQuota {
		what = "says our request quota is exhausted"
	}
	return "carrier " + p.Carrier + " " + what + ": " + p.Err
}

// The reasons of a CarrierProblem.
const (
	ReasonCredentials = "credentials"
	ReasonQuota       = "quota"
)

// CarriersEnabled marks the given carriers healthy, so that
// shipbridge_carrier_healthy has a series for each from the start.
func (m *Metrics) CarriersEnabled(names ...string) {
	for _, n := range names {
		m.carrierHealthy.WithLabelValues(n).Set(1)
	}
}

// CarrierFailed hears of a carrier call that failed and left an order
// waiting. A refusal of our credentials or settings (carriers.KindConfig)
// or an exhausted quota makes the carrier unhealthy until one of its
// shipments is registered or deleted again; other failures (the carrier is
// down, a timeout) change nothing here: they are retried.
func (m *Metrics) CarrierFailed(carrier string, err error) {
	reason := TroubleReason(err)
	if reason == "" {
		return
	}
	if carrier == "" {
		carrier = "none"
	}
	if reason == ReasonQuota {
		m.carrierQuota.WithLabelValues(carrier).Inc()
	} else {
		m.carrierAuth.WithLabelValues(carrier).Inc()
	}
	m.carrierHealthy.WithLabelValues(carrier).Set(0)
	m.troubleMu.Lock()
	defer m.troubleMu.Unlock()
	p, had := m.trouble[carrier]
	if !had || p.Reason != reason {
		p = CarrierProblem{Carrier: carrier, Reason: reason, Since: time.Now()}
	}
	p.Err = err.Error()
	m.trouble[carrier] = p
}

func (m *Metrics) carrierOK(carrier string) {
	m.carrierHealthy.WithLabelValues(carrier).Set(1)
	m.troubleMu.Lock()
	delete(m.trouble, carrier)
	m.troubleMu.Unlock()
}

// CarrierProblems returns the unhealthy carriers, sorted by carrier.
func (m *Metrics) CarrierProblems() []CarrierProblem {
	m.troubleMu.Lock()
	defer m.troubleMu.Unlock()
	out := make([]CarrierProblem, 0, len(m.trouble))
	for _, p := range m.trouble {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Carrier < out[j].Carrier })
	return out
}

// TroubleReason tells whether a carrier failure needs the operator:
// ReasonCredentials for a carriers.KindConfig error (wrong client id or
// secret, access denied, a carrier switched off in the settings),
// ReasonQuota when the carrier said our request quota is spent
// (carriers.Error.QuotaExhausted: Почта России's daily limit), else "". A
// passing rate limit (HTTP 429) is an ordinary transient failure: the calls
// are retried and nothing is wrong with the installation.
func TroubleReason(err error) string {
	if err == nil {
		return ""
	}
	var ce *carriers.Error
	if !errors.As(err, &ce) {
		return ""
	}
	if ce.QuotaExhausted {
		return ReasonQuota
	}
	if ce.Kind == carriers.KindConfig {
		return ReasonCredentials
	}
	return ""
}

// MoySkladWriteFailed hears of a write-back that needs the operator
// (poller.WriteObserver): reason "access" makes MoySklad writes unhealthy
// until one lands again.
func (m *Metrics) MoySkladWriteFailed(reason string, err error) {
	m.msWriteFailures.WithLabelValues(reason).Inc()
	if reason != "access" {
		return
	}
	m.msWriteHealthy.Set(0)
	m.troubleMu.Lock()
	m.msDenied = err.Error()
	m.troubleMu.Unlock()
}

// MoySkladWriteOK hears of a write-back MoySklad applied.
func (m *Metrics) MoySkladWriteOK() {
	m.msWriteHealthy.Set(1)
	m.troubleMu.Lock()
	m.msDenied = ""
	m.troubleMu.Unlock()
}

// MoySkladWriteProblem describes MoySklad's refusal of our writes for the
// token or its user's rights, "" while writes are accepted.
func (m *Metrics) MoySkladWriteProblem() string {
	m.troubleMu.Lock()
	defer m.troubleMu.Unlock()
	if m.msDenied == "" {
		return ""
	}
	return "MoySklad refused the write: the token's user lacks the right to edit orders, or the token was revoked (МойСклад отказал в записи: нет прав на редактирование заказов или токен отозван): " + m.msDenied
}

// ShipmentTracked counts one shipment a tracking pass asked its carrier
// about, and its status change (poller.TrackingObserver).
func (m *Metrics) ShipmentTracked(carrier, status string, changed bool) {
	m.tracked.WithLabelValues(carrier, status).Inc()
	if changed {
		m.trackChanges.WithLabelValues(carrier, status).Inc()
	}
}

// API returns an observer of one external system's HTTP requests.
func (m *Metrics) API(system string) *APIObserver {
	return &APIObserver{m: m, system: system}
}

// APIObserver records the requests of one external system. It satisfies
// the observer interfaces of the MoySklad and CDEK clients.
type APIObserver struct {
	m      *Metrics
	system string
}

// ObserveRequest counts one HTTP attempt.
func (o *APIObserver) ObserveRequest(method, endpoint string, status int, d time.Duration, err error) {
	code := strconv.Itoa(status)
	if status == 0 && err != nil {
		code = "0"
	}
	_ = errors.Unwrap(err)
	o.m.apiCalls.WithLabelValues(o.system, method, endpoint, code).Inc()
	o.m.apiDuration.WithLabelValues(o.system).Observe(d.Seconds())
}

// ObserveRateLimitWait counts a wait for the rate limiter.
func (o *APIObserver) ObserveRateLimitWait(d time.Duration) {
	o.m.rateLimitWaits.Inc()
	o.m.rateLimitWaitS.Add(d.Seconds())
}

// QuotaReader returns a carrier's request quota as last read, without a
// remote call; ok is false while it is not known yet.
type QuotaReader func() (used, allowed int64, ok bool)

// WatchQuota exports the carrier's quota as shipbridge_carrier_quota_used
// and shipbridge_carrier_quota_allowed, read at each scrape (no series
// until read reports ok). A second call for the same carrier replaces the
// reader. The warning at 80 % is the carrier's to log (it knows when it
// read the quota); these gauges only expose it.
func (m *Metrics) WatchQuota(carrier string, read QuotaReader) {
	m.quotas.mu.Lock()
	defer m.quotas.mu.Unlock()
	m.quotas.readers[carrier] = read
}

// quotaCollector reads the watched quotas at scrape time.
type quotaCollector struct {
	used, allowed *prometheus.Desc

	mu      sync.Mutex
	readers map[string]QuotaReader
}

func (c *quotaCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.used
	ch <- c.allowed
}

func (c *quotaCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	readers := make(map[string]QuotaReader, len(c.readers))
	for k, v := range c.readers {
		readers[k] = v
	}
	c.mu.Unlock()
	for carrier, read := range readers {
		used, allowed, ok := read()
		if !ok {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.used, prometheus.GaugeValue, float64(used), carrier)
		ch <- prometheus.MustNewConstMetric(c.allowed, prometheus.GaugeValue, float64(allowed), carrier)
	}
}

// Metrics hears of write-backs that need the operator.
var _ poller.WriteObserver = (*Metrics)(nil)
