package gateway

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/easgate/easgate/statecache"
)

// This file is the home of what the gateway remembers per account in
// memory between requests. What a phone's next request depends on is not
// here but in the state, which several nodes may share: each device's last
// Sync and Ping (for empty ones) and its recent SendMail ClientIds
// (statecache.RememberRequest, Submit). What stays is either a cache that
// any node may miss, or tied to this process. Every such map is bounded:
//
//   - each user's folder list is an accountCache: at most
//     Limits.MaxAccounts entries, the least recently used forgotten first,
//     and any entry unused for Limits.AccountIdle forgotten. A forgotten
//     (or another node's) folder list is read from the store again;
//   - the account locks and the waiting requests hold an entry only while
//     a request holds or waits for it, so they are bounded by the requests
//     in flight, and an entry in use is never dropped. With several nodes,
//     an account lock is also taken in the shared state (AccountLocker),
//     and a waiting request is reached from other nodes by signals
//     (signals.go).

// accountCache is a map bounded in size and idle time: at most max
// entries, each forgotten after idle without use, the least recently used
// going first when the map is full. Expired entries are dropped as the
// cache is used, so it needs no goroutine.
type accountCache[K comparable, V any] struct {
	max  int
	idle time.Duration
	now  func() time.Time

	mu sync.Mutex
	m  map[K]*list.Element
	ll list.List // of *cacheEntry[K, V], most recently used first
}

type cacheEntry[K comparable, V any] struct {
	key  K
	val  V
	used time.Time
}

// newAccountCache returns an accountCache of at most max entries (at least
// one), each kept for idle after its last use.
func newAccountCache[K comparable, V any](n int, idle time.Duration, now func() time.Time) *accountCache[K, V] {
	return &accountCache[K, V]{max: max(n, 1), idle: idle, now: now, m: make(map[K]*list.Element)}
}

// get returns k's value and marks it used.
func (c *accountCache[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.expire(now)
	el := c.m[k]
	if el == nil {
		var zero V
		return zero, false
	}
	e := el.Value.(*cacheEntry[K, V])
	e.used = now
	c.ll.MoveToFront(el)
	return e.val, true
}

// put sets k's value, making room by forgetting the least recently used
// entry when the cache is full.
func (c *accountCache[K, V]) put(k K, v V) {
	c.update(k, func(V, bool) (V, bool) { return v, true })
}

// update sets k's value to what f returns given the current one, in one
// step; f's false deletes k.
func (c *accountCache[K, V]) update(k K, f func(old V, ok bool) (V, bool)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.expire(now)
	el := c.m[k]
	var old V
	if el != nil {
		old = el.Value.(*cacheEntry[K, V]).val
	}
	v, keep := f(old, el != nil)
	switch {
	case !keep && el != nil:
		c.ll.Remove(el)
		delete(c.m, k)
	case keep && el != nil:
		e := el.Value.(*cacheEntry[K, V])
		e.val, e.used = v, now
		c.ll.MoveToFront(el)
	case keep:
		for c.ll.Len() >= c.max {
			c.removeOldest()
		}
		c.m[k] = c.ll.PushFront(&cacheEntry[K, V]{key: k, val: v, used: now})
	}
}

// removeIf forgets every entry for which f reports true.
func (c *accountCache[K, V]) removeIf(f func(K, V) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, el := range c.m {
		if f(k, el.Value.(*cacheEntry[K, V]).val) {
			c.ll.Remove(el)
			delete(c.m, k)
		}
	}
}

// len returns the number of entries.
func (c *accountCache[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

// expire drops the entries unused since before now-idle. They sit at the
// back of the list.
func (c *accountCache[K, V]) expire(now time.Time) {
	for el := c.ll.Back(); el != nil && now.Sub(el.Value.(*cacheEntry[K, V]).used) > c.idle; el = c.ll.Back() {
		c.removeOldest()
	}
}

func (c *accountCache[K, V]) removeOldest() {
	el := c.ll.Back()
	c.ll.Remove(el)
	delete(c.m, el.Value.(*cacheEntry[K, V]).key)
}

// accounts holds the gateway's per-account memory, each part bounded as
// the file comment says. Server embeds it.
type accounts struct {
	folders   folderCache // each user's folder list (sync.go)
	syncLocks accountLocks
	waiters   waiters
}

type folderCache struct {
	*accountCache[string, *cachedFolders]
}

func newAccounts(l Limits, now func() time.Time) *accounts {
	return &accounts{
		folders: folderCache{newAccountCache[string, *cachedFolders](l.MaxAccounts, l.AccountIdle, now)},
	}
}

// accountLocks serialises work per account. An entry lives while someone
// holds or waits for its lock, so the map holds no more entries than
// requests in flight, and a held lock is never forgotten.
type accountLocks struct {
	mu sync.Mutex
	m  map[statecache.Account]*accountLock
}

type accountLock struct {
	mu    sync.Mutex
	users int // holders and waiters: the entry goes when none is left
}

// lock locks a's mutex and returns its unlock.
func (l *accountLocks) lock(a statecache.Account) (unlock func()) {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[statecache.Account]*accountLock)
	}
	al := l.m[a]
	if al == nil {
		al = &accountLock{}
		l.m[a] = al
	}
	al.users++
	l.mu.Unlock()
	al.mu.Lock()
	var once sync.Once
	return func() {
		once.Do(func() {
			al.mu.Unlock()
			l.mu.Lock()
			if al.users--; al.users == 0 {
				delete(l.m, a)
			}
			l.mu.Unlock()
		})
	}
}

// len returns the number of accounts whose lock is held or awaited.
func (l *accountLocks) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// waiters holds the one waiting request (a Ping or a hanging Sync) of each
// account, so that a new request from the device ends the old wait at once
// and no phone ever holds two. An entry lives as long as its wait.
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
func (ws *waiters) end(a statecache.Account) { ws.endCause(a, errSuperseded) }

// endWhere ends with cause every waiting request whose account match
// reports true.
func (ws *waiters) endWhere(match func(statecache.Account) bool, cause error) {
	ws.mu.Lock()
	var ended []*waiter
	for a, w := range ws.m {
		if match(a) {
			ended = append(ended, w)
			delete(ws.m, a)
		}
	}
	ws.mu.Unlock()
	for _, w := range ended {
		w.cancel(cause)
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
