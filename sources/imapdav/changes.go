package imapdav

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/easgate/easgate/sources"
)

// Changes implements sources.Source; see mailState for the state.
func (s *Source) Changes(ctx context.Context, f sources.FolderID, since sources.State, max int) (sources.Delta, error) {
	if isDAV(f) {
		d, err := s.davStore(f)
		if err != nil {
			return sources.Delta{}, err
		}
		return d.Changes(ctx, f, since, max)
	}
	st := &mailState{}
	if since != "" {
		var err error
		if st, err = parseState(since); err != nil {
			return sources.Delta{}, err
		}
	}
	var d sources.Delta
	if since != "" && st.Key == "" && !s.noCondStore {
		// A CONDSTORE state: STATUS, on a connection that never
		// selects, tells whether anything changed, and while a listing
		// pages through an unchanged mailbox it serves the next page
		// from what the first one fetched.
		qd, ok, err := s.quickChanges(ctx, string(f), since, st, max)
		if err != nil {
			return sources.Delta{}, fmt.Errorf("imapdav: changes of %q since %q: %w", f, since, err)
		}
		if ok {
			return qd, nil
		}
	}
	err := s.with(ctx, func(c *conn) (err error) {
		if c.has(imap.CapCondStore) && st.Key == "" && !s.noCondStore {
			d, err = s.modChanges(c, string(f), since, st, max)
		} else {
			d, err = s.flagChanges(c, string(f), since, st, max)
		}
		return err
	})
	if err != nil {
		return sources.Delta{}, fmt.Errorf("imapdav: changes of %q since %q: %w", f, since, err)
	}
	return d, nil
}

// State implements sources.Stater: the state after every current message.
func (s *Source) State(ctx context.Context, f sources.FolderID) (sources.State, error) {
	if isDAV(f) {
		if _, err := s.davStore(f); err != nil {
			return "", err
		}
		if st, ok := s.dav.(sources.Stater); ok {
			return st.State(ctx, f)
		}
	}
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

// counters are what STATUS and SELECT tell of a mailbox. While they stay
// the same, so do the mailbox's messages and flags: every flag change and
// expunge raises HIGHESTMODSEQ, every new message UIDNEXT.
type counters struct {
	validity uint32
	highest  uint64
	next     imap.UID
	num      uint32
}

func selectCounters(sel *imap.SelectData) counters {
	return counters{sel.UIDValidity, sel.HighestModSeq, sel.UIDNext, sel.NumMessages}
}

// quickChanges answers Changes of a CONDSTORE state after one STATUS on
// the status connection, without selecting: ok is false when that is not
// enough and modChanges must run. Its cost does not grow with the
// mailbox.
func (s *Source) quickChanges(ctx context.Context, f string, since sources.State, st *mailState, limit int) (d sources.Delta, ok bool, err error) {
	if pc, ok := s.trustedPage(f, st); ok {
		return pageDelta(pc.cnt, st, pc.after(st), pc.top, pc.present, limit), true, nil
	}
	sd, err := s.pool.status(ctx, f, &imap.StatusOptions{
		UIDValidity: true, UIDNext: true, NumMessages: true, HighestModSeq: true,
	})
	var ie *imap.Error
	if errors.As(err, &ie) && !errors.Is(err, sources.ErrNotFound) {
		return sources.Delta{}, false, nil // let the selecting path tell
	}
	if err != nil {
		return sources.Delta{}, false, err
	}
	if sd.UIDValidity != st.UIDValidity {
		return sources.Delta{}, false, fmt.Errorf("uidvalidity %d is now %d: %w", st.UIDValidity, sd.UIDValidity, sources.ErrStateExpired)
	}
	if sd.NumMessages == nil {
		return sources.Delta{}, false, nil
	}
	now := counters{sd.UIDValidity, sd.HighestModSeq, sd.UIDNext, *sd.NumMessages}
	s.saw(f, now)
	if st.UIDNext != 0 && now.highest == st.ModSeq && now.next == st.UIDNext && now.num == st.Messages {
		return sources.Delta{Next: since}, true, nil
	}
	pc, ok := s.pageFor(f, now, st)
	if !ok {
		return sources.Delta{}, false, nil
	}
	s.mu.Lock()
	pc.checked = time.Now()
	s.mu.Unlock()
	return pageDelta(now, st, pc.after(st), pc.top, pc.present, limit), true, nil
}

// modChanges is Changes on a CONDSTORE server, from a SELECT.
func (s *Source) modChanges(c *conn, f string, since sources.State, st *mailState, limit int) (sources.Delta, error) {
	sel, err := c.selectBox(f)
	if err != nil {
		return sources.Delta{}, err
	}
	if since != "" && sel.UIDValidity != st.UIDValidity {
		return sources.Delta{}, fmt.Errorf("uidvalidity %d is now %d: %w", st.UIDValidity, sel.UIDValidity, sources.ErrStateExpired)
	}
	cnt := selectCounters(sel)
	s.saw(f, cnt)
	if pc, ok := s.pageFor(f, cnt, st); ok {
		return pageDelta(cnt, st, pc.after(st), pc.top, pc.present, limit), nil
	}

	// New and changed messages: those past the state's (modseq, uid). A
	// listing in pages asks for the same folder again and again: while
	// the folder is unchanged, the candidates fetched for an earlier page
	// serve the later ones, so a 5,000-message listing in pages of 100
	// fetches the folder's flags once, not 50 times.
	var cands []mod
	var top uint64
	if sel.NumMessages > 0 {
		fo := &imap.FetchOptions{UID: true, Flags: true, ModSeq: true, ChangedSince: st.ModSeq}
		if st.UID != 0 {
			fo.ChangedSince = st.ModSeq - 1
		}
		msgs, err := c.c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, fo).Collect()
		if err != nil {
			return sources.Delta{}, wrap(err, "fetch changes")
		}
		for _, m := range msgs {
			top = max(top, m.ModSeq)
			if slices.Contains(m.Flags, imap.FlagDeleted) ||
				m.ModSeq < st.ModSeq || m.ModSeq == st.ModSeq && (st.UID == 0 || m.UID <= st.UID) {
				continue
			}
			cands = append(cands, mod{m.UID, m.ModSeq})
		}
	}
	slices.SortFunc(cands, func(a, b mod) int {
		return cmp.Or(cmp.Compare(a.modseq, b.modseq), cmp.Compare(a.uid, b.uid))
	})

	// Expunged messages, and those marked \Deleted: known UIDs that an
	// UNDELETED search of the whole mailbox no longer finds. The search
	// is kept with the candidates, so that the later pages of a listing
	// check their expunges without asking the server again: asking per
	// page made a listing cost O(mailbox²) in the server.
	present := imap.UIDSet{}
	if sel.NumMessages > 0 {
		if present, err = c.search(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagDeleted}}); err != nil {
			return sources.Delta{}, err
		}
	}
	s.keepPage(f, cnt, st, cands, top, present)
	return pageDelta(cnt, st, cands, top, present, limit), nil
}

// pageDelta is the page of at most limit changes after st (limit 0: all)
// of a mailbox with counters cnt, whose candidates are cands (the
// messages changed past st's cursor, sorted by (modseq, uid)), top their
// highest modseq, and present the UIDs of its undeleted messages.
func pageDelta(cnt counters, st *mailState, cands []mod, top uint64, present imap.UIDSet, limit int) sources.Delta {
	removed := missing(st.UIDs, present)
	next := mailState{UIDValidity: cnt.validity, ModSeq: st.ModSeq, UID: st.UID}
	nr, nc := len(removed), len(cands)
	more := limit > 0 && nr+nc > limit
	if more {
		nr = min(nr, limit)
		nc = limit - nr
	}
	d := sources.Delta{More: more}
	for _, u := range removed[:nr] {
		d.Removed = append(d.Removed, itemID(u))
	}
	var added []imap.UID
	for _, m := range cands[:nc] {
		d.Changed = append(d.Changed, itemID(m.uid))
		added = append(added, m.uid)
		next.ModSeq, next.UID = m.modseq, m.uid
	}
	next.UIDs = st.UIDs
	if nr > 0 {
		next.UIDs = subtract(st.UIDs, setOf(removed[:nr]))
	}
	if len(added) > 0 {
		next.UIDs = slices.Clone(next.UIDs)
		next.UIDs.AddNum(added...)
	}
	if !more {
		// Everything up to the mailbox's HIGHESTMODSEQ is reported. The
		// counters enable the fast path unless a change slipped in
		// between SELECT and FETCH.
		next.ModSeq, next.UID = max(cnt.highest, top, next.ModSeq), 0
		if top <= cnt.highest {
			next.UIDNext, next.Messages = cnt.next, cnt.num
		}
	}
	d.Next = next.encode()
	return d
}

// missing returns the UIDs of known that are not in present, in
// ascending order, walking both sets' ranges: O(ranges), not O(UIDs),
// where few messages are gone.
func missing(known, present imap.UIDSet) []imap.UID {
	k, p := ranges(known), ranges(present)
	var out []imap.UID
	j := 0
	for _, r := range k {
		// uint64, so that stepping past the largest UID ends the loops
		u, stop := uint64(r.Start), uint64(r.Stop)
		for u <= stop {
			for j < len(p) && uint64(p[j].Stop) < u {
				j++
			}
			if j < len(p) && uint64(p[j].Start) <= u {
				u = uint64(p[j].Stop) + 1 // present up to there
				continue
			}
			end := stop
			if j < len(p) {
				end = min(end, uint64(p[j].Start)-1)
			}
			for ; u <= end; u++ {
				out = append(out, imap.UID(u))
			}
		}
	}
	return out
}

// ranges returns s's ranges sorted and merged, without "*".
func ranges(s imap.UIDSet) []imap.UIDRange {
	out := make([]imap.UIDRange, 0, len(s))
	for _, r := range s {
		lo, hi := r.Start, r.Stop
		if lo == 0 || hi == 0 {
			continue
		}
		out = append(out, imap.UIDRange{Start: min(lo, hi), Stop: max(lo, hi)})
	}
	slices.SortFunc(out, func(a, b imap.UIDRange) int { return cmp.Compare(a.Start, b.Start) })
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 && uint64(r.Start) <= uint64(merged[n-1].Stop)+1 {
			merged[n-1].Stop = max(merged[n-1].Stop, r.Stop)
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

// search runs UID SEARCH, with ESEARCH where the server has it so that the
// answer is a compact set rather than a list of every UID.
func (c *conn) search(crit *imap.SearchCriteria) (imap.UIDSet, error) {
	var o *imap.SearchOptions
	if c.has(imap.CapESearch) {
		o = &imap.SearchOptions{ReturnAll: true}
	}
	sd, err := c.c.UIDSearch(crit, o).Wait()
	if err != nil {
		return nil, wrap(err, "uid search")
	}
	if sd.All == nil {
		return imap.UIDSet{}, nil
	}
	set, _ := sd.All.(imap.UIDSet)
	return set, nil
}

// subtract returns a minus b.
func subtract(a, b imap.UIDSet) imap.UIDSet {
	if len(b) == 0 {
		return a
	}
	var keep []imap.UID
	for _, u := range uidList(a) {
		if !b.Contains(u) {
			keep = append(keep, u)
		}
	}
	return setOf(keep)
}

func itemID(u imap.UID) sources.ItemID { return sources.ItemID(strconv.FormatUint(uint64(u), 10)) }

func parseUID(id sources.ItemID) (imap.UID, error) {
	n, err := strconv.ParseUint(string(id), 10, 32)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("imapdav: item id %q: %w", id, sources.ErrNotFound)
	}
	return imap.UID(n), nil
}

// keepSnapshots is how many flag snapshots a Source keeps for servers
// without CONDSTORE.
const keepSnapshots = 64

// snapshot is what a caller knows of a mailbox without CONDSTORE: each
// UID with a hash of its flags.
type snapshot map[imap.UID]uint64

func (sn snapshot) key() string {
	uids := make([]imap.UID, 0, len(sn))
	for u := range sn {
		uids = append(uids, u)
	}
	slices.Sort(uids)
	h := sha256.New()
	var b [12]byte
	for _, u := range uids {
		binary.BigEndian.PutUint32(b[:4], uint32(u))
		binary.BigEndian.PutUint64(b[4:], sn[u])
		h.Write(b[:])
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// flagHash hashes a message's flags, leaving out \Recent, which the
// server drops once a session has seen it.
func flagHash(flags []imap.Flag) uint64 {
	l := make([]string, 0, len(flags))
	for _, f := range flags {
		if !strings.EqualFold(string(f), `\Recent`) {
			l = append(l, strings.ToLower(string(f)))
		}
	}
	slices.Sort(l)
	h := sha256.Sum256([]byte(strings.Join(l, " ")))
	return binary.BigEndian.Uint64(h[:8])
}

// flagChanges is Changes on a server without CONDSTORE: one UID FETCH of
// every message's flags, diffed against a snapshot the Source keeps.
func (s *Source) flagChanges(c *conn, f string, since sources.State, st *mailState, limit int) (sources.Delta, error) {
	var old snapshot
	if since != "" {
		s.mu.Lock()
		old = s.snaps[st.Key]
		s.mu.Unlock()
		if old == nil {
			return sources.Delta{}, fmt.Errorf("flag snapshot %s is gone: %w", st.Key, sources.ErrStateExpired)
		}
	}
	sel, err := c.selectBox(f)
	if err != nil {
		return sources.Delta{}, err
	}
	if since != "" && sel.UIDValidity != st.UIDValidity {
		return sources.Delta{}, fmt.Errorf("uidvalidity %d is now %d: %w", st.UIDValidity, sel.UIDValidity, sources.ErrStateExpired)
	}
	cur := make(snapshot)
	if sel.NumMessages > 0 {
		msgs, err := c.c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
		if err != nil {
			return sources.Delta{}, wrap(err, "fetch flags")
		}
		for _, m := range msgs {
			if !slices.Contains(m.Flags, imap.FlagDeleted) {
				cur[m.UID] = flagHash(m.Flags)
			}
		}
	}
	var removed, changed []imap.UID
	for u := range old {
		if _, ok := cur[u]; !ok {
			removed = append(removed, u)
		}
	}
	for u, h := range cur {
		if oh, ok := old[u]; !ok || oh != h {
			changed = append(changed, u)
		}
	}
	slices.Sort(removed)
	slices.Sort(changed)
	d := sources.Delta{}
	if limit > 0 && len(removed)+len(changed) > limit {
		d.More = true
		removed = removed[:min(len(removed), limit)]
		changed = changed[:limit-len(removed)]
	}
	next := make(snapshot, len(cur))
	for u, h := range old {
		next[u] = h
	}
	for _, u := range removed {
		delete(next, u)
		d.Removed = append(d.Removed, itemID(u))
	}
	for _, u := range changed {
		next[u] = cur[u]
		d.Changed = append(d.Changed, itemID(u))
	}
	key := next.key()
	s.mu.Lock()
	if s.snaps == nil || len(s.snaps) >= keepSnapshots {
		s.snaps = make(map[string]snapshot)
	}
	s.snaps[key] = next
	s.mu.Unlock()
	d.Next = (&mailState{UIDValidity: sel.UIDValidity, Key: key}).encode()
	return d, nil
}

// mod is a candidate change: a message and its modseq.
type mod struct {
	uid    imap.UID
	modseq uint64
}

// defaultPageTrust is Options.PageTrust's default: at most one STATUS a
// second while a phone pages through a folder.
const defaultPageTrust = time.Second

// pageCache is what a folder's last listing from a SELECT learnt: its
// candidates and undeleted UIDs, reused by the next page while the
// folder's counters show no change. A Source keeps one.
type pageCache struct {
	folder     string
	checked    time.Time // when the server last showed cnt current
	cnt        counters
	fromModSeq uint64 // the cursor it was fetched from
	fromUID    imap.UID
	cands      []mod // sorted by (modseq, uid)
	top        uint64
	present    imap.UIDSet
}

// after returns the candidates past st's cursor, as the fetch would.
func (pc *pageCache) after(st *mailState) []mod {
	i, _ := slices.BinarySearchFunc(pc.cands, st, func(m mod, st *mailState) int {
		if m.modseq != st.ModSeq {
			return cmp.Compare(m.modseq, st.ModSeq)
		}
		if st.UID == 0 || m.uid <= st.UID {
			return -1 // at or before the cursor
		}
		return 1
	})
	return pc.cands[i:]
}

// pageFor returns the cached candidates of folder f when they still
// describe it (same counters) and cover st's cursor.
func (s *Source) pageFor(f string, cnt counters, st *mailState) (*pageCache, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pc := s.page
	if pc == nil || pc.folder != f || pc.cnt != cnt {
		return nil, false
	}
	// st's cursor must not be before the one the candidates were
	// fetched from; UID 0 stands after every UID of its modseq.
	if st.ModSeq < pc.fromModSeq || st.ModSeq == pc.fromModSeq && st.UID != 0 && (pc.fromUID == 0 || st.UID < pc.fromUID) {
		return nil, false
	}
	return pc, true
}

// trustedPage returns the cached candidates of folder f for a listing
// in progress (st's cursor is inside the candidates, UID not 0) when the
// server showed them current within Options.PageTrust.
func (s *Source) trustedPage(f string, st *mailState) (*pageCache, bool) {
	if st.UID == 0 {
		return nil, false
	}
	s.mu.Lock()
	pc := s.page
	s.mu.Unlock()
	if pc == nil || pc.folder != f || pc.cnt.validity != st.UIDValidity {
		return nil, false
	}
	pc, ok := s.pageFor(f, pc.cnt, st)
	if !ok {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return pc, time.Since(pc.checked) < s.trust
}

// keepPage remembers the candidates fetched for st's cursor.
func (s *Source) keepPage(f string, cnt counters, st *mailState, cands []mod, top uint64, present imap.UIDSet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.page = &pageCache{folder: f, checked: time.Now(), cnt: cnt, fromModSeq: st.ModSeq, fromUID: st.UID, cands: cands, top: top, present: present}
}
