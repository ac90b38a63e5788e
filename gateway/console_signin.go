package gateway

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/statecache"
)

// SignInBackend is a Backend whose users can get their device password
// themselves, by signing in with the store's own sign-in (Microsoft's
// device code, which checks their password and second factor) instead of
// an administrator issuing it. The users' console offers it.
type SignInBackend interface {
	StartSignIn(ctx context.Context, login string) (*sources.SignIn, error)
}

// signInOf returns b's sign-in, looking through the metrics wrapper.
func signInOf(b Backend) SignInBackend {
	if mb, ok := b.(*measuredBackend); ok {
		b = mb.Backend
	}
	si, _ := b.(SignInBackend)
	return si
}

// maxSignIns bounds the sign-ins in progress; each lasts 15 minutes at
// most.
const maxSignIns = 1000

// signIns are the console's sign-ins in progress, by a random id that
// only the browser that started one holds (in a cookie).
type signIns struct {
	mu sync.Mutex
	m  map[string]*pendingSignIn
}

type pendingSignIn struct {
	login string
	si    *sources.SignIn
	last  time.Time // last poll, to keep to the store's interval
}

func (t *signIns) add(login string, si *sources.SignIn, now time.Time) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = make(map[string]*pendingSignIn)
	}
	for id, p := range t.m {
		if now.After(p.si.Expires) {
			delete(t.m, id)
		}
	}
	if len(t.m) >= maxSignIns {
		return ""
	}
	id := randomToken()
	t.m[id] = &pendingSignIn{login: login, si: si}
	return id
}

func (t *signIns) get(id string) *pendingSignIn {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, p := range t.m {
		if subtle.ConstantTimeCompare([]byte(k), []byte(id)) == 1 {
			return p
		}
	}
	return nil
}

func (t *signIns) end(id string) {
	t.mu.Lock()
	delete(t.m, id)
	t.mu.Unlock()
}

// signInCookie names the cookie of a sign-in in progress.
func (c *console) signInCookie() string { return c.cookie + "_signin" }

// userSignIn starts a sign-in for the login in the form (the login
// form's CSRF token guards it) and shows the code to enter.
func (c *console) userSignIn(w http.ResponseWriter, r *http.Request) {
	limitForm(w, r)
	s := c.s
	sb := signInOf(s.backend)
	if sb == nil || s.state == nil {
		c.loginPage(w, r, http.StatusNotFound, "This server offers no sign-in.")
		return
	}
	if err := c.checkPost(r, ""); err != nil {
		c.loginPage(w, r, http.StatusForbidden, err.Error())
		return
	}
	user := strings.TrimSpace(r.PostForm.Get("user"))
	addr := s.clientAddr(r)
	if reason, wait := s.throttle.Check(user, addr); reason != "" || user == "" {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		c.loginPage(w, r, http.StatusTooManyRequests, "Too many attempts; try again later.")
		return
	}
	si, err := sb.StartSignIn(r.Context(), user)
	if err != nil {
		s.log.Info("console: sign-in not started", "user", user, "err", err)
		c.loginPage(w, r, http.StatusBadGateway, "The sign-in could not be started; try again later.")
		return
	}
	id := c.signins.add(user, si, s.now())
	if id == "" {
		c.loginPage(w, r, http.StatusServiceUnavailable, "Too many sign-ins in progress; try again later.")
		return
	}
	c.setCookie(w, r, c.signInCookie(), id, int(time.Until(si.Expires).Seconds()))
	c.signInPage(w, r, http.StatusOK, si, "")
}

func (c *console) signInPage(w http.ResponseWriter, r *http.Request, code int, si *sources.SignIn, msg string) {
	tok := randomToken()
	c.setCookie(w, r, c.loginCookie, tok, 900)
	p := c.page(r, nil, "Sign in")
	p.LoginCSRF, p.Error = tok, msg
	p.SignInCode, p.SignInURL, p.SignInMessage = si.Code, si.URL, si.Message
	c.render(w, code, "signin", p)
}

// userSignInDone asks the store whether the user has signed in; once
// they have, it issues their device password and shows it once.
func (c *console) userSignInDone(w http.ResponseWriter, r *http.Request) {
	limitForm(w, r)
	s := c.s
	if err := c.checkPost(r, ""); err != nil {
		c.loginPage(w, r, http.StatusForbidden, err.Error())
		return
	}
	ck, err := r.Cookie(c.signInCookie())
	var p *pendingSignIn
	if err == nil {
		p = c.signins.get(ck.Value)
	}
	if p == nil || s.now().After(p.si.Expires) {
		c.loginPage(w, r, http.StatusGone, "The sign-in expired; start again.")
		return
	}
	if wait := p.si.Interval - s.now().Sub(p.last); wait > 0 {
		c.signInPage(w, r, http.StatusTooManyRequests, p.si, "Wait a few seconds, then press Continue again.")
		return
	}
	p.last = s.now()
	user, done, err := p.si.Poll(r.Context())
	switch {
	case err != nil:
		c.signins.end(ck.Value)
		c.setCookie(w, r, c.signInCookie(), "", -1)
		addr := s.clientAddr(r)
		s.throttle.Failed(p.login, addr)
		s.log.Info("console: sign-in refused", "user", p.login, "err", err)
		msg := "The sign-in failed; start again."
		if errors.Is(err, sources.ErrAuth) {
			msg = "You signed in as someone else than " + p.login + "."
		}
		c.loginPage(w, r, http.StatusForbidden, msg)
		return
	case !done:
		c.signInPage(w, r, http.StatusOK, p.si, "Not signed in yet: finish signing in at the page below, then press Continue.")
		return
	}
	c.signins.end(ck.Value)
	c.setCookie(w, r, c.signInCookie(), "", -1)
	pw := statecache.NewPassword()
	if err := s.state.SetUserPassword(r.Context(), user, pw, time.Now()); err != nil {
		c.loginPage(w, r, http.StatusServiceUnavailable, "The password could not be stored; try again later.")
		return
	}
	s.forgetPassword(user)
	s.log.Info("console: device password issued after sign-in", "user", user)
	pg := c.page(r, nil, "Your device password")
	pg.Who, pg.Password = user, pw
	c.render(w, http.StatusOK, "password", pg)
}
