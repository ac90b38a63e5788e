package gateway

import (
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/easgate/easgate/sources"
)

// The web consoles are server-rendered pages, html/template over the
// embedded files of console/, with no script: the administrators' on the
// admin listener (AdminConsole) and the users' at /devices on the EAS
// listener (EnableUserConsole). Both keep their sessions in memory, behind
// an HttpOnly, SameSite=Strict cookie; every form carries the session's
// CSRF token, and a POST from another origin is refused.

//go:embed console/*.html console/style.css
var consoleFiles embed.FS

var consolePages = template.Must(template.New("").Funcs(template.FuncMap{
	"stamp": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"act": func(p *page, dev, action, coll, label string) actButton {
		return p.button(dev, action, "", coll, label)
	},
	"actu": func(p *page, dev, action, user, label string) actButton {
		return p.button(dev, action, user, "", label)
	},
}).ParseFS(consoleFiles, "console/*.html"))

// ConsoleOptions configure the web consoles.
type ConsoleOptions struct {
	// Token is the admin console's login secret, the admin API's token;
	// "" refuses every admin login.
	Token string
	// SessionTimeout ends a session that has been idle this long: 30 min.
	SessionTimeout time.Duration
	// SecureCookies marks the session cookie Secure on every response;
	// otherwise only on requests that came over TLS or through a proxy
	// that says so (X-Forwarded-Proto: https).
	SecureCookies bool
}

const (
	defaultSessionTimeout = 30 * time.Minute
	// maxSessionAge ends a session however busy it is.
	maxSessionAge = 12 * time.Hour
	// maxSessions bounds each console's sessions; a login beyond it is
	// refused until sessions expire.
	maxSessions = 10000
)

// session is one logged-in browser.
type session struct {
	user    string         // "" for the admin console
	source  sources.Source // the user's store, from the login
	csrf    string
	created time.Time
	seen    time.Time
}

// sessions are one console's sessions.
type sessions struct {
	mu      sync.Mutex
	m       map[string]*session
	timeout time.Duration
	now     func() time.Time
}

func newSessions(timeout time.Duration, now func() time.Time) *sessions {
	if timeout <= 0 {
		timeout = defaultSessionTimeout
	}
	return &sessions{m: make(map[string]*session), timeout: timeout, now: now}
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session and returns its id, or "" when the console has
// maxSessions live ones.
func (ss *sessions) create(user string, src sources.Source) (string, *session) {
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for id, s := range ss.m {
		if ss.expired(s, now) {
			delete(ss.m, id)
		}
	}
	if len(ss.m) >= maxSessions {
		return "", nil
	}
	id := randomToken()
	s := &session{user: user, source: src, csrf: randomToken(), created: now, seen: now}
	ss.m[id] = s
	return id, s
}

func (ss *sessions) expired(s *session, now time.Time) bool {
	return now.Sub(s.seen) >= ss.timeout || now.Sub(s.created) >= maxSessionAge
}

// get returns the live session of r's cookie, renewing its idle time.
func (ss *sessions) get(r *http.Request, cookie string) *session {
	c, err := r.Cookie(cookie)
	if err != nil {
		return nil
	}
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[c.Value]
	if s == nil {
		return nil
	}
	if ss.expired(s, now) {
		delete(ss.m, c.Value)
		return nil
	}
	s.seen = now
	return s
}

func (ss *sessions) end(r *http.Request, cookie string) {
	if c, err := r.Cookie(cookie); err == nil {
		ss.mu.Lock()
		delete(ss.m, c.Value)
		ss.mu.Unlock()
	}
}

// console is what both consoles share.
type console struct {
	s      *Server
	o      ConsoleOptions
	base   string // the path the console is served under, without a trailing slash
	cookie string
	admin  bool
	ss     *sessions
	// loginTokens are the anti-CSRF values of login forms, which have no
	// session yet: double-submitted as a cookie and a form field.
	loginCookie string
	signins     signIns // the users' console's sign-ins in progress
}

func (s *Server) newConsole(o ConsoleOptions, base, cookie string, admin bool) *console {
	return &console{s: s, o: o, base: base, cookie: cookie, admin: admin, ss: newSessions(o.SessionTimeout, func() time.Time { return s.now() }),
		loginCookie: cookie + "_login"}
}

// secure reports whether cookies of r's response are to be Secure.
func (c *console) secure(r *http.Request) bool {
	return c.o.SecureCookies || r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (c *console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: c.base, MaxAge: maxAge,
		HttpOnly: true, Secure: c.secure(r), SameSite: http.SameSiteStrictMode,
	})
}

// page is what every template gets.
type page struct {
	Title, Base, Who, CSRF, LoginCSRF string
	Admin                             bool
	Flash, Error                      string
	Now                               time.Time

	// Page specific.
	Device          *DeviceJSON
	List            *DeviceList
	Query           map[string]string
	WipeStates      []string
	AccessStates    []string
	Rules           []*RuleJSON
	Characteristics []string
	Devices         []userDevice
	Folders         []userFolder

	// The confirmation page.
	Question, Verb, Action, Back string
	Fields                       map[string]string

	// Sign-in: offered on the login page; the code to enter; the device
	// password issued at its end.
	SignIn                               bool
	SignInCode, SignInURL, SignInMessage string
	Password                             string
}

// actButton is one action form of the device page.
type actButton struct {
	Base, CSRF, Device, Action, User, Collection, Label, ID string
	Danger                                                  bool
}

func (p *page) button(dev, action, user, coll, label string) actButton {
	id := "act-" + action
	if user != "" {
		id += "-" + safeName(user)
	} else if coll != "" {
		id += "-" + safeName(coll)
	}
	return actButton{Base: p.Base, CSRF: p.CSRF, Device: dev, Action: action, User: user, Collection: coll,
		Label: label, ID: id, Danger: destructive(action)}
}

// destructive actions ask for confirmation first.
func destructive(action string) bool {
	switch action {
	case "wipe", "account-wipe", "remove", "resync", "block":
		return true
	}
	return false
}

func (c *console) page(r *http.Request, sess *session, title string) *page {
	p := &page{Title: title, Base: c.base, Admin: c.admin, Now: c.s.now(), Flash: r.URL.Query().Get("flash")}
	if sess != nil {
		p.CSRF, p.Who = sess.csrf, sess.user
		if c.admin {
			p.Who = "administrator"
		}
	}
	return p
}

func (c *console) render(w http.ResponseWriter, code int, name string, p *page) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	// No script at all; forms only to ourselves; never in a frame.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(code)
	if err := consolePages.ExecuteTemplate(w, name, p); err != nil {
		c.s.log.Warn("console: rendering", "page", name, "err", err)
	}
}

func (c *console) serveCSS(w http.ResponseWriter, r *http.Request) {
	b, _ := consoleFiles.ReadFile("console/style.css")
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=3600")
	w.Write(b)
}

// loginPage shows the login form with a fresh anti-CSRF value.
func (c *console) loginPage(w http.ResponseWriter, r *http.Request, code int, msg string) {
	tok := randomToken()
	c.setCookie(w, r, c.loginCookie, tok, 600)
	p := c.page(r, nil, "Log in")
	if c.admin {
		p.Title = "easgate administration"
	}
	p.LoginCSRF, p.Error = tok, msg
	p.SignIn = !c.admin && signInOf(c.s.backend) != nil
	c.render(w, code, "login", p)
}

// checkPost refuses a POST that did not come from our own form: another
// Origin, or a missing or wrong CSRF token. want is the session's token,
// or "" for the login form, whose token is in the login cookie.
func (c *console) checkPost(r *http.Request, want string) error {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return errors.New("this form was sent from another site")
		}
	}
	if err := r.ParseForm(); err != nil {
		return errors.New("unreadable form")
	}
	got := r.PostForm.Get("csrf")
	if want == "" {
		ck, err := r.Cookie(c.loginCookie)
		if err != nil {
			return errors.New("the login form expired; try again")
		}
		want = ck.Value
	}
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return errors.New("the form expired; reload the page and try again")
	}
	return nil
}

// limitForm bounds the body of a console POST.
func limitForm(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxAdminBody)
}

// redirect answers a POST with 303 to path in the console, with a message.
func (c *console) redirect(w http.ResponseWriter, r *http.Request, path, flash string) {
	if flash != "" {
		path += "?flash=" + url.QueryEscape(flash)
	}
	http.Redirect(w, r, c.base+path, http.StatusSeeOther)
}

// confirmPage asks before a destructive action: the same form again, with
// confirm=yes.
func (c *console) confirmPage(w http.ResponseWriter, r *http.Request, sess *session, question, verb, back string) {
	p := c.page(r, sess, "Confirm")
	p.Question, p.Verb, p.Action, p.Back = question, verb, r.URL.Path, back
	p.Fields = make(map[string]string)
	for k, v := range r.PostForm {
		if k != "csrf" && k != "confirm" && len(v) > 0 {
			p.Fields[k] = v[0]
		}
	}
	c.render(w, http.StatusOK, "confirm", p)
}
