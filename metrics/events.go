package metrics

import "github.com/prometheus/client_golang/prometheus"

// StoreEvents counts the mailbox events a store posts to easgate (Dovecot's
// push_notification plugin, sources/imapdav's events endpoint). Its
// methods are safe on a nil *StoreEvents.
type StoreEvents struct {
	received *prometheus.CounterVec
	woken    prometheus.Counter
}

// NewStoreEvents creates the collectors and registers them with reg; a
// nil reg leaves them unregistered.
func NewStoreEvents(reg prometheus.Registerer) *StoreEvents {
	m := &StoreEvents{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "easgate_store_events_total",
			Help: "Mailbox event POSTs from the store, by outcome: ok (someone waits on the user's mail), unknown_user (nobody does: ignored), unauthorized, bad_request, method.",
		}, []string{"outcome"}),
		woken: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "easgate_store_event_wakes_total",
			Help: "Waiting Pings (one per watched folder) that store events woke.",
		}),
	}
	// Every outcome from the start, so that a rate over a missing series
	// does not hide an endpoint that never received anything.
	for _, o := range []string{"ok", "unknown_user", "unauthorized", "bad_request", "method"} {
		m.received.WithLabelValues(o)
	}
	if reg != nil {
		reg.MustRegister(m.received, m.woken)
	}
	return m
}

// Observe counts one POST with its outcome and the watchers it woke.
func (m *StoreEvents) Observe(outcome string, woken int) {
	if m == nil {
		return
	}
	m.received.WithLabelValues(outcome).Inc()
	m.woken.Add(float64(woken))
}
