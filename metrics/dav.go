package metrics

import "github.com/prometheus/client_golang/prometheus"

// DAVPollCounts are a DAV change poller's counts (sources/imapdav/dav's
// HubStats), read at every scrape: the pollers running now (one per user
// with a waiting device), and the checks sent, those that found a change,
// those that failed and those the per-user bound held back.
type DAVPollCounts struct {
	Pollers                          int
	Checks, Changes, Errors, Delayed int64
}

// RegisterDAVPolls registers collectors that report read's counts with
// reg; a nil reg does nothing.
func RegisterDAVPolls(reg prometheus.Registerer, read func() DAVPollCounts) {
	if reg == nil {
		return
	}
	counter := func(name, help string, v func(DAVPollCounts) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v(read())) })
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "easgate_dav_pollers",
			Help: "Users whose CalDAV/CardDAV collections are being polled for a waiting device (one poller per user, shared by the user's devices).",
		}, func() float64 { return float64(read().Pollers) }),
		counter("easgate_dav_checks_total", "Change checks sent to the CalDAV/CardDAV server (a Depth 0 PROPFIND each).",
			func(c DAVPollCounts) int64 { return c.Checks }),
		counter("easgate_dav_check_changes_total", "Change checks that found a collection changed or gone, waking its waiters.",
			func(c DAVPollCounts) int64 { return c.Changes }),
		counter("easgate_dav_check_errors_total", "Change checks that failed (server down, refused, no answer in 30 s).",
			func(c DAVPollCounts) int64 { return c.Errors }),
		counter("easgate_dav_checks_delayed_total", "Change checks held back by [dav] polls_per_minute.",
			func(c DAVPollCounts) int64 { return c.Delayed }),
	)
}
