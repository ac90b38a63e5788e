package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ops holds the collectors operators alert on beside the request counts:
// Autodiscover, waits, push latency, the store, the state cache, items,
// wipes and the build. None has a per-user or per-device label: their
// number of series is fixed by the code, not by the users.
type ops struct {
	autodiscover *prometheus.CounterVec
	waiting      *prometheus.GaugeVec
	pushWake     prometheus.Histogram
	storeCalls   *prometheus.CounterVec
	storeDur     *prometheus.HistogramVec
	stateDur     *prometheus.HistogramVec
	items        *prometheus.CounterVec
	wipes        *prometheus.CounterVec
	signals      *prometheus.CounterVec
	build        *prometheus.GaugeVec
}

// storeBuckets reach from a cached answer to a slow store (a big initial
// FolderSync, a search on IMAP): 1 ms to 60 s.
var storeBuckets = []float64{.001, .005, .025, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

func newOps() *ops {
	o := &ops{
		autodiscover: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "easgate_autodiscover_requests_total",
			Help: "Autodiscover requests answered, by protocol version (v1 XML, v2 JSON) and outcome.",
		}, []string{"version", "outcome"}),
		waiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "easgate_waiting_requests",
			Help: "Requests waiting for changes now: Pings and hanging Syncs, by command.",
		}, []string{"command"}),
		pushWake: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "easgate_push_wake_seconds",
			Help: "Time from easgate learning of a store change (Watch returning) to the Ping answer that reports it.",
			// The team's floors are tens of milliseconds; seconds mean a
			// slow store comparison.
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		storeCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "easgate_store_calls_total",
			Help: "Calls into the store adapter, by adapter, operation and outcome (ok, not_found, state_expired, conflict, unsupported, too_large, auth, temporary, canceled, error).",
		}, []string{"adapter", "operation", "outcome"}),
		storeDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "easgate_store_call_duration_seconds",
			Help:    "Duration of calls into the store adapter, by adapter and operation; Watch, which blocks until a change, is not timed.",
			Buckets: storeBuckets,
		}, []string{"adapter", "operation"}),
		stateDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "easgate_statecache_operation_duration_seconds",
			Help: "Duration of device state transactions, by kind (read, write).",
			// Badger answers reads in microseconds; a write waits for its
			// fsync.
			Buckets: []float64{.0001, .0005, .001, .0025, .005, .01, .025, .05, .1, .5, 1},
		}, []string{"operation"}),
		items: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "easgate_items_total",
			Help: "Items carried by Sync, by class (Email, Contacts, Calendar, Tasks, Notes) and direction (to_device: adds, changes and deletes sent; from_device: those received).",
		}, []string{"class", "direction"}),
		wipes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "easgate_wipes_total",
			Help: "Remote wipes by event: sent (a device was told to wipe) and done (a device acknowledged it).",
		}, []string{"event"}),
		signals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "easgate_signals_total",
			Help: "Signals between the nodes that share one state store (a device's new request, an administrator's action), by event: published, publish_error, received, lost (the bus connection broke; this node's waits were ended).",
		}, []string{"event"}),
		build: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "easgate_build_info",
			Help: "Always 1; the labels say what easgate binary runs.",
		}, []string{"version", "revision", "modified", "goversion"}),
	}
	b := ReadBuild()
	o.build.WithLabelValues(b.Version, b.Revision, b.modified(), b.GoVersion).Set(1)
	return o
}

func (o *ops) collectors() []prometheus.Collector {
	return []prometheus.Collector{o.autodiscover, o.waiting, o.pushWake, o.storeCalls, o.storeDur,
		o.stateDur, o.items, o.wipes, o.signals, o.build}
}

// Autodiscover counts one Autodiscover answer: version "v1" or "v2",
// outcome a short word such as "settings", "redirect" or "unauthorized".
func (m *Metrics) Autodiscover(version, outcome string) {
	if m == nil {
		return
	}
	m.ops.autodiscover.WithLabelValues(version, outcome).Inc()
}

// Waiting counts a request of command ("Ping", "Sync") as waiting for
// changes; call the returned function when the wait ends.
func (m *Metrics) Waiting(command string) (done func()) {
	if m == nil {
		return func() {}
	}
	g := m.ops.waiting.WithLabelValues(command)
	g.Inc()
	return g.Dec
}

// PushWake observes the time from a store change reaching easgate to the
// Ping answer about it.
func (m *Metrics) PushWake(d time.Duration) {
	if m == nil {
		return
	}
	m.ops.pushWake.Observe(d.Seconds())
}

// StoreCall counts a call into a store adapter and, when timed, observes
// its duration d; outcome is one of the words of
// easgate_store_calls_total's help.
func (m *Metrics) StoreCall(adapter, operation, outcome string, d time.Duration, timed bool) {
	if m == nil {
		return
	}
	m.ops.storeCalls.WithLabelValues(adapter, operation, outcome).Inc()
	if timed {
		m.ops.storeDur.WithLabelValues(adapter, operation).Observe(d.Seconds())
	}
}

// StateOperation observes one device state transaction: op "read" or
// "write".
func (m *Metrics) StateOperation(op string, d time.Duration) {
	if m == nil {
		return
	}
	m.ops.stateDur.WithLabelValues(op).Observe(d.Seconds())
}

// Items counts n items of class synced in direction "to_device" or
// "from_device".
func (m *Metrics) Items(class, direction string, n int) {
	if m == nil || n <= 0 {
		return
	}
	if class == "" {
		class = "unknown"
	}
	m.ops.items.WithLabelValues(class, direction).Add(float64(n))
}

// Wipe counts a wipe event: "sent" or "done".
func (m *Metrics) Wipe(event string) {
	if m == nil {
		return
	}
	m.ops.wipes.WithLabelValues(event).Inc()
}

// CountSignal counts a signal between nodes by event: "published",
// "publish_error", "received" or "lost".
func (m *Metrics) CountSignal(event string) {
	if m == nil {
		return
	}
	m.ops.signals.WithLabelValues(event).Inc()
}

// RegisterPendingWipes exports easgate_wipes_pending, the wipes requested
// and not yet acknowledged, from count. count reads the whole device state,
// so a scrape asks it at most once per every and otherwise repeats the last
// answer; a failed count keeps the last value.
func RegisterPendingWipes(reg prometheus.Registerer, count func(context.Context) (int, error), every time.Duration) {
	if reg == nil {
		return
	}
	var (
		mu   sync.Mutex
		last float64
		at   time.Time
	)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "easgate_wipes_pending",
		Help: "Remote wipes requested and not yet acknowledged by their device.",
	}, func() float64 {
		mu.Lock()
		defer mu.Unlock()
		if !at.IsZero() && time.Since(at) < every {
			return last
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if n, err := count(ctx); err == nil {
			last = float64(n)
		}
		at = time.Now()
		return last
	}))
}
