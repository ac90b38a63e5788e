package gateway

import (
	"net/netip"
	"strings"
	"sync"
	"time"
)

// ThrottleOptions configure a Throttle. Zero fields take the defaults
// given beside them.
type ThrottleOptions struct {
	// Window is how long a failure is remembered after the last one of
	// the same key: 15 min. A guesser that keeps trying never starts
	// afresh.
	Window time.Duration
	// PerUserAddress is how many failures one user name may have from one
	// client address before that pair is throttled: 5.
	PerUserAddress int
	// PerAddress is how many failures one client address may have, over
	// every user name, before the address is throttled: 30.
	PerAddress int
	// PerUser is how many failures one user name may have over every
	// address (a guesser spread over many addresses) before the name is
	// throttled from addresses where it never logged in: 100.
	PerUser int
	// MaxLockout caps the lockout that doubles with every failure past a
	// limit, starting at one second: 5 min.
	MaxLockout time.Duration
	// MaxEntries bounds the failure records and, apart, the records of
	// addresses users logged in from (LRU): 100,000 each.
	MaxEntries int
	// KnownFor is how long an address stays known for a user after a
	// successful login: 30 days.
	KnownFor time.Duration
}

func (o ThrottleOptions) withDefaults() ThrottleOptions {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defi := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Window, 15*time.Minute)
	defi(&o.PerUserAddress, 5)
	defi(&o.PerAddress, 30)
	defi(&o.PerUser, 100)
	def(&o.MaxLockout, 5*time.Minute)
	defi(&o.MaxEntries, 100_000)
	def(&o.KnownFor, 30*24*time.Hour)
	return o
}

// Throttle slows password guessing the way Exchange and Dovecot do: it
// counts failed logins per user name and client address, per address and
// per user name, and past a limit refuses further attempts for a lockout
// that doubles with each failure. It is asked before the store, so a
// guesser never reaches the store and never slows other users.
//
// A guesser must not lock the real user out: the per-user limit, which
// catches guessing spread over many addresses, does not apply on addresses
// the user logged in from before, so a phone on its usual network still
// logs in at once. The other two limits involve the guesser's own address.
//
// Memory is bounded by ThrottleOptions.MaxEntries. A Throttle is safe for
// concurrent use; the web console's login uses one too.
type Throttle struct {
	o   ThrottleOptions
	now func() time.Time

	mu       sync.Mutex // makes Check, Failed and Succeeded one step each
	failures *accountCache[string, *failures]
	known    *accountCache[string, time.Time] // user + address → last successful login
}

// failures is the record of one key's recent failed logins.
type failures struct {
	n     int
	last  time.Time
	until time.Time // refused until then
}

// Throttle reasons, as Check returns them and metrics label them.
const (
	ThrottleUserAddress = "user_address"
	ThrottleAddress     = "address"
	ThrottleUser        = "user"
)

// NewThrottle returns a Throttle configured by o; now nil means
// time.Now.
func NewThrottle(o ThrottleOptions, now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	o = o.withDefaults()
	return &Throttle{
		o: o, now: now,
		failures: newAccountCache[string, *failures](o.MaxEntries, max(o.Window, o.MaxLockout), now),
		known:    newAccountCache[string, time.Time](o.MaxEntries, o.KnownFor, now),
	}
}

// throttleUser folds the forms one name arrives in ("Alice",
// "CORP\alice") into one key, so that varying them buys no attempts.
func throttleUser(user string) string {
	if _, name, ok := strings.Cut(user, `\`); ok {
		user = name
	}
	return strings.ToLower(user)
}

func pairKey(user string, addr netip.Addr) string {
	return "p\x00" + throttleUser(user) + "\x00" + addr.String()
}

// Check reports whether a login of user from addr may go ahead. When it
// may not, it returns the reason (ThrottleUserAddress, ThrottleAddress or
// ThrottleUser) and how long the lockout still lasts.
func (t *Throttle) Check(user string, addr netip.Addr) (reason string, retryAfter time.Duration) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	locked := func(key string) time.Duration {
		f, ok := t.failures.get(key)
		if !ok || !now.Before(f.until) {
			return 0
		}
		return f.until.Sub(now)
	}
	if d := locked(pairKey(user, addr)); d > 0 {
		return ThrottleUserAddress, d
	}
	if d := locked("a\x00" + addr.String()); d > 0 {
		return ThrottleAddress, d
	}
	if d := locked("u\x00" + throttleUser(user)); d > 0 {
		if at, ok := t.known.get(pairKey(user, addr)); ok && now.Sub(at) < t.o.KnownFor {
			return "", 0
		}
		return ThrottleUser, d
	}
	return "", 0
}

// Failed records a failed login of user from addr.
func (t *Throttle) Failed(user string, addr netip.Addr) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.fail(pairKey(user, addr), t.o.PerUserAddress, now)
	t.fail("a\x00"+addr.String(), t.o.PerAddress, now)
	t.fail("u\x00"+throttleUser(user), t.o.PerUser, now)
}

func (t *Throttle) fail(key string, limit int, now time.Time) {
	f, ok := t.failures.get(key)
	if !ok || now.Sub(f.last) > t.o.Window {
		f = &failures{}
		t.failures.put(key, f)
	}
	f.n++
	f.last = now
	if over := f.n - limit; over > 0 {
		d := t.o.MaxLockout
		if over <= 30 && time.Second<<(over-1) < d {
			d = time.Second << (over - 1)
		}
		f.until = now.Add(d)
	}
}

// Succeeded records a successful login of user from addr: the address
// becomes known for the user and the pair's failures are forgotten. The
// address's and the user's counts stay, so that a guesser with one valid
// account cannot wipe its record by logging in between guesses.
func (t *Throttle) Succeeded(user string, addr netip.Addr) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	key := pairKey(user, addr)
	t.failures.update(key, func(*failures, bool) (*failures, bool) { return nil, false })
	t.known.put(key, now)
}
