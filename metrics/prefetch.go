package metrics

import "github.com/prometheus/client_golang/prometheus"

// PrefetchCounts are the JMAP store's counts of first-Sync windows fetched
// ahead (sources/jmap's PrefetchStats), read at every scrape: the windows
// held now, and those started, served, dropped unused and failed.
type PrefetchCounts struct {
	Held                             int64
	Started, Served, Dropped, Failed int64
}

// RegisterPrefetch registers collectors that report read's counts with
// reg; a nil reg does nothing.
func RegisterPrefetch(reg prometheus.Registerer, read func() PrefetchCounts) {
	if reg == nil {
		return
	}
	counter := func(name, help string, v func(PrefetchCounts) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v(read())) })
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "easgate_jmap_prefetch_windows",
			Help: "Windows of first Syncs fetched ahead from the JMAP store and held now, fetched or on their way ([jmap] prefetch_windows per user at most).",
		}, func() float64 { return float64(read().Held) }),
		counter("easgate_jmap_prefetch_started_total", "Windows of first Syncs fetched ahead from the JMAP store.",
			func(c PrefetchCounts) int64 { return c.Started }),
		counter("easgate_jmap_prefetch_served_total", "Windows fetched ahead that a phone's next Sync was served from.",
			func(c PrefetchCounts) int64 { return c.Served }),
		counter("easgate_jmap_prefetch_dropped_total", "Windows fetched ahead and dropped unused: held past [jmap] prefetch_ttl, pushed out by a newer listing's, or holding mail changed since.",
			func(c PrefetchCounts) int64 { return c.Dropped }),
		counter("easgate_jmap_prefetch_failed_total", "Windows whose fetch ahead failed (the phone's Sync then fetched them itself).",
			func(c PrefetchCounts) int64 { return c.Failed }),
	)
}
