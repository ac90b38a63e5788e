package imapdav

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/easgate/easgate/sources"
)

// conn is one authenticated IMAP connection and what it has selected.
type conn struct {
	c        *imapclient.Client
	selected string // mailbox name, "" when none
	stop     func() bool
	idleAt   time.Time // when it was last put back in the pool
}

// caps reports whether the server offers cap.
func (c *conn) has(cap imap.Cap) bool { return c.c.Caps().Has(cap) }

// pool holds a user's command connections: at most Options.MaxConns at a
// time, idle ones kept for the next command; and one more connection, kept
// for STATUS alone, that never selects a mailbox.
type pool struct {
	s   *Source
	sem chan struct{}

	mu     sync.Mutex
	free   []*conn
	closed bool
	reaper *time.Timer // logs out connections idle for Options.ConnIdle; nil when none is due

	// The status connection answers change checks (issue 14). Dovecot
	// answers STATUS of a 50,000-message mailbox in 0.23 ms on a
	// connection that never selected a mailbox, and in 17–24 ms on one
	// that has or had another mailbox selected, so the check is kept off
	// the selecting connections. statusMu serialises its commands.
	statusMu    sync.Mutex
	statusC     *conn
	statusTimer *time.Timer // logs statusC out once idle for Options.ConnIdle
}

func newPool(s *Source) *pool {
	return &pool{s: s, sem: make(chan struct{}, s.opts.MaxConns)}
}

// get returns a connection for the caller's exclusive use until put. If
// ctx ends while the caller holds it, the connection is closed, which
// unblocks any command in flight.
func (p *pool) get(ctx context.Context) (*conn, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("imapdav: wait for a connection: %w", ctx.Err())
	}
	for {
		p.mu.Lock()
		var c *conn
		if n := len(p.free); n > 0 {
			c, p.free = p.free[n-1], p.free[:n-1]
		}
		p.mu.Unlock()
		if c == nil {
			break
		}
		select {
		case <-c.c.Closed():
			continue // the server hung up while it was idle
		default:
		}
		c.stop = context.AfterFunc(ctx, func() { c.c.Close() })
		return c, nil
	}
	c, err := p.dial(ctx, nil)
	if err != nil {
		<-p.sem
		return nil, err
	}
	c.stop = context.AfterFunc(ctx, func() { c.c.Close() })
	return c, nil
}

// put returns c to the pool. err is the outcome of the caller's last
// command: a connection that failed, or whose context ended, is closed
// rather than reused.
func (p *pool) put(c *conn, err error) {
	defer func() { <-p.sem }()
	alive := c.stop()
	var ie *imap.Error
	if !alive || err != nil && !errors.As(err, &ie) && !errors.Is(err, sources.ErrNotFound) &&
		!errors.Is(err, sources.ErrConflict) && !errors.Is(err, sources.ErrStateExpired) {
		c.c.Close()
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.c.Close()
		return
	}
	c.idleAt = time.Now()
	p.free = append(p.free, c)
	if p.reaper == nil {
		p.reaper = time.AfterFunc(p.s.opts.ConnIdle, p.reap)
	}
}

// reap logs out the connections that have been idle for Options.ConnIdle
// and schedules itself for the next one due.
func (p *pool) reap() {
	idle := p.s.opts.ConnIdle
	p.mu.Lock()
	p.reaper = nil
	var old []*conn
	keep := p.free[:0]
	next := time.Duration(-1)
	for _, c := range p.free {
		if left := idle - time.Since(c.idleAt); left > 0 {
			keep = append(keep, c)
			if next < 0 || left < next {
				next = left
			}
			continue
		}
		old = append(old, c)
	}
	clear(p.free[len(keep):])
	p.free = keep
	if next >= 0 && !p.closed {
		p.reaper = time.AfterFunc(next, p.reap)
	}
	p.mu.Unlock()
	logout(old)
}

// open returns the number of the pool's connections, idle or in use,
// the status connection included.
func (p *pool) open() int {
	p.mu.Lock()
	n := len(p.free) + len(p.sem)
	p.mu.Unlock()
	p.statusMu.Lock()
	if p.statusC != nil {
		n++
	}
	p.statusMu.Unlock()
	return n
}

// isClosed reports whether the pool was closed (its Source retired).
func (p *pool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// takeStatus removes the status connection from the pool and returns it
// (none or one) for the caller to log out.
func (p *pool) takeStatus() []*conn {
	p.statusMu.Lock()
	defer p.statusMu.Unlock()
	if p.statusTimer != nil {
		p.statusTimer.Stop()
		p.statusTimer = nil
	}
	c := p.statusC
	p.statusC = nil
	if c == nil {
		return nil
	}
	return []*conn{c}
}

// reapStatus logs the status connection out once it has been idle for
// Options.ConnIdle, as reap does the others.
func (p *pool) reapStatus() {
	p.statusMu.Lock()
	c := p.statusC
	if c == nil {
		// The connection failed and was dropped meanwhile: the next one
		// needs a timer of its own (status starts one only when none is
		// set), or it would stay logged in for good (issue 14: a loaded
		// Dovecot's timeouts left hundreds open).
		p.statusTimer = nil
		p.statusMu.Unlock()
		return
	}
	if left := p.s.opts.ConnIdle - time.Since(c.idleAt); left > 0 {
		p.statusTimer = time.AfterFunc(left, p.reapStatus)
		p.statusMu.Unlock()
		return
	}
	p.statusC, p.statusTimer = nil, nil
	p.statusMu.Unlock()
	logout([]*conn{c})
}

// logout ends the connections cs.
func logout(cs []*conn) {
	for _, c := range cs {
		c.c.Logout().Wait()
		c.c.Close()
	}
}

func (p *pool) close() {
	p.mu.Lock()
	free := p.free
	p.free, p.closed = nil, true
	if p.reaper != nil {
		p.reaper.Stop()
		p.reaper = nil
	}
	p.mu.Unlock()
	free = append(free, p.takeStatus()...)
	logout(free)
}

// dial connects and logs in. h, if not nil, receives the connection's
// unilateral data (for IDLE).
func (p *pool) dial(ctx context.Context, h *imapclient.UnilateralDataHandler) (*conn, error) {
	o := p.s.opts
	opts := &imapclient.Options{
		Dialer:                &net.Dialer{Timeout: 15 * time.Second},
		UnilateralDataHandler: h,
	}
	var (
		c   *imapclient.Client
		err error
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		switch o.TLS {
		case TLSNone:
			c, err = imapclient.DialInsecure(o.IMAP, opts)
		case TLSImplicit:
			c, err = imapclient.DialTLS(o.IMAP, opts)
		default:
			c, err = imapclient.DialStartTLS(o.IMAP, opts)
		}
		if err == nil {
			err = c.Login(p.s.user, p.s.pass).Wait()
			if err != nil {
				c.Close()
			}
		}
	}()
	select {
	case <-done:
	case <-ctx.Done():
		go func() {
			<-done
			if err == nil {
				c.Close()
			}
		}()
		return nil, sources.MarkTemporary(fmt.Errorf("imapdav: connect to %s: %w", o.IMAP, ctx.Err()))
	}
	if err != nil {
		var ie *imap.Error
		if errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeNo {
			if ie.Code == imap.ResponseCodeUnavailable {
				return nil, sources.MarkTemporary(fmt.Errorf("imapdav: login %s: %w", p.s.user, err))
			}
			return nil, fmt.Errorf("imapdav: login %s: %w: %w", p.s.user, sources.ErrAuth, err)
		}
		return nil, sources.MarkTemporary(fmt.Errorf("imapdav: connect to %s: %w", o.IMAP, err))
	}
	return &conn{c: c}, nil
}

// with runs fn on a pooled connection.
func (s *Source) with(ctx context.Context, fn func(c *conn) error) error {
	c, err := s.pool.get(ctx)
	if err != nil {
		return err
	}
	err = fn(c)
	s.pool.put(c, err)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", err, ctx.Err())
	}
	return err
}

// selectBox selects mailbox name with CONDSTORE when the server has it,
// and returns its select data.
func (c *conn) selectBox(name string) (*imap.SelectData, error) {
	d, err := c.c.Select(name, &imap.SelectOptions{CondStore: c.has(imap.CapCondStore)}).Wait()
	if err != nil {
		c.selected = ""
		return nil, c.boxErr(err, "select %q", name)
	}
	c.selected = name
	return d, nil
}

// ensure selects mailbox name unless it is selected already.
func (c *conn) ensure(name string) error {
	if c.selected == name {
		// The mailbox may have grown since this connection selected it
		// (another connection appended): a NOOP lets the server announce
		// the new messages, which it will not FETCH for us before.
		if err := c.c.Noop().Wait(); err != nil {
			c.selected = ""
			return c.boxErr(err, "noop in %q", name)
		}
		return nil
	}
	_, err := c.selectBox(name)
	return err
}

// fetchFresh runs UID FETCH of uids in mailbox name, selecting it first
// unless this connection has it selected. A connection that selected it
// earlier may not know messages added since (the server answers UID FETCH
// from the session's view): when the answer lacks some of uids, a NOOP
// lets the server announce them and those are fetched again. The NOOP is
// left out otherwise, as it is not free: on Dovecot it syncs the
// mailbox's index, which a listing's FETCHes have just changed, in
// O(mailbox) (issue 14).
func (c *conn) fetchFresh(name string, uids []imap.UID, o *imap.FetchOptions) ([]*imapclient.FetchMessageBuffer, error) {
	known := c.selected == name
	if !known {
		if _, err := c.selectBox(name); err != nil {
			return nil, err
		}
	}
	msgs, err := collect(c.c.Fetch(setOf(uids), o))
	if err != nil {
		c.selected = ""
		return nil, c.boxErr(err, "fetch from %q", name)
	}
	if !known || len(msgs) >= len(uids) {
		return msgs, nil
	}
	got := make(map[imap.UID]bool, len(msgs))
	for _, m := range msgs {
		got[m.UID] = true
	}
	var rest []imap.UID
	for _, u := range uids {
		if !got[u] {
			rest = append(rest, u)
		}
	}
	if len(rest) == 0 {
		return msgs, nil // uids named some twice
	}
	if err := c.c.Noop().Wait(); err != nil {
		c.selected = ""
		return nil, c.boxErr(err, "noop in %q", name)
	}
	more, err := collect(c.c.Fetch(setOf(rest), o))
	if err != nil {
		c.selected = ""
		return nil, c.boxErr(err, "fetch from %q", name)
	}
	return append(msgs, more...), nil
}

// collect is FetchCommand.Collect for the items fetchFresh's callers ask
// for, reading each body section into a buffer of the literal's size:
// Collect's io.ReadAll grows its buffer from 512 bytes, which cost 7 % of
// easgate's CPU in a first Sync of mail of 6 KB (issue 14).
func collect(cmd *imapclient.FetchCommand) ([]*imapclient.FetchMessageBuffer, error) {
	defer cmd.Close()
	var out []*imapclient.FetchMessageBuffer
	for m := cmd.Next(); m != nil; m = cmd.Next() {
		buf := &imapclient.FetchMessageBuffer{SeqNum: m.SeqNum}
		for item := m.Next(); item != nil; item = m.Next() {
			switch item := item.(type) {
			case imapclient.FetchItemDataBodySection:
				var b []byte
				var err error
				switch n := item.Literal; {
				case n == nil:
				case n.Size() >= 0 && n.Size() <= maxLiteralPrealloc:
					// The literal's size is its framing on the wire.
					b = make([]byte, n.Size())
					_, err = io.ReadFull(n, b)
				default:
					b, err = io.ReadAll(n)
				}
				if err != nil {
					return out, err
				}
				buf.BodySection = append(buf.BodySection, imapclient.FetchBodySectionBuffer{Section: item.Section, Bytes: b})
			case imapclient.FetchItemDataFlags:
				buf.Flags = item.Flags
			case imapclient.FetchItemDataInternalDate:
				buf.InternalDate = item.Time
			case imapclient.FetchItemDataRFC822Size:
				buf.RFC822Size = item.Size
			case imapclient.FetchItemDataUID:
				buf.UID = item.UID
			case imapclient.FetchItemDataModSeq:
				buf.ModSeq = item.ModSeq
			}
		}
		out = append(out, buf)
	}
	return out, cmd.Close()
}

// maxLiteralPrealloc bounds what collect allocates up front for a
// literal on the server's word; a larger one grows as it is read.
const maxLiteralPrealloc = 1 << 20

// boxErr wraps the failure of a command on mailbox name. Servers do not
// all send NONEXISTENT (Dovecot answers a plain NO to SELECT), so a NO
// without a code is checked with LIST.
func (c *conn) boxErr(err error, format, name string) error {
	var ie *imap.Error
	if errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeNo && ie.Code == "" {
		if l, lerr := c.c.List("", name, nil).Collect(); lerr == nil && len(l) == 0 {
			return fmt.Errorf("imapdav: "+format+": %w: %w", name, sources.ErrNotFound, err)
		}
	}
	return wrap(err, format, name)
}

// status runs STATUS on mailbox name. A server may answer STATUS on the
// selected mailbox from stale session state (Dovecot does), so that one is
// unselected first, pipelined with the STATUS.
func (c *conn) status(name string, o *imap.StatusOptions) (*imap.StatusData, error) {
	var unsel *imapclient.Command
	if c.selected == name {
		unsel = c.c.Unselect()
		c.selected = ""
	}
	cmd := c.c.Status(name, o)
	if unsel != nil {
		unsel.Wait()
	}
	sd, err := cmd.Wait()
	if err != nil {
		return nil, c.boxErr(err, "status %q", name)
	}
	return sd, nil
}

// status runs STATUS on mailbox name over the status connection, dialled
// on first use and kept while it works. Callers take turns on it: a
// STATUS costs a fraction of a millisecond, less than a second
// connection would.
func (p *pool) status(ctx context.Context, name string, o *imap.StatusOptions) (*imap.StatusData, error) {
	p.statusMu.Lock()
	defer p.statusMu.Unlock()
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("imapdav: status %q: source closed", name)
	}
	c := p.statusC
	if c != nil {
		select {
		case <-c.c.Closed():
			c, p.statusC = nil, nil // the server hung up while it was idle
		default:
		}
	}
	if c == nil {
		var err error
		if c, err = p.dial(ctx, nil); err != nil {
			return nil, err
		}
		p.statusC = c
	}
	stop := context.AfterFunc(ctx, func() { c.c.Close() })
	sd, err := c.status(name, o)
	var ie *imap.Error
	if !stop() || err != nil && !errors.As(err, &ie) && !errors.Is(err, sources.ErrNotFound) {
		c.c.Close()
		p.statusC = nil
		if p.statusTimer != nil {
			p.statusTimer.Stop()
			p.statusTimer = nil
		}
	} else {
		c.idleAt = time.Now()
		if p.statusTimer == nil {
			p.statusTimer = time.AfterFunc(p.s.opts.ConnIdle, p.reapStatus)
		}
	}
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("%w (%w)", err, ctx.Err())
	}
	return sd, err
}
