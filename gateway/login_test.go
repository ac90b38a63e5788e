package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

// countingBackend accepts the listed passwords and counts the logins that
// reach it.
type countingBackend struct {
	passwords
	mu sync.Mutex
	n  int
}

func (b *countingBackend) Login(ctx context.Context, user, password string) (sources.Source, error) {
	b.mu.Lock()
	b.n++
	b.mu.Unlock()
	return b.passwords.Login(ctx, user, password)
}

func (b *countingBackend) logins() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

// clock is a settable time for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// options sends an OPTIONS request from addr with the given credentials
// (none when user is "").
func options(s *Server, addr, user, pass string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("OPTIONS", Path, nil)
	r.RemoteAddr = addr
	if user != "" {
		r.SetBasicAuth(user, pass)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

func TestOptionsAuth(t *testing.T) {
	s := newTestServer(t, nil, nil)
	tests := []struct {
		name, user, pass string
		want             int
	}{
		{"no-credentials", "", "", http.StatusUnauthorized},
		{"wrong-password", testUser, "nope", http.StatusUnauthorized},
		{"store-down", "busy", "x", http.StatusServiceUnavailable},
		{"right-password", testUser, testPassword, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := options(s, "192.0.2.1:1000", tt.user, tt.pass)
			if w.Code != tt.want {
				t.Fatalf("OPTIONS = %d, want %d", w.Code, tt.want)
			}
			if tt.want == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if tt.want != http.StatusOK && w.Header().Get("MS-ASProtocolVersions") != "" {
				t.Error("a refused OPTIONS lists the protocol versions")
			}
		})
	}
}

func TestThrottle(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	th := NewThrottle(ThrottleOptions{PerUserAddress: 3, PerAddress: 5, PerUser: 8, MaxLockout: 20 * time.Second, Window: time.Minute}, c.now)
	a := netip.MustParseAddr("192.0.2.1")
	b := netip.MustParseAddr("198.51.100.7")
	check := func(user string, addr netip.Addr, wantReason string) time.Duration {
		t.Helper()
		reason, d := th.Check(user, addr)
		if reason != wantReason || (reason != "") != (d > 0) {
			t.Fatalf("Check(%s, %s) = %q, %v; want %q", user, addr, reason, d, wantReason)
		}
		return d
	}

	// Three failures are free; the fourth locks the pair for 1 s, the
	// fifth for 2 s: the lockout doubles.
	for range 3 {
		check("alice", a, "")
		th.Failed("alice", a)
	}
	check("alice", a, "")
	th.Failed("alice", a)
	if d := check("alice", a, ThrottleUserAddress); d != time.Second {
		t.Errorf("first lockout %v, want 1s", d)
	}
	check(`CORP\ALICE`, a, ThrottleUserAddress) // the same name in another form
	check("alice", b, "")                       // the real user elsewhere
	check("bob", a, "")                         // another user from the guesser's address
	c.add(time.Second)
	th.Failed("alice", a)
	if d := check("alice", a, ThrottleUserAddress); d != 2*time.Second {
		t.Errorf("second lockout %v, want 2s", d)
	}

	// The address has 5 failures; one more locks it for every user.
	c.add(2 * time.Second)
	th.Failed("bob", a)
	check("carol", a, ThrottleAddress)
	check("carol", b, "")

	// A success forgets the pair but not the address.
	c.add(time.Minute + time.Second) // the window passes: all forgotten
	check("alice", a, "")
	check("carol", a, "")

	// Guessing alice from many addresses locks her name, except where she
	// logged in before.
	th.Succeeded("alice", b)
	for i := range 9 {
		th.Failed("alice", netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}))
	}
	check("alice", netip.MustParseAddr("203.0.113.200"), ThrottleUser)
	check("alice", b, "")

	// Lockouts stop at MaxLockout.
	for range 40 {
		th.Failed("dave", a)
	}
	if d := check("dave", a, ThrottleUserAddress); d != 20*time.Second {
		t.Errorf("lockout after 40 failures %v, want MaxLockout 20s", d)
	}
}

func TestThrottleBounded(t *testing.T) {
	th := NewThrottle(ThrottleOptions{MaxEntries: 100}, nil)
	for i := range 10_000 {
		addr := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		th.Failed(fmt.Sprintf("user%d", i), addr)
		th.Succeeded(fmt.Sprintf("user%d", i), addr)
	}
	if n, k := th.failures.len(), th.known.len(); n > 100 || k > 100 {
		t.Errorf("%d failure and %d known records after 10,000 users, want at most 100 each", n, k)
	}
}

// TestLoginThrottled: a guesser is refused before the store once over the
// limit, and the real user on another address logs in at once.
func TestLoginThrottled(t *testing.T) {
	b := &countingBackend{passwords: passwords{testUser: testPassword}}
	s := newTestServer(t, &Options{Backend: b, Login: LoginOptions{Throttle: ThrottleOptions{PerUserAddress: 5}}}, nil)
	install(s, eas.CmdFolderSync, folderSyncOK)
	body := mustMarshal(t, &eas.FolderSyncRequest{SyncKey: "0"})
	guess := func(pass string) *httptest.ResponseRecorder {
		return postFrom(s, "192.0.2.66:4000", body, testUser, pass)
	}
	for i := range 5 {
		if w := guess(fmt.Sprintf("guess%d", i)); w.Code != 401 {
			t.Fatalf("guess %d = %d, want 401", i, w.Code)
		}
	}
	w := guess("guess5")
	if w.Code != 401 || b.logins() != 6 {
		t.Fatalf("6th guess = %d after %d store logins, want 401 after 6", w.Code, b.logins())
	}
	for i := range 20 {
		w = guess(testPassword) // even the right password waits out the lockout
		if w.Code != 401 || w.Header().Get("Retry-After") == "" || w.Header().Get("Connection") != "close" {
			t.Fatalf("throttled guess %d = %d, Retry-After %q, Connection %q; want 401, a Retry-After, close",
				i, w.Code, w.Header().Get("Retry-After"), w.Header().Get("Connection"))
		}
	}
	if n := b.logins(); n != 6 {
		t.Errorf("store logins = %d, want 6: throttled guesses must not reach the store", n)
	}
	if w := postFrom(s, "198.51.100.20:5000", body, testUser, testPassword); w.Code != 200 {
		t.Errorf("the real user from her own address = %d, want 200", w.Code)
	}
	fams := gather(t, s)
	if n := counter(fams, "easgate_throttled_requests_total", "reason", "login_user_address"); n != 20 {
		t.Errorf("easgate_throttled_requests_total{reason=login_user_address} = %v, want 20", n)
	}
	if n := counter(fams, "easgate_login_failures_total", "reason", "password"); n != 6 {
		t.Errorf("easgate_login_failures_total{reason=password} = %v, want 6", n)
	}
}

// TestLoginCache: a busy phone costs one store login per CacheTTL.
func TestLoginCache(t *testing.T) {
	b := &countingBackend{passwords: passwords{testUser: testPassword}}
	c := &clock{t: time.Now()}
	s := newTestServer(t, &Options{Backend: b, Now: c.now, Login: LoginOptions{CacheTTL: time.Minute}}, nil)
	install(s, eas.CmdFolderSync, folderSyncOK)
	body := mustMarshal(t, &eas.FolderSyncRequest{SyncKey: "0"})
	for range 10 {
		if w := postFrom(s, "192.0.2.1:1", body, testUser, testPassword); w.Code != 200 {
			t.Fatalf("FolderSync = %d", w.Code)
		}
	}
	if n := b.logins(); n != 1 {
		t.Errorf("store logins for 10 requests = %d, want 1", n)
	}
	if w := postFrom(s, "192.0.2.1:1", body, testUser, "wrong"); w.Code != 401 {
		t.Errorf("a wrong password after a cached right one = %d, want 401", w.Code)
	}
	c.add(time.Minute)
	postFrom(s, "192.0.2.1:1", body, testUser, testPassword)
	if n := b.logins(); n != 3 {
		t.Errorf("store logins after the TTL = %d, want 3 (one more for the wrong password, one after expiry)", n)
	}
	if k1, k2 := s.logins.key("ab", "c"), s.logins.key("a", "bc"); k1 == k2 {
		t.Error("user ab with password c and user a with password bc share a cache key")
	}
}

func TestClientAddr(t *testing.T) {
	s := newTestServer(t, &Options{Login: LoginOptions{TrustedProxies: []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128"),
	}}}, nil)
	tests := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"direct", "192.0.2.1:443", nil, "192.0.2.1"},
		{"untrusted-peer-header-ignored", "192.0.2.1:443", []string{"203.0.113.9"}, "192.0.2.1"},
		{"trusted-proxy", "10.1.2.3:443", []string{"203.0.113.9"}, "203.0.113.9"},
		{"chain-of-proxies", "10.1.2.3:443", []string{"203.0.113.9, 10.9.9.9"}, "203.0.113.9"},
		{"spoofed-left-part", "10.1.2.3:443", []string{"1.2.3.4, 203.0.113.9"}, "203.0.113.9"},
		{"several-headers", "10.1.2.3:443", []string{"1.2.3.4", "203.0.113.9"}, "203.0.113.9"},
		{"garbage-hop", "10.1.2.3:443", []string{"nonsense, 10.9.9.9"}, "10.9.9.9"},
		{"ipv6-proxy", "[::1]:443", []string{"2001:db8::1"}, "2001:db8::1"},
		{"mapped", "[::ffff:192.0.2.1]:443", nil, "192.0.2.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", Path, nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := s.clientAddr(r).String(); got != tt.want {
				t.Errorf("clientAddr(%s, %q) = %s, want %s", tt.remote, tt.xff, got, tt.want)
			}
		})
	}
}

// TestNoSecretsInLog runs logins of every outcome at debug level and
// greps the log for the passwords and the Authorization header.
func TestNoSecretsInLog(t *testing.T) {
	var logs bytes.Buffer
	s := newTestServer(t, &Options{Login: LoginOptions{Throttle: ThrottleOptions{PerUserAddress: 2}}}, &logs)
	install(s, eas.CmdFolderSync, folderSyncOK)
	body := mustMarshal(t, &eas.FolderSyncRequest{SyncKey: "0"})
	const wrong = "Wr0ng-Guess-77"
	for range 4 {
		postFrom(s, "192.0.2.9:1", body, testUser, wrong) // failed, then throttled
	}
	postFrom(s, "192.0.2.8:1", body, testUser, testPassword)
	postFrom(s, "192.0.2.8:1", body, "busy", wrong)
	post(s, Path+plainQuery+"FolderSync", body, "MS-ASProtocolVersion", "")
	options(s, "192.0.2.7:1", testUser, wrong)
	options(s, "192.0.2.7:1", testUser, testPassword)
	out := logs.String()
	if !strings.Contains(out, `"level":"DEBUG"`) {
		t.Fatalf("no debug lines logged:\n%s", out)
	}
	for _, secret := range []string{testPassword, wrong, basic(testUser, testPassword), basic(testUser, wrong),
		base64.StdEncoding.EncodeToString([]byte(wrong)), "Authorization", "Basic "} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds %q:\n%s", secret, out)
		}
	}
}

// postFrom posts a FolderSync from the client address remote with the
// given credentials.
func postFrom(s *Server, remote string, body []byte, user, pass string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", Path+plainQuery+"FolderSync", bytes.NewReader(body))
	r.RemoteAddr = remote
	r.SetBasicAuth(user, pass)
	r.Header.Set("MS-ASProtocolVersion", "14.1")
	r.Header.Set("Content-Type", "application/vnd.ms-sync.wbxml")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

// gather returns the metric families of s by name.
func gather(t *testing.T, s *Server) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := s.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]*dto.MetricFamily)
	for _, f := range fams {
		m[f.GetName()] = f
	}
	return m
}

// counter returns the value of the counter or gauge name whose label has
// value, 0 when there is none.
func counter(fams map[string]*dto.MetricFamily, name, key, value string) float64 {
	for _, m := range fams[name].GetMetric() {
		if key == "" || label(m, key) == value {
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// TestLoginThrottleFoldsNames: guesses against the forms of one mailbox's
// name (case, DOMAIN\ prefix, the address at MailDomain) share one
// throttle, so an attacker cannot multiply his guesses by spelling.
func TestLoginThrottleFoldsNames(t *testing.T) {
	b := &countingBackend{passwords: passwords{"alice@example.com": testPassword}}
	s := newTestServer(t, &Options{Backend: b, MailDomain: "example.com",
		Login: LoginOptions{Throttle: ThrottleOptions{PerUserAddress: 4}}}, nil)
	install(s, eas.CmdFolderSync, folderSyncOK)
	body := mustMarshal(t, &eas.FolderSyncRequest{SyncKey: "0"})
	for i, name := range []string{"alice", "ALICE", `EXAMPLE\alice`, "Alice@Example.com", "alice", "aLiCe"} {
		postFrom(s, "192.0.2.66:4000", body, name, fmt.Sprintf("guess%d", i))
	}
	if n := b.logins(); n != 5 {
		t.Errorf("store logins = %d after 6 guesses at four spellings with a limit of 4, want 5", n)
	}
}
