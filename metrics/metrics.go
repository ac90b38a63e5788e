// Package metrics holds easgate's Prometheus collectors. Every method is safe
// on a nil *Metrics, so that code under test can run without a registry.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts requests by command and outcome, logins, throttling and
// connections.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
	ops      *ops // ops.go

	loginFailures *prometheus.CounterVec
	loginCached   prometheus.Counter
	throttled     *prometheus.CounterVec
	connsOpen     prometheus.Gauge
	connsRefused  *prometheus.CounterVec
}

// New creates the collectors and registers them with reg. A nil reg leaves
// them unregistered (still counting, but never exported).
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "easgate_requests_total",
			Help: "EAS requests answered, by command and HTTP status.",
		}, []string{"command", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "easgate_request_duration_seconds",
			Help: "Time to answer an EAS request, by command.",
			// Ping and Sync hang for up to the heartbeat (MS-ASCMD allows 59
			// minutes), so the buckets reach far past the default 10 s.
			Buckets: []float64{.005, .025, .1, .5, 2, 10, 60, 300, 900, 1800, 3600},
		}, []string{"command"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "easgate_requests_in_flight",
			Help: "EAS requests being answered now.",
		}),
		ops: newOps(),
		loginFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "easgate_login_failures_total",
			Help: "Logins refused, by reason: no_credentials, password, store_unavailable.",
		}, []string{"reason"}),
		loginCached: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "easgate_login_cache_hits_total",
			Help: "Logins answered from the cache of recent successful logins, without asking the store.",
		}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "easgate_throttled_requests_total",
			Help: "Requests held back, by reason: login_user_address, login_address, login_user, requests, device_requests, loop.",
		}, []string{"reason"}),
		connsOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "easgate_connections_open",
			Help: "Client connections open on the EAS listener, parked Pings included.",
		}),
		connsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "easgate_connections_refused_total",
			Help: "Client connections closed at once because a cap was reached, by cap: total, address.",
		}, []string{"cap"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.inFlight, m.loginFailures, m.loginCached, m.throttled,
			m.connsOpen, m.connsRefused)
		reg.MustRegister(m.ops.collectors()...)
	}
	return m
}

// Start counts a request in flight; call the returned function once it is
// answered, with the command name ("" when unknown) and the HTTP status.
func (m *Metrics) Start() (done func(command string, httpStatus int)) {
	if m == nil {
		return func(string, int) {}
	}
	start := time.Now()
	m.inFlight.Inc()
	return func(command string, httpStatus int) {
		m.inFlight.Dec()
		if command == "" {
			command = "unknown"
		}
		m.requests.WithLabelValues(command, strconv.Itoa(httpStatus)).Inc()
		m.duration.WithLabelValues(command).Observe(time.Since(start).Seconds())
	}
}

// LoginFailed counts a refused login.
func (m *Metrics) LoginFailed(reason string) {
	if m != nil {
		m.loginFailures.WithLabelValues(reason).Inc()
	}
}

// LoginCached counts a login answered from the cache.
func (m *Metrics) LoginCached() {
	if m != nil {
		m.loginCached.Inc()
	}
}

// Throttled counts a request held back for reason.
func (m *Metrics) Throttled(reason string) {
	if m != nil {
		m.throttled.WithLabelValues(reason).Inc()
	}
}

// ConnOpened and ConnClosed count the open client connections.
func (m *Metrics) ConnOpened() {
	if m != nil {
		m.connsOpen.Inc()
	}
}

// ConnClosed counts a client connection closed; see ConnOpened.
func (m *Metrics) ConnClosed() {
	if m != nil {
		m.connsOpen.Dec()
	}
}

// ConnRefused counts a connection closed at once because cap was reached.
func (m *Metrics) ConnRefused(cap string) {
	if m != nil {
		m.connsRefused.WithLabelValues(cap).Inc()
	}
}
