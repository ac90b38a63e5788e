// Package metrics holds easgate's Prometheus collectors. Every method is safe
// on a nil *Metrics, so that code under test can run without a registry.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts requests by command and outcome.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
	ops      *ops // ops.go
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
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.inFlight)
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
