package dav

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/easgate/easgate/sources"
)

// change is one entry of a collection's delta.
type change struct {
	href, etag string
	removed    bool
}

// A State is "s1?" and URL query parameters:
//
//	t  the position after the last page: a sync-token, or "ctag hash" for
//	   servers without sync-collection
//	b  while paging: the position the listing started from
//	f  while paging: the position the first page reached
//	c  while paging: the last href returned; the next page starts after it
//
// Paging is stateless: every page asks for the changes since b again (an
// ETag-only REPORT, cheap next to the multiget that follows), sorts them by
// href and continues after c. The last page hands out f, the position of
// the first page, rather than the newest: an item changed while the caller
// paged may sit before the cursor, and the next listing from f reports it.
// The cost is that items changed during paging can come once more. A small
// per-folder cache of the last listing saves the repeated REPORT while
// paging.
type state struct{ t, b, f, c string }

const statePrefix = "s1?"

func parseState(st sources.State) (state, error) {
	if st == "" {
		return state{}, nil
	}
	if !strings.HasPrefix(string(st), statePrefix) {
		return state{}, fmt.Errorf("%w: not a dav state", sources.ErrStateExpired)
	}
	v, err := url.ParseQuery(string(st[len(statePrefix):]))
	if err != nil {
		return state{}, fmt.Errorf("%w: %v", sources.ErrStateExpired, err)
	}
	return state{t: v.Get("t"), b: v.Get("b"), f: v.Get("f"), c: v.Get("c")}, nil
}

func (s state) encode() sources.State {
	v := url.Values{}
	for k, x := range map[string]string{"t": s.t, "b": s.b, "f": s.f, "c": s.c} {
		if x != "" {
			v.Set(k, x)
		}
	}
	if len(v) == 0 {
		v.Set("t", "") // the empty position still makes a non-empty State
	}
	return sources.State(statePrefix + v.Encode())
}

// pageCache keeps the last full listing of a folder while a caller pages
// through it.
type pageCache struct {
	from, to string
	changes  []change
}

// Changes implements the sources change feed for folder f.
func (s *Store) Changes(ctx context.Context, f sources.FolderID, since sources.State, max int) (sources.Delta, error) {
	c, err := s.collection(ctx, f)
	if err != nil {
		return sources.Delta{}, err
	}
	st, err := parseState(since)
	if err != nil {
		return sources.Delta{}, fmt.Errorf("dav: changes of %s since %q: %w", f, since, err)
	}
	from := st.t
	if st.c != "" {
		from = st.b
	}

	var ch []change
	var to string
	s.mu.Lock()
	pc, ok := s.pages[f]
	s.mu.Unlock()
	if st.c != "" && ok && pc.from == from && pc.to == st.f {
		ch, to = pc.changes, pc.to
	} else {
		ch, to, err = s.delta(ctx, c, from)
		if err != nil {
			return sources.Delta{}, fmt.Errorf("dav: changes of %s since %q: %w", f, since, err)
		}
		slices.SortFunc(ch, func(a, b change) int { return strings.Compare(a.href, b.href) })
		ch = slices.CompactFunc(ch, func(a, b change) bool { return a.href == b.href })
	}
	if st.c != "" {
		to = st.f
		i, _ := slices.BinarySearchFunc(ch, st.c, func(x change, h string) int { return strings.Compare(x.href, h) })
		for i < len(ch) && ch[i].href <= st.c {
			i++
		}
		ch = ch[i:]
	}

	var d sources.Delta
	page := ch
	if max > 0 && len(ch) > max {
		page = ch[:max]
		d.More = true
		d.Next = state{b: from, f: to, c: page[len(page)-1].href}.encode()
		s.mu.Lock()
		s.pages[f] = pageCache{from: from, to: to, changes: ch}
		s.mu.Unlock()
	} else {
		d.Next = state{t: to}.encode()
		s.mu.Lock()
		delete(s.pages, f)
		s.mu.Unlock()
	}
	for _, x := range page {
		id := sources.ItemID(path.Base(x.href))
		if x.removed {
			d.Removed = append(d.Removed, id)
		} else {
			d.Changed = append(d.Changed, id)
		}
	}
	return d, nil
}

// delta lists the changes of c since position from and the position
// after them.
func (s *Store) delta(ctx context.Context, c *collection, from string) ([]change, string, error) {
	if c.sync && !strings.HasPrefix(from, "ctag ") {
		var all []change
		tok := from
		for range 1000 {
			ch, next, truncated, err := s.syncCollection(ctx, c.path, tok)
			if err != nil {
				return nil, "", err
			}
			all = append(all, ch...)
			tok = next
			if !truncated {
				return all, tok, nil
			}
		}
		return nil, "", fmt.Errorf("sync-collection %s: still truncated after 1000 rounds", c.path)
	}
	if from != "" && !strings.HasPrefix(from, "ctag ") {
		return nil, "", fmt.Errorf("%w: a sync-token for a collection without sync-collection", sources.ErrStateExpired)
	}
	return s.etagDelta(ctx, c, from)
}

// snapshot is a collection's href -> ETag list at one position of the
// getctag fallback.
type snapshot map[string]string

// maxSnapshots bounds the fallback's memory: positions older than the
// last few per store expire.
const maxSnapshots = 64

// etagDelta is the fallback for servers without sync-collection. Its
// position is "ctag <getctag> <hash>", where hash sums the sorted href and
// ETag list. While the ctag is unchanged there is nothing to list (one
// Depth: 0 PROPFIND); otherwise a Depth: 1 PROPFIND of every ETag is diffed
// against the snapshot kept under hash. The snapshots live in memory, so
// after a restart these states expire and the device resyncs the folder.
func (s *Store) etagDelta(ctx context.Context, c *collection, from string) ([]change, string, error) {
	var oldCTag, oldHash string
	if from != "" {
		f := strings.Fields(from)
		if len(f) != 3 {
			return nil, "", fmt.Errorf("%w: bad position %q", sources.ErrStateExpired, from)
		}
		oldCTag, oldHash = f[1], f[2]
		ms, err := s.propfind(ctx, c.path, "0", `<cs:getctag/>`)
		if err != nil {
			return nil, "", err
		}
		for _, r := range ms.Responses {
			if p, ok := r.okProp(); ok && p.CTag != "" && p.CTag == oldCTag {
				return nil, from, nil
			}
		}
	}
	ms, err := s.propfind(ctx, c.path, "1", `<cs:getctag/><d:getetag/><d:resourcetype/>`)
	if err != nil {
		return nil, "", err
	}
	now := snapshot{}
	var ctag string
	for _, r := range ms.Responses {
		p, ok := r.okProp()
		if !ok {
			continue
		}
		h := r.href()
		if sameDir(h, c.path) {
			ctag = p.CTag
			continue
		}
		if p.ETag != "" {
			now[h] = p.ETag
		}
	}
	if ctag == "" {
		ctag = "-"
	}
	hrefs := slices.Sorted(func(yield func(string) bool) {
		for h := range now {
			if !yield(h) {
				return
			}
		}
	})
	sum := sha256.New()
	for _, h := range hrefs {
		fmt.Fprintf(sum, "%s\x00%s\n", h, now[h])
	}
	hash := base64.RawURLEncoding.EncodeToString(sum.Sum(nil)[:12])

	s.mu.Lock()
	old, ok := s.snaps[c.path+" "+oldHash]
	if !ok && from != "" {
		s.mu.Unlock()
		return nil, "", fmt.Errorf("%w: ETag snapshot %s is gone", sources.ErrStateExpired, oldHash)
	}
	if len(s.snaps) >= maxSnapshots {
		for k := range s.snaps { // drop an arbitrary one
			delete(s.snaps, k)
			break
		}
	}
	s.snaps[c.path+" "+hash] = now
	s.mu.Unlock()

	var ch []change
	for _, h := range hrefs {
		if old[h] != now[h] {
			ch = append(ch, change{href: h, etag: now[h]})
		}
	}
	for h := range old {
		if _, ok := now[h]; !ok {
			ch = append(ch, change{href: h, removed: true})
		}
	}
	return ch, "ctag " + ctag + " " + hash, nil
}

// State returns folder f's current State without listing its items, for
// sources.PollWatcher and callers that only need a starting point.
func (s *Store) State(ctx context.Context, f sources.FolderID) (sources.State, error) {
	c, err := s.collection(ctx, f)
	if err != nil {
		return "", err
	}
	if c.sync {
		ms, err := s.propfind(ctx, c.path, "0", `<d:sync-token/>`)
		if err == nil {
			for _, r := range ms.Responses {
				if p, ok := r.okProp(); ok && p.SyncToken != "" {
					return state{t: p.SyncToken}.encode(), nil
				}
			}
		}
	}
	// Without a token property, list everything once.
	var st sources.State
	for {
		d, err := s.Changes(ctx, f, st, 0)
		if err != nil {
			return "", err
		}
		if st = d.Next; !d.More {
			return st, nil
		}
	}
}

func isNotFound(err error) bool { return errors.Is(err, sources.ErrNotFound) }
