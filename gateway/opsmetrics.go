package gateway

import (
	"context"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/metrics"
)

// pendingWipesEvery is how often easgate_wipes_pending reads the device
// state; scrapes in between get the last count.
const pendingWipesEvery = 30 * time.Second

// instrument connects what New was given to the metrics: store calls
// (storemetrics.go), device state transactions and pending wipes.
func (s *Server) instrument() {
	s.backend = measureBackend(s.backend, s.metrics)
	if s.state != nil {
		s.state.Observe(s.metrics.StateOperation)
		metrics.RegisterPendingWipes(s.reg, s.state.PendingWipes, pendingWipesEvery)
	}
}

// countWait counts fn's run in easgate_waiting_requests under cmd's name.
func (s *Server) countWait(cmd eas.Command, fn waitFunc) waitFunc {
	return func(ctx context.Context) (any, error) {
		defer s.metrics.Waiting(cmd.String())()
		return fn(ctx)
	}
}
