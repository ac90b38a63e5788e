package imapdav

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

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

// modChanges is Changes on a CONDSTORE server.
func (s *Source) modChanges(c *conn, f string, since sources.State, st *mailState, limit int) (sources.Delta, error) {
	if st.UIDNext != 0 {
		// The fast path: one STATUS tells whether anything happened.
		sd, err := c.status(f, &imap.StatusOptions{
			UIDValidity: true, UIDNext: true, NumMessages: true, HighestModSeq: true,
		})
		if err != nil {
			return sources.Delta{}, err
		}
		if sd.UIDValidity != st.UIDValidity {
			return sources.Delta{}, fmt.Errorf("uidvalidity %d is now %d: %w", st.UIDValidity, sd.UIDValidity, sources.ErrStateExpired)
		}
		if sd.HighestModSeq == st.ModSeq && sd.UIDNext == st.UIDNext && sd.NumMessages != nil && *sd.NumMessages == st.Messages {
			return sources.Delta{Next: since}, nil
		}
	}
	sel, err := c.selectBox(f)
	if err != nil {
		return sources.Delta{}, err
	}
	if since != "" && sel.UIDValidity != st.UIDValidity {
		return sources.Delta{}, fmt.Errorf("uidvalidity %d is now %d: %w", st.UIDValidity, sel.UIDValidity, sources.ErrStateExpired)
	}

	// New and changed messages: those past the state's (modseq, uid). A
	// listing in pages asks for the same folder again and again: while
	// the folder is unchanged, the candidates fetched for an earlier page
	// serve the later ones, so a 5,000-message listing in pages of 100
	// fetches the folder's flags once, not 50 times.
	var cands []mod
	var top uint64
	if pc, ok := s.pageFor(f, sel, st); ok {
		cands, top = pc.after(st), pc.top
	} else if sel.NumMessages > 0 {
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
	s.keepPage(f, sel, st, cands, top)

	// Expunged messages, and those marked \Deleted: known UIDs that an
	// UNDELETED search no longer finds.
	var removed []imap.UID
	if len(st.UIDs) > 0 {
		cur, err := c.search(&imap.SearchCriteria{UID: []imap.UIDSet{st.UIDs}, NotFlag: []imap.Flag{imap.FlagDeleted}})
		if err != nil {
			return sources.Delta{}, err
		}
		for _, u := range uidList(st.UIDs) {
			if !cur.Contains(u) {
				removed = append(removed, u)
			}
		}
	}

	next := mailState{UIDValidity: sel.UIDValidity, ModSeq: st.ModSeq, UID: st.UID}
	nr, nc := len(removed), len(cands)
	more := limit > 0 && nr+nc > limit
	if more {
		nr = min(nr, limit)
		nc = limit - nr
	}
	d := sources.Delta{More: more}
	known := slices.Clone(st.UIDs)
	for _, u := range removed[:nr] {
		d.Removed = append(d.Removed, itemID(u))
	}
	gone := setOf(removed[:nr])
	var added []imap.UID
	for _, m := range cands[:nc] {
		d.Changed = append(d.Changed, itemID(m.uid))
		added = append(added, m.uid)
		next.ModSeq, next.UID = m.modseq, m.uid
	}
	next.UIDs = subtract(known, gone)
	if len(added) > 0 {
		next.UIDs.AddNum(added...)
	}
	if !more {
		// Everything up to the mailbox's HIGHESTMODSEQ is reported. The
		// counters enable the fast path unless a change slipped in
		// between SELECT and FETCH.
		next.ModSeq, next.UID = max(sel.HighestModSeq, top, next.ModSeq), 0
		if top <= sel.HighestModSeq {
			next.UIDNext, next.Messages = sel.UIDNext, sel.NumMessages
		}
	}
	d.Next = next.encode()
	return d, nil
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

// pageCache is the candidate list of a folder's last Changes, reused by the
// next page while the folder's counters show no change.
type pageCache struct {
	folder              string
	validity, next, num uint32
	highest             uint64
	fromModSeq          uint64 // the cursor it was fetched from
	fromUID             imap.UID
	cands               []mod // sorted by (modseq, uid)
	top                 uint64
}

// after returns the candidates past st's cursor, as the fetch would.
func (pc *pageCache) after(st *mailState) []mod {
	var out []mod
	for _, m := range pc.cands {
		if m.modseq < st.ModSeq || m.modseq == st.ModSeq && (st.UID == 0 || m.uid <= st.UID) {
			continue
		}
		out = append(out, m)
	}
	return out
}

// pageFor returns the cached candidates of folder f when they still
// describe it (same counters) and cover st's cursor.
func (s *Source) pageFor(f string, sel *imap.SelectData, st *mailState) (*pageCache, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pc := s.page
	if pc == nil || pc.folder != f || pc.validity != sel.UIDValidity || pc.highest != sel.HighestModSeq ||
		pc.next != uint32(sel.UIDNext) || pc.num != sel.NumMessages {
		return nil, false
	}
	if st.ModSeq < pc.fromModSeq || st.ModSeq == pc.fromModSeq && st.UID < pc.fromUID {
		return nil, false
	}
	return pc, true
}

// keepPage remembers the candidates fetched for st's cursor.
func (s *Source) keepPage(f string, sel *imap.SelectData, st *mailState, cands []mod, top uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.page = &pageCache{folder: f, validity: sel.UIDValidity, highest: sel.HighestModSeq, next: uint32(sel.UIDNext),
		num: sel.NumMessages, fromModSeq: st.ModSeq, fromUID: st.UID, cands: cands, top: top}
}
