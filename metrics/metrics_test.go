package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	done := m.Start()
	if got := testutil.ToFloat64(m.inFlight); got != 1 {
		t.Errorf("in flight during a request = %v, want 1", got)
	}
	done("Sync", 200)
	m.Start()("", 400)
	want := `
# HELP easgate_requests_total EAS requests answered, by command and HTTP status.
# TYPE easgate_requests_total counter
easgate_requests_total{command="Sync",status="200"} 1
easgate_requests_total{command="unknown",status="400"} 1
# HELP easgate_requests_in_flight EAS requests being answered now.
# TYPE easgate_requests_in_flight gauge
easgate_requests_in_flight 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "easgate_requests_total", "easgate_requests_in_flight"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "easgate_request_duration_seconds"); err != nil || n != 2 {
		t.Errorf("duration series = %d, %v; want 2", n, err)
	}
}

func TestNil(t *testing.T) {
	var m *Metrics
	m.Start()("Sync", 200) // must not panic
	if n := testutil.CollectAndCount(New(nil).requests); n != 0 {
		t.Errorf("unregistered Metrics has %d series before use, want 0", n)
	}
}
