package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/statecache"
)

// pingParams are an account's last accepted Ping parameters, which a Ping
// without them repeats (MS-ASCMD 3.1.5.10). They are kept in the state
// (statecache.RememberRequest), as the Ping request that carries them all,
// since the next Ping may land on another node; when none are kept, such a
// Ping is answered status 3 and the phone sends them again.
type pingParams struct {
	heartbeat int // seconds
	folders   []eas.PingFolder
}

// pingFolder is a watched folder: the device's CollectionId and the store's
// folder id.
type pingFolder struct {
	collection string
	store      sources.FolderID
}

// handlePing answers Ping, MS-ASCMD 2.2.1.13: at once when a watched folder
// already holds changes the device has not synced, or when the request is
// out of bounds; otherwise when a change arrives (status 2) or the
// heartbeat passes (status 1), waiting through wait (park.go).
func (s *Server) handlePing(ctx context.Context, sess *Session, req *eas.PingRequest, w http.ResponseWriter) error {
	if s.state == nil {
		return errors.New("gateway: Ping needs a state store")
	}
	pp, resp, err := s.pingParams(ctx, sess.Account, req)
	if err != nil {
		return err
	}
	if resp != nil {
		return s.answerNow(ctx, w, resp)
	}
	folders := make([]pingFolder, len(pp.folders))
	for i, f := range pp.folders {
		id, err := s.state.FolderID(ctx, sess.Account, f.ID)
		if err != nil {
			// A folder the device cannot name: the status table
			// asks for a FolderSync first (7).
			return fmt.Errorf("gateway: Ping folder %q: %w", f.ID, err)
		}
		folders[i] = pingFolder{collection: f.ID, store: sources.FolderID(id)}
	}
	if resp, err := s.pingResync(ctx, sess, folders); err != nil || resp != nil {
		if err != nil {
			return err
		}
		return s.answerNow(ctx, w, resp)
	}
	changed, up, err := s.pingChanges(ctx, sess, folders)
	if err != nil {
		return err
	}
	if len(changed) > 0 {
		return s.answerNow(ctx, w, pingChanged(changed))
	}
	folders = up
	d := time.Duration(pp.heartbeat) * time.Second
	var nw notifyWait
	if n, ok := sess.Source.(sources.Notifier); ok {
		nw = &pingNotify{s: s, sess: sess, n: n, folders: folders}
	}
	return s.wait(ctx, w, sess, d, func(ctx context.Context) (any, error) {
		return s.pingWait(ctx, sess, folders)
	}, nw)
}

// pingNotify is pingWait as a notifyWait, for a store that calls back: a
// parked Ping then holds no goroutine. As in pingWatch, a timer compares
// states once more after the first registration, for a change made
// between handlePing's comparison and it.
type pingNotify struct {
	s         *Server
	sess      *Session
	n         sources.Notifier
	folders   []pingFolder
	rechecked bool
}

func (w *pingNotify) arm(wake func()) (func(), error) {
	ids := make([]sources.FolderID, len(w.folders))
	for i, f := range w.folders {
		ids[i] = f.store
	}
	stop, err := w.n.Notify(ids, wake)
	if err != nil {
		return nil, fmt.Errorf("gateway: Ping watch: %w", err)
	}
	if w.rechecked {
		return stop, nil
	}
	w.rechecked = true
	t := time.AfterFunc(pingRecheck, wake)
	return func() { t.Stop(); stop() }, nil
}

func (w *pingNotify) check(ctx context.Context) (any, error) {
	woke := time.Now()
	changed, up, err := w.s.pingChanges(ctx, w.sess, w.folders)
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, nil
	case err != nil:
		return nil, err
	case len(changed) > 0:
		w.s.metrics.PushWake(time.Since(woke))
		return pingChanged(changed), nil
	}
	w.folders = up
	return nil, nil
}

func (w *pingNotify) end(ctx context.Context) (any, error) {
	return w.s.pingEnd(ctx, w.sess, w.folders)
}

// servePing is Ping's streamFunc. req is nil for an empty body.
func (s *Server) servePing(ctx context.Context, sess *Session, req request, w http.ResponseWriter) error {
	r, _ := req.(*eas.PingRequest)
	return s.handlePing(ctx, sess, r, w)
}

// answerNow answers a stream route with a buffered response.
func (s *Server) answerNow(ctx context.Context, w http.ResponseWriter, resp any) error {
	rec, ok := w.(*recorder)
	if !ok {
		return errors.New("gateway: not the route's ResponseWriter")
	}
	s.respond(ctx, rec.x, resp, nil)
	return nil
}

// pingParams merges req with the account's last Ping and checks the result
// against s.limits. It returns either the parameters to use, remembered for
// the next Ping, or the response that refuses them.
func (s *Server) pingParams(ctx context.Context, a statecache.Account, req *eas.PingRequest) (pingParams, *eas.PingResponse, error) {
	var pp pingParams
	body, err := s.state.LastRequest(ctx, a, eas.CmdPing.String())
	known := err == nil
	switch {
	case errors.Is(err, statecache.ErrNotFound):
	case err != nil:
		return pp, nil, err
	default:
		var last eas.PingRequest
		if err := eas.Unmarshal(body, &last, nil); err != nil || last.Folders == nil {
			s.log.WarnContext(ctx, "the last Ping parameters kept are unreadable", "device_id", a.Device, "err", err)
			known = false
		} else {
			pp = pingParams{heartbeat: last.HeartbeatInterval, folders: last.Folders.Folder}
		}
	}
	if req != nil && req.HeartbeatInterval > 0 {
		pp.heartbeat = req.HeartbeatInterval
	}
	if req != nil && req.Folders != nil {
		pp.folders = req.Folders.Folder
	}
	// A Ping that leaves out what no earlier Ping gave (MS-ASCMD
	// 2.2.3.177.10, status 3).
	if !known && (pp.heartbeat == 0 || len(pp.folders) == 0) {
		return pp, &eas.PingResponse{Status: eas.PingStatusMissingParameters}, nil
	}
	minHB, maxHB := int(s.limits.MinHeartbeat/time.Second), int(s.limits.MaxHeartbeat/time.Second)
	switch {
	case pp.heartbeat < minHB:
		return pp, &eas.PingResponse{Status: eas.PingStatusInvalidHeartbeat, HeartbeatInterval: minHB}, nil
	case pp.heartbeat > maxHB:
		return pp, &eas.PingResponse{Status: eas.PingStatusInvalidHeartbeat, HeartbeatInterval: maxHB}, nil
	case len(pp.folders) > s.limits.MaxPingFolders:
		return pp, &eas.PingResponse{Status: eas.PingStatusTooManyFolders, MaxFolders: s.limits.MaxPingFolders}, nil
	}
	body, err = eas.Marshal(&eas.PingRequest{HeartbeatInterval: pp.heartbeat, Folders: &eas.PingFolders{Folder: pp.folders}})
	if err == nil {
		err = s.state.RememberRequest(ctx, a, eas.CmdPing.String(), body)
	}
	if err != nil {
		// This Ping can still wait; the next one without parameters
		// gets status 3.
		s.log.WarnContext(ctx, "keeping the Ping parameters", "device_id", a.Device, "err", err)
	}
	return pp, nil, nil
}

// pingWait waits until one of folders holds changes the device has not
// synced, or until ctx ends.
func (s *Server) pingWait(ctx context.Context, sess *Session, folders []pingFolder) (*eas.PingResponse, error) {
	watcher, ok := sess.Source.(sources.Watcher)
	if !ok {
		watcher = &sources.PollWatcher{Source: sess.Source}
	}
	for {
		ids := make([]sources.FolderID, len(folders))
		for i, f := range folders {
			ids[i] = f.store
		}
		werr := s.pingWatch(ctx, watcher, sess, folders, ids)
		woke := time.Now()
		if ctx.Err() != nil {
			break
		}
		// Watch also wakes for changes the device has already synced (its
		// own, or those a Sync fetched meanwhile), and when a store goes
		// away: compare again. A store that is down answers the Ping at
		// once when it holds all the folders (status 8, retry); otherwise
		// its folders are left out and the others still watched.
		changed, up, err := s.pingChanges(ctx, sess, folders)
		switch {
		case err != nil && ctx.Err() != nil:
		case err != nil:
			return nil, err
		case len(changed) > 0:
			s.metrics.PushWake(time.Since(woke))
			return pingChanged(changed), nil
		case werr != nil && !sources.Temporary(werr):
			return nil, fmt.Errorf("gateway: Ping watch: %w", werr)
		case werr != nil && len(up) == len(folders):
			// Watch failed but every store answers: try again after a
			// pause, so that a store whose Watch keeps failing costs
			// little.
			select {
			case <-ctx.Done():
			case <-time.After(pingWatchRetry):
			}
		}
		if err == nil {
			folders = up
		}
	}
	return s.pingEnd(ctx, sess, folders)
}

// pingEnd answers a Ping whose wait ended (ctx is done) without a change:
// its cause says how.
func (s *Server) pingEnd(ctx context.Context, sess *Session, folders []pingFolder) (*eas.PingResponse, error) {
	if c := context.Cause(ctx); c == errAdminAction || c == errFoldersChosen {
		return s.pingAfterAdmin(ctx, sess, folders)
	}
	if context.Cause(ctx) == errHeartbeat {
		// A change made between the first comparison and the start of
		// Watch does not wake it; look once more before saying none came.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if changed, _, err := s.pingChanges(cctx, sess, folders); err == nil && len(changed) > 0 {
			return pingChanged(changed), nil
		}
	}
	return &eas.PingResponse{Status: eas.PingStatusExpired}, nil
}

// pingRecheck is how long after calling Watch pingWatch compares states
// again; pingWatchRetry how long a Ping waits before calling a Watch that
// failed again.
const (
	pingRecheck    = 200 * time.Millisecond
	pingWatchRetry = 5 * time.Second
)

// pingWatch calls Watch until a change or ctx ends. Watch reports only
// changes made after it began, and the comparison before it cannot tell
// when that is: a change in between would wait for the heartbeat. So a
// timer compares again once Watch has surely begun, and ends Watch if it
// finds a change; the timer costs no goroutine until it fires.
func (s *Server) pingWatch(ctx context.Context, watcher sources.Watcher, sess *Session, folders []pingFolder, ids []sources.FolderID) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t := time.AfterFunc(pingRecheck, func() {
		defer func() {
			if v := recover(); v != nil {
				s.log.Error("Ping recheck panic", "panic", v, "stack", string(debug.Stack()))
			}
		}()
		if changed, _, err := s.pingChanges(wctx, sess, folders); err == nil && len(changed) > 0 {
			cancel()
		}
	})
	defer t.Stop()
	_, err := watcher.Watch(wctx, ids)
	if err != nil && wctx.Err() != nil && ctx.Err() == nil {
		return nil // ended by the timer
	}
	return err
}

// pingChanges returns the CollectionIds of folders whose store holds
// changes after the state of the device's last Sync of them, and the
// folders whose store answered. A folder whose store is down (a temporary
// error) is left out of both; when that is every folder, pingChanges fails
// with the store's error.
func (s *Server) pingChanges(ctx context.Context, sess *Session, folders []pingFolder) (changed []string, up []pingFolder, err error) {
	var down error
	for _, f := range folders {
		ok, err := s.pingChanged(ctx, sess, f)
		switch {
		case err != nil && sources.Temporary(err) && ctx.Err() == nil:
			down = err
			continue
		case err != nil:
			return nil, nil, err
		case ok:
			changed = append(changed, f.collection)
		}
		up = append(up, f)
	}
	if len(up) == 0 && down != nil {
		return nil, nil, down
	}
	if down != nil {
		s.log.Warn("Ping: some folders' store is down; watching the others", "user", sess.User,
			"device_id", sess.Account.Device, "err", down)
	}
	return changed, up, nil
}

// pingChanged reports whether folder f holds changes after the device's
// last Sync of it. A collection never synced compares with the empty
// State: any item in it is a change to fetch.
func (s *Server) pingChanged(ctx context.Context, sess *Session, f pingFolder) (bool, error) {
	_, since, err := s.state.CurrentState(ctx, statecache.CollectionKey{Account: sess.Account, Collection: f.collection})
	if err != nil && !errors.Is(err, statecache.ErrNotFound) {
		return false, fmt.Errorf("gateway: Ping state of %q: %w", f.collection, err)
	}
	if st, ok := sess.Source.(sources.Stater); ok && since != "" {
		if cur, err := st.State(ctx, f.store); err == nil && cur == sources.State(since) {
			return false, nil
		}
	}
	d, err := sess.Source.Changes(ctx, f.store, sources.State(since), 1)
	switch {
	case errors.Is(err, sources.ErrStateExpired):
		// The device's next Sync is answered "invalid sync key" and
		// starts over: send it there.
		return true, nil
	case err != nil:
		// ErrNotFound: the folder is gone, answered status 7.
		return false, fmt.Errorf("gateway: Ping changes of %q: %w", f.collection, err)
	}
	return len(d.Changed) > 0 || len(d.Removed) > 0, nil
}

func pingChanged(ids []string) *eas.PingResponse {
	return &eas.PingResponse{Status: eas.PingStatusChanges, Folders: &eas.PingChangedFolders{Folder: ids}}
}
