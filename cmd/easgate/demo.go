package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/easgate/easgate/gateway"
	"github.com/easgate/easgate/internal/demo"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/memory"
	"github.com/easgate/easgate/statecache"
)

// The demo account. demoDomain is the domain of the address that
// internal/demo writes the mailbox to (demo@example.com), so that Settings
// gives the phone the address the mails are sent to.
const (
	demoUser     = "demo"
	demoPassword = "demo"
	demoDomain   = "example.com"
	demoSeed     = 1
)

// demoShutdownGrace is how long requests in progress may take to finish
// once the demo is told to stop; waiting Pings are answered at once. It
// also bounds the wait for connections that a parked answer handed back
// (gateway.Listener), which http.Server.Shutdown counts as busy for 5 s
// until their next request arrives.
const demoShutdownGrace = 500 * time.Millisecond

// runDemo runs "easgate demo": a gateway in front of an in-memory store
// filled by internal/demo, for one user, with new mail arriving now and
// then so that push can be watched on a phone.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("easgate demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "`address` to listen on")
	adminListen := fs.String("admin-listen", "127.0.0.1:8081", "`address` of the admin listener (metrics, pprof); empty: none")
	stateDir := fs.String("state", "", "`dir`ectory of the device state, kept at exit (default: a temporary directory, removed at exit)")
	mailEvery := fs.Duration("mail-every", 3*time.Minute, "deliver a new mail this `often`; 0 delivers none")
	policyName := fs.String("policy", "allow", "provisioning `mode`: none, allow or force")
	verbose := fs.Bool("v", false, "log at debug level")
	useTLS := fs.Bool("tls", false, "serve HTTPS with a new self-signed certificate, whose fingerprint is printed")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &exitError{2, fmt.Errorf("demo: %w", err)}
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return &exitError{2, fmt.Errorf("demo: unexpected argument %q", fs.Arg(0))}
	}
	mode, err := gateway.ParsePolicyMode(*policyName)
	if err != nil {
		return &exitError{2, fmt.Errorf("demo: policy: %w", err)}
	}
	if *mailEvery < 0 {
		return &exitError{2, fmt.Errorf("demo: mail-every: %v is negative", *mailEvery)}
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	store := memory.New(nil)
	if err := demo.Populate(ctx, store, demoUser, time.Now(), demoSeed); err != nil {
		return err
	}

	dir, keep := *stateDir, *stateDir != ""
	if !keep {
		if dir, err = os.MkdirTemp("", "easgate-demo-"); err != nil {
			return fmt.Errorf("demo: state: %w", err)
		}
		defer func() {
			if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
				err = fmt.Errorf("demo: state: %w", rerr)
			}
		}()
	}
	state, err := statecache.Open(dir, &statecache.Options{Logger: log})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer func() {
		if cerr := state.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("demo: %w", cerr)
		}
	}()

	gw, err := gateway.New(&gateway.Options{
		Logger:     log,
		Backend:    demoBackend{store.User(demoUser)},
		State:      state,
		Policy:     gateway.Policy{Mode: mode},
		MailDomain: demoDomain,
		Directory:  gateway.DirectoryOptions{Folder: demo.DirectoryFolder},

		QuarantineNotice: true,
	})
	if err != nil {
		return err
	}
	if *mailEvery > 0 {
		dctx, stop := context.WithCancel(ctx)
		defer stop()
		go deliverDemoMail(dctx, log, store, *mailEvery)
	}
	// The consoles and the admin API as serve has them: the user's at
	// /devices, the administrator's with EASGATE_ADMIN_TOKEN.
	stopSocket, err := mountAdminAt(ctx, gw, AdminConfig{
		Listen: *adminListen, Token: os.Getenv("EASGATE_ADMIN_TOKEN"), UserConsole: true,
	}, dir, log)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer stopSocket()
	fd := &frontDoor{listen: *listen, adminListen: *adminListen, grace: demoShutdownGrace,
		headerTimeout: 30 * time.Second, idleTimeout: 2 * time.Minute}
	if *useTLS {
		if fd.cert, err = selfSigned(*listen, time.Now()); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	err = serveGateway(ctx, gw, fd, log, func(addr, admin net.Addr) {
		demoBanner(stdout, addr, admin, fd.cert, dir, keep, *mailEvery)
		log.Info("listening", "addr", addr.String())
	})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}

// demoBanner tells the user where the demo listens and how to log in.
func demoBanner(w io.Writer, eas, admin net.Addr, cert *certSource, dir string, keep bool, every time.Duration) {
	addr := eas.String()
	server := addr
	if host, port, err := net.SplitHostPort(addr); err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			// Listening on every address: name one a phone can use.
			if name, err := os.Hostname(); err == nil {
				server = net.JoinHostPort(name, port)
			}
		}
	}
	fmt.Fprintf(w, "easgate demo: mail, calendar, contacts, tasks and notes of a made-up user\n\n")
	scheme := "http"
	if cert != nil {
		scheme = "https"
	}
	fmt.Fprintf(w, "  URL       %s://%s%s\n", scheme, server, gateway.Path)
	fmt.Fprintf(w, "  server    %s\n", server)
	fmt.Fprintf(w, "  user      %s (or %s@%s, or DOMAIN\\%s)\n", demoUser, demoUser, demoDomain, demoUser)
	fmt.Fprintf(w, "  password  %s\n", demoPassword)
	fmt.Fprintf(w, "  devices   %s://%s%s (the user's console: see and wipe the phones)\n", scheme, server, gateway.UserConsolePath)
	if cert != nil {
		fmt.Fprintf(w, "  sha256    %s\n", cert.fingerprint())
	}
	if admin != nil {
		fmt.Fprintf(w, "  metrics   http://%s/metrics (and /debug/pprof/)\n", admin)
	}
	fmt.Fprintln(w)
	if every > 0 {
		fmt.Fprintf(w, "A new mail arrives every %v.\n", every)
	}
	if keep {
		fmt.Fprintf(w, "Device state: %s (kept at exit).\n", dir)
	} else {
		fmt.Fprintf(w, "Device state: %s (removed at exit; -state DIR keeps it).\n", dir)
	}
	if cert != nil {
		fmt.Fprintf(w, "TLS with a new self-signed certificate: accept it on the phone if it shows the sha256 fingerprint above.\n")
	} else {
		fmt.Fprintf(w, "Phones want HTTPS: run with -tls for a self-signed certificate, or put a TLS reverse proxy in front, e.g. caddy reverse-proxy --from HOST --to %s\n", addr)
	}
}

// deliverDemoMail delivers a new demo mail every every until ctx ends.
func deliverDemoMail(ctx context.Context, log *slog.Logger, store *memory.Store, every time.Duration) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("mail delivery panic", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	t := time.NewTicker(every)
	defer t.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if err := demo.Deliver(ctx, store, demoUser, now, n); err != nil {
				log.Error("mail delivery", "err", err)
				continue
			}
			log.Info("new mail delivered", "user", demoUser, "n", n)
		}
	}
}

// demoBackend logs in the demo user. Phones send the name as typed, as an
// address or with a Windows domain (see gateway.Backend): each names the
// one user, in any case, since phones capitalise the first letter of a
// field.
type demoBackend struct{ src *memory.Source }

func (b demoBackend) Login(_ context.Context, user, password string) (sources.Source, error) {
	if _, name, ok := strings.Cut(user, `\`); ok {
		user = name
	}
	if name, domain, ok := strings.Cut(user, "@"); ok && strings.EqualFold(domain, demoDomain) {
		user = name
	}
	if !strings.EqualFold(user, demoUser) || password != demoPassword {
		return nil, fmt.Errorf("demo: user %q: %w", user, sources.ErrAuth)
	}
	return b.src, nil
}
