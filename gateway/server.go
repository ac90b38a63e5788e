// Package gateway is easgate's HTTP front door: it parses MS-ASHTTP
// requests, authenticates them, decodes their WBXML bodies into the typed
// requests of package eas, dispatches them to command handlers and maps
// errors to EAS statuses.
package gateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"reflect"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/metrics"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/statecache"
)

// Path is the path of the EAS endpoint. Devices vary its case, so it is
// matched ignoring case.
const Path = "/Microsoft-Server-ActiveSync"

// DefaultMaxBodySize is the request body limit when Options.MaxBodySize is
// zero. A SendMail with attachments is the largest body a device sends.
const DefaultMaxBodySize = 32 << 20

// Backend authenticates a user and opens the user's store. user is the
// name exactly as the client sent it in the Authorization header: "user",
// "user@domain" or "DOMAIN\user". An error wrapping sources.ErrAuth (or any
// error that is not temporary) is answered 401; a temporary one 503, so that
// a store that is down does not make the phone ask for a new password.
// Backends cache what they can: Login runs on every request.
type Backend interface {
	Login(ctx context.Context, user, password string) (sources.Source, error)
}

// Options configure a Server. The zero value is valid: it serves every
// protocol version, refuses every login and logs nothing.
type Options struct {
	Logger      *slog.Logger          // nil: discard
	Versions    []eas.ProtocolVersion // nil: eas.AllVersions
	MaxBodySize int64                 // bytes; 0: DefaultMaxBodySize; past it, HTTP 413
	Decoder     *eas.DecoderOptions   // nil: the codec's defaults
	Backend     Backend               // nil: every request but OPTIONS is answered 401

	// DecodeBudget bounds the bytes of request bodies being decoded at
	// once, across requests (decodebudget.go); 0: DefaultDecodeBudget.
	// Past it, HTTP 503 with Retry-After. It may not be below MaxBodySize.
	DecodeBudget int64

	// State keeps device state: sync keys, id maps, policy keys, wipes.
	// Commands that need it are not routed without it.
	State *statecache.Store

	// Policy says whether devices must provision, and with what policy.
	Policy Policy

	// Limits bound what one device may ask for; zero fields take the
	// defaults documented on Limits.
	Limits Limits

	// Now returns the current time; nil means time.Now. Tests set it.
	Now func() time.Time

	// MailDomain completes a login name that is not an address into the
	// user's SMTP address (Settings UserInformation); "" leaves it bare.
	MailDomain string

	// QuarantineNotice puts a message in the user's Inbox when a device
	// of theirs is first refused for being quarantined, as Exchange
	// does, so that they learn why their new phone does not sync
	// (quarantine.go).
	QuarantineNotice bool

	// Directory is the address book of GAL searches and
	// ResolveRecipients; the zero value is each user's contacts folder.
	Directory DirectoryOptions

	// ExternalURL is the base URL phones reach this server at
	// ("https://mail.example.org"), which Autodiscover hands out; ""
	// turns Autodiscover off (autodiscover.go).
	ExternalURL  string
	Autodiscover AutodiscoverOptions
	// Certificates configure ValidateCert; the zero value trusts the
	// system's roots and does not check revocation.
	Certificates CertOptions

	// Login configures failed-login throttling, the cache of successful
	// logins and the trusted proxies.
	Login LoginOptions

	// Conns bound connections (LimitConns) and slow request bodies.
	Conns ConnOptions

	// Bus and Locks join this Server to the other nodes that share its
	// State (signals.go): Bus carries the signals that end a phone's
	// waiting request parked on another node, Locks serialises an
	// account's Syncs across nodes. Nil for one node.
	Bus   Bus
	Locks AccountLocker
}

// Server is the http.Handler of the EAS endpoint. Metrics and profiles are
// served apart, by Admin's mux.
type Server struct {
	log       *slog.Logger
	reg       *prometheus.Registry
	metrics   *metrics.Metrics
	versions  []eas.ProtocolVersion
	maxBody   int64
	decoder   *eas.DecoderOptions
	budget    *decodeBudget // decodebudget.go
	backend   Backend
	state     *statecache.Store
	policy    Policy
	limits    Limits
	now       func() time.Time
	mailDom   string
	qnotice   bool // Options.QuarantineNotice
	routes    []route
	mux       *http.ServeMux
	admin     *http.ServeMux // admin.go
	*accounts                // per-account memory, bounded (accounts.go)
	parking   parking        // waits whose connection was taken over (park.go)
	dir       *directory     // gal.go
	traces    traces         // per-device traces and recent requests (trace.go)

	autodiscover *autodiscover // autodiscover.go
	certs        CertOptions
	crls         crlCache    // crl.go
	throttle     *Throttle   // login.go
	logins       *loginCache // login.go
	proxies      []netip.Prefix
	conns        ConnOptions                                 // conns.go
	slots        requestSlots                                // overload.go
	loops        *accountCache[statecache.Account, *loopRun] // each device's last request (overload.go)
	signals      signals                                     // to and from the other nodes (signals.go)
	locks        AccountLocker                               // nil: one node

	// parkHook, when set (by tests), sees the request and the buffers of
	// every connection a wait takes over, just before they are dropped.
	parkHook func(*http.Request, *bufio.ReadWriter)
}

var errNoCredentials = errors.New("gateway: no Basic credentials")

// Session is what a handler knows of the client besides the request body.
type Session struct {
	User    string             // the authenticated name, as the client sent it
	Request *Request           // the parsed URI and headers
	Account statecache.Account // the user on this device: the key of its state
	Source  sources.Source     // the user's store
}

// Version is the protocol version of the request.
func (sess *Session) Version() eas.ProtocolVersion { return sess.Request.Version }

// New returns a Server configured by o, which may be nil.
func New(o *Options) (*Server, error) {
	if o == nil {
		o = &Options{}
	}
	s := &Server{
		log:      o.Logger,
		reg:      prometheus.NewRegistry(),
		versions: o.Versions,
		maxBody:  o.MaxBodySize,
		decoder:  o.Decoder,
		backend:  o.Backend,
		state:    o.State,
		policy:   o.Policy,
		limits:   o.Limits.withDefaults(),
		now:      o.Now,
		mailDom:  o.MailDomain,
		qnotice:  o.QuarantineNotice,
		certs:    o.Certificates,
		routes:   append([]route(nil), routes...),
		mux:      http.NewServeMux(),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.versions == nil {
		s.versions = eas.AllVersions
	}
	if len(s.versions) == 0 {
		return nil, errors.New("gateway: versions: none enabled")
	}
	for _, v := range s.versions {
		if !v.Known() {
			return nil, fmt.Errorf("gateway: versions: unknown protocol version %d", v)
		}
	}
	switch {
	case s.maxBody == 0:
		s.maxBody = DefaultMaxBodySize
	case s.maxBody < 0:
		return nil, fmt.Errorf("gateway: max body size: %d is negative", s.maxBody)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.accounts = newAccounts(s.limits, s.now)
	s.dir = newDirectory(o.Directory, s.now, s.log)
	ad, err := newAutodiscover(o.ExternalURL, o.Autodiscover)
	if err != nil {
		return nil, err
	}
	s.autodiscover = ad
	s.throttle = NewThrottle(o.Login.Throttle, s.now)
	s.logins = newLoginCache(o.Login.CacheTTL, o.Login.CacheSize, s.now)
	s.loops = newAccountCache[statecache.Account, *loopRun](s.limits.MaxAccounts, s.limits.LoopWindow, s.now)
	s.proxies = o.Login.TrustedProxies
	s.conns = o.Conns.withDefaults()
	if err := s.policy.check(); err != nil {
		return nil, err
	}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.metrics = metrics.New(s.reg)
	s.instrument() // opsmetrics.go
	if s.budget, err = newDecodeBudget(o.DecodeBudget, s.maxBody, s.reg); err != nil {
		return nil, err
	}
	s.signals, s.locks = newSignals(o.Bus), o.Locks
	if o.Bus != nil {
		s.parking.init()
		// ended by Shutdown, with the waits it would end
		go s.subscribe(s.parking.ctx)
	}
	s.mux.HandleFunc("POST "+Path, s.servePost)
	s.mux.HandleFunc("OPTIONS "+Path, s.serveOptions)
	s.admin = s.newAdminMux()
	return s, nil
}

// Registry returns the Prometheus registry that the admin mux's /metrics
// serves, for other packages' collectors.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// ServeHTTP serves the EAS endpoint, under any case of Path, and nothing
// else: /metrics is on Admin's mux.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rw := s.limitWrites(w)
	defer rw.finish()
	w = rw
	if isAutodiscover(r.URL.Path) {
		s.serveAutodiscover(w, r)
		return
	}
	if r.URL.Path != Path && strings.EqualFold(r.URL.Path, Path) {
		r2 := *r
		u := *r.URL
		u.Path, u.RawPath = Path, ""
		r2.URL = &u
		r = &r2
	}
	s.mux.ServeHTTP(w, r)
}

// route returns the dispatch row of c, or nil.
func (s *Server) route(c eas.Command) *route {
	for i := range s.routes {
		if s.routes[i].cmd == c {
			return &s.routes[i]
		}
	}
	return nil
}

// routed returns the commands that have a handler, in table order.
func (s *Server) routed() []string {
	var names []string
	for _, rt := range s.routes {
		if rt.routed() && slices.ContainsFunc(s.versions, rt.cmd.Supports) {
			names = append(names, rt.cmd.String())
		}
	}
	return names
}

// serveOptions answers the OPTIONS discovery request, MS-ASHTTP 2.2.3 and
// 2.2.4. It needs the Authorization header (MS-ASHTTP 2.2.3.1.2), as
// Exchange and Z-Push require: clients send OPTIONS first when an account
// is set up, and a mistyped password is caught there.
func (s *Server) serveOptions(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	done := s.metrics.Start()
	user, _, err := s.login(r)
	if err != nil {
		code := refuseLogin(w, err)
		done("OPTIONS", code)
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", slog.String("cmd", "OPTIONS"), slog.String("user", user),
			slog.Int("status", code), slog.Duration("dur", time.Since(start)))
		return
	}
	vs := make([]string, len(s.versions))
	for i, v := range s.versions {
		vs[i] = v.String()
	}
	h := w.Header()
	h.Set("Allow", "OPTIONS,POST")
	h.Set("Public", "OPTIONS,POST")
	h.Set("Cache-Control", "private")
	h.Set("MS-Server-ActiveSync", s.versions[len(s.versions)-1].String())
	h.Set("MS-ASProtocolVersions", strings.Join(vs, ","))
	h.Set("MS-ASProtocolCommands", strings.Join(s.routed(), ","))
	w.WriteHeader(http.StatusOK)
	done("OPTIONS", http.StatusOK)
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", slog.String("cmd", "OPTIONS"), slog.String("user", user),
		slog.Int("status", http.StatusOK), slog.Duration("dur", time.Since(start)))
}

// exchange is one POST being answered: what the access line reports.
type exchange struct {
	w         *recorder
	r         *http.Request // nil once a wait has taken the connection over
	q         *Request
	user      string
	easStatus eas.Status
	start     time.Time
	done      func(command string, httpStatus int) // from metrics.Start

	// detached is set when a wait took the connection over: the wait then
	// writes the answer, the access line and the metrics (park.go).
	detached bool

	// release gives back the request's slot (overload.go) once it waits
	// or is answered; loop says its command is one loop detection
	// watches.
	release func()
	loop    bool
	body    *rateBody // the body under its deadline (conns.go); nil: none

	tr *traceCapture // the bodies, when the device is traced (trace.go)
}

// recorder remembers the HTTP status written through it.
type recorder struct {
	http.ResponseWriter
	code int
	x    *exchange
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	if r.x != nil && r.x.tr != nil {
		r.x.tr.resp.Write(b)
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (Flush for the
// streaming commands, deadlines for Ping).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *Server) servePost(w http.ResponseWriter, r *http.Request) {
	x := &exchange{r: r, start: time.Now(), done: s.metrics.Start()}
	x.w = &recorder{ResponseWriter: w, x: x}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("handler panic", "panic", p, "stack", string(debug.Stack()))
			if x.w.code == 0 && !x.detached {
				x.w.WriteHeader(http.StatusInternalServerError)
			}
		}
		if !x.detached {
			s.finish(r.Context(), x)
		}
	}()

	q, qerr := parseRequest(r, s.versions)
	x.q = q
	s.traces.capture(x, r, s.now())
	// Credentials first, before a byte of the body is read: a client
	// without them is answered at once and its connection closed.
	user, src, err := s.login(r)
	x.user = user
	if err != nil {
		refuseLogin(x.w, err)
		return
	}
	if qerr != nil {
		s.log.Debug("bad request", "err", qerr)
		answerAndClose(x.w, http.StatusBadRequest, qerr.Error())
		return
	}
	x.body = s.limitBody(w, r)
	rt := s.route(q.Command)
	if rt == nil || !rt.routed() || !q.Command.Supports(q.Version) {
		// MS-ASHTTP 3.2.5.1: a command the server does not support is a
		// bad request.
		answerAndClose(x.w, http.StatusBadRequest, fmt.Sprintf("gateway: bad request: command %s is not supported in protocol version %s", q.Command, q.Version))
		return
	}
	sess := &Session{User: user, Request: q, Account: statecache.Account{User: user, Device: q.DeviceID}, Source: src}
	release, reason := s.takeSlot(sess.Account)
	if reason != "" {
		s.overloaded(x.w, reason)
		return
	}
	x.release = release
	defer release()
	switch q.Command {
	case eas.CmdSync, eas.CmdPing, eas.CmdFolderSync:
		// The commands a confused device repeats (overload.go).
		x.loop = true
	}
	if q.Command == eas.CmdPing || q.Command == eas.CmdSync {
		// A phone waits in at most one request: its new one ends the old.
		s.signal(r.Context(), signal{Kind: signalRequest, User: sess.Account.User, Device: sess.Account.Device})
	}
	if err := s.admit(r.Context(), sess); err != nil {
		s.fail(r.Context(), x, err)
		return
	}
	s.serveRoute(r, x, rt, sess)
}

// serveRoute is the generic adapter: it decodes the body into the route's
// typed request, validates it, calls the handler and encodes its response.
func (s *Server) serveRoute(r *http.Request, x *exchange, rt *route, sess *Session) {
	req, err := s.decode(r, x, rt)
	if err != nil {
		s.fail(r.Context(), x, err)
		return
	}
	if x.loop && !s.slowLoop(r.Context(), x, sess) {
		return
	}
	if rt.stream != nil {
		if err := rt.stream(s, r.Context(), sess, req, x.w); err != nil {
			if x.w.code != 0 {
				// The status went out with the first byte; the
				// handler already reported what it could.
				s.log.Warn("streaming response failed", "cmd", x.q.Command.String(), "device_id", x.q.DeviceID, "err", err)
				return
			}
			s.fail(r.Context(), x, err)
		}
		return
	}
	resp, err := rt.handle(s, r.Context(), sess, req)
	s.respond(r.Context(), x, resp, err)
}

// respond answers a handler's buffered response, or its error through
// fail.
func (s *Server) respond(ctx context.Context, x *exchange, resp any, err error) {
	if err != nil {
		s.fail(ctx, x, err)
		return
	}
	if isNil(resp) {
		x.w.WriteHeader(http.StatusOK)
		return
	}
	// Buffer the document so that an encoding failure can still change the
	// HTTP status; streaming commands write through their own writer.
	var buf bytes.Buffer
	e := eas.NewEncoder(&buf)
	if err := e.Encode(resp); err != nil {
		s.fail(ctx, x, fmt.Errorf("gateway: encoding %s response: %w", x.q.Command, err))
		return
	}
	if err := e.Flush(); err != nil {
		s.fail(ctx, x, err)
		return
	}
	x.w.Header().Set("Content-Type", wbxmlType)
	x.w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	x.w.WriteHeader(http.StatusOK)
	x.w.Write(buf.Bytes())
}

// finish writes the access line of an answered POST and counts it.
func (s *Server) finish(ctx context.Context, x *exchange) {
	s.logAccess(ctx, x, time.Since(x.start))
	cmd := ""
	if x.q != nil && x.q.Command != 0 {
		cmd = x.q.Command.String()
	}
	x.done(cmd, x.w.code)
	s.traces.observe(x, s.now())
}

// decode reads the request body into a new typed request and validates it.
// It returns nil for an empty body where the command allows one.
func (s *Server) decode(r *http.Request, x *exchange, rt *route) (request, error) {
	q := x.q
	req := rt.newRequest(q)
	if rt.body == bodyNone {
		return req, req.Validate(q.Version)
	}
	if r.ContentLength > s.maxBody {
		return nil, &http.MaxBytesError{Limit: s.maxBody}
	}
	br := &budgetReader{r: http.MaxBytesReader(x.w, r.Body, s.maxBody), b: s.budget}
	defer br.release()
	body := bufio.NewReader(br)
	if q.MIME {
		return mimeRequest(q, body)
	}
	if _, err := body.Peek(1); err == io.EOF {
		if rt.body == bodyOptional {
			return nil, nil
		}
		return nil, &eas.SchemaError{Command: q.Command.String(), Msg: "empty request body"}
	}
	if err := eas.NewDecoder(body, s.decoder).Decode(req); err != nil {
		return nil, err
	}
	return req, req.Validate(q.Version)
}

// fail answers a command-scope error through statusFor and logs it when it
// is a server error.
func (s *Server) fail(ctx context.Context, x *exchange, err error) {
	var re *RequestError
	if errors.As(err, &re) {
		answerAndClose(x.w, http.StatusBadRequest, re.Error())
		return
	}
	if errors.Is(err, errOverBudget) {
		refuseOverBudget(x.w)
		return
	}
	st, code := s.answerFor(ctx, x.q, x.user, eas.ScopeCommand, err)
	x.easStatus = st
	if err := writeStatus(x.w, x.q.Command, st, code); err != nil {
		s.log.Warn("writing status", "err", err)
	}
}

// logAccess writes the one access line of a POST. It never logs passwords:
// only the user name of the Authorization header is kept.
func (s *Server) logAccess(ctx context.Context, x *exchange, dur time.Duration) {
	attrs := []slog.Attr{slog.String("user", x.user)}
	if q := x.q; q != nil {
		cmd := ""
		if q.Command != 0 {
			cmd = q.Command.String()
		}
		proto := ""
		if q.Version != 0 {
			proto = q.Version.String()
		}
		attrs = append(attrs, slog.String("cmd", cmd), slog.String("device_id", q.DeviceID),
			slog.String("device_type", q.DeviceType), slog.String("proto", proto))
	}
	attrs = append(attrs, slog.Int("status", x.w.code), slog.Int("eas_status", int(x.easStatus)),
		slog.Duration("dur", dur))
	s.log.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
}

// isNil reports whether a handler's response is nil, typed or not.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		return rv.IsNil()
	}
	return false
}
