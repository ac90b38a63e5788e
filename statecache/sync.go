package statecache

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"hash/maphash"
	"strconv"
	"sync"
	"sync/atomic"
)

// SyncKey is an EAS SyncKey as the client sees it: opaque, "{uuid}N". The
// uuid changes when the state is reset, so a key from before a reset can
// never match after it.
type SyncKey string

// InitialKey is the key a client sends to start over.
const InitialKey SyncKey = "0"

// CollectionKey names one collection of one account. Collection is the EAS
// CollectionId, as handed out by CollectionIDs.
type CollectionKey struct {
	Account
	Collection string
}

// Op is the kind of one change in a window.
type Op uint8

// Kinds of change, as a Sync or FolderSync response carries them.
const (
	OpAdd Op = iota + 1
	OpChange
	OpDelete
	OpSoftDelete // the item left the client's filter window but still exists
	// OpClientAdd records the answer to a client's Add: a resent request
	// gets the same ServerID again instead of adding the item twice.
	OpClientAdd
)

// Change is one change sent to the client. For a collection, ServerID is
// the EAS ServerId and ItemID the store's id; for the hierarchy, ServerID is
// the CollectionId and ItemID the store's folder id.
type Change struct {
	Op       Op
	ServerID string
	ItemID   string
	ClientID string // OpClientAdd only: the client's id for the item
}

// SyncState is what a response leaves behind: the store state the new key
// stands for and the window of changes the response carried.
type SyncState struct {
	// State is the store's opaque state (sources.State) to ask for changes
	// since when the client next presents this key.
	State string
	// Window is the changes sent with the key. They are resent verbatim if
	// the client comes back with the key before it (RetryError). Once the
	// client moves past the key, Deletes in the window are confirmed and
	// their ids are unmapped. For a collection, an Add without a ServerID
	// gets one from Advance, in the same transaction: an item counts as
	// sent to the client only once the window that sends it is stored.
	Window []Change
	// More says that changes remained after the window (MoreAvailable); a
	// resent window says it again.
	More bool
	// Echo lists the client's own writes that the store's change feed
	// has not been read past yet: made while the server was still paging
	// (or with GetChanges off), they show up in a later page, where they
	// are the client's and not news to it. Position returns them with
	// the key.
	Echo []Echo
}

// Echo is an item the client itself wrote, with the ETag the store gave
// it then ("" if the store gave none): a later report of the item with
// another ETag is a change made by someone else.
type Echo struct {
	ItemID string `json:"i"`
	ETag   string `json:"e,omitempty"`
}

// RetryError is returned by Advance when from is the previous key: the
// client did not get our last response and asks for it again. The caller
// must send Resend.Window again with Key, not compute a new window; the
// store is unchanged. The same happens to the loser of two concurrent
// requests with the same key: it answers with the winner's response.
//
// errors.Is(err, ErrRetryPrevious) reports a RetryError.
type RetryError struct {
	Key    SyncKey
	Resend SyncState
}

// Error names the key whose window is to be resent.
func (e *RetryError) Error() string {
	return fmt.Sprintf("statecache: previous sync key, resend the window of %s", e.Key)
}

// Is makes errors.Is(err, ErrRetryPrevious) true.
func (e *RetryError) Is(target error) bool { return target == ErrRetryPrevious }

// Position is what a sync key presented by a client stands for.
type Position struct {
	// Reset is true for InitialKey: the client starts over.
	Reset bool
	// Key is the key presented, or on Retry the current key to resend.
	Key SyncKey
	// State is the store state to ask for changes since.
	State string
	// Retry is true when the key was the previous one; Window is then the
	// window to resend with Key.
	Retry  bool
	Window []Change
	More   bool
	// Echo is SyncState.Echo of the key.
	Echo []Echo
}

// The two kinds of sync state share their logic; they differ in what a
// reset and a confirmed Delete do.
type syncScope struct {
	rec      []byte // the syncRec's key
	ck       CollectionKey
	isFolder bool
}

func collectionScope(k CollectionKey) syncScope {
	return syncScope{rec: collectionKey(k), ck: k}
}

func hierarchyScope(a Account) syncScope {
	return syncScope{rec: hierarchyKey(a), ck: CollectionKey{Account: a}, isFolder: true}
}

func (r *syncRec) current() SyncKey {
	return SyncKey("{" + r.Epoch + "}" + strconv.FormatUint(r.Seq, 10))
}

func newEpoch() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Position looks up a sync key presented in a Sync request, before the
// caller asks the store for changes. It writes nothing; Advance decides
// again, atomically.
func (s *Store) Position(ctx context.Context, key CollectionKey, from SyncKey) (Position, error) {
	return s.position(ctx, collectionScope(key), from)
}

// HierarchyPosition is Position for a FolderSync key.
func (s *Store) HierarchyPosition(ctx context.Context, a Account, from SyncKey) (Position, error) {
	return s.position(ctx, hierarchyScope(a), from)
}

func (s *Store) position(ctx context.Context, sc syncScope, from SyncKey) (Position, error) {
	if from == InitialKey {
		return Position{Reset: true, Key: from}, nil
	}
	var p Position
	err := s.view(ctx, func(txn kvTxn) error {
		var r syncRec
		found, err := getJSON(txn, sc.rec, &r)
		switch {
		case err != nil:
			return err
		case !found:
			return ErrSyncKeyMismatch
		case from == r.current():
			p = Position{Key: from, State: r.State, Echo: r.Echo}
		case from == r.Prev:
			if err := loadWindow(txn, sc, &r); err != nil {
				return err
			}
			p = Position{Key: r.current(), State: r.State, Retry: true, Window: fromRecs(r.Pending), More: r.More, Echo: r.Echo}
		default:
			return ErrSyncKeyMismatch
		}
		return nil
	})
	return p, err
}

// Advance moves a collection from the key the client presented to a new
// key, in one transaction:
//
//   - from is the current key: the client has the last response, so its
//     Deletes are confirmed (unmapped), next is stored under a new key, and
//     from becomes the previous key. Advance returns the new key.
//   - from is the previous key: the client lost the last response (or a
//     concurrent request with the same key won). Nothing is written;
//     Advance returns the current key and a *RetryError holding the window
//     to resend with it.
//   - from is InitialKey: the collection starts over: a new key epoch, an
//     empty id map (a new generation; the old one is deleted afterwards),
//     no previous key. ServerIds are never reused, even across resets.
//   - anything else, or a collection never synced: ErrSyncKeyMismatch.
//
// Conflicting writes are retried inside, so of two concurrent Advances from
// the same key exactly one stores its state and the other gets RetryError.
// Adds of next.Window without a ServerID get one, written into the slice.
func (s *Store) Advance(ctx context.Context, key CollectionKey, from SyncKey, next SyncState) (SyncKey, error) {
	return s.advance(ctx, collectionScope(key), from, next)
}

// AdvanceHierarchy is Advance for the folder hierarchy (FolderSync). A reset
// keeps the folder map, so folders keep their CollectionIds as they do on
// Exchange. A confirmed Delete unmaps the folder and drops its collection
// state.
func (s *Store) AdvanceHierarchy(ctx context.Context, a Account, from SyncKey, next SyncState) (SyncKey, error) {
	return s.advance(ctx, hierarchyScope(a), from, next)
}

func (s *Store) advance(ctx context.Context, sc syncScope, from SyncKey, next SyncState) (SyncKey, error) {
	var (
		out    SyncKey
		retry  *RetryError
		purges []span
		win    []Change
		newGen uint64
	)
	// The store ids of the window's new items, whose map entries the
	// Advance reads together with the record and its window: on
	// PostgreSQL the Advance is then two round trips (this read, then
	// the writes with the commit) instead of three. Their keys carry the
	// collection's generation, which only the record tells for sure;
	// the hint is the generation this process last saw, and a wrong
	// guess costs the read it saves.
	var adds []string
	if !sc.isFolder && from != InitialKey {
		adds = newItems(next.Window)
	}
	gen := s.gens.get(sc.rec)
	attempt := 0
	err := s.update(ctx, func(txn kvTxn) error {
		out, retry, purges = "", nil, nil
		attempt++
		// A backend whose insert fails at commit when the key exists
		// (inserter) need not read the new items' map entries first:
		// they are almost never there, and the insert finds the rare one
		// that is (a store listing an item twice). The attempt after a
		// conflict reads them. Reading them was a quarter of the
		// database's work per Advance on PostgreSQL.
		read := adds
		_, presume := txn.(inserter)
		if presume = presume && attempt == 1 && len(adds) > 0; presume {
			read = nil
		}
		var r syncRec
		found, w, pre, err := getRecAndWindow(txn, sc, &r, read, gen)
		if err != nil {
			return err
		}
		switch {
		case from == InitialKey:
			if found && !sc.isFolder {
				// Everything below the new generation is garbage.
				sp := span{start: itemsKey(sc.ck).clone(), end: itemsKey(sc.ck).u64(r.Gen + 1)}
				if err := queuePurge(txn, sp); err != nil {
					return err
				}
				purges = append(purges, sp)
				r.Gen++
			}
			r.Epoch, r.Seq, r.Prev = newEpoch(), 1, ""
			if err := resyncDone(txn, sc); err != nil {
				return err
			}
		case !found:
			return ErrSyncKeyMismatch
		case from == r.current():
			// Only the window's Deletes matter here.
			if w.deletes() {
				if r.Pending, r.More, err = w.decode(); err != nil {
					return err
				}
			}
			sps, err := s.confirm(txn, sc, &r)
			if err != nil {
				return err
			}
			purges = sps
			r.Prev = from
			r.Seq++
		case from == r.Prev && r.Prev != "":
			if r.Pending, r.More, err = w.decode(); err != nil {
				return err
			}
			retry = &RetryError{Key: r.current(), Resend: SyncState{State: r.State, Window: fromRecs(r.Pending), More: r.More, Echo: r.Echo}}
			return nil
		default:
			return ErrSyncKeyMismatch
		}
		// A retried transaction starts again from the caller's window.
		win = append(win[:0], next.Window...)
		if !sc.isFolder {
			switch {
			case presume:
				pre = &mapRead{presumed: true}
			case r.Gen != gen:
				pre = nil
			}
			if err := assignServerIDs(txn, sc.ck, &r, win, pre); err != nil {
				return err
			}
		}
		r.State, r.Pending, r.More, r.Echo = next.State, toRecs(win), next.More, next.Echo
		out, newGen = r.current(), r.Gen
		if err := setJSON(txn, sc.rec, &r); err != nil {
			return err
		}
		return setJSON(txn, windowKey(sc.rec), &winRec{Pending: r.Pending, More: r.More})
	})
	if err != nil {
		return "", err
	}
	if retry == nil {
		copy(next.Window, win)
		if !sc.isFolder {
			s.gens.set(sc.rec, newGen)
		}
	}
	for _, sp := range purges {
		s.purge(sp)
	}
	if retry != nil {
		return retry.Key, retry
	}
	return out, nil
}

// getRecAndWindow reads the sync record of sc into r and its window,
// still encoded, with one getMany. The same read fetches the item map
// entries of adds in generation gen (a guess the caller checks against
// r.Gen).
func getRecAndWindow(txn kvTxn, sc syncScope, r *syncRec, adds []string, gen uint64) (found bool, w rawWindow, pre *mapRead, err error) {
	keys := [][]byte{sc.rec, windowKey(sc.rec)}
	if len(adds) > 0 {
		pre = &mapRead{keys: make([][]byte, len(adds))}
		key := itemKeys(sc.ck, gen)
		for i, id := range adds {
			pre.keys[i] = key(pByStore, id)
		}
		keys = append(keys, pre.keys...)
	}
	vals, ok, err := txn.getMany(keys)
	if err != nil || !ok[0] {
		return false, nil, nil, err
	}
	if err := decode(vals[0], r); err != nil {
		return false, nil, nil, err
	}
	if ok[1] {
		w = vals[1]
	}
	if pre != nil {
		pre.vals, pre.found = vals[2:], ok[2:]
	}
	return true, w, pre, nil
}

// mapRead is the item map entries of some store ids, read ahead:
// vals[i] and found[i] are what keys[i] held. When presumed is set they
// were not read but taken to be absent, and found is nil: each is then
// written with insertNew, whose commit fails if one exists after all.
type mapRead struct {
	keys     [][]byte
	vals     [][]byte
	found    []bool
	presumed bool
}

// newItems returns the store ids of the Adds of window that have no
// ServerID yet, in order: those assignServerIDs looks up.
func newItems(window []Change) []string {
	var ids []string
	for _, c := range window {
		if c.Op == OpAdd && c.ServerID == "" {
			ids = append(ids, c.ItemID)
		}
	}
	return ids
}

// rawWindow is a stored winRec, not decoded yet: decoding a window of a
// hundred changes cost more of an Advance's CPU than anything but the
// database calls, and the usual Advance needs only to know that it holds
// no Delete.
type rawWindow []byte

// deletes reports whether the window may hold a Delete. It looks for the
// encoded op (OpDelete is 3, written `"o":3` by encoding/json, and a
// quote inside a string is escaped, so no id can fake it); a false
// positive only costs a decode.
func (w rawWindow) deletes() bool {
	return bytes.Contains(w, []byte(`"o":`+strconv.Itoa(int(OpDelete))))
}

// decode returns the window's changes; an absent window is empty.
func (w rawWindow) decode() ([]changeRec, bool, error) {
	if w == nil {
		return nil, false, nil
	}
	var wr winRec
	if err := decode(w, &wr); err != nil {
		return nil, false, err
	}
	return wr.Pending, wr.More, nil
}

// loadWindow reads the window of r, the sync record of sc.
func loadWindow(txn kvTxn, sc syncScope, r *syncRec) error {
	var w winRec
	if _, err := getJSON(txn, windowKey(sc.rec), &w); err != nil {
		return err
	}
	r.Pending, r.More = w.Pending, w.More
	return nil
}

// assignServerIDs gives each Add of window that has no ServerID one, in
// place, mapping it in both directions; an item mapped before keeps its id.
// pre, if not nil, is the map entries of newItems(window) in r.Gen,
// already read, or presumed absent.
func assignServerIDs(txn kvTxn, ck CollectionKey, r *syncRec, window []Change, pre *mapRead) error {
	var adds []int
	for i, c := range window {
		if c.Op == OpAdd && c.ServerID == "" {
			adds = append(adds, i)
		}
	}
	ids := make([]string, len(adds))
	for j, i := range adds {
		ids[j] = window[i].ItemID
	}
	first := r.NextID + 1
	sids, minted, err := mapIDs(txn, ids, itemKeys(ck, r.Gen), pre,
		func() string {
			r.NextID++
			return ck.Collection + ":" + strconv.FormatUint(r.NextID, 10)
		})
	if err != nil {
		return err
	}
	if err := writeRanges(txn, ck, r.Gen, first, minted); err != nil {
		return err
	}
	for j, i := range adds {
		window[i].ServerID = sids[j]
	}
	return nil
}

// mapIDs returns the short id of each store id, reading all map entries in
// one step (or taking them from pre, when not nil), minting the ids not
// mapped yet and writing their forward entries. minted is the store ids
// given new short ids, in the order minted: the caller writes the reverse
// entries. A store id repeated in ids gets one short id.
func mapIDs(txn kvTxn, ids []string, key func(dir byte, id string) []byte, pre *mapRead, mint func() string) (out, minted []string, err error) {
	if len(ids) == 0 {
		return nil, nil, nil
	}
	switch {
	case pre != nil && pre.presumed:
		pre = &mapRead{keys: make([][]byte, len(ids)), presumed: true}
		for i, id := range ids {
			pre.keys[i] = key(pByStore, id)
		}
	case pre == nil || len(pre.keys) != len(ids):
		pre = &mapRead{keys: make([][]byte, len(ids))}
		for i, id := range ids {
			pre.keys[i] = key(pByStore, id)
		}
		if pre.vals, pre.found, err = txn.getMany(pre.keys); err != nil {
			return nil, nil, err
		}
	}
	keys, vals, found := pre.keys, pre.vals, pre.found
	out = make([]string, len(ids))
	shorts := map[string]string{}
	for i, id := range ids {
		if found != nil && found[i] {
			if out[i], err = decodeID(vals[i]); err != nil {
				return nil, nil, err
			}
			continue
		}
		if short, ok := shorts[id]; ok {
			out[i] = short
			continue
		}
		short := mint()
		if pre.presumed {
			err = insertNew(txn, keys[i], encodeID(short))
		} else {
			err = txn.set(keys[i], encodeID(short))
		}
		if err != nil {
			return nil, nil, err
		}
		shorts[id], out[i] = short, short
		minted = append(minted, id)
	}
	return out, minted, nil
}

// confirm applies the Deletes of the window the client has now
// acknowledged. For the hierarchy it returns the item maps of deleted
// folders, queued for purging.
func (s *Store) confirm(txn kvTxn, sc syncScope, r *syncRec) ([]span, error) {
	var (
		purges []span
		gone   []string // ServerIds of deleted items
	)
	for _, c := range r.Pending {
		if c.Op != OpDelete {
			continue
		}
		if !sc.isFolder {
			if err := txn.del(itemKey(sc.ck, r.Gen, pByStore, c.ItemID)); err != nil {
				return nil, err
			}
			gone = append(gone, c.ServerID)
			continue
		}
		folder := CollectionKey{Account: sc.ck.Account, Collection: c.ServerID}
		if err := deleteAll(txn,
			folderKey(sc.ck.Account, pByStore, c.ItemID),
			folderKey(sc.ck.Account, pByEAS, c.ServerID),
			collectionKey(folder), windowKey(collectionKey(folder))); err != nil {
			return nil, err
		}
		p := itemsKey(folder)
		sp := span{start: p, end: prefixEnd(p)}
		if err := queuePurge(txn, sp); err != nil {
			return nil, err
		}
		purges = append(purges, sp)
	}
	if len(gone) > 0 {
		if err := forgetServerIDs(txn, sc.ck, r.Gen, gone); err != nil {
			return nil, err
		}
	}
	return purges, nil
}

func deleteAll(txn kvTxn, keys ...[]byte) error {
	for _, k := range keys {
		if err := txn.del(k); err != nil {
			return err
		}
	}
	return nil
}

func toRecs(cs []Change) []changeRec {
	if len(cs) == 0 {
		return nil
	}
	out := make([]changeRec, len(cs))
	for i, c := range cs {
		out[i] = changeRec(c)
	}
	return out
}

func fromRecs(rs []changeRec) []Change {
	if len(rs) == 0 {
		return nil
	}
	out := make([]Change, len(rs))
	for i, r := range rs {
		out[i] = Change(r)
	}
	return out
}

// ServerIDs returns the EAS ServerId of each store item id, in order,
// giving new ones to items seen for the first time. ServerIds are
// "CollectionId:N" with N counting up per collection, as Exchange's are, and
// stay the same for an item until the collection is reset. The collection
// must have been synced (Advance from InitialKey); otherwise ErrNotFound.
func (s *Store) ServerIDs(ctx context.Context, key CollectionKey, items []string) ([]string, error) {
	return s.allocate(ctx, collectionKey(key), items,
		func(r *syncRec, dir byte, id string) []byte { return itemKey(key, r.Gen, dir, id) },
		func(n uint64) string { return key.Collection + ":" + strconv.FormatUint(n, 10) },
		func(txn kvTxn, r *syncRec, first uint64, ids []string) error {
			return writeRanges(txn, key, r.Gen, first, ids)
		})
}

// KnownIDs returns the EAS ServerId of each store item id, in order, or ""
// for an item the collection has never sent; unlike ServerIDs it allocates
// nothing. An unsynced collection knows no item.
func (s *Store) KnownIDs(ctx context.Context, key CollectionKey, items []string) ([]string, error) {
	out := make([]string, len(items))
	err := s.view(ctx, func(txn kvTxn) error {
		var r syncRec
		found, err := getJSON(txn, collectionKey(key), &r)
		if err != nil || !found {
			return err
		}
		// One getMany: a window of changed mail asks this for each of
		// its items, and on PostgreSQL a get each was a round trip each.
		keys := make([][]byte, len(items))
		ik := itemKeys(key, r.Gen)
		for i, id := range items {
			keys[i] = ik(pByStore, id)
		}
		vals, ok, err := txn.getMany(keys)
		if err != nil {
			return err
		}
		for i := range items {
			if !ok[i] {
				continue
			}
			if out[i], err = decodeID(vals[i]); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// MapID returns the store item id behind an EAS ServerId, or ErrNotFound.
func (s *Store) MapID(ctx context.Context, key CollectionKey, serverID string) (string, error) {
	var item string
	err := s.view(ctx, func(txn kvTxn) error {
		var r syncRec
		found, err := getJSON(txn, collectionKey(key), &r)
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		id, ok, err := lookupServerID(txn, key, r.Gen, serverID)
		if err == nil && !ok {
			err = ErrNotFound
		}
		item = id
		return err
	})
	return item, err
}

// CollectionIDs returns the EAS CollectionId of each store folder id, in
// order, giving new ones ("1", "2", ...) to folders seen for the first time.
// They survive a FolderSync reset. The hierarchy must have been synced
// (AdvanceHierarchy from InitialKey); otherwise ErrNotFound.
func (s *Store) CollectionIDs(ctx context.Context, a Account, folders []string) ([]string, error) {
	mint := func(n uint64) string { return strconv.FormatUint(n, 10) }
	return s.allocate(ctx, hierarchyKey(a), folders,
		func(_ *syncRec, dir byte, id string) []byte { return folderKey(a, dir, id) },
		mint,
		func(txn kvTxn, _ *syncRec, first uint64, ids []string) error {
			for i, id := range ids {
				if err := insertNew(txn, folderKey(a, pByEAS, mint(first+uint64(i))), encodeID(id)); err != nil {
					return err
				}
			}
			return nil
		})
}

// allocate maps store ids to short ids in one transaction, minting new ones
// from the counter in the sync record at rec. key builds a forward map
// entry's key, and reverse writes the reverse entries of the ids minted
// (first is the counter's value for ids[0]).
func (s *Store) allocate(ctx context.Context, rec []byte, ids []string,
	key func(r *syncRec, dir byte, id string) []byte, mint func(n uint64) string,
	reverse func(txn kvTxn, r *syncRec, first uint64, ids []string) error) ([]string, error) {
	out := make([]string, len(ids))
	err := s.update(ctx, func(txn kvTxn) error {
		var r syncRec
		found, err := getJSON(txn, rec, &r)
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		next := r.NextID
		shorts, minted, err := mapIDs(txn, ids,
			func(dir byte, id string) []byte { return key(&r, dir, id) }, nil,
			func() string { next++; return mint(next) })
		if err != nil {
			return err
		}
		if err := reverse(txn, &r, r.NextID+1, minted); err != nil {
			return err
		}
		copy(out, shorts)
		if next == r.NextID {
			return nil
		}
		r.NextID = next
		return setJSON(txn, rec, &r)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// FolderID returns the store folder id behind an EAS CollectionId, or
// ErrNotFound.
func (s *Store) FolderID(ctx context.Context, a Account, collectionID string) (string, error) {
	var f string
	err := s.view(ctx, func(txn kvTxn) error {
		id, ok, err := getID(txn, folderKey(a, pByEAS, collectionID))
		if err == nil && !ok {
			err = ErrNotFound
		}
		f = id
		return err
	})
	return f, err
}

// CurrentState returns a collection's current sync key and the store state
// it stands for, without a key from the client: Ping compares that state
// with the store to tell whether the collection changed since the device's
// last Sync. ErrNotFound if the collection was never synced.
func (s *Store) CurrentState(ctx context.Context, key CollectionKey) (SyncKey, string, error) {
	var (
		r     syncRec
		found bool
	)
	err := s.view(ctx, func(txn kvTxn) error {
		var err error
		found, err = getJSON(txn, collectionKey(key), &r)
		return err
	})
	switch {
	case err != nil:
		return "", "", err
	case !found:
		return "", "", ErrNotFound
	}
	return r.current(), r.State, nil
}

// genHints remembers the item map generation of recently advanced
// collections, so that an Advance can read the map entries of its new
// items together with the sync record (advance). It is a fixed table of
// genHintSlots entries (128 KiB) indexed by a hash of the record's key,
// whatever the number of phones; a slot holds a tag of the hash beside
// the generation, and a slot another collection took, or a generation
// another node changed, is only a wrong guess, which Advance detects.
type genHints struct {
	seed  maphash.Seed
	once  sync.Once
	slots [genHintSlots]atomic.Uint64
}

const genHintSlots = 1 << 14

func (h *genHints) slot(rec []byte) (*atomic.Uint64, uint64) {
	h.once.Do(func() { h.seed = maphash.MakeSeed() })
	x := maphash.Bytes(h.seed, rec)
	return &h.slots[x%genHintSlots], x >> 32 << 32
}

// get returns the generation last set for rec, or 0 (a collection that
// was never reset).
func (h *genHints) get(rec []byte) uint64 {
	sl, tag := h.slot(rec)
	if v := sl.Load(); v&^(1<<32-1) == tag {
		return v & (1<<32 - 1)
	}
	return 0
}

// set remembers gen for rec; a generation past 32 bits (four billion
// resets) is not remembered.
func (h *genHints) set(rec []byte, gen uint64) {
	if gen >= 1<<32 {
		return
	}
	sl, tag := h.slot(rec)
	sl.Store(tag | gen)
}
