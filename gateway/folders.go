package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/statecache"
)

// rootID is the ParentId of a top-level folder. MS-ASCMD 2.2.3.123.
const rootID = "0"

// errNoState answers the commands that keep device state when the Server
// has no statecache.Store.
var errNoState = errors.New("gateway: no state store configured")

// kindTypes gives the EAS folder type of each store kind.
// MS-ASCMD 2.2.3.186.3.
var kindTypes = map[sources.FolderKind]eas.FolderType{
	sources.KindUserMail:     eas.FolderTypeUserMail,
	sources.KindInbox:        eas.FolderTypeInbox,
	sources.KindDrafts:       eas.FolderTypeDrafts,
	sources.KindDeleted:      eas.FolderTypeDeletedItems,
	sources.KindSent:         eas.FolderTypeSentItems,
	sources.KindOutbox:       eas.FolderTypeOutbox,
	sources.KindTasks:        eas.FolderTypeTasks,
	sources.KindCalendar:     eas.FolderTypeCalendar,
	sources.KindContacts:     eas.FolderTypeContacts,
	sources.KindNotes:        eas.FolderTypeNotes,
	sources.KindJournal:      eas.FolderTypeJournal,
	sources.KindUserCalendar: eas.FolderTypeUserCalendar,
	sources.KindUserContacts: eas.FolderTypeUserContacts,
	sources.KindUserTasks:    eas.FolderTypeUserTasks,
	sources.KindUserNotes:    eas.FolderTypeUserNotes,
	sources.KindUserJournal:  eas.FolderTypeUserJournal,
}

// folderType is the EAS type of a store folder; a kind EAS has no name for
// is type 18.
func folderType(k sources.FolderKind) eas.FolderType {
	if t, ok := kindTypes[k]; ok {
		return t
	}
	return eas.FolderTypeUnknown
}

// folderKind is the store kind of a folder a client creates with type t,
// one of the user-created types FolderCreateRequest.Validate admits. The
// generic type 1 makes a mail folder, as on Exchange.
func folderKind(t eas.FolderType) (sources.FolderKind, bool) {
	switch t {
	case eas.FolderTypeUserGeneric, eas.FolderTypeUserMail:
		return sources.KindUserMail, true
	case eas.FolderTypeUserCalendar:
		return sources.KindUserCalendar, true
	case eas.FolderTypeUserContacts:
		return sources.KindUserContacts, true
	case eas.FolderTypeUserTasks:
		return sources.KindUserTasks, true
	case eas.FolderTypeUserJournal:
		return sources.KindUserJournal, true
	case eas.FolderTypeUserNotes:
		return sources.KindUserNotes, true
	}
	return 0, false
}

// specialType reports whether t is a default folder, which a client may
// neither rename nor delete (MS-ASCMD 2.2.1.4, 2.2.1.6).
func specialType(t eas.FolderType) bool {
	return t >= eas.FolderTypeInbox && t <= eas.FolderTypeJournal || t == eas.FolderTypeRecipientInfo
}

// hierarchyState is what a FolderSync key stands for, stored as the key's
// statecache.SyncState.State: the store's folder state and the hierarchy
// exactly as the device knows it at that key.
//
// Keeping the device's view makes FolderSync independent of how a store
// reports folder changes: a folder the device does not know is an Add, a
// known one that differs is an Update, a removed one the device never saw
// is skipped, and a store whose state expired is diffed in full instead of
// sending the device back to SyncKey 0. It is also what keeps the device's
// own FolderCreate, FolderUpdate and FolderDelete from coming back to it:
// those commands record the change in Known and keep Store, so the next
// FolderSync finds the store's report of it equal to what the device has.
type hierarchyState struct {
	Store sources.State                    `json:"s,omitempty"`
	Known map[sources.FolderID]knownFolder `json:"k,omitempty"`

	// Hidden is the user's choice of folders kept off the phones
	// (statecache.UserPrefs) that Known reflects (folderprefs.go).
	Hidden []string `json:"h,omitempty"`

	// Confirm says the key's window holds Deletes. The statecache drops
	// their CollectionIds and collection states when the device moves
	// past the key, so the next FolderSync stores a new key even when
	// nothing changed.
	Confirm bool `json:"c,omitempty"`
}

// knownFolder is a folder as the device last heard of it. Parent is empty
// at the top level.
type knownFolder struct {
	Parent sources.FolderID `json:"p,omitempty"`
	Name   string           `json:"n"`
	Type   eas.FolderType   `json:"t"`
}

// syncState is h as the state of a new key whose response carries window.
func (h *hierarchyState) syncState(window []statecache.Change) statecache.SyncState {
	h.Confirm = slices.ContainsFunc(window, func(c statecache.Change) bool { return c.Op == statecache.OpDelete })
	return statecache.SyncState{State: h.encode(), Window: window}
}

func (h *hierarchyState) encode() string {
	b, err := json.Marshal(h)
	if err != nil {
		panic(err) // strings and ints only
	}
	return string(b)
}

func decodeHierarchyState(s string) (*hierarchyState, error) {
	h := &hierarchyState{}
	if err := json.Unmarshal([]byte(s), h); err != nil {
		// A state this code did not write: the device starts over.
		return nil, fmt.Errorf("gateway: hierarchy state: %v: %w", err, statecache.ErrSyncKeyMismatch)
	}
	if h.Known == nil {
		h.Known = make(map[sources.FolderID]knownFolder)
	}
	return h, nil
}

// folderOp is one hierarchy change for the device.
type folderOp struct {
	op statecache.Op // OpAdd, OpChange or OpDelete
	id sources.FolderID
}

// apply brings h up to date with a store delta and returns the changes the
// device has to hear of: Adds with parents before children, then Updates,
// then Deletes. Folders deleted under a deleted folder are reported too, so
// that their collection state is dropped once the device confirms.
func (h *hierarchyState) apply(d sources.FolderDelta) []folderOp {
	var adds, updates, deletes []folderOp
	ids := make(map[sources.FolderID]bool, len(d.Changed))
	for _, f := range d.Changed {
		ids[f.ID] = true
	}
	for _, id := range d.Removed {
		if _, ok := h.Known[id]; ok && !ids[id] {
			delete(h.Known, id)
			deletes = append(deletes, folderOp{statecache.OpDelete, id})
		}
	}
	for _, f := range d.Changed {
		k := knownFolder{Parent: f.ParentID, Name: f.Name, Type: folderType(f.Kind)}
		if k.Parent != "" && !ids[k.Parent] {
			if _, ok := h.Known[k.Parent]; !ok {
				// A parent the store does not list: show the folder at
				// the top rather than under a ServerId the device never
				// heard of.
				k.Parent = ""
			}
		}
		old, ok := h.Known[f.ID]
		switch {
		case !ok:
			adds = append(adds, folderOp{statecache.OpAdd, f.ID})
		case old != k:
			updates = append(updates, folderOp{statecache.OpChange, f.ID})
		}
		h.Known[f.ID] = k
	}
	h.Store = d.Next
	if d.Partial {
		// Part of the hierarchy could not be listed (a calendar server
		// down): the next FolderSync lists everything again rather than
		// trusting a state that may not cover that part.
		h.Store = ""
	}
	return slices.Concat(h.parentsFirst(adds), updates, deletes)
}

// parentsFirst orders adds so that each folder follows its parent when the
// parent is added too: devices file a folder under its ParentId as they
// read it.
func (h *hierarchyState) parentsFirst(adds []folderOp) []folderOp {
	pending := make(map[sources.FolderID]bool, len(adds))
	for _, a := range adds {
		pending[a.id] = true
	}
	out := make([]folderOp, 0, len(adds))
	for len(out) < len(adds) {
		n := len(out)
		for _, a := range adds {
			if pending[a.id] && !pending[h.Known[a.id].Parent] {
				out = append(out, a)
				delete(pending, a.id)
			}
		}
		if len(out) == n { // a cycle, which a store should never report
			for _, a := range adds {
				if pending[a.id] {
					out = append(out, a)
				}
			}
		}
	}
	return out
}

// descendants returns the known folders below id, children first.
func (h *hierarchyState) descendants(id sources.FolderID) []sources.FolderID {
	var out []sources.FolderID
	for _, c := range h.sortedIDs() {
		if h.Known[c].Parent == id {
			out = append(out, c)
			out = append(out, h.descendants(c)...)
		}
	}
	return out
}

func (h *hierarchyState) sortedIDs() []sources.FolderID {
	ids := make([]sources.FolderID, 0, len(h.Known))
	for id := range h.Known {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// hierarchyDelta asks the store for the folder changes since h.Store. When
// the store can no longer tell, it lists every folder and counts the known
// folders missing from the list as removed, so that the device goes on
// from its key.
func hierarchyDelta(ctx context.Context, src sources.Source, h *hierarchyState) (sources.FolderDelta, error) {
	d, err := src.Folders(ctx, h.Store)
	if !errors.Is(err, sources.ErrStateExpired) || h.Store == "" {
		return d, err
	}
	return fullDelta(ctx, src, h)
}

// fullDelta lists every folder and counts the known folders missing from
// the list as removed, unless the list is partial: a store that is down
// does not delete its folders from the phones.
func fullDelta(ctx context.Context, src sources.Source, h *hierarchyState) (sources.FolderDelta, error) {
	d, err := src.Folders(ctx, "")
	if err != nil || d.Partial {
		return d, err
	}
	listed := make(map[sources.FolderID]bool, len(d.Changed))
	for _, f := range d.Changed {
		listed[f.ID] = true
	}
	for _, id := range h.sortedIDs() {
		if !listed[id] {
			d.Removed = append(d.Removed, id)
		}
	}
	return d, nil
}

// collectionIDs maps store folder ids to CollectionIds, minting ids for
// folders new to the device. The empty id (the root) maps to "0".
func (s *Server) collectionIDs(ctx context.Context, a statecache.Account, ids []sources.FolderID) (map[sources.FolderID]string, error) {
	var ask []string
	for _, id := range ids {
		if id != "" {
			ask = append(ask, string(id))
		}
	}
	out := map[sources.FolderID]string{"": rootID}
	if len(ask) == 0 {
		return out, nil
	}
	cids, err := s.state.CollectionIDs(ctx, a, ask)
	if err != nil {
		return nil, fmt.Errorf("gateway: mapping folder ids: %w", err)
	}
	for i, id := range ask {
		out[sources.FolderID(id)] = cids[i]
	}
	return out, nil
}

// storeFolder returns the store folder behind CollectionId cid if the
// device knows it at h; "0" is the root, the empty id. ok is false for a
// folder the device cannot name.
func (s *Server) storeFolder(ctx context.Context, a statecache.Account, h *hierarchyState, cid string) (id sources.FolderID, ok bool, err error) {
	if cid == rootID {
		return "", true, nil
	}
	f, err := s.state.FolderID(ctx, a, cid)
	if errors.Is(err, statecache.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("gateway: looking up collection %q: %w", cid, err)
	}
	_, ok = h.Known[sources.FolderID(f)]
	return sources.FolderID(f), ok, nil
}

// hierarchyChanges renders ops for a FolderSync response from the folders
// as h knows them, and returns the window that records them.
func (s *Server) hierarchyChanges(ctx context.Context, a statecache.Account, h *hierarchyState, ops []folderOp) (*eas.FolderChanges, []statecache.Change, error) {
	var ids []sources.FolderID
	for _, o := range ops {
		ids = append(ids, o.id, h.Known[o.id].Parent)
	}
	cids, err := s.collectionIDs(ctx, a, ids)
	if err != nil {
		return nil, nil, err
	}
	ch := &eas.FolderChanges{Count: len(ops)}
	window := make([]statecache.Change, 0, len(ops))
	for _, o := range ops {
		cid := cids[o.id]
		window = append(window, statecache.Change{Op: o.op, ServerID: cid, ItemID: string(o.id)})
		k := h.Known[o.id]
		f := eas.FolderSyncFolder{ServerID: cid, ParentID: cids[k.Parent], DisplayName: k.Name, Type: k.Type}
		switch o.op {
		case statecache.OpAdd:
			ch.Add = append(ch.Add, f)
		case statecache.OpChange:
			ch.Update = append(ch.Update, f)
		case statecache.OpDelete:
			ch.Delete = append(ch.Delete, eas.FolderSyncDelete{ServerID: cid})
		}
	}
	return ch, window, nil
}

// resendChanges rebuilds the changes of a window stored with a key, for a
// device that lost the response carrying them. The folders are described
// as h, the state stored with that key, knows them.
func (s *Server) resendChanges(ctx context.Context, a statecache.Account, h *hierarchyState, window []statecache.Change) (*eas.FolderChanges, error) {
	var ids []sources.FolderID
	for _, c := range window {
		if c.Op != statecache.OpDelete {
			ids = append(ids, h.Known[sources.FolderID(c.ItemID)].Parent)
		}
	}
	cids, err := s.collectionIDs(ctx, a, ids)
	if err != nil {
		return nil, err
	}
	ch := &eas.FolderChanges{}
	for _, c := range window {
		k, ok := h.Known[sources.FolderID(c.ItemID)]
		if !ok && c.Op != statecache.OpDelete {
			continue // deleted by a later change the window also holds
		}
		f := eas.FolderSyncFolder{ServerID: c.ServerID, ParentID: cids[k.Parent], DisplayName: k.Name, Type: k.Type}
		switch c.Op {
		case statecache.OpAdd:
			ch.Add = append(ch.Add, f)
		case statecache.OpChange:
			ch.Update = append(ch.Update, f)
		case statecache.OpDelete:
			ch.Delete = append(ch.Delete, eas.FolderSyncDelete{ServerID: c.ServerID})
		}
	}
	ch.Count = len(ch.Add) + len(ch.Update) + len(ch.Delete)
	return ch, nil
}

// folderEdit is where a FolderCreate, FolderUpdate or FolderDelete starts:
// the hierarchy at the device's key.
type folderEdit struct {
	pos statecache.Position
	h   *hierarchyState
}

// beginFolderEdit looks up the hierarchy SyncKey of a FolderCreate,
// FolderUpdate or FolderDelete. The device must have synced the hierarchy
// (MS-ASCMD 2.2.3.181.1): key "0", an unknown key or an older one is
// ErrSyncKeyMismatch, which the caller answers with status 9. The previous
// key comes back with pos.Retry set: the caller answers a repeat of the
// edit whose response was lost as it did the first time, and anything
// else with errBehind.
func (s *Server) beginFolderEdit(ctx context.Context, sess *Session, key string) (*folderEdit, error) {
	if s.state == nil {
		return nil, errNoState
	}
	if statecache.SyncKey(key) == statecache.InitialKey {
		return nil, fmt.Errorf("gateway: folder edit with SyncKey 0: %w", statecache.ErrSyncKeyMismatch)
	}
	pos, err := s.state.HierarchyPosition(ctx, sess.Account, statecache.SyncKey(key))
	if err != nil {
		return nil, fmt.Errorf("gateway: hierarchy key: %w", err)
	}
	h, err := decodeHierarchyState(pos.State)
	if err != nil {
		return nil, err
	}
	return &folderEdit{pos: pos, h: h}, nil
}

// errBehind answers a folder edit sent with the previous hierarchy key
// that is not a repeat of the last edit: the device missed a response and
// must FolderSync first.
var errBehind = fmt.Errorf("gateway: folder edit from the previous hierarchy key: %w", statecache.ErrSyncKeyMismatch)

// replayed reports whether the edit is a repeat of the one that moved the
// hierarchy to the current key: the device sent the previous key, and the
// window begins with op on the folder cid.
func (e *folderEdit) replayed(op statecache.Op, cid string) bool {
	w := e.pos.Window
	return e.pos.Retry && len(w) > 0 && w[0].Op == op && w[0].ServerID == cid
}

// commit stores the device's own edit under a new key: e.h already holds
// the edited folders and keeps the store state of the key presented, so
// that the next FolderSync finds the store's report of the edit equal to
// what the device knows and sends only what others changed.
func (s *Server) commit(ctx context.Context, sess *Session, e *folderEdit, window []statecache.Change) (string, error) {
	key, err := s.state.AdvanceHierarchy(ctx, sess.Account, e.pos.Key, e.h.syncState(window))
	if errors.Is(err, statecache.ErrRetryPrevious) {
		// A concurrent request with the same key won; the edit is made
		// but the device's key no longer stands for it.
		err = fmt.Errorf("gateway: concurrent hierarchy change: %w", sources.MarkTemporary(err))
	}
	if err != nil {
		return "", fmt.Errorf("gateway: storing the hierarchy: %w", err)
	}
	return string(key), nil
}
