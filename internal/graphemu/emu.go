// Package graphemu is an in-memory Microsoft Graph for tests and trials:
// exactly the surface that ../shared/notes/graph.md (beside the repository) §2–§5 and §7
// describe (token endpoint, users, mail folders and messages with delta,
// MIME, attachments, moves, sendMail, contacts, calendar views, To Do,
// $batch, throttling and subscriptions), following Microsoft's documented
// behaviour. Where the documentation does not settle a behaviour, the
// code says "chosen (A<n>)" after the notes' §8 table; "observed" marks
// behaviour seen from the real service but not documented. Everything
// outside the surface answers 501.
package graphemu

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Server. The zero value serves one tenant,
// "emulator", with no apps (so every token request fails) and the limits
// Microsoft documents.
type Options struct {
	Tenant string // tenant id or domain in token URLs; "" means "emulator"
	Apps   []App  // the registered applications

	TokenTTL time.Duration // lifetime of access tokens; 0 means 3599 s

	// Generations is how many of a sync state's newest tokens are honoured
	// (§2.4, chosen A2); 0 means 3.
	Generations int
	// PageSize is the delta page size without odata.maxpagesize (chosen
	// A17); 0 means 10.
	PageSize int

	// Concurrency is the number of requests one app may have in flight per
	// mailbox before 429 (§5.1, chosen A8); 0 means 4.
	Concurrency int
	// Budget is the number of requests per app and mailbox per
	// BudgetWindow (§5.1); 0 means 10,000 per 10 minutes.
	Budget       int
	BudgetWindow time.Duration
	// RetryAfter is the Retry-After of a 429, in whole seconds; 0 means 1.
	RetryAfter int

	// MaxSubscriptionMinutes caps a subscription's lifetime (§3.1, chosen
	// A6); 0 means 10,080.
	MaxSubscriptionMinutes int
	// SentDelay is how long after sendMail the Sent Items copy appears
	// (§4.3); 0 means at once.
	SentDelay time.Duration
	// DeviceCodeInterval is the polling interval the device-code endpoint
	// asks for; 0 means 5 s ([D]).
	DeviceCodeInterval time.Duration

	// Client makes the validation and notification POSTs of
	// subscriptions; nil means a client with a 10 s timeout.
	Client *http.Client

	Now    func() time.Time // nil means time.Now
	Logger *slog.Logger     // nil discards
}

// App is a registered application with client credentials and its
// admin-consented application permissions.
type App struct {
	ClientID    string
	Secret      string            // client secret; "" if only a certificate is accepted
	Certificate *x509.Certificate // verifies client assertions; nil if only the secret is accepted

	// Roles are the application permissions granted; nil grants every
	// permission of §1.2.
	Roles []string
	// Mailboxes, when not nil, is the application access policy: the
	// object ids or UPNs of the only mailboxes it may open (§1.2).
	Mailboxes []string
}

// AllRoles are the application permissions of §1.2.
var AllRoles = []string{"Mail.ReadWrite", "Mail.Send", "Contacts.ReadWrite", "Calendars.ReadWrite",
	"Tasks.ReadWrite.All", "User.Read.All", "MailboxSettings.ReadWrite"}

// Server is the emulator; it is an http.Handler.
type Server struct {
	o   Options
	log *slog.Logger

	mu          sync.Mutex
	boxes       map[string]*mailbox // by object id
	byName      map[string]*mailbox // by lower-cased UPN and mail
	order       []*mailbox
	tokens      map[string]issuedToken
	subs        map[string]*subscription
	faults      []fault
	requests    int // Graph requests answered, for figures
	roundTrips  int // HTTP requests to /v1.0 and /beta, a $batch counting once
	emptyNext   int // delta pages still to be answered empty (§7 row 2)
	replay      bool
	stall       chan struct{} // while set, admitted requests wait for it to close
	uploads     map[string]*uploadSession
	deviceCodes map[string]*deviceCode

	// baseURL is the scheme and host links are built on; set from the
	// first request when empty.
	baseURL atomic.Pointer[string]

	wg sync.WaitGroup // notification deliveries
}

type issuedToken struct {
	app     *App
	user    string // a delegated token's user (object id); "" for app-only
	expires time.Time
}

// fault is an injected failure of the nth request from now.
type fault struct {
	n      int
	status int
}

// New returns an emulator with no mailboxes.
func New(o Options) *Server {
	if o.Tenant == "" {
		o.Tenant = "emulator"
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = 3599 * time.Second
	}
	if o.Generations <= 0 {
		o.Generations = 3
	}
	if o.PageSize <= 0 {
		o.PageSize = 10
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.Budget <= 0 {
		o.Budget = 10000
	}
	if o.BudgetWindow <= 0 {
		o.BudgetWindow = 10 * time.Minute
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = 1
	}
	if o.MaxSubscriptionMinutes <= 0 {
		o.MaxSubscriptionMinutes = 10080
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.DeviceCodeInterval <= 0 {
		o.DeviceCodeInterval = 5 * time.Second
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{o: o, log: log, boxes: make(map[string]*mailbox), byName: make(map[string]*mailbox),
		tokens: make(map[string]issuedToken), subs: make(map[string]*subscription), uploads: make(map[string]*uploadSession),
		deviceCodes: make(map[string]*deviceCode)}
}

// SetBaseURL sets the scheme and host of the links the emulator writes
// (nextLink, deltaLink, Location); without it they use the first
// request's Host.
func (s *Server) SetBaseURL(u string) {
	u = strings.TrimSuffix(u, "/")
	s.baseURL.Store(&u)
}

// Close waits for notifications being delivered.
func (s *Server) Close() { s.wg.Wait() }

// Requests returns the number of Graph requests answered so far, the
// inner requests of a $batch included and token requests not.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// RoundTrips returns the number of HTTP requests to the Graph endpoints
// so far: a $batch counts once, however many requests it holds.
func (s *Server) RoundTrips() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.roundTrips
}

// graphError is a Graph error to answer with (§5.2).
type graphError struct {
	status  int
	code    string
	message string
	header  http.Header
}

func (e *graphError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.message) }

func errf(status int, code, format string, args ...any) *graphError {
	return &graphError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func notFound(what string) *graphError {
	return errf(404, "ErrorItemNotFound", "The specified object was not found in the store. (%s)", what)
}

func badRequest(format string, args ...any) *graphError {
	return errf(400, "ErrorInvalidRequest", format, args...)
}

func notImplemented(r *http.Request) *graphError {
	return errf(501, "NotImplemented", "%s %s is outside the emulated surface", r.Method, r.URL.Path)
}

// writeError writes the error envelope of §5.2, with innerError spelled
// as the examples spell it (chosen A16).
func (s *Server) writeError(w http.ResponseWriter, e *graphError) {
	for k, v := range e.header {
		w.Header()[k] = v
	}
	body := map[string]any{"error": map[string]any{
		"code": e.code, "message": e.message,
		"innerError": map[string]any{"date": s.o.Now().UTC().Format(time.RFC3339), "request-id": newID("")},
	}}
	writeJSON(w, e.status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// ServeHTTP routes a request: the token endpoint, then /v1.0 and /beta.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.baseURL.Load() == nil {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		u := scheme + "://" + r.Host
		s.baseURL.CompareAndSwap(nil, &u)
	}
	segs := splitPath(r.URL.Path)
	if len(segs) == 4 && strings.EqualFold(segs[1], "oauth2") && strings.EqualFold(segs[2], "v2.0") {
		switch strings.ToLower(segs[3]) {
		case "token":
			s.serveToken(w, r, segs[0])
			return
		case "devicecode":
			s.serveDeviceCode(w, r, segs[0])
			return
		}
	}
	if len(segs) == 1 && segs[0] == "devicelogin" {
		s.serveDeviceLogin(w, r)
		return
	}
	if len(segs) == 2 && (segs[0] == "v1.0" || segs[0] == "beta") && strings.EqualFold(segs[1], "me") {
		s.serveMe(w, r)
		return
	}
	if len(segs) == 2 && segs[0] == "upload" {
		s.serveUpload(w, r, segs[1])
		return
	}
	if len(segs) == 0 || (segs[0] != "v1.0" && segs[0] != "beta") {
		s.writeError(w, notImplemented(r))
		return
	}
	s.mu.Lock()
	s.roundTrips++
	s.mu.Unlock()
	app, gerr := s.authenticate(r)
	if gerr != nil {
		s.writeError(w, gerr)
		return
	}
	s.serveGraph(w, r, app, segs)
}

// serveGraph answers one Graph call, after authentication; $batch calls
// it for each inner request.
func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request, app *App, segs []string) {
	version := segs[0]
	segs = segs[1:]
	if len(segs) == 1 && segs[0] == "$batch" && r.Method == http.MethodPost {
		s.serveBatch(w, r, app, version)
		return
	}
	c := &call{s: s, w: w, r: r, app: app, version: version, segs: segs, q: r.URL.Query()}
	c.immutable = preferHas(r.Header, `idtype="immutableid"`)
	var gerr *graphError
	switch {
	case len(segs) >= 1 && strings.EqualFold(segs[0], "subscriptions"):
		gerr = s.serveSubscriptions(c)
	case len(segs) >= 1 && strings.EqualFold(segs[0], "users"):
		gerr = s.serveUsers(c)
	default:
		gerr = notImplemented(r)
	}
	if gerr != nil {
		s.writeError(w, gerr)
	}
}

// call is one Graph request being answered.
type call struct {
	s         *Server
	w         http.ResponseWriter
	r         *http.Request
	app       *App
	version   string
	segs      []string // after the version
	q         url.Values
	immutable bool
	mb        *mailbox
}

// preferHas reports whether a Prefer header holds the value v, compared
// without case and spaces. Several values may be comma-joined in one
// header or spread over several (chosen A15).
func preferHas(h http.Header, v string) bool {
	for _, line := range h.Values("Prefer") {
		for p := range strings.SplitSeq(line, ",") {
			if strings.EqualFold(strings.ReplaceAll(strings.TrimSpace(p), " ", ""), v) {
				return true
			}
		}
	}
	return false
}

// preferValue returns the value of Prefer parameter name (as in
// odata.maxpagesize=100), unquoted, or "".
func preferValue(h http.Header, name string) string {
	for _, line := range h.Values("Prefer") {
		for p := range strings.SplitSeq(line, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), name) {
				return strings.Trim(strings.TrimSpace(v), `"`)
			}
		}
	}
	return ""
}

// splitPath splits a path into segments and spreads OData key segments
// (mailfolders('id')) into two, so both forms route alike (§2.3).
func splitPath(p string) []string {
	var out []string
	for seg := range strings.SplitSeq(strings.Trim(p, "/"), "/") {
		if seg == "" {
			continue
		}
		if i := strings.Index(seg, "('"); i > 0 && strings.HasSuffix(seg, "')") {
			out = append(out, seg[:i], seg[i+2:len(seg)-2])
			continue
		}
		out = append(out, seg)
	}
	return out
}

// authenticate checks the bearer token (§1.1): a missing, unknown or
// expired one is 401 InvalidAuthenticationToken (observed).
func (s *Server) authenticate(r *http.Request) (*App, *graphError) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil, errf(401, "InvalidAuthenticationToken", "Access token is empty.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.tokens[tok]
	if !ok {
		return nil, errf(401, "InvalidAuthenticationToken", "Access token validation failure.")
	}
	if !s.o.Now().Before(it.expires) {
		return nil, errf(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
	}
	if it.user != "" {
		// chosen: a delegated token of the sign-in (User.Read) reads /me only.
		return nil, errf(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
	}
	return it.app, nil
}

func hasRole(app *App, role string) bool {
	if app.Roles == nil {
		return true
	}
	for _, r := range app.Roles {
		if strings.EqualFold(r, role) {
			return true
		}
	}
	return false
}

// admit applies the access policy, injected faults and the per-mailbox
// limits of §5.1 to a request on mailbox m. The returned done ends the
// request's concurrency slot.
func (s *Server) admit(app *App, m *mailbox) (done func(), gerr *graphError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if app.Mailboxes != nil && !containsFold(app.Mailboxes, m.id) && !containsFold(app.Mailboxes, m.upn) {
		return nil, errf(403, "ErrorAccessDenied", "Access to OData is disabled.")
	}
	for i := range s.faults {
		s.faults[i].n--
	}
	for i, f := range s.faults {
		if f.n <= 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
			e := errf(f.status, "serviceNotAvailable", "Injected failure.")
			if f.status == 504 {
				e.code = "UnknownError"
			}
			e.header = http.Header{"Retry-After": {"1"}}
			return nil, e
		}
	}
	now := s.o.Now()
	if now.Sub(m.window) >= s.o.BudgetWindow {
		m.window, m.spent = now, 0
	}
	throttled := func(msg string) *graphError {
		e := errf(429, "ApplicationThrottled", "%s", msg)
		e.header = http.Header{"Retry-After": {strconv.Itoa(s.o.RetryAfter)}}
		return e
	}
	if m.spent >= s.o.Budget {
		return nil, throttled("Application is over its MailboxRequests limit.")
	}
	if m.active >= s.o.Concurrency {
		// observed: the body of the concurrency 429 (§5.1)
		return nil, throttled("Application is over its MailboxConcurrency limit.")
	}
	m.spent++
	m.active++
	if st := s.stall; st != nil {
		s.mu.Unlock()
		<-st
		s.mu.Lock()
	}
	return func() {
		s.mu.Lock()
		m.active--
		s.mu.Unlock()
	}, nil
}

func containsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

// InjectFailure makes the nth Graph request on a mailbox from now (1 is
// the next) fail with status, 503 or 504 (§5.1), with Retry-After: 1.
func (s *Server) InjectFailure(n, status int) {
	s.mu.Lock()
	s.faults = append(s.faults, fault{n: n, status: status})
	s.mu.Unlock()
}

// Stall holds every admitted mailbox request until release is called
// (once or more), so that tests can have requests in flight at will (§7
// row 13).
func (s *Server) Stall() (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.stall = ch
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.stall == ch {
				s.stall = nil
			}
			s.mu.Unlock()
			close(ch)
		})
	}
}

// Active returns the number of requests in flight on mailbox user.
func (s *Server) Active(user string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.findLocked(user); m != nil {
		return m.active
	}
	return 0
}

// EmptyPages makes the next n delta pages come back empty with a
// nextLink, as the service may do (§2.1).
func (s *Server) EmptyPages(n int) {
	s.mu.Lock()
	s.emptyNext = n
	s.mu.Unlock()
}

// ReplayNext makes the next deltaLink issued start where its round
// started, so the next round delivers the same changes again (§2.1).
func (s *Server) ReplayNext() {
	s.mu.Lock()
	s.replay = true
	s.mu.Unlock()
}

// ExpireTokens drops every sync state, so each delta token issued so far
// answers 410 SyncStateNotFound: the cache eviction of §2.4.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.boxes {
		m.syncStates = make(map[string]*syncState)
	}
}

// ForceReset makes the next delta request on mailbox user answer the
// documented reset: 410 with Location and resyncRequired (§2.4).
func (s *Server) ForceReset(user string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.findLocked(user)
	if m == nil {
		return fmt.Errorf("graphemu: no mailbox %q", user)
	}
	m.reset = true
	return nil
}

// SetRetryAfter changes the Retry-After of 429 answers, in seconds.
func (s *Server) SetRetryAfter(n int) {
	s.mu.Lock()
	s.o.RetryAfter = n
	s.mu.Unlock()
}

// SetConcurrency changes the per-mailbox concurrency limit (§5.1).
func (s *Server) SetConcurrency(n int) {
	s.mu.Lock()
	s.o.Concurrency = n
	s.mu.Unlock()
}

func (s *Server) findLocked(user string) *mailbox {
	if m := s.boxes[user]; m != nil {
		return m
	}
	return s.byName[strings.ToLower(user)]
}

// body reads a request body up to the 4 MiB ceiling (chosen A10).
func readBody(r *http.Request) ([]byte, *graphError) {
	const ceiling = 4 << 20
	b, err := io.ReadAll(io.LimitReader(r.Body, ceiling+1))
	if err != nil {
		return nil, badRequest("reading the body: %v", err)
	}
	if len(b) > ceiling {
		return nil, errf(413, "ErrorRequestEntityTooLarge", "The request body exceeds 4 MiB.")
	}
	return b, nil
}

func decodeJSON(r *http.Request, v any) *graphError {
	b, gerr := readBody(r)
	if gerr != nil {
		return gerr
	}
	if err := json.Unmarshal(b, v); err != nil {
		return badRequest("Invalid JSON: %v", err)
	}
	return nil
}

// link returns an absolute Graph URL for path (which starts with the
// version) and query.
func (s *Server) link(path string, q url.Values) string {
	base := ""
	if p := s.baseURL.Load(); p != nil {
		base = *p
	}
	u := base + "/" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// ctxDone lets long operations stop with the request.
func ctxDone(ctx context.Context) bool { return ctx.Err() != nil }
