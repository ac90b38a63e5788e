package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/easgate/easgate/eas"
)

// chromiumPath finds Debian's chromium: the real binary, skipping the
// /usr/bin shell wrapper (the browser-tests recipe,
// ../shared/recipes/browser-tests.md beside the repository).
func chromiumPath() string {
	if _, err := os.Stat("/usr/lib/chromium/chromium"); err == nil {
		return "/usr/lib/chromium/chromium"
	}
	p, _ := exec.LookPath("chromium")
	return p
}

// startBrowser starts one headless chromium for the test; a missing
// chromium skips the test, or fails it when CI=true.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed (scripts/test.sh installs it)")
		}
		t.Skip("chromium is not installed")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	bctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(cancelB)
	// No timeout on this context: it owns the browser.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return bctx
}

// tab opens a new tab with a time limit.
func tab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(ctx, 30*time.Second)
	t.Cleanup(cancelT)
	return ctx
}

// follow returns a step that clicks a link or a form's button and waits
// for the page it leads to. A WaitVisible after the click could find an
// element of the page being left (a search's results page has the
// device links of the list it replaces), whose node is gone by the time
// the next action uses it: "Could not find node with given id".
func follow(ctx context.Context, click chromedp.Action[chromedp.Void]) func() error {
	return func() error {
		resp, err := chromedp.RunResponse(ctx, click)
		if err == nil && resp.Status != http.StatusOK {
			err = fmt.Errorf("the page after the click answered %d %s", resp.Status, resp.URL)
		}
		return err
	}
}

// do returns a step that runs actions.
func do(ctx context.Context, actions ...chromedp.Action[chromedp.Void]) func() error {
	return func() error { return chromedp.Do(ctx, actions...) }
}

// steps runs each step in turn until one fails.
func steps(fns ...func() error) error {
	for _, f := range fns {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

// TestConsoleBrowser drives both consoles in a real browser: an
// administrator logs in with the token and wipes a phone, and a user logs
// in with the phone's password and wipes their own; each phone, waiting
// in Ping, is told at once and receives the wipe at its Provision.
func TestConsoleBrowser(t *testing.T) {
	browser := startBrowser(t)
	e := newAdminEnv(t, Options{})
	e.srv.Admin().Handle(AdminPrefix, e.srv.AdminAPI(AdminOptions{Token: adminTestToken}))
	e.srv.Admin().Handle(AdminConsolePrefix, e.srv.AdminConsole(ConsoleOptions{Token: adminTestToken}))
	e.srv.EnableUserConsole(ConsoleOptions{})
	admin := httptest.NewServer(e.srv.Admin())
	t.Cleanup(admin.Close)

	wiped := func(t *testing.T, d *convDevice, ping <-chan []byte) {
		t.Helper()
		if _, st := decodeStatus(t, receive(t, ping)); st != int(eas.StatusRemoteWipeRequested) {
			t.Fatalf("waiting Ping after the wipe: status %d, want 140", st)
		}
		var resp eas.ProvisionResponse
		d.do("Provision", &eas.ProvisionRequest{Policies: &eas.ProvisionPolicies{Policy: &eas.ProvisionPolicy{PolicyType: eas.PolicyTypeFor(d.v)}}}, &resp)
		if !resp.RemoteWipe {
			t.Fatalf("Provision after the wipe = %+v, want RemoteWipe", resp)
		}
	}

	t.Run("admin", func(t *testing.T) {
		d := e.device("stolen-phone", "iPhone", eas.V141)
		inbox, _ := e.setUp(d, 1)
		ping := d.ping(inbox)
		e.waiting(1)
		ctx := tab(t, browser)
		err := steps(
			do(ctx,
				chromedp.Navigate(admin.URL+"/admin/"), // redirected to the login
				chromedp.WaitVisible(chromedp.ID("token")),
				chromedp.SendKeys(chromedp.ID("token"), adminTestToken)),
			follow(ctx, chromedp.Click(chromedp.ID("login"))),
			do(ctx,
				chromedp.WaitVisible(chromedp.ID("devices")),
				chromedp.SendKeys(chromedp.ID("q"), "stolen")),
			follow(ctx, chromedp.Click(chromedp.ID("search"))),
			follow(ctx, chromedp.Click(chromedp.CSS(`a.device`))),
			follow(ctx, chromedp.Click(chromedp.ID("act-wipe-"+convUser))),
			do(ctx, chromedp.WaitVisible(chromedp.ID("confirm"))), // destructive: asked first
			follow(ctx, chromedp.Click(chromedp.ID("confirm"))),
			do(ctx, chromedp.WaitVisible(chromedp.ID("flash"))),
		)
		if err != nil {
			t.Fatalf("browser: %v", err)
		}
		flash, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("flash")))
		if err != nil || !strings.Contains(flash, "wipe of stolen-phone requested") {
			t.Errorf("the page says %q, %v", flash, err)
		}
		state, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".wipe-state")))
		if err != nil || state != "pending" {
			t.Errorf("wipe state on the page = %q, %v; want pending", state, err)
		}
		wiped(t, d, ping)
	})

	t.Run("user", func(t *testing.T) {
		d := e.device("lost-phone", "Android", eas.V161)
		inbox, _ := e.setUp(d, 0)
		ping := d.ping(inbox)
		e.waiting(1)
		ctx := tab(t, browser)
		err := steps(
			do(ctx,
				chromedp.Navigate(e.ts.URL+UserConsolePath),
				chromedp.WaitVisible(chromedp.ID("user")),
				chromedp.SendKeys(chromedp.ID("user"), convUser),
				chromedp.SendKeys(chromedp.ID("password"), convPassword)),
			follow(ctx, chromedp.Click(chromedp.ID("login"))),
			follow(ctx, chromedp.Click(chromedp.ID("wipe-lost-phone"))),
			do(ctx, chromedp.WaitVisible(chromedp.ID("confirm"))),
			follow(ctx, chromedp.Click(chromedp.ID("confirm"))),
			do(ctx, chromedp.WaitVisible(chromedp.ID("cancel-lost-phone"))), // now pending, cancellable
		)
		if err != nil {
			t.Fatalf("browser: %v", err)
		}
		wiped(t, d, ping)
	})
}
