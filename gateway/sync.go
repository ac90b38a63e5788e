package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/statecache"
)

// The Sync command (MS-ASCMD 2.2.1.21).
//
// Each collection goes through the same steps: the SyncKey is looked up in
// the statecache (current, previous or "0"), the client's commands are
// applied to the store, the store's change feed since the key's state gives
// the server's window, and Advance stores the new key with that window in
// one step before anything of it is written. A client that lost the answer
// comes back with the previous key and gets the same window again, so no
// change is lost or sent twice. Items are fetched before Advance (the ones
// that vanished meanwhile leave the window) and converted and written one by
// one after it, so a 500-item window is never held in its EAS form.

// defaultWindowSize is MS-ASCMD 2.2.3.199's default when a client sends
// no WindowSize.
const defaultWindowSize = 100

// Each device's last Sync request, with the keys of its answer, is kept in
// the state (statecache.RememberRequest) for the empty and Partial requests
// of 12.1 and later (MS-ASCMD 2.2.3.131): the next request may land on
// another node. When none is kept (a new device, or one that was too
// large) the client gets status 13 and sends its request in full.

// resolveSync completes an empty or Partial request from the last one
// kept. It returns nil when none is kept.
func (s *Server) resolveSync(ctx context.Context, a statecache.Account, req *eas.SyncRequest) (*eas.SyncRequest, error) {
	if req != nil && !req.Partial {
		return req, nil
	}
	body, err := s.state.LastRequest(ctx, a, eas.CmdSync.String())
	if errors.Is(err, statecache.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	last := new(eas.SyncRequest)
	if err := eas.Unmarshal(body, last, nil); err != nil || last.Collections == nil {
		// Kept by an older release, or damaged: ask for it in full.
		s.log.WarnContext(ctx, "the last Sync request kept is unreadable", "device_id", a.Device, "err", err)
		return nil, nil
	}
	if req == nil {
		return last, nil
	}
	out := *last
	if req.Wait != 0 || req.HeartbeatInterval != 0 {
		out.Wait, out.HeartbeatInterval = req.Wait, req.HeartbeatInterval
	}
	if req.WindowSize != 0 {
		out.WindowSize = req.WindowSize
	}
	if req.Collections != nil {
		merged := &eas.SyncCollections{Collection: slices.Clone(last.Collections.Collection)}
		for _, nc := range req.Collections.Collection {
			i := slices.IndexFunc(merged.Collection, func(c eas.SyncCollection) bool { return c.CollectionID == nc.CollectionID })
			if i >= 0 {
				merged.Collection[i] = nc
			} else {
				merged.Collection = append(merged.Collection, nc)
			}
		}
		out.Collections = merged
	}
	out.Partial = false
	return &out, nil
}

// rememberSync keeps req with the keys of its answer and without the
// client's commands, which must not run twice. A failure is logged: it
// costs the device a status 13 on its next empty Sync, not this answer.
func (s *Server) rememberSync(ctx context.Context, a statecache.Account, req *eas.SyncRequest, keys map[string]string) {
	out := *req
	out.Collections = &eas.SyncCollections{Collection: slices.Clone(req.Collections.Collection)}
	for i := range out.Collections.Collection {
		col := &out.Collections.Collection[i]
		if k, ok := keys[col.CollectionID]; ok {
			col.SyncKey = k
		}
		col.Commands = nil
		col.Supported = eas.Raw{}
	}
	body, err := eas.Marshal(&out)
	if err == nil {
		err = s.state.RememberRequest(ctx, a, eas.CmdSync.String(), body)
	}
	if err != nil {
		s.log.WarnContext(ctx, "keeping the last Sync request", "device_id", a.Device, "err", err)
	}
}

// syncStatusError answers the whole Sync request with a top-level status.
type syncStatusError struct {
	status eas.SyncStatus
	limit  int
}

func (e *syncStatusError) Error() string {
	return fmt.Sprintf("gateway: sync status %d (limit %d)", e.status, e.limit)
}

func (s *Server) serveSync(ctx context.Context, sess *Session, r request, w http.ResponseWriter) error {
	if s.state == nil || sess.Source == nil {
		return &eas.StatusError{Status: eas.StatusCommandNotSupported, Scope: eas.ScopeCommand}
	}
	req, _ := r.(*eas.SyncRequest)
	full, err := s.resolveSync(ctx, sess.Account, req)
	if err != nil {
		return err
	}
	if full == nil {
		return writeSyncStatus(w, &syncStatusError{status: eas.SyncStatusIncompleteRequest})
	}
	if err := s.checkSyncLimits(full); err != nil {
		return writeSyncStatus(w, err)
	}
	wait := time.Duration(full.Wait)*time.Minute + time.Duration(full.HeartbeatInterval)*time.Second
	sw := newSyncWriter(w, s.limits.KeepAlive)
	defer sw.stop()
	// One Sync of an account at a time: a phone that resends while its
	// first request still runs then finds the first one's key advanced
	// and gets the same window, not a second copy of its own Adds.
	unlock, err := s.lockAccount(ctx, sess.Account)
	if err != nil {
		return fmt.Errorf("gateway: locking the account: %w", err)
	}
	defer unlock()
	plans, idle := s.planAll(ctx, sess, full)
	if idle && wait > 0 && sw.claim() {
		// A hanging Sync: wait for a change like Ping, parked.
		unlock()
		return s.wait(ctx, w, sess, wait, func(wctx context.Context) (any, error) {
			return s.syncAfterWait(wctx, sess, full, plans)
		}, nil)
	}
	for _, p := range plans {
		if err := sw.collection(func(e *eas.Encoder) error { return s.encodeCollection(ctx, sess, e, p, sw.flushSoon) }); err != nil {
			return err
		}
	}
	s.rememberSync(ctx, sess.Account, full, planKeys(plans))
	return sw.finish()
}

// planAll plans every collection of req and reports whether none has
// anything to tell.
func (s *Server) planAll(ctx context.Context, sess *Session, req *eas.SyncRequest) ([]*collPlan, bool) {
	plans := make([]*collPlan, len(req.Collections.Collection))
	idle := true
	for i := range req.Collections.Collection {
		plans[i] = s.planCollection(ctx, sess, req, &req.Collections.Collection[i])
		idle = idle && plans[i].idle()
	}
	return plans, idle
}

func planKeys(plans []*collPlan) map[string]string {
	keys := make(map[string]string, len(plans))
	for _, p := range plans {
		keys[p.req.CollectionID] = p.key
	}
	return keys
}

// syncRecheck is how soon a hanging Sync looks at the store again after it
// starts watching: a change made between its first look and the start of
// Watch would otherwise wait for the whole interval (Watch reports only
// changes after it began).
const syncRecheck = 250 * time.Millisecond

// syncAfterWait waits, parked, until a collection's folder changes and
// answers with the changes; or, when ctx ends first, with the empty
// response of MS-ASCMD 2.2.3.198 (the keys stay as they were).
func (s *Server) syncAfterWait(ctx context.Context, sess *Session, req *eas.SyncRequest, plans []*collPlan) (any, error) {
	var folders []sources.FolderID
	for _, p := range plans {
		if p.folder != "" {
			folders = append(folders, p.folder)
		}
	}
	watcher, ok := sess.Source.(sources.Watcher)
	if !ok {
		watcher = &sources.PollWatcher{Source: sess.Source, Interval: 30 * time.Second}
	}
	recheck := true
	for ctx.Err() == nil {
		wctx, cancel := ctx, context.CancelFunc(func() {})
		if recheck {
			wctx, cancel = context.WithTimeout(ctx, syncRecheck)
		}
		_, err := watcher.Watch(wctx, folders)
		cancel()
		if err != nil && ctx.Err() == nil && wctx.Err() == nil {
			return nil, err
		}
		recheck = false
		if ctx.Err() != nil {
			break
		}
		// Something changed, or it is time to look again: plan under
		// the account's lock, with a context the heartbeat does not end.
		pctx, cancelP := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		unlock, err := s.lockAccount(pctx, sess.Account)
		if err != nil {
			cancelP()
			return nil, fmt.Errorf("gateway: locking the account: %w", err)
		}
		again, idle := s.planAll(pctx, sess, req)
		if idle {
			unlock()
			cancelP()
			continue
		}
		s.rememberSync(pctx, sess.Account, req, planKeys(again))
		return &syncAnswer{write: func(e *eas.Encoder) error {
			defer cancelP()
			defer unlock()
			return s.encodeSync(pctx, sess, e, again)
		}}, nil
	}
	return nil, nil
}

// syncAnswer is a Sync response written by the engine itself, for answers
// that go through the buffered path (a parked hanging Sync).
type syncAnswer struct {
	_     struct{} `wbxml:"AirSync:Sync"`
	write func(e *eas.Encoder) error
}

// MarshalWBXML writes the whole response.
func (a *syncAnswer) MarshalWBXML(e *eas.Encoder, _ eas.StartTag) error { return a.write(e) }

// encodeSync writes a whole Sync response with the planned collections.
func (s *Server) encodeSync(ctx context.Context, sess *Session, e *eas.Encoder, plans []*collPlan) error {
	e.EncodeToken(eas.StartTag{Tag: tagSync})
	e.EncodeToken(eas.StartTag{Tag: tagCollections})
	for _, p := range plans {
		if err := s.encodeCollection(ctx, sess, e, p, func() error { return nil }); err != nil {
			return err
		}
	}
	e.EncodeToken(eas.EndTag{Tag: tagCollections})
	return e.EncodeToken(eas.EndTag{Tag: tagSync})
}

// checkSyncLimits answers a Wait, HeartbeatInterval or collection count out
// of bounds with status 14 or 15 and the bound in Limit.
func (s *Server) checkSyncLimits(req *eas.SyncRequest) error {
	if req.Collections == nil || len(req.Collections.Collection) == 0 {
		return &syncStatusError{status: eas.SyncStatusIncompleteRequest}
	}
	if n := len(req.Collections.Collection); n > s.limits.MaxSyncCollections {
		return &syncStatusError{status: eas.SyncStatusTooManyCollections, limit: s.limits.MaxSyncCollections}
	}
	lo, hi := s.limits.MinHeartbeat, s.limits.MaxHeartbeat
	switch {
	case req.Wait != 0 && time.Duration(req.Wait)*time.Minute < lo:
		return &syncStatusError{status: eas.SyncStatusInvalidInterval, limit: int((lo + time.Minute - 1) / time.Minute)}
	case req.Wait != 0 && time.Duration(req.Wait)*time.Minute > hi:
		return &syncStatusError{status: eas.SyncStatusInvalidInterval, limit: int(hi / time.Minute)}
	case req.HeartbeatInterval != 0 && time.Duration(req.HeartbeatInterval)*time.Second < lo:
		return &syncStatusError{status: eas.SyncStatusInvalidInterval, limit: int(lo / time.Second)}
	case req.HeartbeatInterval != 0 && time.Duration(req.HeartbeatInterval)*time.Second > hi:
		return &syncStatusError{status: eas.SyncStatusInvalidInterval, limit: int(hi / time.Second)}
	}
	return nil
}

func writeSyncStatus(w http.ResponseWriter, err error) error {
	var se *syncStatusError
	if !errors.As(err, &se) {
		return err
	}
	b, err := eas.Marshal(&eas.SyncResponse{Status: se.status, Limit: se.limit})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", wbxmlType)
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(b)
	return err
}

// collPlan is one collection of a Sync response, decided and stored but
// not yet written.
type collPlan struct {
	req    *eas.SyncCollection
	folder sources.FolderID
	class  string
	prefs  bodyPrefs
	ck     statecache.CollectionKey

	status eas.SyncStatus
	key    string // the SyncKey to answer with
	moved  bool   // the key changed: something to tell
	more   bool

	window    []statecache.Change
	items     map[string]*sources.Item // store id → item, for window Adds and Changes
	responses *eas.SyncResponses
}

// idle reports whether the collection has nothing to tell the client.
func (p *collPlan) idle() bool {
	return p.status == eas.SyncStatusSuccess && !p.moved && p.responses == nil
}

// planCollection decides one collection's answer and stores its new key.
// Failures become the collection's status.
func (s *Server) planCollection(ctx context.Context, sess *Session, req *eas.SyncRequest, c *eas.SyncCollection) *collPlan {
	p := &collPlan{req: c, key: c.SyncKey, status: eas.SyncStatusSuccess,
		ck: statecache.CollectionKey{Account: sess.Account, Collection: c.CollectionID}}
	if err := s.plan(ctx, sess, req, p); err != nil {
		p.status = eas.SyncStatus(s.statusOf(ctx, sess, eas.ScopeCollection, fmt.Errorf("gateway: collection %q: %w", c.CollectionID, err)))
		p.key, p.moved, p.window, p.responses, p.more = c.SyncKey, false, nil, nil, false
	}
	return p
}

func (s *Server) plan(ctx context.Context, sess *Session, req *eas.SyncRequest, p *collPlan) error {
	c := p.req
	folder, err := s.state.FolderID(ctx, sess.Account, c.CollectionID)
	if err != nil {
		return err
	}
	p.folder = sources.FolderID(folder)
	f, err := s.lookupFolder(ctx, sess, p.folder)
	if err != nil {
		return err
	}
	p.class = classOf(f.Kind)
	var opts *eas.SyncOptions
	for i := range c.Options {
		if c.Options[i].Class == "" || c.Options[i].Class == p.class {
			opts = &c.Options[i]
			break
		}
	}
	p.prefs = newBodyPrefs(sess.Version(), p.class, opts)
	p.prefs.src, p.prefs.self = sess.Source, s.primaryAddress(sess.User)

	pos, err := s.state.Position(ctx, p.ck, statecache.SyncKey(c.SyncKey))
	if err != nil {
		return err
	}
	switch {
	case pos.Reset:
		// MS-ASCMD 3.1.5.3: the answer to key 0 carries no items.
		key, err := s.state.Advance(ctx, p.ck, statecache.InitialKey, statecache.SyncState{})
		if err != nil {
			return err
		}
		p.key, p.moved = string(key), true
		return nil
	case pos.Retry:
		return s.planRetry(ctx, sess, p, pos)
	}

	var window []statecache.Change
	// The client's own writes are not sent back to it: those of this
	// request, and those of earlier requests that the feed has not been
	// read past yet (made while paging).
	echo := newEchoes(pos.Echo)
	if c.Commands != nil {
		window = s.applyClient(ctx, sess, p, echo)
	}
	get := c.GetChanges == nil || *c.GetChanges
	state := sources.State(pos.State)
	more := false
	if get {
		size := c.WindowSize
		if size == 0 {
			size = req.WindowSize
		}
		if size <= 0 {
			size = defaultWindowSize
		}
		size = min(size, s.limits.MaxWindowSize)
		var server []statecache.Change
		server, state, more, err = s.serverChanges(ctx, sess, p, state, size, echo, filterOf(opts))
		if err != nil {
			return err
		}
		window = append(window, server...)
	}
	if len(window) == 0 && p.responses == nil && state == sources.State(pos.State) {
		// Nothing to tell and nothing learnt: the key stays.
		return nil
	}
	// The client's writes the feed did not report come in a later page,
	// or, from a store that hands out the position where its paging
	// began (DAV), in the next listing.
	pending := echo.pending(get && !more)
	key, err := s.state.Advance(ctx, p.ck, pos.Key, statecache.SyncState{State: string(state), Window: window, More: more, Echo: pending})
	var re *statecache.RetryError
	if errors.As(err, &re) {
		// A concurrent request with the same key won: answer as it did.
		return s.planRetry(ctx, sess, p, statecache.Position{Key: re.Key, State: re.Resend.State, Retry: true,
			Window: re.Resend.Window, More: re.Resend.More})
	}
	if err != nil {
		return err
	}
	p.key, p.moved, p.window, p.more = string(key), true, window, more
	return nil
}

// planRetry answers a request that presented the previous key: the stored
// window again, with the current key. The client's Adds are answered with
// the ServerIds they got the first time; its other commands already ran.
func (s *Server) planRetry(ctx context.Context, sess *Session, p *collPlan, pos statecache.Position) error {
	p.key, p.moved, p.window, p.more = string(pos.Key), true, pos.Window, pos.More
	if cmds := p.req.Commands; cmds != nil {
		for _, a := range cmds.Add {
			st, sid := eas.SyncStatusServerError, ""
			for _, ch := range pos.Window {
				if ch.Op == statecache.OpClientAdd && ch.ClientID == a.ClientID {
					st, sid = eas.SyncStatusSuccess, ch.ServerID
				}
			}
			p.addResponse(eas.SyncAddResult{Class: a.Class, ClientID: a.ClientID, ServerID: sid, Status: st})
		}
	}
	return s.fetchWindow(ctx, sess, p)
}

func (p *collPlan) addResponse(r eas.SyncAddResult) {
	if p.responses == nil {
		p.responses = &eas.SyncResponses{}
	}
	p.responses.Add = append(p.responses.Add, r)
}

// applyClient runs the client's commands against the store and returns
// the window entries that record them. Every store item it touches goes in
// echo, so that the change feed does not send it back.
func (s *Server) applyClient(ctx context.Context, sess *Session, p *collPlan, echo *echoes) []statecache.Change {
	cmds := p.req.Commands
	v := sess.Version()
	s.metrics.Items(p.class, "from_device", len(cmds.Add)+len(cmds.Change)+len(cmds.Delete))
	var window []statecache.Change
	resp := func() *eas.SyncResponses {
		if p.responses == nil {
			p.responses = &eas.SyncResponses{}
		}
		return p.responses
	}
	wr, canWrite := sess.Source.(sources.Writer)
	for _, a := range cmds.Add {
		res := eas.SyncAddResult{Class: a.Class, ClientID: a.ClientID}
		id, etag, err := s.clientAdd(ctx, sess, p, &a, wr, canWrite)
		if err == nil {
			var sids []string
			sids, err = s.state.ServerIDs(ctx, p.ck, []string{string(id)})
			if err == nil {
				res.ServerID = sids[0]
				echo.wrote(id, etag)
				window = append(window, statecache.Change{Op: statecache.OpClientAdd, ServerID: sids[0], ItemID: string(id), ClientID: a.ClientID})
			}
		}
		res.Status = s.itemStatus(ctx, sess, "add", err)
		resp().Add = append(resp().Add, res)
	}
	for _, ch := range cmds.Change {
		id, etag, err := s.clientChange(ctx, sess, p, &ch, v, wr, canWrite)
		if id != "" {
			echo.wrote(id, etag)
		}
		if err != nil {
			resp().Change = append(resp().Change, eas.SyncChangeResult{Class: ch.Class, ServerID: ch.ServerID, Status: s.itemStatus(ctx, sess, "change", err)})
		}
	}
	for _, d := range cmds.Delete {
		id, err := s.clientDelete(ctx, sess, p, d.ServerID, wr, canWrite)
		if id != "" {
			echo.wrote(id, "")
		}
		if err != nil {
			resp().Delete = append(resp().Delete, eas.SyncDeleteResult{ServerID: d.ServerID, Status: s.itemStatus(ctx, sess, "delete", err)})
		}
	}
	for _, f := range cmds.Fetch {
		res := eas.SyncFetchResult{ServerID: f.ServerID}
		raw, err := s.clientFetch(ctx, sess, p, f.ServerID)
		res.ApplicationData = raw
		res.Status = s.itemStatus(ctx, sess, "fetch", err)
		resp().Fetch = append(resp().Fetch, res)
	}
	return window
}

// itemStatus is the Sync status of one client operation op: 1, or that of
// its error.
func (s *Server) itemStatus(ctx context.Context, sess *Session, op string, err error) eas.SyncStatus {
	if err == nil {
		return eas.SyncStatusSuccess
	}
	return eas.SyncStatus(s.statusOf(ctx, sess, eas.ScopeItem, fmt.Errorf("gateway: client %s: %w", op, err)))
}

// clientAdd stores a client's new item and returns its id and ETag.
func (s *Server) clientAdd(ctx context.Context, sess *Session, p *collPlan, a *eas.SyncAdd, wr sources.Writer, canWrite bool) (sources.ItemID, string, error) {
	if !canWrite || p.class == classEmail {
		// MS-ASEMAIL: clients add mail through SendMail, and drafts
		// (16.x) need a store that files them; neither goes through here.
		return "", "", fmt.Errorf("gateway: adding %s items: %w", p.class, sources.ErrUnsupported)
	}
	it, err := fromEAS(p.class, a.ApplicationData, sess.Version(), nil)
	if err != nil {
		return "", "", err
	}
	return wr.Put(ctx, p.folder, it, "")
}

// clientChange applies a client's change and returns the item's id and,
// when the store gave one, its new ETag.
func (s *Server) clientChange(ctx context.Context, sess *Session, p *collPlan, ch *eas.SyncChange, v eas.ProtocolVersion, wr sources.Writer, canWrite bool) (sources.ItemID, string, error) {
	idStr, err := s.state.MapID(ctx, p.ck, ch.ServerID)
	if err != nil {
		return "", "", fmt.Errorf("gateway: ServerId: %w", err)
	}
	id := sources.ItemID(idStr)
	olds, err := sess.Source.Get(ctx, p.folder, []sources.ItemID{id}, &sources.GetOptions{Text: true, HTML: true})
	if err != nil {
		return id, "", err
	}
	if len(olds) == 0 {
		return id, "", fmt.Errorf("gateway: change of %s: %w", ch.ServerID, sources.ErrNotFound)
	}
	old := &olds[0]
	it, err := fromEAS(p.class, ch.ApplicationData, v, old)
	if err != nil {
		return id, "", err
	}
	if it.Mail != nil {
		// Mail changes are flags (MS-ASEMAIL 2.2.2): cheap where the
		// store can set them alone.
		if fl, ok := sess.Source.(sources.Flagger); ok {
			return id, "", fl.UpdateFlags(ctx, p.folder, id, flagUpdate(old.Mail, it.Mail))
		}
	}
	if !canWrite {
		return id, "", fmt.Errorf("gateway: changing %s items: %w", p.class, sources.ErrUnsupported)
	}
	_, etag, err := wr.Put(ctx, p.folder, it, old.ETag)
	if errors.Is(err, sources.ErrConflict) && clientWins(p.req) {
		_, etag, err = wr.Put(ctx, p.folder, it, "")
	}
	return id, etag, err
}

// clientWins reads the Conflict option: 0 means the client's change wins
// a conflict; 1, the default, the server's (MS-ASCMD 2.2.3.34).
func clientWins(c *eas.SyncCollection) bool {
	for _, o := range c.Options {
		if o.Conflict != nil {
			return *o.Conflict == 0
		}
	}
	return false
}

// flagUpdate lists the flag changes from old to new.
func flagUpdate(old, new *sources.Message) sources.FlagUpdate {
	var u sources.FlagUpdate
	if old.Read != new.Read {
		u.Read = &new.Read
	}
	if !followUpEqual(old.FollowUp, new.FollowUp) {
		u.FollowUp, u.SetFollowUp = new.FollowUp, true
		flagged := new.FollowUp != nil && new.FollowUp.Completed.IsZero()
		u.Flagged = &flagged
	}
	if !slices.Equal(old.Categories, new.Categories) {
		u.Categories, u.SetCategories = new.Categories, true
	}
	return u
}

func followUpEqual(a, b *sources.FollowUp) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func (s *Server) clientDelete(ctx context.Context, sess *Session, p *collPlan, serverID string, wr sources.Writer, canWrite bool) (sources.ItemID, error) {
	idStr, err := s.state.MapID(ctx, p.ck, serverID)
	if err != nil {
		return "", fmt.Errorf("gateway: ServerId: %w", err)
	}
	id := sources.ItemID(idStr)
	asMove := p.req.DeletesAsMoves == nil || *p.req.DeletesAsMoves
	if asMove && p.class == classEmail {
		trash, err := s.folderOfKind(ctx, sess, sources.KindDeleted)
		if err == nil && trash != p.folder {
			if mv, ok := sess.Source.(sources.Mover); ok {
				_, err = mv.Move(ctx, p.folder, trash, []sources.ItemID{id})
				return id, err
			}
		}
	}
	if !canWrite {
		return id, fmt.Errorf("gateway: deleting %s items: %w", p.class, sources.ErrUnsupported)
	}
	return id, wr.Delete(ctx, p.folder, id)
}

func (s *Server) clientFetch(ctx context.Context, sess *Session, p *collPlan, serverID string) (eas.Raw, error) {
	idStr, err := s.state.MapID(ctx, p.ck, serverID)
	if err != nil {
		return eas.Raw{}, fmt.Errorf("gateway: ServerId: %w", err)
	}
	its, err := sess.Source.Get(ctx, p.folder, []sources.ItemID{sources.ItemID(idStr)}, p.prefs.getOptions())
	if err != nil {
		return eas.Raw{}, err
	}
	if len(its) == 0 {
		return eas.Raw{}, fmt.Errorf("gateway: fetch of %s: %w", serverID, sources.ErrNotFound)
	}
	return toEAS(ctx, &its[0], sess.Version(), p.prefs)
}

// serverChanges pages through the store's change feed from state until it
// has a window of size changes for the client or the feed is exhausted,
// and returns the window, the state after it and whether more remain.
// Changes the client made itself (echo) and items outside its filter are
// consumed without being sent. New items get their ServerIds from Advance,
// when the window is stored.
func (s *Server) serverChanges(ctx context.Context, sess *Session, p *collPlan, state sources.State, size int,
	echo *echoes, keep func(*sources.Item) bool) ([]statecache.Change, sources.State, bool, error) {
	w := windowBuilder{at: make(map[string]int)}
	p.items = make(map[string]*sources.Item)
	for w.n < size {
		d, err := sess.Source.Changes(ctx, p.folder, state, size-w.n)
		if err != nil {
			return nil, "", false, err
		}
		var changed, removed []string
		check := map[string]string{} // item → the ETag of the client's own write
		for _, id := range d.Changed {
			switch mine, etag := echo.seen(id); {
			case !mine:
				changed = append(changed, string(id))
			case etag != "":
				changed = append(changed, string(id))
				check[string(id)] = etag
			}
		}
		for _, id := range d.Removed {
			if mine, _ := echo.seen(id); !mine {
				removed = append(removed, string(id))
			}
		}
		if len(removed) > 0 {
			sids, err := s.state.KnownIDs(ctx, p.ck, removed)
			if err != nil {
				return nil, "", false, err
			}
			for i, id := range removed {
				w.put(statecache.Change{Op: statecache.OpDelete, ServerID: sids[i], ItemID: id})
			}
		}
		if len(changed) > 0 {
			if err := s.changedItems(ctx, sess, p, changed, check, keep, &w); err != nil {
				return nil, "", false, err
			}
		}
		state = d.Next
		if !d.More {
			return w.window(), state, false, nil
		}
	}
	return w.window(), state, true, nil
}

// maxEchoes bounds the client's writes remembered from one Sync to the
// next while the server pages (statecache.SyncState.Echo). Beyond it the
// oldest are forgotten: they may come back to the client as changes,
// which it takes as it takes any change.
const maxEchoes = 1000

// echoes are the client's own writes that the store's change feed has not
// reported yet: the feed reports them like anyone's, and they are not
// news to the client. Those of the current request are left out whatever
// the store says; those carried from an earlier request (written while
// the server was paging) only while the item keeps the ETag the write
// gave it, so that a change made elsewhere meanwhile still goes out.
type echoes struct {
	tags  map[sources.ItemID]string // item → ETag after the write; "" unknown
	fresh map[sources.ItemID]bool   // written by this request
	order []sources.ItemID          // oldest first, for the bound
}

func newEchoes(carried []statecache.Echo) *echoes {
	e := &echoes{tags: make(map[sources.ItemID]string, len(carried)), fresh: make(map[sources.ItemID]bool)}
	for _, c := range carried {
		e.tags[sources.ItemID(c.ItemID)] = c.ETag
		e.order = append(e.order, sources.ItemID(c.ItemID))
	}
	return e
}

// wrote records the client's write of item id, which left it at etag.
func (e *echoes) wrote(id sources.ItemID, etag string) {
	e.tags[id], e.fresh[id] = etag, true
	e.order = append(e.order, id)
}

// seen is called when the feed reports id, and forgets its echo: mine
// says whether it was the client's write. A non-empty etag is that of an
// earlier request's write, which the item must still have to be left out.
func (e *echoes) seen(id sources.ItemID) (mine bool, etag string) {
	tag, ok := e.tags[id]
	if !ok {
		return false, ""
	}
	delete(e.tags, id)
	if e.fresh[id] {
		return true, ""
	}
	return true, tag
}

// pending returns the writes the feed has not reported, newest
// maxEchoes at most, for the next request. Once the feed has been read to
// its end (read), a write without an ETag is dropped: it cannot be told
// from a later change by someone else, and most feeds have reported it by
// then. One with an ETag stays until reported, since a store may report
// writes made while paging in its next listing (sources/imapdav/dav).
func (e *echoes) pending(read bool) []statecache.Echo {
	var out []statecache.Echo
	done := make(map[sources.ItemID]bool, len(e.tags))
	for i := len(e.order) - 1; i >= 0 && len(out) < maxEchoes; i-- {
		id := e.order[i]
		if tag, ok := e.tags[id]; ok && !done[id] && (tag != "" || !read) {
			done[id] = true
			out = append(out, statecache.Echo{ItemID: string(id), ETag: tag})
		}
	}
	slices.Reverse(out)
	return out
}

// windowBuilder collects a window with at most one change per item. An
// item that changes again in a later page of the feed is sent once, as it
// is by then; one that goes away after it entered the window as an Add is
// dropped, since the client never had it.
type windowBuilder struct {
	changes []statecache.Change
	at      map[string]int // item id → index in changes
	n       int            // live changes
}

// put adds c, merging it with what the window has for the same item. A
// Delete or SoftDelete of an item the client never had (no ServerID, not
// in the window) is dropped.
func (w *windowBuilder) put(c statecache.Change) {
	i, ok := w.at[c.ItemID]
	if !ok {
		if (c.Op == statecache.OpDelete || c.Op == statecache.OpSoftDelete) && c.ServerID == "" {
			return
		}
		w.at[c.ItemID] = len(w.changes)
		w.changes = append(w.changes, c)
		w.n++
		return
	}
	old := &w.changes[i]
	switch {
	case old.Op == 0:
		// Dropped before: the client still does not have it.
		if c.Op == statecache.OpAdd {
			*old = c
			w.n++
		}
	case old.Op == statecache.OpAdd && c.Op != statecache.OpAdd && c.Op != statecache.OpChange:
		old.Op = 0
		w.n--
	case old.Op == statecache.OpAdd:
		// Still new to the client: an Add of the item as it is now.
	default:
		sid := old.ServerID
		*old = c
		old.ServerID = sid
	}
}

// window returns the live changes in order.
func (w *windowBuilder) window() []statecache.Change {
	out := make([]statecache.Change, 0, w.n)
	for _, c := range w.changes {
		if c.Op != 0 {
			out = append(out, c)
		}
	}
	return out
}

// changedItems fetches changed items, keeps those in the client's filter
// and puts them in the window as Adds (new to the client) and Changes. An
// item that leaves the filter after the client got it is soft-deleted. An
// item still as the client wrote it (its ETag in mine) is left out.
func (s *Server) changedItems(ctx context.Context, sess *Session, p *collPlan, ids []string, mine map[string]string, keep func(*sources.Item) bool, w *windowBuilder) error {
	sids, err := s.state.KnownIDs(ctx, p.ck, ids)
	if err != nil {
		return err
	}
	items, err := sess.Source.Get(ctx, p.folder, toItemIDs(ids), p.prefs.getOptions())
	if err != nil {
		return err
	}
	byID := make(map[string]*sources.Item, len(items))
	for i := range items {
		byID[string(items[i].ID)] = &items[i]
	}
	for i, id := range ids {
		it := byID[id]
		switch {
		case it == nil:
			// Gone since Changes: its removal is in a later page.
		case mine[id] != "" && mine[id] == it.ETag:
			// The client's own write, reported a window later.
		case !keep(it):
			w.put(statecache.Change{Op: statecache.OpSoftDelete, ServerID: sids[i], ItemID: id})
		case sids[i] != "":
			w.put(statecache.Change{Op: statecache.OpChange, ServerID: sids[i], ItemID: id})
			p.items[id] = it
		default:
			w.put(statecache.Change{Op: statecache.OpAdd, ItemID: id})
			p.items[id] = it
		}
	}
	return nil
}

func toItemIDs(ids []string) []sources.ItemID {
	out := make([]sources.ItemID, len(ids))
	for i, id := range ids {
		out[i] = sources.ItemID(id)
	}
	return out
}

// fetchWindow gets the items of a resent window; those that vanished
// since are left out of it.
func (s *Server) fetchWindow(ctx context.Context, sess *Session, p *collPlan) error {
	var ids []sources.ItemID
	for _, ch := range p.window {
		if ch.Op == statecache.OpAdd || ch.Op == statecache.OpChange {
			ids = append(ids, sources.ItemID(ch.ItemID))
		}
	}
	p.items = make(map[string]*sources.Item, len(ids))
	if len(ids) == 0 {
		return nil
	}
	items, err := sess.Source.Get(ctx, p.folder, ids, p.prefs.getOptions())
	if err != nil {
		return err
	}
	for i := range items {
		p.items[string(items[i].ID)] = &items[i]
	}
	return nil
}

// filterOf returns the client's FilterType as a test on items: mail newer
// than the cutoff, events ending after it (recurring ones always), tasks
// not yet complete (MS-ASCMD 2.2.3.68.2).
func filterOf(o *eas.SyncOptions) func(*sources.Item) bool {
	if o == nil || o.FilterType == eas.FilterNone {
		return func(*sources.Item) bool { return true }
	}
	ft := o.FilterType
	if ft == eas.FilterIncompleteTasks {
		return func(it *sources.Item) bool { return it.Task == nil || !it.Task.Complete }
	}
	days := map[eas.FilterType]int{eas.FilterOneDay: 1, eas.FilterThreeDays: 3, eas.FilterOneWeek: 7,
		eas.FilterTwoWeeks: 14, eas.FilterOneMonth: 31, eas.FilterThreeMonths: 92, eas.FilterSixMonths: 183}[ft]
	if days == 0 {
		return func(*sources.Item) bool { return true }
	}
	cutoff := time.Now().AddDate(0, 0, -days)
	return func(it *sources.Item) bool {
		switch {
		case it.Mail != nil:
			return it.Mail.Date.IsZero() || !it.Mail.Date.Before(cutoff)
		case it.Event != nil:
			return it.Event.Recurrence != nil || !it.Event.End.Before(cutoff)
		}
		return true
	}
}

// encodeCollection writes one planned collection, converting its window's
// items one at a time; between runs after each item.
func (s *Server) encodeCollection(ctx context.Context, sess *Session, e *eas.Encoder, p *collPlan, between func() error) error {
	out := eas.SyncResponseCollection{SyncKey: p.key, CollectionID: p.req.CollectionID, Status: p.status, MoreAvailable: p.more}
	if sess.Version() < eas.V140 && p.class != "" {
		out.Class = p.class
	}
	start := eas.StartTag{Tag: eas.Tag{Page: eas.PageAirSync, Name: "Collection"}}
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	if err := encodeFields(e, &out); err != nil {
		return err
	}
	// Commands opens with its first element: an item that cannot be
	// converted writes nothing, and an empty Commands is undefined
	// (MS-ASCMD 2.2.3.32).
	tag := eas.Tag{Page: eas.PageAirSync, Name: "Commands"}
	open, sent := false, 0
	defer func() { s.metrics.Items(p.class, "to_device", sent) }()
	for _, ch := range p.window {
		elem, err := s.changeElement(ctx, sess, p, ch)
		if err != nil {
			return err
		}
		if elem == nil {
			continue
		}
		if !open {
			e.EncodeToken(eas.StartTag{Tag: tag})
			open = true
		}
		if err := e.EncodeElement(elem.v, elem.start); err != nil {
			return err
		}
		sent++
		if err := between(); err != nil {
			return err
		}
	}
	if open {
		e.EncodeToken(eas.EndTag{Tag: tag})
	}
	if p.responses != nil {
		if err := e.EncodeElement(p.responses, eas.StartTag{Tag: eas.Tag{Page: eas.PageAirSync, Name: "Responses"}}); err != nil {
			return err
		}
	}
	return e.EncodeToken(eas.EndTag{Tag: start.Tag})
}

// encodeFields writes the leading fields of a response collection:
// Class, SyncKey, CollectionId, Status and MoreAvailable, in schema order.
func encodeFields(e *eas.Encoder, c *eas.SyncResponseCollection) error {
	leaf := func(name, val string) {
		e.EncodeElement(val, eas.StartTag{Tag: eas.Tag{Page: eas.PageAirSync, Name: name}})
	}
	if c.Class != "" {
		leaf("Class", c.Class)
	}
	leaf("SyncKey", c.SyncKey)
	leaf("CollectionId", c.CollectionID)
	e.EncodeElement(int(c.Status), eas.StartTag{Tag: eas.Tag{Page: eas.PageAirSync, Name: "Status"}})
	if c.MoreAvailable {
		tag := eas.Tag{Page: eas.PageAirSync, Name: "MoreAvailable"}
		e.EncodeToken(eas.StartTag{Tag: tag, Empty: true})
		return e.EncodeToken(eas.EndTag{Tag: tag})
	}
	return nil
}

// element is one element to encode.
type element struct {
	v     any
	start eas.StartTag
}

// changeElement returns the element of one change of the window, or nil
// when there is nothing to send for it.
func (s *Server) changeElement(ctx context.Context, sess *Session, p *collPlan, ch statecache.Change) (*element, error) {
	tag := func(name string) eas.StartTag { return eas.StartTag{Tag: eas.Tag{Page: eas.PageAirSync, Name: name}} }
	switch ch.Op {
	case statecache.OpDelete:
		return &element{&eas.SyncDelete{ServerID: ch.ServerID}, tag("Delete")}, nil
	case statecache.OpSoftDelete:
		return &element{&eas.SyncSoftDelete{ServerID: ch.ServerID}, tag("SoftDelete")}, nil
	case statecache.OpAdd, statecache.OpChange:
		it := p.items[ch.ItemID]
		if it == nil {
			if ch.Op == statecache.OpAdd {
				// Vanished before a resend: the client never had it.
				return nil, nil
			}
			return &element{&eas.SyncDelete{ServerID: ch.ServerID}, tag("Delete")}, nil
		}
		raw, err := toEAS(ctx, it, sess.Version(), p.prefs)
		if err != nil {
			// One unreadable item must not stop the window; the id
			// stays mapped, so a later change of it is sent as Change.
			s.log.LogAttrs(ctx, slog.LevelWarn, "sync: item not converted", slog.String("user", sess.User),
				slog.String("item", ch.ItemID), slog.Any("err", err))
			return nil, nil
		}
		if ch.Op == statecache.OpAdd {
			return &element{&eas.SyncAdd{ServerID: ch.ServerID, ApplicationData: raw}, tag("Add")}, nil
		}
		return &element{&eas.SyncChange{ServerID: ch.ServerID, ApplicationData: raw}, tag("Change")}, nil
	}
	return nil, nil
}

// classOf returns the EAS class of a folder kind.
func classOf(k sources.FolderKind) string {
	switch k.Content() {
	case sources.ContentCalendar:
		return classCalendar
	case sources.ContentContacts:
		return classContacts
	case sources.ContentTasks:
		return classTasks
	case sources.ContentNotes:
		return classNotes
	}
	return classEmail
}

// syncWriter streams a Sync response. Nothing is written until the first
// collection is ready, so the HTTP status can still change; but if
// preparing takes longer than keepAlive, the headers and the document's
// first bytes go out, because Gmail on Android gives up on a silent
// connection after about 30 s (Horde met this first).
type syncWriter struct {
	mu        sync.Mutex
	w         http.ResponseWriter
	rc        *http.ResponseController
	e         *eas.Encoder
	started   bool
	claimed   bool // the response is written elsewhere
	timer     *time.Timer
	keepAlive time.Duration
	flushed   time.Time
}

var (
	tagSync        = eas.Tag{Page: eas.PageAirSync, Name: "Sync"}
	tagCollections = eas.Tag{Page: eas.PageAirSync, Name: "Collections"}
)

func newSyncWriter(w http.ResponseWriter, keepAlive time.Duration) *syncWriter {
	sw := &syncWriter{w: w, rc: http.NewResponseController(w), e: eas.NewEncoder(w), keepAlive: keepAlive}
	sw.timer = time.AfterFunc(keepAlive, func() {
		sw.mu.Lock()
		defer sw.mu.Unlock()
		if !sw.started && !sw.claimed {
			sw.start()
			sw.flush()
		}
	})
	return sw
}

// start writes the headers and the document's opening; mu is held.
func (sw *syncWriter) start() {
	sw.started = true
	sw.w.Header().Set("Content-Type", wbxmlType)
	sw.w.WriteHeader(http.StatusOK)
	sw.e.EncodeToken(eas.StartTag{Tag: tagSync})
	sw.e.EncodeToken(eas.StartTag{Tag: tagCollections})
}

// flush pushes what is buffered to the client; mu is held.
func (sw *syncWriter) flush() error {
	sw.flushed = time.Now()
	if err := sw.e.Flush(); err != nil {
		return err
	}
	if err := sw.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

// flushSoon flushes when the client has heard nothing for a while; it is
// called between items, with mu held.
func (sw *syncWriter) flushSoon() error {
	if time.Since(sw.flushed) < sw.keepAlive/4 {
		return nil
	}
	return sw.flush()
}

// claim hands the response to another writer, unless it has started; it
// reports whether it did.
func (sw *syncWriter) claim() bool {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.started {
		return false
	}
	sw.claimed = true
	sw.timer.Stop()
	return true
}

// collection writes one collection through fn.
func (sw *syncWriter) collection(fn func(e *eas.Encoder) error) error {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if !sw.started {
		sw.start()
	}
	return fn(sw.e)
}

// finish closes the document.
func (sw *syncWriter) finish() error {
	sw.stop()
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if !sw.started {
		sw.start()
	}
	sw.e.EncodeToken(eas.EndTag{Tag: tagCollections})
	sw.e.EncodeToken(eas.EndTag{Tag: tagSync})
	return sw.flush()
}

// stop ends the keep-alive: before a hanging Sync waits (a phone waiting
// for a change expects silence) and when the answer is complete.
func (sw *syncWriter) stop() { sw.timer.Stop() }

// The accounts' folderCache keeps each user's folder list for a minute, so
// that a Sync knows a collection's kind without asking the store each
// time.

type cachedFolders struct {
	at      time.Time
	byID    map[sources.FolderID]sources.Folder
	partial bool // part of the hierarchy could not be listed
}

const folderCacheTTL = time.Minute

// lookupFolder returns folder id of the session's store, refreshing the
// cache when it is stale or does not know the folder.
func (s *Server) lookupFolder(ctx context.Context, sess *Session, id sources.FolderID) (sources.Folder, error) {
	fs, err := s.folders.lookup(ctx, sess, s.now(), func(c *cachedFolders) bool { _, ok := c.byID[id]; return ok })
	if err != nil {
		return sources.Folder{}, err
	}
	f, ok := fs.byID[id]
	switch {
	case !ok && fs.partial:
		// Its store is down, not the folder gone: retry later, rather
		// than sending the device to a FolderSync that cannot tell.
		return sources.Folder{}, sources.MarkTemporary(fmt.Errorf("gateway: folder %q: its store could not be listed", id))
	case !ok:
		return sources.Folder{}, fmt.Errorf("gateway: folder %q: %w", id, sources.ErrNotFound)
	}
	return f, nil
}

// folderOfKind returns the store's default folder of kind k.
func (s *Server) folderOfKind(ctx context.Context, sess *Session, k sources.FolderKind) (sources.FolderID, error) {
	has := func(c *cachedFolders) bool {
		for _, f := range c.byID {
			if f.Kind == k {
				return true
			}
		}
		return false
	}
	fs, err := s.folders.lookup(ctx, sess, s.now(), has)
	if err != nil {
		return "", err
	}
	for id, f := range fs.byID {
		if f.Kind == k {
			return id, nil
		}
	}
	return "", fmt.Errorf("gateway: no %s folder: %w", k, sources.ErrNotFound)
}

// lookup returns the user's folders, from the cache when they are fresh
// and pass ok.
func (c folderCache) lookup(ctx context.Context, sess *Session, now time.Time, ok func(*cachedFolders) bool) (*cachedFolders, error) {
	cur, _ := c.get(sess.User)
	if cur != nil && now.Sub(cur.at) < folderCacheTTL && ok(cur) {
		return cur, nil
	}
	d, err := sess.Source.Folders(ctx, "")
	if err != nil {
		return nil, err
	}
	fresh := &cachedFolders{at: now, byID: make(map[sources.FolderID]sources.Folder, len(d.Changed)), partial: d.Partial}
	for _, f := range d.Changed {
		fresh.byID[f.ID] = f
	}
	c.put(sess.User, fresh)
	return fresh, nil
}
