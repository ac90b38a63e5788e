package gateway

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultDecodeBudget is Options.DecodeBudget when zero: twice the default
// body limit, so that one largest body always fits beside others.
const DefaultDecodeBudget = 2 * DefaultMaxBodySize

// decodeRetryAfter is the Retry-After of a request refused for the decode
// budget: bodies decode in milliseconds, so the budget frees up soon.
const decodeRetryAfter = 5 * time.Second

// decodeBudget bounds the bytes of request bodies being read and decoded
// at once, across all requests, so that many clients sending large bodies
// together cannot multiply what one may make the server allocate: the
// decoder allocates at most a stated multiple of the bytes it has read
// (eas.DecoderOptions.MaxAllocPerByte, docs/OPERATIONS.md), and a body's
// bytes count from when they are read until its decode ends. A request
// that would pass the budget is answered 503 with Retry-After.
type decodeBudget struct {
	max     int64
	used    atomic.Int64
	refused prometheus.Counter
}

// newDecodeBudget returns the budget of Options.DecodeBudget max, which
// must hold a body of maxBody, and registers its metrics.
func newDecodeBudget(max, maxBody int64, reg prometheus.Registerer) (*decodeBudget, error) {
	switch {
	case max == 0:
		max = DefaultDecodeBudget
		if maxBody > max {
			max = maxBody
		}
	case max < maxBody:
		return nil, fmt.Errorf("gateway: decode budget: %d is less than the max body size %d", max, maxBody)
	}
	b := &decodeBudget{max: max, refused: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "easgate_decode_budget_refused_total",
		Help: "Requests answered 503 because the bodies being decoded at once had reached the decode budget.",
	})}
	reg.MustRegister(b.refused, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "easgate_decode_budget_bytes",
		Help: "Bytes of request bodies being decoded now, of the decode budget.",
	}, func() float64 { return float64(b.used.Load()) }))
	return b, nil
}

// take reserves n bytes, or reports false when they would pass the budget.
func (b *decodeBudget) take(n int64) bool {
	if b.used.Add(n) > b.max {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *decodeBudget) release(n int64) { b.used.Add(-n) }

// errOverBudget is the error of a body read past the decode budget.
var errOverBudget = errors.New("gateway: request bodies being decoded have reached the decode budget")

// budgetReader reads a body, holding each byte it returns in the budget
// until release: the bytes a client has not sent yet cost nothing, so a
// slow client holds only what it sent.
type budgetReader struct {
	r    io.Reader
	b    *decodeBudget
	held int64
	err  error // errOverBudget once refused
}

func (br *budgetReader) Read(p []byte) (int, error) {
	if br.err != nil {
		return 0, br.err
	}
	// Counted once read, not reserved ahead: a body alone never passes
	// the budget, which is at least MaxBodySize, and the overshoot of a
	// refused read is at most one buffer.
	n, err := br.r.Read(p)
	if n > 0 && !br.b.take(int64(n)) {
		br.b.refused.Inc()
		br.err = errOverBudget
		return 0, br.err
	}
	br.held += int64(n)
	return n, err
}

// release gives back what the body holds; its decode has ended.
func (br *budgetReader) release() {
	br.b.release(br.held)
	br.held = 0
}

// refuseOverBudget answers a request refused for the decode budget. The
// rest of its body is not read: the connection closes.
func refuseOverBudget(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(int(decodeRetryAfter/time.Second)))
	w.Header().Set(throttleHeader, outOfBudgets) // as for the other 503s of overload (overload.go)
	w.Header().Set("Connection", "close")
	w.WriteHeader(http.StatusServiceUnavailable)
}
