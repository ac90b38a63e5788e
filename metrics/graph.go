package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Graph counts the Microsoft Graph store's traffic by tenant (a handful,
// from the configuration): never by mailbox, which would make a series
// per user; the busiest mailboxes are listed at /debug/graph/mailboxes
// instead. Its methods are safe on a nil *Graph.
type Graph struct {
	requests  *prometheus.CounterVec
	throttled *prometheus.CounterVec
	waits     *prometheus.HistogramVec
}

// NewGraph creates the collectors and registers them with reg; a nil reg
// leaves them unregistered.
func NewGraph(reg prometheus.Registerer) *Graph {
	m := &Graph{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "easgate_graph_requests_total",
			Help: "HTTP requests to Microsoft Graph (upload session fragments included), by tenant and HTTP status (0: no answer); a $batch counts once.",
		}, []string{"tenant", "code"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "easgate_graph_throttled_total",
			Help: "Answers of Graph that asked easgate to slow down (429, or 503 with Retry-After, inner $batch 429s included), by tenant.",
		}, []string{"tenant"}),
		waits: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "easgate_graph_retry_wait_seconds",
			Help:    "Time a request waited out a Retry-After before it was sent again, by tenant; longer waits are not made in the phone's request, which is told to come back.",
			Buckets: []float64{0.1, 0.5, 1, 2, 5, 10, 30, 60},
		}, []string{"tenant"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.throttled, m.waits)
	}
	return m
}

// GraphRequest counts one answer of status (0 for none).
func (m *Graph) GraphRequest(tenant string, status int) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(tenant, strconv.Itoa(status)).Inc()
}

// GraphThrottled counts one request to slow down.
func (m *Graph) GraphThrottled(tenant string) {
	if m == nil {
		return
	}
	m.throttled.WithLabelValues(tenant).Inc()
}

// GraphWaited records a wait for Retry-After.
func (m *Graph) GraphWaited(tenant string, d time.Duration) {
	if m == nil {
		return
	}
	m.waits.WithLabelValues(tenant).Observe(d.Seconds())
}
