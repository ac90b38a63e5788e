package gateway

import (
	"context"
	"sync"

	"github.com/easgate/easgate/statecache"
)

// waiters holds the one waiting request (a Ping or a hanging Sync) of each
// account, so that a new request from the device ends the old wait at once
// and no phone ever holds two.
type waiters struct {
	mu sync.Mutex
	m  map[statecache.Account]*waiter
}

type waiter struct {
	cancel context.CancelCauseFunc
}

// enter registers a waiting request of a, whose context cancel ends it,
// and ends the one a had. leave unregisters it; call it when the wait ends.
func (ws *waiters) enter(a statecache.Account, cancel context.CancelCauseFunc) (leave func()) {
	w := &waiter{cancel: cancel}
	ws.mu.Lock()
	if ws.m == nil {
		ws.m = make(map[statecache.Account]*waiter)
	}
	old := ws.m[a]
	ws.m[a] = w
	ws.mu.Unlock()
	if old != nil {
		old.cancel(errSuperseded)
	}
	return func() {
		ws.mu.Lock()
		if ws.m[a] == w {
			delete(ws.m, a)
		}
		ws.mu.Unlock()
	}
}

// end ends a's waiting request, if it has one.
func (ws *waiters) end(a statecache.Account) {
	ws.mu.Lock()
	old := ws.m[a]
	delete(ws.m, a)
	ws.mu.Unlock()
	if old != nil {
		old.cancel(errSuperseded)
	}
}

// count returns the number of waiting requests.
func (ws *waiters) count() int {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return len(ws.m)
}

// errSuperseded is the cause of a wait ended by a newer request.
var errSuperseded = supersededError{}

type supersededError struct{}

func (supersededError) Error() string {
	return "gateway: superseded by a newer request from the device"
}
