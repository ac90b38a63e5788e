package statecache

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Account names one user's state on one device. A device may serve several
// users (one phone, two mailboxes), and each pair has its own sync keys, id
// maps, policy key and wipe request.
type Account struct {
	User   string
	Device string // the DeviceId query parameter
}

// Device is what a phone has told us about itself, shared by its users.
type Device struct {
	ID              string
	Type            string // DeviceType query parameter
	UserAgent       string // User-Agent header of the last request
	ProtocolVersion string // MS-ASProtocolVersion of the last request
	Info            DeviceInfo
	FirstSeen       time.Time
	LastSeen        time.Time
}

// DeviceInfo is the Settings command's DeviceInformation (MS-ASCMD
// 2.2.3.53).
type DeviceInfo struct {
	Model          string
	IMEI           string
	FriendlyName   string
	OS             string
	OSLanguage     string
	PhoneNumber    string
	MobileOperator string
}

// Visit describes one request, for Seen.
type Visit struct {
	Type            string
	UserAgent       string
	ProtocolVersion string
	At              time.Time
	// Mailbox is the account's user name folded to one form by the
	// caller (statecache does not know a mail domain), under which
	// MailboxAccounts finds the account whatever spelling its device
	// logs in with; empty leaves the account out of that index.
	Mailbox string
}

// AccountInfo is the state of one Account.
type AccountInfo struct {
	Account
	FirstSeen time.Time
	LastSeen  time.Time
	Policy    Policy
	Wipe      Wipe
	Resync    Resync // forced by an administrator, not carried out yet
}

// Policy is an account's provisioning state (MS-ASPROV 3.1.5.1).
type Policy struct {
	// Key is the policy key issued last; 0 when none was.
	Key uint32
	// Acknowledged is true once the device acknowledged a temporary key and
	// received Key as its final key.
	Acknowledged bool
	// Previous is the key that Key replaced, accepted once more. iOS 4.3
	// sends the temporary key again on the first request after provisioning.
	Previous       uint32
	IssuedAt       time.Time
	AcknowledgedAt time.Time
}

// WipeKind says what a remote wipe erases.
type WipeKind uint8

// Kinds of wipe.
const (
	WipeNone        WipeKind = iota
	WipeFull                 // the whole device (Provision RemoteWipe)
	WipeAccountOnly          // only this account (AccountOnlyRemoteWipe, EAS 16.1)
)

// Wipe is an account's wipe request. A full wipe erases the phone and so
// every account on it, but it is requested and acknowledged through the
// account whose user asked for it.
type Wipe struct {
	Kind           WipeKind
	Acknowledged   bool // the device reported the wipe done
	RequestedBy    string
	RequestedAt    time.Time
	AcknowledgedAt time.Time
}

// seenGranularity is how stale LastSeen may be before a request that
// changes nothing else writes it: most requests then cost no fsync here.
const seenGranularity = time.Minute

// Seen records a request from a's device: it creates the device and the
// account on first sight and updates the type, user agent, protocol version
// and last-seen time.
func (s *Store) Seen(ctx context.Context, a Account, v Visit) error {
	return s.update(ctx, func(txn kvTxn) error {
		var d deviceRec
		found, err := getJSON(txn, deviceKey(a.Device), &d)
		if err != nil {
			return err
		}
		if !found {
			d.FirstSeen = v.At
		}
		if !found || d.Type != v.Type || d.UserAgent != v.UserAgent || d.Protocol != v.ProtocolVersion ||
			v.At.Sub(d.LastSeen) >= seenGranularity {
			d.Type, d.UserAgent, d.Protocol, d.LastSeen = v.Type, v.UserAgent, v.ProtocolVersion, v.At
			if err := setJSON(txn, deviceKey(a.Device), &d); err != nil {
				return err
			}
		}
		var r accountRec
		found, err = getJSON(txn, accountKey(a), &r)
		if err != nil {
			return err
		}
		if found && v.At.Sub(r.LastSeen) < seenGranularity && r.Mailbox == v.Mailbox {
			return nil
		}
		if !found {
			r.FirstSeen = v.At
			if err := txn.set(userKey(a.Device, a.User), nil); err != nil {
				return err
			}
		}
		if r.Mailbox != v.Mailbox {
			// Accounts made before the index, or under another fold,
			// join it on their next request.
			if r.Mailbox != "" {
				if err := txn.del(mailboxKey(r.Mailbox, a)); err != nil {
					return err
				}
			}
			if v.Mailbox != "" {
				if err := txn.set(mailboxKey(v.Mailbox, a), nil); err != nil {
					return err
				}
			}
			r.Mailbox = v.Mailbox
		}
		r.LastSeen = v.At
		return setJSON(txn, accountKey(a), &r)
	})
}

// SetDeviceInfo stores the DeviceInformation a device sent in Settings.
func (s *Store) SetDeviceInfo(ctx context.Context, dev string, info DeviceInfo) error {
	return s.update(ctx, func(txn kvTxn) error {
		var d deviceRec
		found, err := getJSON(txn, deviceKey(dev), &d)
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		d.Model, d.IMEI, d.Friendly = info.Model, info.IMEI, info.FriendlyName
		d.OS, d.OSLang, d.Phone, d.Operator = info.OS, info.OSLanguage, info.PhoneNumber, info.MobileOperator
		return setJSON(txn, deviceKey(dev), &d)
	})
}

// Device returns a device.
func (s *Store) Device(ctx context.Context, id string) (*Device, error) {
	var d deviceRec
	err := s.view(ctx, func(txn kvTxn) error {
		found, err := getJSON(txn, deviceKey(id), &d)
		if err == nil && !found {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	dev := d.device(id)
	return &dev, nil
}

func (d *deviceRec) device(id string) Device {
	return Device{
		ID: id, Type: d.Type, UserAgent: d.UserAgent, ProtocolVersion: d.Protocol,
		Info: DeviceInfo{
			Model: d.Model, IMEI: d.IMEI, FriendlyName: d.Friendly, OS: d.OS,
			OSLanguage: d.OSLang, PhoneNumber: d.Phone, MobileOperator: d.Operator,
		},
		FirstSeen: d.FirstSeen, LastSeen: d.LastSeen,
	}
}

// Users returns the users of a device, sorted.
func (s *Store) Users(ctx context.Context, dev string) ([]string, error) {
	return s.lastComponents(ctx, usersOfDevice(dev))
}

// Devices returns the ids of a user's devices, sorted.
func (s *Store) Devices(ctx context.Context, user string) ([]string, error) {
	return s.lastComponents(ctx, accountsOfUser(user))
}

// MailboxAccounts returns the accounts whose requests gave mailbox as
// their Visit's Mailbox, sorted by user name and device: the devices of
// one mailbox whichever spelling of its name each logs in with.
func (s *Store) MailboxAccounts(ctx context.Context, mailbox string) ([]Account, error) {
	var out []Account
	prefix := newKey(tMailbox).str(mailbox)
	err := s.view(ctx, func(txn kvTxn) error {
		return scanPrefix(txn, prefix, func(k, _ []byte) error {
			user, rest, ok := splitComponent(k[len(prefix):])
			if !ok {
				return fmt.Errorf("statecache: bad mailbox index key %q", k)
			}
			dev, _, ok := splitComponent(rest)
			if !ok {
				return fmt.Errorf("statecache: bad mailbox index key %q", k)
			}
			out = append(out, Account{User: user, Device: dev})
			return nil
		})
	})
	// Keys order components by length first.
	slices.SortFunc(out, func(a, b Account) int {
		return cmp.Or(strings.Compare(a.User, b.User), strings.Compare(a.Device, b.Device))
	})
	return out, err
}

// lastComponents lists the string component that follows prefix in each
// key under it.
func (s *Store) lastComponents(ctx context.Context, prefix []byte) ([]string, error) {
	var out []string
	err := s.view(ctx, func(txn kvTxn) error {
		return scanPrefix(txn, prefix, func(k, _ []byte) error {
			out = append(out, firstComponent(k[len(prefix):]))
			return nil
		})
	})
	// Length-prefixed components sort by length first.
	slices.Sort(out)
	return out, err
}

// Account returns the state of an account.
func (s *Store) Account(ctx context.Context, a Account) (*AccountInfo, error) {
	var r accountRec
	err := s.view(ctx, func(txn kvTxn) error {
		found, err := getJSON(txn, accountKey(a), &r)
		if err == nil && !found {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.info(a), nil
}

func (r *accountRec) info(a Account) *AccountInfo {
	return &AccountInfo{
		Account: a, FirstSeen: r.FirstSeen, LastSeen: r.LastSeen,
		Policy: Policy{
			Key: r.PolicyKey, Acknowledged: r.PolicyAcked, Previous: r.PolicyPrev,
			IssuedAt: r.PolicyIssued, AcknowledgedAt: r.PolicyAckAt,
		},
		Wipe: Wipe{
			Kind: r.Wipe, Acknowledged: r.WipeAcked, RequestedBy: r.WipeBy,
			RequestedAt: r.WipeAt, AcknowledgedAt: r.WipeAckAt,
		},
		Resync: Resync{Hierarchy: r.Resync, Collections: slices.Clone(r.ResyncCols)},
	}
}

// editAccount applies fn to an existing account record in one transaction.
func (s *Store) editAccount(ctx context.Context, a Account, fn func(r *accountRec) error) error {
	return s.editAccountTxn(ctx, a, func(_ kvTxn, r *accountRec) error { return fn(r) })
}

// editAccountTxn is editAccount for an fn that writes more in the same
// transaction.
func (s *Store) editAccountTxn(ctx context.Context, a Account, fn func(txn kvTxn, r *accountRec) error) error {
	return s.update(ctx, func(txn kvTxn) error {
		var r accountRec
		found, err := getJSON(txn, accountKey(a), &r)
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		if err := fn(txn, &r); err != nil {
			return err
		}
		return setJSON(txn, accountKey(a), &r)
	})
}

// DeleteAccount forgets an account and all its sync state, and the device
// once it has no users left. The account disappears in one transaction; its
// id maps are deleted after it, in batches.
func (s *Store) DeleteAccount(ctx context.Context, a Account) error {
	prefix := stateKey(a)
	sp := span{start: prefix, end: prefixEnd(prefix)}
	err := s.update(ctx, func(txn kvTxn) error {
		var r accountRec
		found, err := getJSON(txn, accountKey(a), &r)
		if err != nil || !found {
			if err == nil {
				err = ErrNotFound
			}
			return err
		}
		keys := [][]byte{accountKey(a), userKey(a.Device, a.User)}
		if r.Mailbox != "" {
			keys = append(keys, mailboxKey(r.Mailbox, a))
		}
		for _, k := range keys {
			if err := txn.del(k); err != nil {
				return err
			}
		}
		// The deletes above are in the transaction, so any user left is
		// another one.
		others := false
		if err := txn.scan(usersOfDevice(a.Device), prefixEnd(usersOfDevice(a.Device)), 1, func(_, _ []byte) error {
			others = true
			return nil
		}); err != nil {
			return err
		}
		if !others {
			if err := txn.del(deviceKey(a.Device)); err != nil {
				return err
			}
		}
		return queuePurge(txn, sp)
	})
	if err != nil {
		return err
	}
	s.purge(sp)
	return nil
}

// NoteQuarantine records, once per quarantine, that a's user is told of
// it: it reports true, and records at, when the user was not told since
// the quarantine began (since, the deciding rule's creation), so that of
// the requests of a quarantined device, and of several nodes, exactly one
// sends the notice.
func (s *Store) NoteQuarantine(ctx context.Context, a Account, since, at time.Time) (bool, error) {
	told := func(r *accountRec) bool { return !r.QuarantineAt.IsZero() && !r.QuarantineAt.Before(since) }
	// The device keeps asking while quarantined: those requests only read.
	var r accountRec
	err := s.view(ctx, func(txn kvTxn) error {
		_, err := getJSON(txn, accountKey(a), &r)
		return err
	})
	if err != nil || told(&r) {
		return false, err
	}
	first := false
	err = s.editAccount(ctx, a, func(r *accountRec) error {
		first = !told(r)
		if first {
			r.QuarantineAt = at
		}
		return nil
	})
	return first, err
}

// newPolicyKey returns a random non-zero policy key. MS-ASPROV keys are
// unsigned 32-bit numbers; 0 means "none".
func newPolicyKey() uint32 {
	var b [4]byte
	for {
		rand.Read(b[:])
		if k := binary.BigEndian.Uint32(b[:]); k != 0 {
			return k
		}
	}
}

// IssuePolicyKey starts provisioning (the first Provision request) and
// returns a temporary key for the device to acknowledge. An acknowledged key
// it replaces stays valid for one more use.
func (s *Store) IssuePolicyKey(ctx context.Context, a Account, now time.Time) (uint32, error) {
	var key uint32
	err := s.editAccount(ctx, a, func(r *accountRec) error {
		key = newPolicyKey()
		if r.PolicyAcked {
			r.PolicyPrev = r.PolicyKey
		}
		r.PolicyKey, r.PolicyAcked, r.PolicyIssued = key, false, now
		return nil
	})
	return key, err
}

// AcknowledgePolicyKey completes provisioning (the second Provision request,
// carrying the temporary key) and returns the final key. The temporary key
// stays valid for one more use, and an acknowledgement repeated with it
// returns the same final key, for a device that lost the response.
func (s *Store) AcknowledgePolicyKey(ctx context.Context, a Account, key uint32, now time.Time) (uint32, error) {
	var final uint32
	err := s.editAccount(ctx, a, func(r *accountRec) error {
		switch {
		case key != 0 && key == r.PolicyKey && !r.PolicyAcked:
			r.PolicyPrev, r.PolicyKey, r.PolicyAcked, r.PolicyAckAt = key, newPolicyKey(), true, now
		case key != 0 && key == r.PolicyPrev && r.PolicyAcked:
		default:
			return ErrPolicyKeyMismatch
		}
		final = r.PolicyKey
		return nil
	})
	return final, err
}

// CheckPolicyKey reports whether a request's X-MS-PolicyKey is acceptable.
// The previous key is accepted once; the first use of the current key
// retires it. An unknown account is not provisioned.
func (s *Store) CheckPolicyKey(ctx context.Context, a Account, key uint32) (bool, error) {
	ok := false
	err := s.update(ctx, func(txn kvTxn) error {
		var r accountRec
		found, err := getJSON(txn, accountKey(a), &r)
		if err != nil || !found || key == 0 {
			ok = false
			return err
		}
		switch {
		case key == r.PolicyKey && r.PolicyAcked:
			ok = true
			if r.PolicyPrev == 0 {
				return nil
			}
		case key == r.PolicyPrev:
			ok = true
		default:
			ok = false
			return nil
		}
		r.PolicyPrev = 0
		return setJSON(txn, accountKey(a), &r)
	})
	return ok, err
}

// RequestWipe asks for a device wipe (kind WipeFull) or an account-only wipe
// on the account's next Provision. It replaces an earlier request.
func (s *Store) RequestWipe(ctx context.Context, a Account, kind WipeKind, by string, now time.Time) error {
	return s.editAccount(ctx, a, func(r *accountRec) error {
		r.Wipe, r.WipeAcked, r.WipeBy, r.WipeAt, r.WipeAckAt = kind, false, by, now, time.Time{}
		return nil
	})
}

// CancelWipe withdraws a wipe request the device has not carried out yet.
func (s *Store) CancelWipe(ctx context.Context, a Account) error {
	return s.editAccount(ctx, a, func(r *accountRec) error {
		if r.WipeAcked {
			return ErrWipeAcknowledged
		}
		r.Wipe, r.WipeBy, r.WipeAt = WipeNone, "", time.Time{}
		return nil
	})
}

// AcknowledgeWipe records that the device reported the requested wipe done.
// It returns ErrNotFound when no wipe is pending.
func (s *Store) AcknowledgeWipe(ctx context.Context, a Account, now time.Time) error {
	return s.editAccount(ctx, a, func(r *accountRec) error {
		if r.Wipe == WipeNone || r.WipeAcked {
			return ErrNotFound
		}
		r.WipeAcked, r.WipeAckAt = true, now
		return nil
	})
}
