package jmap

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	gojmap "git.sr.ht/~rockorager/go-jmap"
	"git.sr.ht/~rockorager/go-jmap/mail/mailbox"

	"github.com/easgate/easgate/sources"
)

const (
	// idleMapTTL bounds how long a mailbox id ↔ IMAP name map is trusted;
	// a folder renamed meanwhile still wakes through the EventSource.
	idleMapTTL = time.Minute
	// idleRetry is how long a user's IDLE stays off after a failed IMAP
	// login or LIST, so that every Ping does not retry it.
	idleRetry = 5 * time.Minute
)

// idleLink lets a user's Watch wake from IMAP IDLE on the same store:
// Cyrus reports a delivery to IDLE within ~50 ms, where its EventSource
// polls every second. The IMAP Source comes from Options.Idle, which
// keeps its connections; mailbox ids are mapped to IMAP names through the
// Mailbox name and parent chain, since go-imap cannot ask STATUS for
// MAILBOXID.
type idleLink struct {
	s    *Source
	open func(ctx context.Context, user, password string) (sources.Source, error)

	mu     sync.Mutex
	user   string
	pass   string
	names  map[sources.FolderID]string // JMAP mailbox id → IMAP name
	mapped time.Time
	failed time.Time
}

// setPassword records the credentials of the user's latest Login.
func (l *idleLink) setPassword(p string) {
	l.mu.Lock()
	l.pass = p
	l.mu.Unlock()
}

// imapSource is what idleLink needs of the IMAP store's Source.
type imapSource interface {
	sources.Source
	sources.Watcher
}

// source logs in to IMAP (the opener caches the Source per user) and
// returns it with the IMAP names of the mail folders of fs it could map.
func (l *idleLink) source(ctx context.Context, fs []sources.FolderID) (imapSource, []sources.FolderID, error) {
	l.mu.Lock()
	user, pass, failed := l.user, l.pass, l.failed
	l.mu.Unlock()
	if time.Since(failed) < idleRetry {
		return nil, nil, nil
	}
	src, err := l.open(ctx, user, pass)
	if err != nil {
		return nil, nil, l.fail(err)
	}
	is, ok := src.(imapSource)
	if !ok {
		return nil, nil, l.fail(fmt.Errorf("jmap: idle: %T cannot watch: %w", src, sources.ErrUnsupported))
	}
	names, err := l.lookup(ctx, is, fs)
	if err != nil {
		return nil, nil, l.fail(err)
	}
	return is, names, nil
}

func (l *idleLink) fail(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	l.mu.Lock()
	l.failed = time.Now()
	l.mu.Unlock()
	return err
}

// lookup maps fs to IMAP names, rebuilding the map when it is old or
// lacks one of them. Folders it cannot map are left out.
func (l *idleLink) lookup(ctx context.Context, is imapSource, fs []sources.FolderID) ([]sources.FolderID, error) {
	l.mu.Lock()
	names, fresh := l.names, time.Since(l.mapped) < idleMapTTL
	l.mu.Unlock()
	for _, f := range fs {
		if _, ok := names[f]; !ok && !isPIM(f) {
			fresh = false
		}
	}
	if !fresh {
		var err error
		if names, err = l.build(ctx, is); err != nil {
			return nil, err
		}
		l.mu.Lock()
		l.names, l.mapped = names, time.Now()
		l.mu.Unlock()
	}
	var out []sources.FolderID
	for _, f := range fs {
		if n, ok := names[f]; ok {
			out = append(out, sources.FolderID(n))
		}
	}
	return out, nil
}

// build pairs each mailbox with the IMAP folder of the same name under
// the paired parent; the inbox roles pair whatever their names ("Inbox"
// in JMAP, "INBOX" in IMAP).
func (l *idleLink) build(ctx context.Context, is imapSource) (map[sources.FolderID]string, error) {
	mbs, err := l.s.mailboxes(ctx)
	if err != nil {
		return nil, err
	}
	d, err := is.Folders(ctx, "")
	if err != nil {
		return nil, err
	}
	type key struct {
		parent sources.FolderID // IMAP name of the parent
		name   string
	}
	byName := make(map[key]sources.FolderID, len(d.Changed))
	var inbox sources.FolderID
	for _, f := range d.Changed {
		if strings.EqualFold(string(f.ID), "INBOX") {
			inbox = f.ID
			continue
		}
		byName[key{f.ParentID, f.Name}] = f.ID
	}
	out := make(map[sources.FolderID]string, len(mbs))
	var resolve func(id gojmap.ID, depth int) (sources.FolderID, bool)
	resolve = func(id gojmap.ID, depth int) (sources.FolderID, bool) {
		if n, ok := out[sources.FolderID(id)]; ok {
			return sources.FolderID(n), true
		}
		m := mbs[id]
		if m == nil || depth > 64 {
			return "", false
		}
		var n sources.FolderID
		if m.Role == mailbox.RoleInbox && m.ParentID == "" {
			n = inbox
		} else {
			var parent sources.FolderID
			if m.ParentID != "" {
				p, ok := resolve(m.ParentID, depth+1)
				if !ok {
					return "", false
				}
				parent = p
			}
			n = byName[key{parent, m.Name}]
		}
		if n == "" {
			return "", false
		}
		out[sources.FolderID(id)] = string(n)
		return n, true
	}
	for id := range mbs {
		resolve(id, 0)
	}
	return out, nil
}

// watch wakes ch whenever IDLE reports a change in one of fs's mail
// folders, until ctx ends. Any failure leaves waking to the EventSource.
func (l *idleLink) watch(ctx context.Context, fs []sources.FolderID, ch chan<- struct{}) {
	defer func() {
		if r := recover(); r != nil {
			l.s.log.Error("jmap: idle panic", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	if !slices.ContainsFunc(fs, func(f sources.FolderID) bool { return !isPIM(f) }) {
		return
	}
	is, names, err := l.source(ctx, fs)
	if err != nil {
		if ctx.Err() == nil {
			l.s.log.Warn("jmap: imap idle unavailable; using the EventSource alone", "err", err, "retry_in", idleRetry)
		}
		return
	}
	if len(names) == 0 {
		return
	}
	for ctx.Err() == nil {
		if _, err := is.Watch(ctx, names); err != nil {
			if ctx.Err() == nil {
				l.s.log.Debug("jmap: imap idle", "err", err)
			}
			return
		}
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// notify has fn called whenever IDLE reports a change in one of fs's mail
// folders, and returns the func that ends that; nil when IDLE cannot
// serve them (the EventSource still does).
func (l *idleLink) notify(fs []sources.FolderID, fn func()) (stop func()) {
	ctx, cancel := context.WithTimeout(context.Background(), idleSetup)
	defer cancel()
	is, names, err := l.source(ctx, fs)
	if err != nil {
		l.s.log.Warn("jmap: imap idle unavailable; using the EventSource alone", "err", err, "retry_in", idleRetry)
		return nil
	}
	nt, ok := is.(sources.Notifier)
	if is == nil || len(names) == 0 || !ok {
		return nil
	}
	stop, err = nt.Notify(names, fn)
	if err != nil {
		l.s.log.Debug("jmap: imap idle", "err", err)
		return nil
	}
	return stop
}

// idleSetup bounds Notify's IMAP login and name lookup.
const idleSetup = 30 * time.Second
