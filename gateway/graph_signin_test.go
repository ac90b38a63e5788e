package gateway

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/easgate/easgate/internal/graphemu"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/graph"
)

// e2eSignIn is e2eBackend with the Graph Backend's sign-in.
type e2eSignIn struct {
	e2eBackend
	g *graph.Backend
}

func (b e2eSignIn) StartSignIn(ctx context.Context, login string) (*sources.SignIn, error) {
	return b.g.StartSignIn(ctx, login)
}

var (
	signInCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	signInCode = regexp.MustCompile(`id="signin-code">([^<]+)<`)
	signInPW   = regexp.MustCompile(`id="password">([^<]+)<`)
)

// TestGraphSignIn: a user without a device password gets one in the
// users' console by signing in with Microsoft (the device code, §1.1):
// the code is shown, Continue waits until the sign-in is done, and the
// password shown then logs in. Someone else signing in gets nothing.
func TestGraphSignIn(t *testing.T) {
	e := graphE2EServer(t, graphemu.Options{DeviceCodeInterval: time.Second}, graph.Options{})
	// e2eBackend hides the Graph Backend's sign-in; show it, as serve's
	// Backend (the graph.Backend itself) does.
	sb := e2eSignIn{e2eBackend{e.b}, e.b}
	if mb, ok := e.srv.backend.(*measuredBackend); ok {
		mb.Backend = sb
	} else {
		e.srv.backend = sb
	}
	e.srv.EnableUserConsole(ConsoleOptions{})
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := e.ts.URL + UserConsolePath
	get := func(path string) (int, string) {
		resp, err := cl.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	post := func(path, page string, form url.Values) (int, string) {
		m := signInCSRF.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no CSRF token in the page before POST %s:\n%s", path, page)
		}
		form.Set("csrf", html.UnescapeString(m[1]))
		resp, err := cl.PostForm(base+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	signIn := func(user string) (string, string) {
		code, page := get("")
		if code != 200 || !strings.Contains(page, `id="signin"`) {
			t.Fatalf("the login page = %d, without the sign-in form:\n%s", code, page)
		}
		code, page = post("/signin", page, url.Values{"user": {user}})
		m := signInCode.FindStringSubmatch(page)
		if code != 200 || m == nil {
			t.Fatalf("POST /signin = %d without a code:\n%s", code, page)
		}
		return m[1], page
	}
	// Continue until the store answers (it asks for a second between polls).
	done := func(page string) (int, string) {
		for deadline := time.Now().Add(10 * time.Second); ; {
			code, next := post("/signin/done", page, url.Values{})
			if code != http.StatusTooManyRequests || time.Now().After(deadline) {
				return code, next
			}
			page = next
		}
	}

	userCode, page := signIn("alice")
	code, page := done(page)
	if code != 200 || !strings.Contains(page, "Not signed in yet") {
		t.Fatalf("Continue before signing in = %d:\n%s", code, page)
	}
	if err := e.g.Emu.CompleteDeviceCode(userCode, e.upn, false); err != nil {
		t.Fatal(err)
	}
	code, page = done(page)
	m := signInPW.FindStringSubmatch(page)
	if code != 200 || m == nil {
		t.Fatalf("Continue after signing in = %d without a password:\n%s", code, page)
	}
	pw := html.UnescapeString(m[1])
	if ok, err := e.state.CheckUserPassword(context.Background(), e.upn, pw); !ok || err != nil {
		t.Errorf("the password shown is not alice's device password: %v, %v", ok, err)
	}
	// It logs in: the console's login checks it as the phone's is checked.
	_, page = get("")
	if code, _ := post("/login", page, url.Values{"user": {"alice"}, "password": {pw}}); code != http.StatusSeeOther {
		t.Errorf("console login with the new device password = %d, want 303", code)
	}

	// Bob signs in for alice: refused, and alice's password stays.
	jar2, _ := cookiejar.New(nil)
	cl.Jar = jar2
	userCode, page = signIn("alice")
	if err := e.g.Emu.CompleteDeviceCode(userCode, "bob@example.com", false); err != nil {
		t.Fatal(err)
	}
	code, page = done(page)
	if code != http.StatusForbidden || !strings.Contains(page, "someone else") || signInPW.MatchString(page) {
		t.Errorf("Continue after bob signed in for alice = %d:\n%s", code, page)
	}
	if ok, _ := e.state.CheckUserPassword(context.Background(), e.upn, pw); !ok {
		t.Error("alice's password changed after bob's sign-in")
	}
}
