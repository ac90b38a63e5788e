package graph

import (
	"cmp"
	"slices"
	"sync/atomic"
	"time"
)

// Observer is told of the Graph traffic, for metrics: by tenant only, so
// that a metric has a series per tenant and not per user (the mailboxes
// are counted by Mailboxes instead). Its methods must be quick and safe
// for concurrent use; metrics.Graph implements it.
type Observer interface {
	GraphRequest(tenant string, status int)     // an answer (0: none)
	GraphThrottled(tenant string)               // a 429, or a 503 with Retry-After
	GraphWaited(tenant string, d time.Duration) // a Retry-After waited out in a request
}

// SetObserver makes o see the Backend's traffic from now on.
func (b *Backend) SetObserver(o Observer) { b.c.observer.Store(&o) }

// SetObserver makes o see every tenant's traffic.
func (t *Tenants) SetObserver(o Observer) {
	for _, b := range t.list {
		b.SetObserver(o)
	}
}

func (c *client) observe() Observer {
	if p := c.observer.Load(); p != nil {
		return *p
	}
	return nil
}

func (c *client) observeRequest(l *limiter, status int) {
	l.requests.Add(1)
	if o := c.observe(); o != nil {
		o.GraphRequest(c.o.Tenant, status)
	}
}

func (c *client) observeThrottled(l *limiter) {
	l.throttled.Add(1)
	if o := c.observe(); o != nil {
		o.GraphThrottled(c.o.Tenant)
	}
}

func (c *client) observeWait(l *limiter, d time.Duration) {
	l.waited.Add(int64(d))
	if o := c.observe(); o != nil {
		o.GraphWaited(c.o.Tenant, d)
	}
}

// limiterStats are the counters of one mailbox's limiter.
type limiterStats struct {
	requests, throttled, waited atomic.Int64
}

// MailboxStats is one mailbox's Graph traffic since easgate started.
type MailboxStats struct {
	Tenant    string        `json:"tenant"`
	Mailbox   string        `json:"mailbox"` // the UPN, or the object id of a mailbox no longer in memory
	Requests  int64         `json:"requests"`
	Throttled int64         `json:"throttled"`
	Waited    time.Duration `json:"waited_ns"`
}

// Mailboxes returns the n mailboxes most throttled, then with the most
// requests: where a throttling storm comes from, without a metric series
// per user.
func (b *Backend) Mailboxes(n int) []MailboxStats {
	upn := make(map[string]string)
	b.mu.Lock()
	for id, s := range b.sources {
		upn[id] = s.upn
	}
	b.mu.Unlock()
	var out []MailboxStats
	b.c.boxMu.Lock()
	for id, l := range b.c.boxes {
		name := upn[id]
		if name == "" {
			name = id
		}
		out = append(out, MailboxStats{Tenant: b.o.Tenant, Mailbox: name, Requests: l.requests.Load(),
			Throttled: l.throttled.Load(), Waited: time.Duration(l.waited.Load())})
	}
	b.c.boxMu.Unlock()
	return top(out, n)
}

// Mailboxes returns the n busiest mailboxes of all tenants.
func (t *Tenants) Mailboxes(n int) []MailboxStats {
	var out []MailboxStats
	for _, b := range t.list {
		out = append(out, b.Mailboxes(n)...)
	}
	return top(out, n)
}

func top(list []MailboxStats, n int) []MailboxStats {
	slices.SortFunc(list, func(a, b MailboxStats) int {
		if c := cmp.Compare(b.Throttled, a.Throttled); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Requests, a.Requests); c != 0 {
			return c
		}
		return cmp.Compare(a.Mailbox, b.Mailbox)
	})
	if n > 0 && len(list) > n {
		list = list[:n]
	}
	return list
}
