package main

import (
	"cmp"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/easgate/easgate/cluster"
	"github.com/easgate/easgate/gateway"
	"github.com/easgate/easgate/metrics"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/imapdav"
	"github.com/easgate/easgate/sources/imapdav/dav"
	"github.com/easgate/easgate/sources/jmap"
	"github.com/easgate/easgate/sources/memory"
	"github.com/easgate/easgate/statecache"
)

// serveGrace is how long requests in progress may take to finish once
// serve is told to stop; waiting Pings are answered at once.
const serveGrace = 10 * time.Second

// runServe runs "easgate serve": it loads the configuration (a file given
// by -config, then EASGATE_* variables, then -listen), opens the store and
// the device state, and serves until ctx ends. Everything is checked
// before the socket opens.
func runServe(ctx context.Context, args []string, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("easgate serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration `file` (TOML; examples in configs/)")
	listen := fs.String("listen", "", "`address` to listen on, in place of server.listen")
	adminListen := fs.String("admin-listen", "", "`address` of the admin listener (metrics, pprof), in place of admin.listen")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &exitError{2, fmt.Errorf("serve: %w", err)}
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return &exitError{2, fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))}
	}
	cfg, err := loadConfig(*configPath, os.Environ())
	if err != nil {
		return &exitError{2, err}
	}
	if *listen != "" {
		cfg.Server.Listen = *listen
	}
	if *adminListen != "" {
		cfg.Admin.Listen = *adminListen
	}
	log := cfg.logger(stderr)

	state, err := cfg.State.open(ctx, log)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer func() {
		if cerr := state.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("serve: %w", cerr)
		}
	}()
	// The state opens first: the graph store checks device passwords in it.
	backend, err := backendFor(cfg, log, state)
	if err != nil {
		return &exitError{2, err}
	}
	if c, ok := backend.(io.Closer); ok {
		defer c.Close()
	}
	if gb := graphNotifications(backend); gb != nil {
		stop, err := serveGraphNotifications(ctx, cfg.Graph.NotificationListen, gb, log)
		if err != nil {
			return fmt.Errorf("serve: graph.notification_listen: %w", err)
		}
		defer stop()
	}
	o := cfg.gatewayOptions(log)
	o.Backend = backend
	o.State = state
	if url := state.PostgresURL(); url != "" {
		// Several nodes share this state: signals and account locks go
		// through the same database.
		cl, err := cluster.Open(ctx, url, &cluster.Options{Logger: log})
		if err != nil {
			return fmt.Errorf("serve: state.url: %w", err)
		}
		defer cl.Close()
		o.Bus, o.Locks = cl, cl
	}
	gw, err := gateway.New(o)
	if err != nil {
		return err
	}
	mountGraphMetrics(gw, backend)
	if err := mountEvents(gw, backend, cfg); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if ib := imapdavBackend(backend); ib != nil && ib.DAVHub() != nil {
		hub := ib.DAVHub()
		metrics.RegisterDAVPolls(gw.Registry(), func() metrics.DAVPollCounts {
			return metrics.DAVPollCounts(hub.Stats())
		})
	}
	if jb, ok := backendOf[*jmap.Backend](backend); ok {
		metrics.RegisterPrefetch(gw.Registry(), func() metrics.PrefetchCounts {
			return metrics.PrefetchCounts(jb.PrefetchStats())
		})
	}
	stopSocket, err := mountAdmin(ctx, gw, cfg, log)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer stopSocket()
	fd := &frontDoor{
		listen:        cfg.Server.Listen,
		adminListen:   cfg.Admin.Listen,
		grace:         serveGrace,
		headerTimeout: cfg.Server.HeaderTimeout,
		idleTimeout:   cfg.Server.IdleTimeout,
	}
	if cfg.Server.TLSCert != "" {
		if fd.cert, err = loadCert(cfg.Server.TLSCert, cfg.Server.TLSKey); err != nil {
			return &exitError{2, fmt.Errorf("serve: server.tls_cert: %w", err)}
		}
		// SIGHUP reloads the certificate: renewals need no restart, and
		// waiting Pings keep their connections.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go reloadOnHUP(ctx, hup, fd.cert, log)
	}
	err = serveGateway(ctx, gw, fd, log, func(addr, admin net.Addr) {
		log.Info("listening", "addr", addr.String(), "store", cfg.Store.Kind, "tls", fd.cert != nil)
	})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// backendFor returns the Backend of the stores that cfg names ([store],
// and [classes] when content types come from other stores or are off);
// none contacts its server before the first login. A Backend that is an
// io.Closer is closed when serve ends.
func backendFor(cfg *Config, log *slog.Logger, state *statecache.Store) (gateway.Backend, error) {
	return classesBackend(cfg, log, state)
}

// storeBackend returns the Backend of store kind k, configured by its
// section of cfg.
func storeBackend(cfg *Config, k string, log *slog.Logger, state *statecache.Store) (gateway.Backend, error) {
	switch k {
	case "memory":
		return newMemoryBackend(cfg.Memory.Users, cfg.Server.MailDomain), nil
	case "jmap":
		j := cfg.JMAP
		if j.Auth == "bearer" {
			// jmap.Options.Token needs a Verify that checks the phone's
			// password somewhere else, and serve has none to give yet.
			return nil, errors.New("config: jmap.auth: bearer is not built yet in this easgate; use passthrough")
		}
		o := jmap.Options{
			URL:             j.SessionURL,
			DestroyOnDelete: j.Delete == "destroy",
			PollInterval:    j.PollInterval,
			ListChunk:       j.ListChunk,
			FetchConns:      j.FetchConns,
			PrefetchWindows: cmp.Or(j.PrefetchWindows, -1), // 0 turns it off
			PrefetchBytes:   j.PrefetchBytes,
			PrefetchTTL:     j.PrefetchTTL,
			IdleConns:       j.IdleConns,
			MaxUsers:        cfg.Store.MaxUsers,
			Logger:          log,
		}
		var idle *imapdav.Backend
		if j.IdleIMAP != "" {
			// The IMAP adapter lends its IDLE to the JMAP one, so that
			// mail Pings wake in ~50 ms rather than at Cyrus's
			// once-a-second EventSource poll.
			var err error
			idle, err = imapdav.NewBackend(&imapdav.Options{
				IMAP: j.IdleIMAP, TLS: imapdav.TLSMode(j.IdleTLS), Logger: log, MaxUsers: cfg.Store.MaxUsers,
				// Folders beyond the IDLE limit wait on the EventSource.
				PollInterval: 24 * time.Hour,
			})
			if err != nil {
				return nil, fmt.Errorf("config: jmap.idle_imap: %w", err)
			}
			o.Idle = idle.Login
		}
		jb, err := jmap.NewBackend(o)
		if err != nil {
			return nil, err
		}
		if idle == nil {
			return jb, nil
		}
		return closingBackend{jb, []io.Closer{jb, idle}}, nil
	case "imapdav":
		m, d := cfg.IMAP, cfg.DAV
		o := &imapdav.Options{
			IMAP:       m.Addr,
			TLS:        imapdav.TLSMode(m.TLS), // the config's names are the package's
			Submission: m.Submission,
			MaxConns:   m.ConnsPerUser,
			MaxIdle:    m.IdlePerUser,
			ConnIdle:   m.ConnIdle,
			PageTrust:  pageTrust(m.PageTrust),
			Events:     m.EventsToken != "",
			EventCheck: m.EventsCheck,
			// The checks' bounds, across the node.
			EventCheckRate:  m.EventsCheckRate,
			EventCheckConns: m.EventsCheckConns,
			MaxUsers:        cfg.Store.MaxUsers,
			Delete:          imapdav.DeleteMode(m.Delete),
			Logger:          log,
		}
		if m.TLS == "none" {
			o.SubmissionTLS = imapdav.TLSNone
		}
		if d.CalDAVURL != "" || d.CardDAVURL != "" {
			o.DAV = &dav.Options{CalDAV: d.CalDAVURL, CardDAV: d.CardDAVURL, Logger: log,
				PollInterval: d.PollInterval, ActivePollInterval: d.PollIntervalActive, ActiveFor: d.PollActiveFor, PollsPerMinute: d.PollsPerMinute}
		}
		return imapdav.NewBackend(o)
	case "graph":
		return graphBackend(cfg, log, state)
	default:
		return nil, fmt.Errorf("config: store.kind: %q is not one of memory, jmap, imapdav, graph", k)
	}
}

// pageTrust is imap.page_trust as imapdav.Options.PageTrust, where zero
// means the default and a negative value none.
func pageTrust(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// closingBackend is a Backend built from several, each closed with it.
type closingBackend struct {
	gateway.Backend
	closers []io.Closer
}

// Close closes every backend it was built from.
func (b closingBackend) Close() error {
	var errs []error
	for _, c := range b.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// memoryBackend logs the users of [memory] in to an empty in-memory
// store. Names match in any case, bare, as an address in the mail domain
// or with a Windows domain, as phones send them (see gateway.Backend).
type memoryBackend struct {
	store  *memory.Store
	users  map[string]string // lower-cased name → password
	domain string
}

func newMemoryBackend(users map[string]string, domain string) *memoryBackend {
	b := &memoryBackend{store: memory.New(nil), users: make(map[string]string), domain: domain}
	for name, pw := range users {
		name = strings.ToLower(name)
		b.users[name] = pw
		b.store.User(name) // the user's default folders, from the start
	}
	return b
}

func (b *memoryBackend) Login(_ context.Context, user, password string) (sources.Source, error) {
	name := user
	if _, n, ok := strings.Cut(name, `\`); ok {
		name = n
	}
	if n, d, ok := strings.Cut(name, "@"); ok && b.domain != "" && strings.EqualFold(d, b.domain) {
		name = n
	}
	name = strings.ToLower(name)
	pw, ok := b.users[name]
	if !ok || subtle.ConstantTimeCompare([]byte(pw), []byte(password)) != 1 {
		return nil, fmt.Errorf("memory: user %q: %w", user, sources.ErrAuth)
	}
	return b.store.User(name), nil
}

// reloadOnHUP reloads cert on every signal from hup until ctx ends.
func reloadOnHUP(ctx context.Context, hup <-chan os.Signal, cert *certSource, log *slog.Logger) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("certificate reload panic", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := cert.reload(); err != nil {
				log.Error("reloading the certificate; the old one stays", "err", err)
				continue
			}
			log.Info("certificate reloaded", "sha256", cert.fingerprint())
		}
	}
}

// frontDoor says where and how serveGateway listens.
type frontDoor struct {
	listen      string // the EAS listener's host:port
	adminListen string // the admin listener's host:port; "": none
	// grace is how long requests in progress may take to finish once
	// serving stops; waiting Pings are answered at once.
	grace time.Duration
	// headerTimeout bounds the TLS handshake, request line and headers,
	// and how long a connection that a parked answer handed back may
	// stay silent; idleTimeout how long a keep-alive connection may idle.
	headerTimeout, idleTimeout time.Duration
	cert                       *certSource // nil: plain HTTP
}

// serveGateway serves gw as fd says until ctx ends: the EAS endpoint on
// fd.listen and gw.Admin() on fd.adminListen. listening is called once
// both sockets are open, with admin nil when there is no admin listener;
// the admin listener's address is logged. At the end, waiting Pings answer
// at once and other requests get fd.grace to finish before their
// connections are closed.
func serveGateway(ctx context.Context, gw *gateway.Server, fd *frontDoor, log *slog.Logger,
	listening func(addr, admin net.Addr)) error {
	// Parked phones hold their connections for up to the heartbeat, and
	// Go's default keepalive would probe every one of them every 15 s.
	// Probe only after 5 idle minutes, then every minute, 4 times: a dead
	// phone is still found well within the longest heartbeat (59 min).
	lc := net.ListenConfig{KeepAliveConfig: net.KeepAliveConfig{
		Enable: true, Idle: 5 * time.Minute, Interval: time.Minute, Count: 4,
	}}
	raw, err := lc.Listen(ctx, "tcp", fd.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// Connection caps count TCP connections, under TLS; connections
	// taken over by waiting Pings come back through the outermost
	// gateway.Listener, as the *tls.Conn that net/http knows.
	inner := gw.LimitConns(raw)
	if fd.cert != nil {
		inner = tls.NewListener(inner, fd.cert.config())
	}
	ln := gw.Listen(inner)
	srv := &http.Server{
		Handler: gw,
		// Also how long a phone may stay silent after a parked answer
		// hands its connection back (gateway.Listener). Request bodies
		// have their own deadline (gateway.ConnOptions).
		ReadHeaderTimeout: fd.headerTimeout,
		// No WriteTimeout: it would cut off a Ping answered after the
		// heartbeat of a request that waits in its handler.
		WriteTimeout: 0,
		IdleTimeout:  fd.idleTimeout,
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:  func(net.Listener) context.Context { return ctx },
	}
	servers := []*http.Server{srv}
	errc := make(chan error, 2)
	var adminAddr net.Addr
	if fd.adminListen != "" {
		aln, err := net.Listen("tcp", fd.adminListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("admin listen: %w", err)
		}
		adminAddr = aln.Addr()
		admin := &http.Server{
			Handler:           gw.Admin(),
			ReadHeaderTimeout: 10 * time.Second,
			// No WriteTimeout: /debug/pprof/profile and trace write
			// after the seconds they are asked to sample.
			IdleTimeout: 2 * time.Minute,
			ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn),
			BaseContext: func(net.Listener) context.Context { return ctx },
		}
		servers = append(servers, admin)
		log.Info("admin listening", "addr", adminAddr.String())
		go func() { errc <- admin.Serve(aln) }()
	}
	listening(ln.Addr(), adminAddr)
	go func() { errc <- srv.Serve(ln) }()
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), fd.grace)
	defer cancel()
	if err := gw.Shutdown(shutCtx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	for _, s := range servers {
		if err := s.Shutdown(shutCtx); err != nil {
			// A connection a parked answer handed back counts as busy
			// until the phone's next request: close what is left.
			log.Debug("closing the connections still open", "err", err)
			s.Close()
		}
	}
	return serveErr
}

// mountEvents adds imapdav's mailbox events endpoint (imapdav.EventsPath)
// to the admin listener when imap.events_token is set, counting what it
// receives in gw's registry.
func mountEvents(gw *gateway.Server, backend gateway.Backend, cfg *Config) error {
	if cfg.IMAP.EventsToken == "" {
		return nil
	}
	b := eventsBackend(backend)
	if b == nil {
		return errors.New("imap.events_token: no imapdav store takes events")
	}
	m := metrics.NewStoreEvents(gw.Registry())
	h, err := b.EventsHandler(imapdav.EventsOptions{Token: cfg.IMAP.EventsToken, Observe: m.Observe})
	if err != nil {
		return err
	}
	gw.Admin().Handle(imapdav.EventsPath, h)
	return nil
}

// eventsBackend finds the imapdav Backend with events on in b, itself or
// one of those a closingBackend was built from.
func eventsBackend(b gateway.Backend) *imapdav.Backend {
	if ib := imapdavBackend(b); ib != nil && ib.EventsEnabled() {
		return ib
	}
	return nil
}

// imapdavBackend finds the imapdav Backend in b, itself or one of those a
// closingBackend was built from: store.kind's or [classes]'s imapdav store.
func imapdavBackend(b gateway.Backend) *imapdav.Backend {
	ib, _ := backendOf[*imapdav.Backend](b)
	return ib
}

// backendOf returns the backend of type T that serves b: b itself, or
// one of the stores a [classes] configuration routes to, or one a
// closingBackend wraps (a JMAP store with its IMAP link).
func backendOf[T any](b any) (T, bool) {
	if t, ok := b.(T); ok {
		return t, true
	}
	if cb, ok := b.(closingBackend); ok {
		for _, c := range cb.closers {
			if t, ok := backendOf[T](c); ok {
				return t, true
			}
		}
	}
	var zero T
	return zero, false
}

// open opens the state the section names.
func (s StateConfig) open(ctx context.Context, log *slog.Logger) (*statecache.Store, error) {
	if s.URL != "" {
		st, err := statecache.OpenPostgres(ctx, s.URL, &statecache.Options{Logger: log, MaxConns: s.MaxConns})
		if err != nil {
			return nil, fmt.Errorf("state.url: %w", err)
		}
		return st, nil
	}
	st, err := statecache.Open(s.Dir, &statecache.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("state.dir: %w", err)
	}
	return st, nil
}
