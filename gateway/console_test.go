package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/statecache"
)

// browserless is a cookie-keeping HTTP client that reads the CSRF token
// of the last page, as a browser submitting its forms would send it.
type browserless struct {
	t    *testing.T
	c    *http.Client
	base string
	csrf string
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func newBrowserless(t *testing.T, base string) *browserless {
	jar, _ := cookiejar.New(nil)
	return &browserless{t: t, base: base, c: &http.Client{Jar: jar}}
}

func (b *browserless) read(resp *http.Response, err error) (int, string) {
	b.t.Helper()
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if m := csrfField.FindSubmatch(body); m != nil {
		b.csrf = string(m[1])
	}
	return resp.StatusCode, string(body)
}

func (b *browserless) get(path string) (int, string) {
	return b.read(b.c.Get(b.base + path))
}

// post submits a form with the page's CSRF token unless form sets one.
func (b *browserless) post(path string, form url.Values) (int, string) {
	if !form.Has("csrf") {
		form.Set("csrf", b.csrf)
	}
	return b.read(b.c.PostForm(b.base+path, form))
}

func consoleEnv(t *testing.T) (*adminEnv, *httptest.Server) {
	e := newAdminEnv(t, Options{})
	e.srv.Admin().Handle(AdminConsolePrefix, e.srv.AdminConsole(ConsoleOptions{Token: adminTestToken}))
	e.srv.EnableUserConsole(ConsoleOptions{SessionTimeout: time.Minute})
	admin := httptest.NewServer(e.srv.Admin())
	t.Cleanup(admin.Close)
	return e, admin
}

func TestAdminConsole(t *testing.T) {
	e, admin := consoleEnv(t)
	d := e.device("dev-a", "iPhone", eas.V161)
	e.setUp(d, 1)
	b := newBrowserless(t, admin.URL)
	if code, body := b.get("/admin/"); code != http.StatusOK || !strings.Contains(body, `id="token"`) {
		t.Fatalf("GET /admin/ without a session = %d, want the login page", code)
	}
	if code, _ := b.post("/admin/login", url.Values{"token": {"wrong"}}); code != http.StatusUnauthorized {
		t.Errorf("login with a wrong token = %d, want 401", code)
	}
	if code, _ := b.post("/admin/login", url.Values{"token": {adminTestToken}, "csrf": {"forged"}}); code != http.StatusForbidden {
		t.Errorf("login with a forged CSRF value = %d, want 403", code)
	}
	b.get("/admin/login")
	if code, body := b.post("/admin/login", url.Values{"token": {adminTestToken}}); code != http.StatusOK || !strings.Contains(body, "dev-a") {
		t.Fatalf("login = %d, want the device list:\n%s", code, body)
	}
	code, body := b.get("/admin/devices/dev-a")
	if code != http.StatusOK || !strings.Contains(body, `id="act-wipe-alice"`) || !strings.Contains(body, "Recent requests") {
		t.Fatalf("device page = %d:\n%s", code, body)
	}
	// A destructive action asks first, and a forged token is refused.
	if code, body := b.post("/admin/devices/dev-a/act", url.Values{"action": {"remove"}}); code != http.StatusOK || !strings.Contains(body, `id="confirm"`) {
		t.Errorf("remove without confirm = %d, want the confirmation page", code)
	}
	if code, _ := b.post("/admin/devices/dev-a/act", url.Values{"action": {"remove"}, "confirm": {"yes"}, "csrf": {"forged"}}); code != http.StatusForbidden {
		t.Errorf("remove with a forged CSRF token = %d, want 403", code)
	}
	if _, err := e.state.Device(context.Background(), "dev-a"); err != nil {
		t.Fatalf("the device is gone after refused removals: %v", err)
	}
	if code, body := b.post("/admin/devices/dev-a/act", url.Values{"action": {"quarantine"}}); code != http.StatusOK || !strings.Contains(body, "quarantine from its next request") {
		t.Errorf("quarantine = %d:\n%s", code, body)
	}
	if code, body := b.post("/admin/rules", url.Values{"op": {"set"}, "by": {"model"}, "value": {"Nokia E71"}, "level": {"block"}}); code != http.StatusOK || !strings.Contains(body, "Nokia E71") {
		t.Errorf("adding a rule = %d:\n%s", code, body)
	}
	if code, body := b.post("/admin/devices/dev-a/act", url.Values{"action": {"account-wipe"}, "user": {convUser}, "confirm": {"yes"}}); code != http.StatusOK || !strings.Contains(body, "account-only wipe") {
		t.Errorf("account wipe = %d:\n%s", code, body)
	}
	b.post("/admin/logout", url.Values{})
	if code, body := b.get("/admin/"); code != http.StatusOK || !strings.Contains(body, `id="token"`) {
		t.Errorf("after logout: %d, want the login page", code)
	}
}

func TestAdminConsoleThrottle(t *testing.T) {
	e, admin := consoleEnv(t)
	// A stopped clock: the lockouts cannot run out during the test.
	stopped := time.Now()
	e.srv.now = func() time.Time { return stopped }
	b := newBrowserless(t, admin.URL)
	var code int
	for range 7 {
		b.get("/admin/login")
		code, _ = b.post("/admin/login", url.Values{"token": {"guess"}})
	}
	if code != http.StatusTooManyRequests {
		t.Errorf("7th wrong token = %d, want 429", code)
	}
	b.get("/admin/login")
	if code, _ := b.post("/admin/login", url.Values{"token": {adminTestToken}}); code != http.StatusTooManyRequests {
		t.Errorf("the right token while throttled = %d, want 429", code)
	}
}

func TestUserConsole(t *testing.T) {
	e, _ := consoleEnv(t)
	ctx := context.Background()
	mine := e.device("mine", "iPhone", eas.V141)
	e.setUp(mine, 0)
	// bob's device, which alice must not reach.
	if _, err := e.state.Device(ctx, "mine"); err != nil {
		t.Fatal(err)
	}
	bob := &convDevice{e: e.convEnv, id: "bobs", typ: "Android", v: eas.V141}
	bobAcct := bob.account()
	bobAcct.User = "bob"
	if err := e.state.Seen(ctx, bobAcct, statecache.Visit{Type: bob.typ, ProtocolVersion: "14.1", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	cal, err := e.src.CreateFolder(ctx, "", "Team", sources.KindUserCalendar)
	if err != nil {
		t.Fatal(err)
	}

	b := newBrowserless(t, e.ts.URL)
	b.get(UserConsolePath)
	if code, _ := b.post(UserConsolePath+"/login", url.Values{"user": {convUser}, "password": {"nope"}}); code != http.StatusUnauthorized {
		t.Errorf("wrong password = %d, want 401", code)
	}
	b.get(UserConsolePath)
	code, body := b.post(UserConsolePath+"/login", url.Values{"user": {convUser}, "password": {convPassword}})
	if code != http.StatusOK || !strings.Contains(body, `id="wipe-mine"`) || strings.Contains(body, "bobs") || !strings.Contains(body, "Team") {
		t.Fatalf("my devices = %d:\n%s", code, body)
	}
	if _, body := b.post(UserConsolePath+"/act", url.Values{"device": {"bobs"}, "action": {"wipe"}, "confirm": {"yes"}}); !strings.Contains(body, "not one of yours") {
		t.Errorf("wiping bob's device:\n%s", body)
	}
	if info, _ := e.state.Account(ctx, bobAcct); info.Wipe.State() != "none" {
		t.Fatalf("bob's device got a wipe from alice: %+v", info.Wipe)
	}

	// Keep the Team calendar off the phones: FolderSync removes it, and
	// brings it back when chosen again.
	fs := mine.folderSync("0")
	var teamID string
	for _, a := range fs.Changes.Add {
		if a.DisplayName == "Team" {
			teamID = a.ServerID
		}
	}
	if teamID == "" {
		t.Fatalf("FolderSync 0 lacks the Team calendar: %+v", fs.Changes.Add)
	}
	var keep []string
	fsAll, _ := choosableFolders(httptest.NewRequest("GET", "/", nil), e.src)
	for _, f := range fsAll {
		if f.ID != cal {
			keep = append(keep, string(f.ID))
		}
	}
	ping := mine.ping(teamID)
	e.waiting(1)
	if code, body := b.post(UserConsolePath+"/folders", url.Values{"sync": keep}); code != http.StatusOK || !strings.Contains(body, "Saved") {
		t.Fatalf("saving folders = %d:\n%s", code, body)
	}
	var pr eas.PingResponse
	if err := eas.Unmarshal(receive(t, ping), &pr, nil); err != nil || pr.Status != eas.PingStatusFolderHierarchyChanged {
		t.Errorf("Ping after the choice = %+v, %v; want 7", pr, err)
	}
	fs2 := mine.folderSync(fs.SyncKey)
	if len(fs2.Changes.Delete) != 1 || fs2.Changes.Delete[0].ServerID != teamID || len(fs2.Changes.Add) != 0 {
		t.Errorf("FolderSync after hiding = %+v, want the Team calendar deleted", fs2.Changes)
	}
	b.get(UserConsolePath)
	b.post(UserConsolePath+"/folders", url.Values{"sync": append(keep, string(cal))})
	fs3 := mine.folderSync(fs2.SyncKey)
	if len(fs3.Changes.Add) != 1 || fs3.Changes.Add[0].DisplayName != "Team" {
		t.Errorf("FolderSync after showing again = %+v, want the Team calendar added", fs3.Changes)
	}

	// Session expiry.
	e.srv.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	if code, body := b.get(UserConsolePath); code != http.StatusOK || !strings.Contains(body, `id="password"`) {
		t.Errorf("after the idle timeout: %d, want the login page", code)
	}
}

// TestUserConsoleSpellings checks that the console finds a mailbox's
// devices, and shares its folder choices with them, whichever spelling of
// the name the phone and the browser log in with.
func TestUserConsoleSpellings(t *testing.T) {
	e, _ := consoleEnv(t)
	ctx := context.Background()
	mine := e.device("mine", "iPhone", eas.V141)
	e.setUp(mine, 0) // the phone logs in as "alice"

	b := newBrowserless(t, e.ts.URL)
	b.get(UserConsolePath)
	code, body := b.post(UserConsolePath+"/login", url.Values{"user": {strings.ToUpper(convUser)}, "password": {convPassword}})
	if code != http.StatusOK || !strings.Contains(body, `id="wipe-mine"`) {
		t.Fatalf("ALICE's devices = %d:\n%s", code, body)
	}
	if _, body := b.post(UserConsolePath+"/act", url.Values{"device": {"mine"}, "action": {"wipe"}, "confirm": {"yes"}}); strings.Contains(body, "not one of yours") {
		t.Fatalf("ALICE wiping alice's phone:\n%s", body)
	}
	if info, err := e.state.Account(ctx, mine.account()); err != nil || info.Wipe.State() != "pending" {
		t.Errorf("alice's phone after ALICE's wipe: %+v, %v; want a pending wipe", info, err)
	}
	// ALICE's choices are alice's: the phone reads them under the same key.
	b.get(UserConsolePath)
	if code, body := b.post(UserConsolePath+"/folders", url.Values{}); code != http.StatusOK || !strings.Contains(body, "Saved") {
		t.Fatalf("saving folders = %d:\n%s", code, body)
	}
	var alice, upper statecache.UserPrefs
	alice, _ = e.state.UserPrefs(ctx, e.srv.mailbox(convUser))
	upper, _ = e.state.UserPrefs(ctx, e.srv.mailbox(strings.ToUpper(convUser)))
	if len(alice.Hidden) == 0 || !slices.Equal(alice.Hidden, upper.Hidden) {
		t.Errorf("prefs under alice %q and ALICE %q, want the same, not empty", alice.Hidden, upper.Hidden)
	}
}
