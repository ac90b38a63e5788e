package metrics

import "github.com/prometheus/client_golang/prometheus"

// ops holds the collectors operators alert on beside the request counts:
// Autodiscover, waits, push latency, the store, the state cache, items and
// wipes.
type ops struct {
	autodiscover *prometheus.CounterVec
}

func newOps() *ops {
	return &ops{
		autodiscover: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "easgate_autodiscover_requests_total",
			Help: "Autodiscover requests answered, by protocol version (v1 XML, v2 JSON) and outcome.",
		}, []string{"version", "outcome"}),
	}
}

func (o *ops) collectors() []prometheus.Collector {
	return []prometheus.Collector{o.autodiscover}
}

// Autodiscover counts one Autodiscover answer: version "v1" or "v2",
// outcome a short word such as "settings", "redirect" or "unauthorized".
func (m *Metrics) Autodiscover(version, outcome string) {
	if m == nil {
		return
	}
	m.ops.autodiscover.WithLabelValues(version, outcome).Inc()
}
