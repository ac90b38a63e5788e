package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/statecache"
)

// errBlocked answers a device that an access rule blocks or quarantines:
// 129 DeviceIsBlockedForThisUser (MS-ASCMD 2.2.2), or HTTP 403 before 14.0,
// which has no common status codes.
var errBlocked = &eas.StatusError{Status: eas.StatusDeviceIsBlockedForThisUser, Scope: eas.ScopeCommand}

// checkAccess applies the device access rules (statecache.AccessRule) to a
// request. A blocked device is refused everything, except that a pending
// wipe is still delivered: blocking a stolen phone must not save it from
// the wipe. A quarantined device may still Provision and send Settings, so
// that the administrator deciding about it sees its DeviceInformation.
func (s *Server) checkAccess(ctx context.Context, sess *Session) error {
	rule, ok, err := s.state.DeviceAccess(ctx, sess.Request.DeviceID)
	if err != nil {
		return fmt.Errorf("gateway: reading the device access rules: %w", err)
	}
	if !ok || rule.Level == statecache.AccessAllow {
		return nil
	}
	cmd := sess.Request.Command
	if rule.Level == statecache.AccessQuarantine && (cmd == eas.CmdProvision || cmd == eas.CmdSettings) {
		return nil
	}
	info, err := s.state.Account(ctx, sess.Account)
	if err != nil && !errors.Is(err, statecache.ErrNotFound) {
		return fmt.Errorf("gateway: reading the account: %w", err)
	}
	if pendingWipe(info, sess.Version()) != statecache.WipeNone {
		// admit sends everything but Provision there.
		return nil
	}
	s.log.InfoContext(ctx, "device refused by an access rule", "user", sess.User, "device_id", sess.Request.DeviceID,
		"level", rule.Level.String(), "by", string(rule.By), "value", rule.Value)
	if rule.Level == statecache.AccessQuarantine {
		s.quarantineNotice(ctx, sess, rule)
	}
	return errBlocked
}

// errAdminAction is the cause of a wait ended because an administrator (or
// the user, from the console) changed the device's state: the wait then
// answers what the device must do next instead of "nothing changed".
var errAdminAction = errors.New("gateway: device state changed by an administrator")

// errFoldersChosen is the cause of a wait ended because the user changed
// which folders sync: the Ping answers that the hierarchy changed.
var errFoldersChosen = errors.New("gateway: the user chose other folders to sync")

// wake ends the waiting requests (Ping, hanging Sync) of every user of
// device dev, on every node, so that the device sees an action at once.
func (s *Server) wake(ctx context.Context, dev string) {
	s.signal(ctx, signal{Kind: signalAdmin, Device: dev})
}

// endCause ends a's waiting request with cause, if it has one.
func (ws *waiters) endCause(a statecache.Account, cause error) {
	ws.mu.Lock()
	old := ws.m[a]
	delete(ws.m, a)
	ws.mu.Unlock()
	if old != nil {
		old.cancel(cause)
	}
}

// pingResync answers a Ping at once when an administrator forced a resync
// the device has not carried out: status 7 sends it to FolderSync (which
// answers 9) for a full resync, status 2 to Sync the forced collections
// (answered 3). It returns nil when nothing is pending.
func (s *Server) pingResync(ctx context.Context, sess *Session, folders []pingFolder) (*eas.PingResponse, error) {
	info, err := s.state.Account(ctx, sess.Account)
	if errors.Is(err, statecache.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("gateway: Ping: reading the account: %w", err)
	}
	if info.Resync.Hierarchy {
		return &eas.PingResponse{Status: eas.PingStatusFolderHierarchyChanged}, nil
	}
	var ids []string
	for _, f := range folders {
		if slices.Contains(info.Resync.Collections, f.collection) {
			ids = append(ids, f.collection)
		}
	}
	if len(ids) > 0 {
		return pingChanged(ids), nil
	}
	return nil, nil
}

// pingAfterAdmin answers a Ping whose wait an administrator's action
// ended: with what admit now says (a wipe, a block), a forced resync, or
// status 1, after which the device pings again and meets the new state.
func (s *Server) pingAfterAdmin(ctx context.Context, sess *Session, folders []pingFolder) (*eas.PingResponse, error) {
	if context.Cause(ctx) == errFoldersChosen {
		return &eas.PingResponse{Status: eas.PingStatusFolderHierarchyChanged}, nil
	}
	ctx = context.WithoutCancel(ctx)
	if err := s.admit(ctx, sess); err != nil {
		return nil, err
	}
	resp, err := s.pingResync(ctx, sess, folders)
	if err != nil || resp != nil {
		return resp, err
	}
	return &eas.PingResponse{Status: eas.PingStatusExpired}, nil
}
