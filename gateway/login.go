package gateway

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/easgate/easgate/sources"
)

// LoginOptions configure authentication. The zero value is valid.
type LoginOptions struct {
	// Throttle limits failed logins (see Throttle).
	Throttle ThrottleOptions
	// CacheTTL is how long a successful login is remembered, so that a
	// busy phone does not cost a store login per request: 5 min. A
	// password changed at the store keeps working here that long.
	CacheTTL time.Duration
	// CacheSize bounds the remembered logins (LRU): 10,000.
	CacheSize int
	// TrustedProxies are the peers whose X-Forwarded-For header names the
	// client; from anyone else the header is ignored. Empty: none.
	TrustedProxies []netip.Prefix
}

// errThrottled refuses a login that the Throttle holds back.
type errThrottled struct {
	reason     string
	retryAfter time.Duration
}

func (e *errThrottled) Error() string {
	return fmt.Sprintf("gateway: login throttled (%s) for %v", e.reason, e.retryAfter)
}

// login authenticates the Basic credentials of r: the Throttle first, so
// that a guesser never reaches the store, then the cache of successful
// logins, then the Backend. It returns the user name as sent, and an
// error that refuseLogin answers: errNoCredentials, *errThrottled, or the
// Backend's.
func (s *Server) login(r *http.Request) (string, sources.Source, error) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		s.metrics.LoginFailed("no_credentials")
		return "", nil, errNoCredentials
	}
	addr := s.clientAddr(r)
	// One mailbox has one throttle whichever form of its name is guessed
	// against: alice, ALICE, CONTOSO\alice and alice@example.com.
	tu := s.mailbox(user)
	if reason, d := s.throttle.Check(tu, addr); reason != "" {
		s.metrics.Throttled("login_" + reason)
		return user, nil, &errThrottled{reason, d}
	}
	key := s.logins.key(user, pass)
	if src, ok := s.logins.get(key, s.now()); ok {
		s.metrics.LoginCached()
		return user, src, nil
	}
	if s.backend == nil {
		s.metrics.LoginFailed("password")
		return user, nil, fmt.Errorf("gateway: no backend: %w", sources.ErrAuth)
	}
	src, err := s.backend.Login(r.Context(), user, pass)
	switch {
	case err == nil:
		s.throttle.Succeeded(tu, addr)
		s.logins.put(key, user, src, s.now())
		return user, src, nil
	case loginStatus(err) == http.StatusServiceUnavailable:
		// The store is down: nobody guessed anything.
		s.metrics.LoginFailed("store_unavailable")
	default:
		s.throttle.Failed(tu, addr)
		s.metrics.LoginFailed("password")
		s.log.Debug("login failed", "user", user, "addr", addr.String(), "err", err)
	}
	return user, nil, err
}

// mailbox folds the forms of one mailbox's name (alice, ALICE,
// CONTOSO\alice, alice@example.com with mail_domain example.com) into one
// key: for the login throttle, the user's console choices and finding a
// mailbox's devices.
func (s *Server) mailbox(user string) string {
	return strings.ToLower(s.primaryAddress(user))
}

// refuseLogin answers a failed login: 503 when the store is down, so that
// the phone does not ask for a new password, and 401 otherwise, with
// Retry-After when throttled. The connection is closed without reading
// the body (answerAndClose).
func refuseLogin(w http.ResponseWriter, err error) int {
	code := http.StatusUnauthorized
	var te *errThrottled
	switch {
	case errors.As(err, &te):
		w.Header().Set("Retry-After", strconv.Itoa(int(te.retryAfter/time.Second)+1))
	case !errors.Is(err, errNoCredentials):
		code = loginStatus(err)
	}
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="easgate", charset="UTF-8"`)
	}
	answerAndClose(w, code, "")
	return code
}

// loginCache remembers successful logins by a keyed hash of the
// credentials (HMAC-SHA256 under a key made at start), never the password
// itself, for a few minutes.
type loginCache struct {
	mac []byte
	ttl time.Duration

	m *accountCache[[sha256.Size]byte, cachedLogin]
}

type cachedLogin struct {
	user    string // as sent, for forget
	src     sources.Source
	expires time.Time
}

func newLoginCache(ttl time.Duration, size int, now func() time.Time) *loginCache {
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	if size <= 0 {
		size = 10_000
	}
	c := &loginCache{mac: make([]byte, 32), ttl: ttl, m: newAccountCache[[sha256.Size]byte, cachedLogin](size, ttl, now)}
	rand.Read(c.mac) // never fails (crypto/rand)
	return c
}

// key returns the cache key of a user and password. The length prefix
// keeps "ab"+"c" apart from "a"+"bc".
func (c *loginCache) key(user, pass string) [sha256.Size]byte {
	h := hmac.New(sha256.New, c.mac)
	h.Write([]byte(strconv.Itoa(len(user)) + ":" + user + pass))
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// get returns the store of a login remembered under k. A login expires
// ttl after it was made, however often it is used.
func (c *loginCache) get(k [sha256.Size]byte, now time.Time) (sources.Source, bool) {
	e, ok := c.m.get(k)
	if !ok || !now.Before(e.expires) {
		return nil, false
	}
	return e.src, true
}

func (c *loginCache) put(k [sha256.Size]byte, user string, src sources.Source, now time.Time) {
	c.m.put(k, cachedLogin{user, src, now.Add(c.ttl)})
}

// forget drops the remembered logins of user (a name such as
// alice@example.com), whichever way the phones spelled it: alice,
// ALICE@example.com or DOMAIN\alice. An administrator who replaces or
// revokes a password means it to stop working now.
func (c *loginCache) forget(user string) {
	user = strings.ToLower(user)
	local, _, _ := strings.Cut(user, "@")
	c.m.removeIf(func(_ [sha256.Size]byte, e cachedLogin) bool {
		sent := strings.ToLower(e.user)
		if _, n, ok := strings.Cut(sent, `\`); ok {
			sent = n
		}
		return sent == user || sent == local
	})
}
