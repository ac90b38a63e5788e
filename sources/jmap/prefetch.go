package jmap

import (
	"context"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	gojmap "git.sr.ht/~rockorager/go-jmap"

	"github.com/easgate/easgate/sources"
)

// A phone's first Sync runs window after window, each a Changes served
// from the listing's segment and a Get of its ids. Without more, Cyrus
// sits idle while easgate encodes a window and the phone asks for the
// next, and easgate sits idle while Cyrus answers the Get: two cores, one
// busy at a time, 1,450–1,480 mails a second (issue 14). So when Get has
// served the ids up to a listing's frontier, it fetches the next window's
// ids, which the segment already holds, in the background, with the same
// options, and each such fetch done asks for the window after it while
// fewer than Options.PrefetchWindows are held, so that Cyrus need not
// wait for easgate to decode its answer; the listing's next Gets take
// them.
//
// Serving mail fetched a moment earlier loses no change: the listing
// ends in the Email state taken when it began, before any of its
// fetches, so the next Changes reports every mail changed or gone since,
// fetched ahead or not. No Get may be served a fetch older than the
// state its caller has: a fetched window is taken only by the Get that
// follows the Changes handing out its ids (claim) in a listing that
// began in the same Email state (one that began later, after a change,
// does not take it), and a delta that reports some of its mail (another
// phone's) drops it.

// Defaults of Options.PrefetchWindows, PrefetchBytes and PrefetchTTL.
const (
	defaultPrefetchWindows = 2
	defaultPrefetchBytes   = 4 << 20
	defaultPrefetchTTL     = 30 * time.Second
)

// perMailBytes is what a fetched mail is reckoned to hold besides its
// bodies: addresses, subject, ids, attachments' names.
const perMailBytes = 2 << 10

// fetchKey is what of GetOptions decides what Email/get asks; the rest
// (MIME) applies when the mail is turned into an Item.
type fetchKey struct {
	text, html bool
	limit      int64
}

func keyOf(o *sources.GetOptions) fetchKey {
	return fetchKey{text: o.Text, html: o.HTML, limit: o.BodyLimit}
}

// estimate is what a window of n mails fetched with k may hold at most,
// or -1 if its bodies are not cut and so unbounded.
func (k fetchKey) estimate(n int) int64 {
	var bodies int64
	if k.text {
		bodies++
	}
	if k.html {
		bodies++
	}
	if bodies > 0 && k.limit <= 0 {
		return -1
	}
	return int64(n) * (perMailBytes + bodies*k.limit)
}

// fetched are the mails of a fetch in a folder, by id. A mail asked for
// and absent was gone or in another folder by then.
type fetched map[sources.ItemID]*wireEmail

// size reckons what m holds: its bodies and perMailBytes for the rest.
func (m fetched) size() int {
	n := 0
	for _, e := range m {
		n += perMailBytes
		for _, v := range e.BodyValues {
			n += len(v.Value)
		}
	}
	return n
}

// ahead is one window fetched, or being fetched, in the background.
type ahead struct {
	folder  sources.FolderID
	key     fetchKey
	ids     map[sources.ItemID]bool // asked for
	first   sources.ItemID
	last    sources.ItemID
	e       string // the Email state the listing began in
	claimed bool   // the listing's Changes handed ids out from first on

	cancel context.CancelFunc
	timer  *time.Timer
	done   chan struct{} // closed when mails and err are set
	mails  fetched
	err    error
}

// prefetches are one user's windows fetched ahead: at most
// Options.PrefetchWindows, each of Options.PrefetchBytes at most, each
// dropped (and its fetch cancelled) Options.PrefetchTTL after it began
// if no Get took it.
type prefetches struct {
	mu    sync.Mutex
	list  []*ahead
	wg    sync.WaitGroup  // fetches running, for tests
	stats *prefetchCounts // the Backend's, shared by its users
}

// PrefetchStats are a Backend's counts of windows fetched ahead, for
// metrics: those held now (fetched or on their way), and since the start
// those started, those a Get served, those dropped unused (expired,
// pushed out by a newer listing's, or holding mail changed since) and
// those whose fetch failed.
type PrefetchStats struct {
	Held                             int64
	Started, Served, Dropped, Failed int64
}

// prefetchCounts are PrefetchStats as they are counted.
type prefetchCounts struct {
	held, started, served, dropped, failed atomic.Int64
}

// gone counts n windows leaving a user's list: unused, or (failed) because
// their fetch failed.
func (c *prefetchCounts) gone(n int, failed bool) {
	if c == nil || n == 0 {
		return
	}
	c.held.Add(-int64(n))
	if failed {
		c.failed.Add(int64(n))
	} else {
		c.dropped.Add(int64(n))
	}
}

// taken counts a window a Get took: served, or failed if its fetch did.
func (c *prefetchCounts) taken(failed bool) {
	if c == nil {
		return
	}
	c.held.Add(-1)
	if failed {
		c.failed.Add(1)
	} else {
		c.served.Add(1)
	}
}

// PrefetchStats returns the counts of windows fetched ahead by every
// user of b.
func (b *Backend) PrefetchStats() PrefetchStats { return b.prefetched.snapshot() }

func (c *prefetchCounts) snapshot() PrefetchStats {
	return PrefetchStats{Held: c.held.Load(), Started: c.started.Load(), Served: c.served.Load(),
		Dropped: c.dropped.Load(), Failed: c.failed.Load()}
}

// claim marks the window that begins at id in f, of a listing that
// began in Email state e, as the one the listing's next Get asks for.
func (p *prefetches) claim(f sources.FolderID, id sources.ItemID, e string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range p.list {
		if a.folder == f && a.first == id && a.e == e {
			a.claimed = true
		}
	}
}

// take removes and returns the claimed window of f fetched with k that
// holds some of ids, if there is one.
func (p *prefetches) take(f sources.FolderID, k fetchKey, ids []sources.ItemID) *ahead {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, a := range p.list {
		if a.folder != f || a.key != k || !a.claimed || !a.ids[ids[0]] && !a.ids[ids[len(ids)-1]] {
			continue
		}
		p.list = slices.Delete(p.list, i, i+1)
		a.timer.Stop()
		return a
	}
	return nil
}

// lastOf returns the last id of the window of f that begins at id, if
// one is held or on its way.
func (p *prefetches) lastOf(f sources.FolderID, id sources.ItemID) (sources.ItemID, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range p.list {
		if a.folder == f && a.first == id {
			return a.last, true
		}
	}
	return "", false
}

// put adds a, unless the same window is held, dropping the oldest
// window past max if evict is set or else giving up, and drops a after
// ttl unless a Get took it. It reports whether a was added.
func (p *prefetches) put(a *ahead, max int, evict bool, ttl time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, o := range p.list {
		if o.folder == a.folder && o.first == a.first {
			return false
		}
	}
	if len(p.list) >= max {
		if !evict {
			return false
		}
		p.list[0].cancel()
		p.list[0].timer.Stop()
		p.list = slices.Delete(p.list, 0, 1)
		p.stats.gone(1, false)
	}
	p.list = append(p.list, a)
	if p.stats != nil {
		p.stats.held.Add(1)
		p.stats.started.Add(1)
	}
	a.timer = time.AfterFunc(ttl, func() { p.drop(a, false) })
	return true
}

// drop removes a and cancels its fetch, if it is still held; failed
// tells its fetch failed, for the counts.
func (p *prefetches) drop(a *ahead, failed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, o := range p.list {
		if o == a {
			p.list = slices.Delete(p.list, i, i+1)
			a.timer.Stop()
			p.stats.gone(1, failed)
			break
		}
	}
	a.cancel()
}

// forget drops the windows holding any of ids: mail a delta reports as
// changed or gone since they may have been fetched.
func (p *prefetches) forget(ids []gojmap.ID) {
	p.mu.Lock()
	var gone []*ahead
	kept := p.list[:0]
	for _, a := range p.list {
		hit := false
		for _, id := range ids {
			if a.ids[sources.ItemID(id)] {
				hit = true
				break
			}
		}
		if hit {
			gone = append(gone, a)
		} else {
			kept = append(kept, a)
		}
	}
	clear(p.list[len(kept):])
	p.list = kept
	p.stats.gone(len(gone), false)
	p.mu.Unlock()
	for _, a := range gone {
		a.timer.Stop()
		a.cancel()
	}
}

// held is how many windows are held, for tests.
func (p *prefetches) held() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.list)
}

// prefetch starts fetching, in the background, the window of listing
// ids that follows last in folder f, if a listing segment holds it and
// its size is bounded. A Get asks for the window after its own (and
// makes room for it: the oldest window held is of a listing that
// stopped); a fetch done asks for the next one while fewer than
// PrefetchWindows are held, so that the store goes on without waiting
// for easgate to decode what it sent: chain is then the Email state of
// its listing.
func (s *Source) prefetch(f sources.FolderID, last sources.ItemID, o *sources.GetOptions, chain string) {
	if s.opts.PrefetchWindows <= 0 {
		return
	}
	// Past the windows of the listing already held or on their way.
	evict := chain == ""
	next, e := s.lists.following(f, gojmap.ID(last), chain)
	for i := 0; ; i++ {
		if len(next) == 0 || i == s.opts.PrefetchWindows {
			return
		}
		l, ok := s.ahead.lastOf(f, sources.ItemID(next[0]))
		if !ok {
			break
		}
		evict = false // room is not made at the expense of its own
		next, _ = s.lists.following(f, gojmap.ID(l), e)
	}
	k := keyOf(o)
	if est := k.estimate(len(next)); est < 0 || est > int64(s.opts.PrefetchBytes) {
		return
	}
	ids := make([]sources.ItemID, len(next))
	a := &ahead{folder: f, key: k, ids: make(map[sources.ItemID]bool, len(next)), first: sources.ItemID(next[0]), last: sources.ItemID(next[len(next)-1]), e: e, done: make(chan struct{})}
	for i, id := range next {
		ids[i] = sources.ItemID(id)
		a.ids[ids[i]] = true
	}
	// The fetch is no request's: it lives no longer than the window is
	// held, so that a phone gone mid-listing leaves nothing running.
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.PrefetchTTL)
	a.cancel = cancel
	if !s.ahead.put(a, s.opts.PrefetchWindows, evict, s.opts.PrefetchTTL) {
		cancel()
		return
	}
	s.ahead.wg.Go(func() {
		defer close(a.done)
		defer cancel()
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("jmap: prefetch panic", "panic", r, "stack", string(debug.Stack()))
				a.mails, a.err = nil, fmt.Errorf("jmap: prefetch panic: %v", r)
			}
		}()
		m, err := s.fetch(ctx, f, ids, o)
		if err == nil && m.size() > s.opts.PrefetchBytes {
			m, err = nil, fmt.Errorf("jmap: prefetched window over %d bytes: %w", s.opts.PrefetchBytes, sources.ErrTooLarge)
		}
		a.mails, a.err = m, err
		if err != nil {
			s.ahead.drop(a, true)
			return
		}
		s.prefetch(f, ids[len(ids)-1], o, e)
	})
}
