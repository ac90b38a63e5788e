package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/statecache"
)

// PolicyMode says whether devices must provision (MS-ASPROV).
type PolicyMode uint8

// Policy modes.
const (
	// PolicyNone: no provisioning. Provision answers that there is no
	// policy for the device, and no request needs a policy key.
	PolicyNone PolicyMode = iota
	// PolicyAllow: devices are offered the policy; one that never
	// provisions may still sync, but a key it does send must be valid.
	PolicyAllow
	// PolicyForce: every command but Provision needs the current,
	// acknowledged policy key.
	PolicyForce
)

// ParsePolicyMode parses "none", "allow" or "force".
func ParsePolicyMode(s string) (PolicyMode, error) {
	switch s {
	case "none", "":
		return PolicyNone, nil
	case "allow":
		return PolicyAllow, nil
	case "force":
		return PolicyForce, nil
	}
	return 0, fmt.Errorf("gateway: policy mode %q: want none, allow or force", s)
}

// Policy is the provisioning policy sent to devices.
type Policy struct {
	Mode PolicyMode
	// Doc holds the settings for 12.0 and later; 2.5 devices get the
	// equivalent XML document. A nil Doc sends a policy that requires
	// nothing.
	Doc *eas.EASProvisionDoc
}

func (p *Policy) check() error {
	if p.Mode > PolicyForce {
		return fmt.Errorf("gateway: policy mode: unknown mode %d", p.Mode)
	}
	return nil
}

// Limits bound what one device may ask for. Zero fields take the defaults
// given beside them.
type Limits struct {
	// MinHeartbeat and MaxHeartbeat bound Ping's HeartbeatInterval and a
	// hanging Sync's Wait (MS-ASCMD 2.2.3.79): 60 s and 59 min.
	MinHeartbeat, MaxHeartbeat time.Duration
	// MaxPingFolders bounds the folders of one Ping: 300.
	MaxPingFolders int
	// MaxWindowSize bounds a Sync WindowSize: 512, the spec's maximum.
	MaxWindowSize int
	// MaxSyncCollections bounds the collections of one Sync: 300.
	MaxSyncCollections int
	// KeepAlive is how long a slow response may stay silent before
	// easgate sends the headers and starts streaming (Gmail on Android
	// aborts after about 30 s): 20 s.
	KeepAlive time.Duration
	// MaxAccounts bounds each in-memory per-account cache (accounts.go):
	// that many users' folder lists and devices' recent requests (loop
	// detection): 10,000. Past it the least recently used is forgotten,
	// which costs a store read, never data. (The last Sync and Ping and
	// the SendMail ClientIds live in the state, bounded per account.)
	MaxAccounts int
	// AccountIdle is how long such an entry is kept after its last use:
	// 2 h.
	AccountIdle time.Duration

	// MaxRequests bounds the requests being worked on at once, and
	// MaxDeviceRequests those of one device (user and DeviceId): 256 and
	// 4. Waiting Pings and hanging Syncs do not count once they wait.
	// Past either, a request is answered 503 with Retry-After (RetryAfter,
	// 10 s) and X-MS-ASThrottle (overload.go).
	MaxRequests, MaxDeviceRequests int
	RetryAfter                     time.Duration
	// LoopRepeats identical requests of one device, each within
	// LoopWindow of the one before, make a loop: 5 and 30 s. Further
	// repeats are answered after a delay doubling from 1 s up to
	// LoopDelay, 30 s (overload.go).
	LoopRepeats           int
	LoopWindow, LoopDelay time.Duration
}

func (l Limits) withDefaults() Limits {
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
	def(&l.MinHeartbeat, 60*time.Second)
	def(&l.MaxHeartbeat, 59*time.Minute)
	defi(&l.MaxPingFolders, 300)
	defi(&l.MaxWindowSize, 512)
	defi(&l.MaxSyncCollections, 300)
	def(&l.KeepAlive, 20*time.Second)
	defi(&l.MaxAccounts, 10000)
	def(&l.AccountIdle, 2*time.Hour)
	defi(&l.MaxRequests, 256)
	defi(&l.MaxDeviceRequests, 4)
	def(&l.RetryAfter, 10*time.Second)
	defi(&l.LoopRepeats, 5)
	def(&l.LoopWindow, 30*time.Second)
	def(&l.LoopDelay, 30*time.Second)
	return l
}

// errNotProvisioned and errBadPolicyKey make statusFor answer 142 or 144
// (HTTP 449 before 14.0), sending the device to Provision.
var (
	errNotProvisioned = &eas.StatusError{Status: eas.StatusDeviceNotProvisioned, Scope: eas.ScopeCommand}
	errBadPolicyKey   = &eas.StatusError{Status: eas.StatusInvalidPolicyKey, Scope: eas.ScopeCommand}
	errWipeRequested  = &eas.StatusError{Status: eas.StatusRemoteWipeRequested, Scope: eas.ScopeCommand}
)

// admit records the device's visit and enforces the policy before a
// command runs. Provision itself is always admitted; so is every command
// when there is no state store (the front door alone).
func (s *Server) admit(ctx context.Context, sess *Session) error {
	if s.state == nil {
		return nil
	}
	q := sess.Request
	err := s.state.Seen(ctx, sess.Account, statecache.Visit{
		Type: q.DeviceType, UserAgent: q.UserAgent, ProtocolVersion: q.Version.String(), At: s.now(),
		Mailbox: s.mailbox(sess.User),
	})
	if err != nil {
		return fmt.Errorf("gateway: recording the device: %w", err)
	}
	if err := s.checkAccess(ctx, sess); err != nil {
		return err
	}
	if q.Command == eas.CmdProvision {
		return nil
	}
	info, err := s.state.Account(ctx, sess.Account)
	if err != nil && !errors.Is(err, statecache.ErrNotFound) {
		return fmt.Errorf("gateway: reading the account: %w", err)
	}
	if pendingWipe(info, q.Version) != statecache.WipeNone {
		// A pending wipe is delivered by Provision: send the device there
		// with 140 RemoteWipeRequested (MS-ASCMD 2.2.2), or HTTP 449 before
		// 14.0, which has no status codes of its own for it.
		if q.Version < eas.V140 {
			return errNotProvisioned
		}
		return errWipeRequested
	}
	key := q.PolicyKey
	switch s.policy.Mode {
	case PolicyNone:
		return nil
	case PolicyAllow:
		if key == 0 {
			return nil
		}
	}
	if key == 0 {
		return errNotProvisioned
	}
	ok, err := s.state.CheckPolicyKey(ctx, sess.Account, key)
	if err != nil {
		return fmt.Errorf("gateway: checking the policy key: %w", err)
	}
	if !ok {
		return errBadPolicyKey
	}
	return nil
}
