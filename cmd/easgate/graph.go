package main

import (
	"cmp"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/easgate/easgate/gateway"
	"github.com/easgate/easgate/internal/graphemu"
	"github.com/easgate/easgate/metrics"
	"github.com/easgate/easgate/sources/graph"
	"github.com/easgate/easgate/statecache"
)

// GraphConfig is the [graph] section, for store kind graph: one Entra ID
// app registration with application permissions (docs/GRAPH.md).
type GraphConfig struct {
	Tenant          string `toml:"tenant"`           // required: tenant id or primary domain
	ClientID        string `toml:"client_id"`        // required: the app's client id
	ClientSecret    string `toml:"client_secret"`    // a client secret, or:
	CertificateFile string `toml:"certificate_file"` // PEM certificate of a certificate credential
	KeyFile         string `toml:"key_file"`         // its PEM RSA private key
	GraphURL        string `toml:"graph_url"`        // default https://graph.microsoft.com
	AuthorityURL    string `toml:"authority_url"`    // default https://login.microsoftonline.com

	Concurrency     int           `toml:"concurrency"`       // requests in flight per mailbox; default 3
	Budget          int           `toml:"budget"`            // requests per mailbox per 10 minutes; default 9000
	PageSize        int           `toml:"page_size"`         // delta page size; default 100
	PollInterval    time.Duration `toml:"poll_interval"`     // Inbox/Calendar/Contacts poll while phones wait; default 30s
	MaxPollInterval time.Duration `toml:"max_poll_interval"` // idle folders back off to this; default 10m

	Directory string `toml:"directory"` // name of a read-only contacts folder of the tenant's users, for [gal] folder; "": none

	NotificationURL    string `toml:"notification_url"`    // public HTTPS URL of the webhook; "": polling only
	NotificationListen string `toml:"notification_listen"` // host:port serving it (behind a TLS proxy)

	// Tenants, as [[graph.tenants]], serve several Entra tenants, each with
	// its own app registration, chosen by the domain of the login. The
	// single-tenant keys above (tenant, client_id, client_secret,
	// certificate_file, key_file) then stay empty; the others apply to
	// every tenant.
	Tenants []GraphTenant `toml:"tenants"`
}

// GraphTenant is one [[graph.tenants]] entry.
type GraphTenant struct {
	Domains         []string `toml:"domains"`          // required: the login domains (UPN suffixes) it serves
	Tenant          string   `toml:"tenant"`           // required: tenant id or primary domain
	ClientID        string   `toml:"client_id"`        // required
	ClientSecret    string   `toml:"client_secret"`    // a client secret, or:
	CertificateFile string   `toml:"certificate_file"` // PEM certificate of a certificate credential
	KeyFile         string   `toml:"key_file"`         // its PEM RSA private key
	GraphURL        string   `toml:"graph_url"`        // default graph.graph_url
	AuthorityURL    string   `toml:"authority_url"`    // default graph.authority_url
}

// tenants returns the tenants of [graph]: [[graph.tenants]], or the one
// of its single-tenant keys (with no domains: it serves every login).
func (g GraphConfig) tenants() []GraphTenant {
	if len(g.Tenants) > 0 {
		return g.Tenants
	}
	return []GraphTenant{{Tenant: g.Tenant, ClientID: g.ClientID, ClientSecret: g.ClientSecret,
		CertificateFile: g.CertificateFile, KeyFile: g.KeyFile}}
}

// usesGraph reports whether a store of the config is Graph.
func (c *Config) usesGraph() bool {
	if c.Store.Kind == "graph" {
		return true
	}
	for _, cl := range c.classes() {
		if cl.on && cl.from == "graph" {
			return true
		}
	}
	return false
}

func defaultGraphConfig() GraphConfig {
	return GraphConfig{GraphURL: "https://graph.microsoft.com", AuthorityURL: "https://login.microsoftonline.com",
		Concurrency: 3, Budget: 9000, PageSize: 100, PollInterval: 30 * time.Second, MaxPollInterval: 10 * time.Minute}
}

// validateGraph checks [graph]; its required keys only for kind graph.
func (c *Config) validateGraph(e *configErrors) {
	g := c.Graph
	if len(g.Tenants) > 0 {
		if g.Tenant != "" || g.ClientID != "" || g.ClientSecret != "" || g.CertificateFile != "" || g.KeyFile != "" {
			e.add("graph.tenants", "set together with graph.tenant, client_id, client_secret, certificate_file or key_file; give each tenant its own in [[graph.tenants]]")
		}
		seen := make(map[string]int)
		for i, t := range g.Tenants {
			key := fmt.Sprintf("graph.tenants[%d]", i)
			if len(t.Domains) == 0 {
				e.add(key+".domains", "empty: a tenant serves the logins of the domains listed")
			}
			for _, d := range t.Domains {
				d = strings.ToLower(d)
				if j, dup := seen[d]; dup {
					e.add(key+".domains", "%q is also graph.tenants[%d]'s", d, j)
				}
				seen[d] = i
			}
			checkGraphTenant(e, key, t, true)
			if t.GraphURL != "" {
				checkURL(e, key+".graph_url", t.GraphURL)
			}
			if t.AuthorityURL != "" {
				checkURL(e, key+".authority_url", t.AuthorityURL)
			}
		}
	} else if c.usesGraph() {
		checkGraphTenant(e, "graph", g.tenants()[0], true)
	} else {
		checkGraphTenant(e, "graph", g.tenants()[0], false)
	}
	checkURL(e, "graph.graph_url", g.GraphURL)
	checkURL(e, "graph.authority_url", g.AuthorityURL)
	for _, n := range []struct {
		key string
		v   int
	}{{"graph.concurrency", g.Concurrency}, {"graph.budget", g.Budget}, {"graph.page_size", g.PageSize}} {
		if n.v < 1 {
			e.add(n.key, "%d is less than 1", n.v)
		}
	}
	if g.Concurrency > 4 {
		e.add("graph.concurrency", "%d is more than Graph's 4 concurrent requests per mailbox", g.Concurrency)
	}
	if g.PollInterval <= 0 {
		e.add("graph.poll_interval", "%v is not positive", g.PollInterval)
	}
	if g.MaxPollInterval < g.PollInterval {
		e.add("graph.max_poll_interval", "%v is less than graph.poll_interval", g.MaxPollInterval)
	}
	if g.NotificationURL != "" {
		checkURL(e, "graph.notification_url", g.NotificationURL)
		if g.NotificationListen == "" {
			e.add("graph.notification_listen", "not set, and graph.notification_url is")
		}
	}
	if g.NotificationListen != "" {
		checkAddr(e, "graph.notification_listen", g.NotificationListen)
	}
}

// checkGraphTenant checks one tenant's credentials; required says a
// Graph store uses them.
func checkGraphTenant(e *configErrors, key string, t GraphTenant, required bool) {
	if required {
		if t.Tenant == "" {
			e.add(key+".tenant", "not set, and a store is graph")
		}
		if t.ClientID == "" {
			e.add(key+".client_id", "not set, and a store is graph")
		}
		if t.ClientSecret == "" && t.CertificateFile == "" {
			e.add(key+".client_secret", "neither it nor %s.certificate_file is set, and a store is graph", key)
		}
	}
	if (t.CertificateFile == "") != (t.KeyFile == "") {
		e.add(key+".key_file", "%s.certificate_file and %s.key_file go together", key, key)
	}
}

// statePasswords checks device passwords in the state store; a nil
// store (config tests) refuses every one.
type statePasswords struct{ st *statecache.Store }

func (p statePasswords) CheckUserPassword(ctx context.Context, user, password string) (bool, error) {
	if p.st == nil {
		return false, nil
	}
	return p.st.CheckUserPassword(ctx, user, password)
}

// graphBackend returns the Graph store of [graph]: one tenant's Backend,
// or with [[graph.tenants]] the Tenants that pick one by login domain.
func graphBackend(cfg *Config, log *slog.Logger, state *statecache.Store) (gateway.Backend, error) {
	g := cfg.Graph
	if len(g.Tenants) == 0 {
		return graphTenantBackend(cfg, g.tenants()[0], log, state)
	}
	domains := make(map[string]*graph.Backend)
	var made []*graph.Backend
	for i, t := range g.Tenants {
		tlog := log
		if tlog != nil {
			tlog = log.With("tenant", t.Tenant)
		}
		b, err := graphTenantBackend(cfg, t, tlog, state)
		if err != nil {
			for _, m := range made {
				m.Close()
			}
			return nil, fmt.Errorf("config: graph.tenants[%d]: %w", i, err)
		}
		made = append(made, b)
		for _, d := range t.Domains {
			domains[d] = b
		}
	}
	return graph.NewTenants(domains, cfg.Server.MailDomain)
}

// graphTenantBackend returns the Backend of one tenant with the shared
// keys of [graph].
func graphTenantBackend(cfg *Config, t GraphTenant, log *slog.Logger, state *statecache.Store) (*graph.Backend, error) {
	g := cfg.Graph
	o := graph.Options{
		GraphURL: cmp.Or(t.GraphURL, g.GraphURL), AuthorityURL: cmp.Or(t.AuthorityURL, g.AuthorityURL), Tenant: t.Tenant, ClientID: t.ClientID,
		ClientSecret: t.ClientSecret, Passwords: statePasswords{state}, MailDomain: cfg.Server.MailDomain,
		Concurrency: g.Concurrency, Budget: g.Budget, PageSize: g.PageSize,
		PollInterval: g.PollInterval, MaxPollInterval: g.MaxPollInterval,
		NotificationURL: g.NotificationURL, Directory: g.Directory, MaxUsers: cfg.Store.MaxUsers, Logger: log,
	}
	if state != nil {
		// The journals behind the phones' States live in the state store,
		// so a restart costs the phones no resync.
		o.Journals = state
	}
	if t.CertificateFile != "" {
		cert, key, err := loadCertificate(t.CertificateFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("config: graph.certificate_file: %w", err)
		}
		o.Certificate, o.Key = cert, key
	}
	b, err := graph.NewBackend(o)
	if err != nil {
		return nil, fmt.Errorf("config: graph: %w", err)
	}
	return b, nil
}

func loadCertificate(certFile, keyFile string) (*x509.Certificate, crypto.Signer, error) {
	c, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, err
	}
	k, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, err
	}
	return graph.ParseCertificate(c, k)
}

// notificationServer is a Graph store that serves Graph's webhook:
// *graph.Backend and *graph.Tenants.
type notificationServer interface {
	NotificationHandler() http.Handler
}

// graphNotifications finds the Graph store in b, itself or one of those
// a closingBackend was built from.
func graphNotifications(b gateway.Backend) notificationServer {
	if n, ok := b.(notificationServer); ok {
		return n
	}
	if cb, ok := b.(closingBackend); ok {
		for _, c := range cb.closers {
			if n, ok := c.(notificationServer); ok {
				return n
			}
		}
	}
	return nil
}

// graphStats is a Graph store whose traffic is measured: *graph.Backend
// and *graph.Tenants.
type graphStats interface {
	SetObserver(graph.Observer)
	Mailboxes(n int) []graph.MailboxStats
}

// mountGraphMetrics counts the Graph store's traffic in gw's registry, by
// tenant, and lists the busiest mailboxes at /debug/graph/mailboxes on
// the admin listener (?top=N, default 20): a metric label per mailbox
// would make a series per user.
func mountGraphMetrics(gw *gateway.Server, backend gateway.Backend) {
	gs, ok := backendOf[graphStats](backend)
	if !ok {
		return
	}
	gs.SetObserver(metrics.NewGraph(gw.Registry()))
	gw.Admin().HandleFunc("GET /debug/graph/mailboxes", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("top"))
		if err != nil || n <= 0 {
			n = 20
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(gs.Mailboxes(min(n, 1000)))
	})
}

// serveGraphNotifications serves the webhook Graph posts to, when
// configured, until stop is called.
func serveGraphNotifications(ctx context.Context, addr string, b notificationServer, log *slog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: b.NotificationHandler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go srv.Serve(ln)
	log.Info("graph notifications", "addr", ln.Addr().String())
	return func() { srv.Close() }, nil
}

const userUsage = `usage: easgate user password -state DIR USER
       easgate user revoke -state DIR USER
       easgate user signin -config FILE USER

password issues a new device password to USER (a UPN such as
alice@contoso.com) and prints it: the password the user's phones log in
with when the store is Microsoft Graph, where easgate never sees or sends
the user's Microsoft password. It replaces any earlier one. revoke removes
it. DIR is the statecache directory of easgate serve, which must not be
running on it: the store locks its directory. With serve running, use the
admin API instead: POST or DELETE /admin/v1/users/USER/password, which
also ends the logins serve remembers.

signin lets USER prove who they are by signing in with Microsoft (the
device code: open the page shown, enter the code, sign in), and issues
the device password only when the account signed in is USER's mailbox.
FILE is serve's configuration, for the tenant and the state. With serve
running, users do this themselves in the users' console (/devices).
`

// runUser runs "easgate user".
func runUser(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, userUsage)
		return &exitError{2, errors.New("user: missing password or revoke")}
	}
	sub := args[0]
	switch sub {
	case "signin":
		return runSignIn(ctx, args[1:], stdout, stderr)
	case "password", "revoke":
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, userUsage)
		return nil
	default:
		fmt.Fprint(stderr, userUsage)
		return &exitError{2, fmt.Errorf("user: unknown subcommand %q", sub)}
	}
	fs := flag.NewFlagSet("easgate user "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, userUsage) }
	dir := fs.String("state", "", "the statecache `DIR`ectory")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &exitError{2, fmt.Errorf("user %s: %w", sub, err)}
	}
	if *dir == "" || fs.NArg() != 1 || fs.Arg(0) == "" {
		fmt.Fprint(stderr, userUsage)
		return &exitError{2, fmt.Errorf("user %s: want -state DIR and one USER", sub)}
	}
	st, err := openState(*dir)
	if err != nil {
		return err
	}
	defer st.Close()
	user := fs.Arg(0)
	if sub == "revoke" {
		if err := st.DeleteUserPassword(ctx, user); err != nil {
			return fmt.Errorf("user revoke: %w", err)
		}
		fmt.Fprintf(stdout, "revoked the device password of %s\n", user)
		return nil
	}
	pw := statecache.NewPassword()
	if err := st.SetUserPassword(ctx, user, pw, time.Now()); err != nil {
		return fmt.Errorf("user password: %w", err)
	}
	fmt.Fprintf(stdout, "device password of %s: %s\n", user, pw)
	return nil
}

// runSignIn runs "easgate user signin": the device-code sign-in of the
// console, on the command line.
func runSignIn(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("easgate user signin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, userUsage) }
	path := fs.String("config", "", "serve's configuration `FILE`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &exitError{2, fmt.Errorf("user signin: %w", err)}
	}
	if *path == "" || fs.NArg() != 1 || fs.Arg(0) == "" {
		fmt.Fprint(stderr, userUsage)
		return &exitError{2, errors.New("user signin: want -config FILE and one USER")}
	}
	cfg, err := loadConfig(*path, os.Environ())
	if err != nil {
		return &exitError{2, err}
	}
	if !cfg.usesGraph() {
		return &exitError{2, errors.New("user signin: the configuration has no graph store")}
	}
	st, err := cfg.State.open(ctx, nil)
	if err != nil {
		return fmt.Errorf("user signin: %w", err)
	}
	defer st.Close()
	b, err := graphBackend(cfg, slog.New(slog.DiscardHandler), st)
	if err != nil {
		return err
	}
	if c, ok := b.(io.Closer); ok {
		defer c.Close()
	}
	sb, ok := b.(gateway.SignInBackend)
	if !ok {
		return errors.New("user signin: the graph store offers no sign-in")
	}
	si, err := sb.StartSignIn(ctx, fs.Arg(0))
	if err != nil {
		return fmt.Errorf("user signin: %w", err)
	}
	fmt.Fprintln(stdout, si.Message)
	for {
		user, done, err := si.Poll(ctx)
		if err != nil {
			return fmt.Errorf("user signin: %w", err)
		}
		if done {
			pw := statecache.NewPassword()
			if err := st.SetUserPassword(ctx, user, pw, time.Now()); err != nil {
				return fmt.Errorf("user signin: %w", err)
			}
			fmt.Fprintf(stdout, "device password of %s: %s\n", user, pw)
			return nil
		}
		if time.Now().After(si.Expires) {
			return errors.New("user signin: the code expired before the sign-in")
		}
		t := time.NewTimer(si.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

const graphEmulatorUsage = `usage: easgate graph-emulator [-listen ADDR]

graph-emulator serves an in-memory Microsoft Graph (internal/graphemu) with
two seeded mailboxes, for trying the Graph store without a tenant:
configs/graph-emulator.toml points easgate serve at it. It prints the
tenant, the app's client id and secret and the mailboxes at start.
`

// Emulator credentials that configs/graph-emulator.toml repeats.
const (
	emulatorTenant   = "contoso"
	emulatorClientID = "00000000-0000-0000-0000-00000000e5a5"
	emulatorSecret   = "emulator-secret"
)

// runGraphEmulator runs "easgate graph-emulator" until ctx ends.
func runGraphEmulator(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("easgate graph-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, graphEmulatorUsage) }
	listen := fs.String("listen", "127.0.0.1:8090", "`address` to listen on")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &exitError{2, fmt.Errorf("graph-emulator: %w", err)}
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return &exitError{2, fmt.Errorf("graph-emulator: unexpected argument %q", fs.Arg(0))}
	}
	emu := graphemu.New(graphemu.Options{Tenant: emulatorTenant,
		Apps: []graphemu.App{{ClientID: emulatorClientID, Secret: emulatorSecret}}})
	if err := graphemu.Seed(emu, "example.com"); err != nil {
		return fmt.Errorf("graph-emulator: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", *listen)
	if err != nil {
		return fmt.Errorf("graph-emulator: %w", err)
	}
	emu.SetBaseURL("http://" + ln.Addr().String())
	srv := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "Graph emulator on http://%s (token endpoint http://%s/%s/oauth2/v2.0/token)\n",
		ln.Addr(), ln.Addr(), emulatorTenant)
	fmt.Fprintf(stdout, "tenant %s, client id %s, client secret %s\n", emulatorTenant, emulatorClientID, emulatorSecret)
	for _, u := range emu.Users() {
		fmt.Fprintf(stdout, "mailbox %s (%s), object id %s\n", u.UPN, u.Name, u.ID)
	}
	fmt.Fprintln(stdout, "issue device passwords with: easgate user password -state DIR alice@example.com")
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("graph-emulator: %w", err)
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(shut)
	emu.Close()
	return nil
}
