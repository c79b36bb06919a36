// Package metrics holds shipbridge's Prometheus metrics. A Metrics value is
// built once where the program is wired and handed to the poller and the
// API clients as their observer; nothing is registered globally.
package metrics

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
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
	tracked         *prometheus.CounterVec
	trackChanges    *prometheus.CounterVec
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
	m.Registry.MustRegister(m.tracked, m.trackChanges)
	m.Registry.MustRegister(m.cycles, m.cycleDuration, m.lastSuccess, m.lastCycleFailed, m.orders, m.apiCalls, m.apiDuration,
		m.rateLimitWaits, m.rateLimitWaitS,
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
