package statecache

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// AccessLevel is what a device access rule does to the devices it matches,
// as Exchange's device access rules: let them sync, refuse them, or hold
// them until an administrator decides.
type AccessLevel uint8

// Access levels. The zero value is "no rule".
const (
	AccessNone AccessLevel = iota
	AccessAllow
	AccessBlock
	AccessQuarantine
)

var accessNames = []string{"", "allow", "block", "quarantine"}

// String returns "allow", "block", "quarantine" or "".
func (l AccessLevel) String() string {
	if int(l) < len(accessNames) {
		return accessNames[l]
	}
	return fmt.Sprintf("AccessLevel(%d)", l)
}

// ParseAccessLevel parses the names String returns, except "".
func ParseAccessLevel(s string) (AccessLevel, error) {
	if i := slices.Index(accessNames, s); i > 0 {
		return AccessLevel(i), nil
	}
	return 0, fmt.Errorf("statecache: access level %q: want allow, block or quarantine", s)
}

// Characteristic is what an access rule matches a device by.
type Characteristic string

// Characteristics, from the most specific to the least: a device matched
// by several rules gets the level of the first in this order.
const (
	ByDeviceID  Characteristic = "device_id"  // the DeviceId query parameter, exactly
	ByUserAgent Characteristic = "user_agent" // the User-Agent header, ignoring case
	ByModel     Characteristic = "model"      // DeviceInformation Model, ignoring case
	ByType      Characteristic = "type"       // the DeviceType query parameter, ignoring case
)

// Characteristics lists every Characteristic in order of precedence.
var Characteristics = []Characteristic{ByDeviceID, ByUserAgent, ByModel, ByType}

// AccessRule is one device access rule.
type AccessRule struct {
	By        Characteristic
	Value     string
	Level     AccessLevel
	CreatedBy string
	CreatedAt time.Time
}

// ErrBadRule reports an access rule with an unknown characteristic, an
// empty value or no level.
var ErrBadRule = errors.New("statecache: bad access rule")

// ruleValue is the stored form of a rule's value: device ids are exact,
// the rest ignore case.
func ruleValue(by Characteristic, v string) string {
	if by == ByDeviceID {
		return v
	}
	return strings.ToLower(v)
}

// SetAccessRule stores r, replacing the rule with the same By and Value.
func (s *Store) SetAccessRule(ctx context.Context, r AccessRule) error {
	if !slices.Contains(Characteristics, r.By) || r.Value == "" || r.Level == AccessNone || r.Level > AccessQuarantine {
		return fmt.Errorf("%w: %s %q %s", ErrBadRule, r.By, r.Value, r.Level)
	}
	return s.update(ctx, func(txn kvTxn) error {
		return setJSON(txn, ruleKey(string(r.By), ruleValue(r.By, r.Value)), &ruleRec{
			Value: r.Value, Level: r.Level, By: r.CreatedBy, At: r.CreatedAt,
		})
	})
}

// DeleteAccessRule removes the rule for by and value, or returns
// ErrNotFound.
func (s *Store) DeleteAccessRule(ctx context.Context, by Characteristic, value string) error {
	return s.update(ctx, func(txn kvTxn) error {
		k := ruleKey(string(by), ruleValue(by, value))
		if _, ok, err := txn.get(k); err != nil || !ok {
			if err == nil {
				err = ErrNotFound
			}
			return err
		}
		return txn.del(k)
	})
}

// AccessRules returns every rule, in order of precedence and then value.
func (s *Store) AccessRules(ctx context.Context) ([]AccessRule, error) {
	var out []AccessRule
	err := s.view(ctx, func(txn kvTxn) error {
		for _, by := range Characteristics {
			prefix := rulesBy(string(by))
			err := scanPrefix(txn, prefix, func(_, v []byte) error {
				var r ruleRec
				if err := decode(v, &r); err != nil {
					return err
				}
				out = append(out, AccessRule{By: by, Value: r.Value, Level: r.Level, CreatedBy: r.By, CreatedAt: r.At})
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// DeviceAccess returns the rule that decides the access of device dev: the
// most specific rule matching what the device last told us about itself.
// ok is false when no rule matches, or the device is unknown and no rule
// names its id.
func (s *Store) DeviceAccess(ctx context.Context, dev string) (rule AccessRule, ok bool, err error) {
	err = s.view(ctx, func(txn kvTxn) error {
		var d deviceRec
		if _, err := getJSON(txn, deviceKey(dev), &d); err != nil {
			return err
		}
		rule, ok, err = matchRule(txn, dev, &d)
		return err
	})
	return rule, ok, err
}

// matchRule finds the first rule, in order of precedence, matching a device.
func matchRule(txn kvTxn, dev string, d *deviceRec) (AccessRule, bool, error) {
	for _, c := range []struct {
		by Characteristic
		v  string
	}{{ByDeviceID, dev}, {ByUserAgent, d.UserAgent}, {ByModel, d.Model}, {ByType, d.Type}} {
		if c.v == "" {
			continue
		}
		var r ruleRec
		found, err := getJSON(txn, ruleKey(string(c.by), ruleValue(c.by, c.v)), &r)
		if err != nil {
			return AccessRule{}, false, err
		}
		if found {
			return AccessRule{By: c.by, Value: r.Value, Level: r.Level, CreatedBy: r.By, CreatedAt: r.At}, true, nil
		}
	}
	return AccessRule{}, false, nil
}

// Resync is an account's forced full resynchronisation that the device has
// not carried out yet: its keys were made invalid, so the device's next
// FolderSync is answered status 9 and its next Sync of a collection status
// 3, and it starts over from key 0. Ping reads it to send the device there
// at once.
type Resync struct {
	Hierarchy   bool     // the whole account: its folders and every collection
	Collections []string // CollectionIds forced one by one
}

// Pending reports whether anything is to be resynced.
func (r Resync) Pending() bool { return r.Hierarchy || len(r.Collections) > 0 }

// ForceResync makes the account's device resynchronise collection from
// scratch, or, when collection is "", its folder hierarchy and every
// collection. The keys the device holds stop matching in the same
// transaction; the id maps are replaced when the device starts over, as
// for any key 0. It returns ErrNotFound for an unknown account or a
// collection never synced.
func (s *Store) ForceResync(ctx context.Context, a Account, collection string) error {
	return s.editAccountTxn(ctx, a, func(txn kvTxn, r *accountRec) error {
		if collection != "" {
			ok, err := rekey(txn, collectionKey(CollectionKey{Account: a, Collection: collection}))
			if err != nil {
				return err
			}
			if !ok {
				return ErrNotFound
			}
			if !slices.Contains(r.ResyncCols, collection) {
				r.ResyncCols = append(r.ResyncCols, collection)
			}
			return nil
		}
		if _, err := rekey(txn, hierarchyKey(a)); err != nil {
			return err
		}
		prefix := stateKey(a).tag(pCollection)
		var recs [][]byte
		err := scanPrefix(txn, prefix, func(k, _ []byte) error {
			if isCollectionRec(k, prefix) {
				recs = append(recs, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range recs {
			if _, err := rekey(txn, k); err != nil {
				return err
			}
		}
		r.Resync, r.ResyncCols = true, nil
		return nil
	})
}

// isCollectionRec reports whether k, under prefix, is a collection's sync
// record rather than its window: exactly one string component follows.
func isCollectionRec(k, prefix []byte) bool {
	rest := k[len(prefix):]
	n, w := binary.Uvarint(rest)
	return w > 0 && w+int(n) == len(rest)
}

// rekey gives the sync record at k a new epoch and no previous key, so
// that no key handed out before matches it. It reports false when there is
// no record.
func rekey(txn kvTxn, k []byte) (bool, error) {
	var r syncRec
	found, err := getJSON(txn, k, &r)
	if err != nil || !found {
		return false, err
	}
	r.Epoch, r.Seq, r.Prev = newEpoch(), 1, ""
	if err := setJSON(txn, k, &r); err != nil {
		return false, err
	}
	// The window belongs to a key that no longer exists.
	return true, txn.del(windowKey(k))
}

// resyncDone clears what a reset of sc (a key 0 from the device) carries
// out. It runs inside advance's transaction.
func resyncDone(txn kvTxn, sc syncScope) error {
	a := sc.ck.Account
	var r accountRec
	found, err := getJSON(txn, accountKey(a), &r)
	if err != nil || !found || (!r.Resync && len(r.ResyncCols) == 0) {
		return err
	}
	switch {
	case sc.isFolder:
		if !r.Resync {
			return nil
		}
		// The device starts over with every collection after a
		// FolderSync reset; each Sync 0 clears nothing more.
		r.Resync = false
	default:
		i := slices.Index(r.ResyncCols, sc.ck.Collection)
		if i < 0 {
			return nil
		}
		r.ResyncCols = slices.Delete(r.ResyncCols, i, i+1)
	}
	return setJSON(txn, accountKey(a), &r)
}

// ResetPolicy forgets the account's policy keys, so that its next request
// with a key is answered "invalid policy key" and the device provisions
// again (MS-ASPROV 3.1.5.1), receiving a new key.
func (s *Store) ResetPolicy(ctx context.Context, a Account) error {
	return s.editAccount(ctx, a, func(r *accountRec) error {
		r.PolicyKey, r.PolicyAcked, r.PolicyPrev = 0, false, 0
		r.PolicyIssued, r.PolicyAckAt = time.Time{}, time.Time{}
		return nil
	})
}

// CollectionInfo describes one synced collection of an account.
type CollectionInfo struct {
	ID       string // the EAS CollectionId
	FolderID string // the store's folder id, "" if no longer mapped
	Items    int    // items the device holds, as far as we sent them
	SyncKey  SyncKey
}

// Collections lists the collections an account has synced, with the number
// of items in each one's id map.
func (s *Store) Collections(ctx context.Context, a Account) ([]CollectionInfo, error) {
	var out []CollectionInfo
	err := s.view(ctx, func(txn kvTxn) error {
		prefix := stateKey(a).tag(pCollection)
		type col struct {
			id string
			r  syncRec
		}
		var cols []col
		err := scanPrefix(txn, prefix, func(k, v []byte) error {
			if !isCollectionRec(k, prefix) {
				return nil
			}
			c := col{id: firstComponent(k[len(prefix):])}
			if err := decode(v, &c.r); err != nil {
				return err
			}
			cols = append(cols, c)
			return nil
		})
		if err != nil {
			return err
		}
		for _, c := range cols {
			ci := CollectionInfo{ID: c.id, SyncKey: c.r.current()}
			id, _, err := getID(txn, folderKey(a, pByEAS, ci.ID))
			if err != nil {
				return err
			}
			ci.FolderID = id
			ck := CollectionKey{Account: a, Collection: ci.ID}
			ip := itemKey(ck, c.r.Gen, pByStore, "")
			ip = ip[:len(ip)-1] // drop the empty id's length: every id
			if err := scanPrefix(txn, ip, func(_, _ []byte) error { ci.Items++; return nil }); err != nil {
				return err
			}
			out = append(out, ci)
		}
		return nil
	})
	return out, err
}

// DeviceFilter selects devices for ListDevices. Zero fields select all.
type DeviceFilter struct {
	User       string    // a user of the device, exactly
	Type       string    // DeviceType, ignoring case
	Protocol   string    // protocol version of the last request, as "14.1"
	Search     string    // a substring, ignoring case, of the id, type, model, friendly name, user agent or a user
	SeenAfter  time.Time // last seen at or after
	SeenBefore time.Time // last seen before
	Policy     string    // "none", "pending" or "acknowledged": some user's policy state
	Wipe       string    // "none", "pending" or "done": some user's wipe state
	Access     string    // "allow", "block", "quarantine" or "default": the rule deciding the device
	After      string    // only device ids after this one, for paging
	Limit      int       // at most this many; 0 means 500
}

// DeviceEntry is a device with its users' state and its access rule.
type DeviceEntry struct {
	Device
	Accounts []AccountInfo
	Access   *AccessRule // nil: no rule matches
}

// ListDevices returns the devices f selects, ordered by id, and whether
// more followed the limit.
func (s *Store) ListDevices(ctx context.Context, f DeviceFilter) ([]DeviceEntry, bool, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 500
	}
	var (
		out  []DeviceEntry
		more bool
	)
	err := s.view(ctx, func(txn kvTxn) error {
		prefix := newKey(tDevice)
		type dev struct {
			id string
			d  deviceRec
		}
		var devs []dev
		err := scanPrefix(txn, prefix, func(k, v []byte) error {
			id := firstComponent(k[len(prefix):])
			if f.After != "" && id <= f.After {
				return nil
			}
			x := dev{id: id}
			if err := decode(v, &x.d); err != nil {
				return err
			}
			devs = append(devs, x)
			return nil
		})
		if err != nil {
			return err
		}
		for _, x := range devs {
			id, d := x.id, x.d
			e, err := deviceEntry(txn, id, &d)
			if err != nil {
				return err
			}
			if !f.match(e) {
				continue
			}
			// Keep the limit+1 smallest ids: the store orders ids by
			// length first, a page goes by the ids themselves.
			i, _ := slices.BinarySearchFunc(out, id, func(e DeviceEntry, id string) int { return strings.Compare(e.ID, id) })
			if i > limit {
				continue
			}
			out = slices.Insert(out, i, *e)
			if len(out) > limit+1 {
				out = out[:limit+1]
			}
		}
		return nil
	})
	if len(out) > limit {
		out, more = out[:limit], true
	}
	return out, more, err
}

// DeviceEntry returns one device as ListDevices does, or ErrNotFound.
func (s *Store) DeviceEntry(ctx context.Context, id string) (*DeviceEntry, error) {
	var e *DeviceEntry
	err := s.view(ctx, func(txn kvTxn) error {
		var d deviceRec
		found, err := getJSON(txn, deviceKey(id), &d)
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		e, err = deviceEntry(txn, id, &d)
		return err
	})
	return e, err
}

func deviceEntry(txn kvTxn, id string, d *deviceRec) (*DeviceEntry, error) {
	e := &DeviceEntry{Device: d.device(id)}
	prefix := usersOfDevice(id)
	var users []string
	err := scanPrefix(txn, prefix, func(k, _ []byte) error {
		users = append(users, firstComponent(k[len(prefix):]))
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(users)
	for _, u := range users {
		a := Account{User: u, Device: id}
		var r accountRec
		found, err := getJSON(txn, accountKey(a), &r)
		if err != nil {
			return nil, err
		}
		if found {
			e.Accounts = append(e.Accounts, *r.info(a))
		}
	}
	rule, ok, err := matchRule(txn, id, d)
	if err != nil {
		return nil, err
	}
	if ok {
		e.Access = &rule
	}
	return e, nil
}

func (f *DeviceFilter) match(e *DeviceEntry) bool {
	d := &e.Device
	switch {
	case f.Type != "" && !strings.EqualFold(f.Type, d.Type),
		f.Protocol != "" && f.Protocol != d.ProtocolVersion,
		!f.SeenAfter.IsZero() && d.LastSeen.Before(f.SeenAfter),
		!f.SeenBefore.IsZero() && !d.LastSeen.Before(f.SeenBefore):
		return false
	}
	if f.Access != "" {
		level := "default"
		if e.Access != nil {
			level = e.Access.Level.String()
		}
		if level != f.Access {
			return false
		}
	}
	if f.User != "" && !slices.ContainsFunc(e.Accounts, func(a AccountInfo) bool { return a.User == f.User }) {
		return false
	}
	if f.Policy != "" && !slices.ContainsFunc(e.Accounts, func(a AccountInfo) bool { return a.Policy.State() == f.Policy }) {
		return false
	}
	if f.Wipe != "" && !slices.ContainsFunc(e.Accounts, func(a AccountInfo) bool { return a.Wipe.State() == f.Wipe }) {
		return false
	}
	if q := strings.ToLower(f.Search); q != "" {
		hay := []string{d.ID, d.Type, d.Info.Model, d.Info.FriendlyName, d.UserAgent}
		for _, a := range e.Accounts {
			hay = append(hay, a.User)
		}
		if !slices.ContainsFunc(hay, func(h string) bool { return strings.Contains(strings.ToLower(h), q) }) {
			return false
		}
	}
	return true
}

// State is "none", "pending" (issued, not acknowledged) or "acknowledged".
func (p Policy) State() string {
	switch {
	case p.Key == 0:
		return "none"
	case !p.Acknowledged:
		return "pending"
	}
	return "acknowledged"
}

// State is "none", "pending" or "done".
func (w Wipe) State() string {
	switch {
	case w.Kind == WipeNone:
		return "none"
	case !w.Acknowledged:
		return "pending"
	}
	return "done"
}

// UserPrefs are the choices a user made in the console for all of the
// user's devices.
type UserPrefs struct {
	// Hidden lists the store folder ids of calendars and address books
	// the user chose not to sync; FolderSync leaves them out.
	Hidden []string
}

// UserPrefs returns a user's choices; the zero value when none were made.
func (s *Store) UserPrefs(ctx context.Context, user string) (UserPrefs, error) {
	var r prefsRec
	err := s.view(ctx, func(txn kvTxn) error {
		_, err := getJSON(txn, prefsKey(user), &r)
		return err
	})
	return UserPrefs{Hidden: r.Hidden}, err
}

// SetUserPrefs stores a user's choices.
func (s *Store) SetUserPrefs(ctx context.Context, user string, p UserPrefs) error {
	return s.update(ctx, func(txn kvTxn) error {
		if len(p.Hidden) == 0 {
			return txn.del(prefsKey(user))
		}
		h := slices.Clone(p.Hidden)
		slices.Sort(h)
		return setJSON(txn, prefsKey(user), &prefsRec{Hidden: slices.Compact(h)})
	})
}
