package statecache

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
)

// Key layout. Every key starts with the schema byte, then a table byte, then
// its components; a string component is written as a uvarint length and the
// bytes, so user names and ids may hold any byte and one component's prefix
// never matches another's.
//
//	d dev                         → deviceRec      one per phone
//	r user dev                    → accountRec     provisioning, wipe, seen
//	u dev user                    → (empty)        users of a device
//	a user dev h                  → syncRec        FolderSync key, folder counter
//	a user dev f s serverFolderID → collectionID   folder map, both ways
//	a user dev f e collectionID   → serverFolderID
//	a user dev c collectionID     → syncRec        Sync key, item counter, window
//	a user dev i collectionID gen s itemID   → serverID   item map of one
//	a user dev i collectionID gen r lastN    → idRange    generation, both ways:
//	                                                      ServerIds firstN…lastN (ranges.go)
//	a user dev i collectionID gen e serverID → itemID     the same, one per item,
//	                                                      as written before ranges
//	a user dev q command          → request body   last Sync/Ping, for empty ones (requests.go)
//	a user dev m                  → submittedRec   recent SendMail ClientIds (requests.go)
//	z start                       → end            range still to delete
//	x characteristic value        → ruleRec        device access rules
//	n mailbox user dev            → (empty)        accounts of a mailbox, by folded name
//	p mailbox                     → prefsRec       a mailbox's console choices (folded name)
//	k user                        → passwordRec    a device password (password.go)
//	j mailbox folder              → (opaque)       a store adapter's journal (journal.go)
//
// All state of one (user, device) sits under "a user dev", so deleting an
// account is one range. The item map carries the collection's generation
// (8 bytes, big endian): resetting a collection with key "0" only bumps the
// generation in its record, which is one small atomic write however large
// the old map was; the old generations sort before the new one and are
// deleted afterwards, in chunks, through a "z" entry that Open resumes if the
// process died half-way.
const schemaVersion byte = 1

// Tables.
const (
	tDevice  byte = 'd'
	tAccount byte = 'r'
	tUsers   byte = 'u'
	tState   byte = 'a'
	tPurge   byte = 'z'
	tRule    byte = 'x'
	tPrefs   byte = 'p'
	tMailbox byte = 'n'
)

// Parts under tState.
const (
	pHierarchy  byte = 'h'
	pFolders    byte = 'f'
	pCollection byte = 'c'
	pItems      byte = 'i'
	pByStore    byte = 's'
	pByEAS      byte = 'e'
	pWindow     byte = 'w' // after a sync record's key: its window
)

type keyBuf []byte

func newKey(table byte) keyBuf { return keyBuf{schemaVersion, table} }

func (k keyBuf) str(s string) keyBuf {
	k = binary.AppendUvarint(k, uint64(len(s)))
	return append(k, s...)
}

func (k keyBuf) tag(b byte) keyBuf { return append(k, b) }

func (k keyBuf) u64(n uint64) keyBuf { return binary.BigEndian.AppendUint64(k, n) }

// clone returns a copy that appending to k cannot overwrite.
func (k keyBuf) clone() keyBuf { return append(keyBuf(nil), k...) }

func deviceKey(dev string) []byte       { return newKey(tDevice).str(dev) }
func accountKey(a Account) []byte       { return newKey(tAccount).str(a.User).str(a.Device) }
func accountsOfUser(user string) []byte { return newKey(tAccount).str(user) }
func userKey(dev, user string) []byte   { return newKey(tUsers).str(dev).str(user) }
func usersOfDevice(dev string) []byte   { return newKey(tUsers).str(dev) }
func stateKey(a Account) keyBuf         { return newKey(tState).str(a.User).str(a.Device) }
func hierarchyKey(a Account) []byte     { return stateKey(a).tag(pHierarchy) }
func collectionKey(k CollectionKey) []byte {
	return stateKey(k.Account).tag(pCollection).str(k.Collection)
}

func mailboxKey(mailbox string, a Account) []byte {
	return newKey(tMailbox).str(mailbox).str(a.User).str(a.Device)
}

func folderKey(a Account, dir byte, id string) []byte {
	return stateKey(a).tag(pFolders).tag(dir).str(id)
}

// itemsKey is the prefix of a collection's item map, all generations.
func itemsKey(k CollectionKey) keyBuf { return stateKey(k.Account).tag(pItems).str(k.Collection) }

func itemKey(k CollectionKey, gen uint64, dir byte, id string) []byte {
	return itemsKey(k).u64(gen).tag(dir).str(id)
}

// itemKeys returns itemKey for one collection and generation, building
// their common prefix once: an Advance of a window of new mail makes two
// keys per item, and each then costs one allocation.
func itemKeys(k CollectionKey, gen uint64) func(dir byte, id string) []byte {
	p := itemsKey(k).u64(gen)
	return func(dir byte, id string) []byte {
		b := make(keyBuf, len(p), len(p)+1+binary.MaxVarintLen64+len(id))
		copy(b, p)
		return b.tag(dir).str(id)
	}
}

func ruleKey(by, value string) []byte { return newKey(tRule).str(by).str(value) }
func rulesBy(by string) []byte        { return newKey(tRule).str(by) }
func prefsKey(user string) []byte     { return newKey(tPrefs).str(user) }

func purgeKey(start []byte) []byte { return append(newKey(tPurge), start...) }

// firstComponent returns the string component at the start of rest.
// splitComponent returns the string component at the start of rest and
// what follows it; ok is false when rest does not start with one.
func splitComponent(rest []byte) (c string, after []byte, ok bool) {
	n, w := binary.Uvarint(rest)
	if w <= 0 || uint64(len(rest)-w) < n {
		return "", nil, false
	}
	return string(rest[w : w+int(n)]), rest[w+int(n):], true
}

func firstComponent(rest []byte) string {
	n, w := binary.Uvarint(rest)
	if w <= 0 || w+int(n) > len(rest) {
		return ""
	}
	return string(rest[w : w+int(n)])
}

// prefixEnd returns the first key after every key that starts with p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // p is all 0xff; cannot happen, keys start with schemaVersion
}

// Values start with a version byte. Records are JSON after it: they are read
// once or twice per request, next to an fsync that costs far more than
// decoding; fields can be added (omitempty) without a schema change; an
// operator can read a dump; and the PostgreSQL backend can keep the same
// bytes in a jsonb column. The id maps, which are the hot and numerous
// entries, hold the raw id after the version byte and need no encoding.
const valueVersion byte = 1

func encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append([]byte{valueVersion}, b...), nil
}

func decode(b []byte, v any) error {
	if len(b) == 0 || b[0] != valueVersion {
		return fmt.Errorf("statecache: unknown value version in %q", b)
	}
	return json.Unmarshal(b[1:], v)
}

func encodeID(id string) []byte { return append([]byte{valueVersion}, id...) }

func decodeID(b []byte) (string, error) {
	if len(b) == 0 || b[0] != valueVersion {
		return "", fmt.Errorf("statecache: unknown value version in %q", b)
	}
	return string(b[1:]), nil
}

// Stored records. They are kept apart from the exported types so that
// renaming a Go field never changes what is on disk.

type deviceRec struct {
	Type      string    `json:"type,omitempty"`
	UserAgent string    `json:"ua,omitempty"`
	Protocol  string    `json:"proto,omitempty"`
	Model     string    `json:"model,omitempty"`
	IMEI      string    `json:"imei,omitempty"`
	Friendly  string    `json:"name,omitempty"`
	OS        string    `json:"os,omitempty"`
	OSLang    string    `json:"oslang,omitempty"`
	Phone     string    `json:"phone,omitempty"`
	Operator  string    `json:"operator,omitempty"`
	FirstSeen time.Time `json:"first"`
	LastSeen  time.Time `json:"last"`
}

type accountRec struct {
	FirstSeen    time.Time `json:"first"`
	LastSeen     time.Time `json:"last"`
	PolicyKey    uint32    `json:"pk,omitempty"`
	PolicyAcked  bool      `json:"pkack,omitempty"`
	PolicyPrev   uint32    `json:"pkprev,omitempty"`
	PolicyIssued time.Time `json:"pkissued,omitzero"`
	PolicyAckAt  time.Time `json:"pkackat,omitzero"`
	Wipe         WipeKind  `json:"wipe,omitempty"`
	WipeAcked    bool      `json:"wipeack,omitempty"`
	WipeBy       string    `json:"wipeby,omitempty"`
	WipeAt       time.Time `json:"wipeat,omitzero"`
	WipeAckAt    time.Time `json:"wipeackat,omitzero"`
	Resync       bool      `json:"resync,omitempty"`     // ForceResync of everything, not carried out yet
	ResyncCols   []string  `json:"resynccols,omitempty"` // ForceResync of these collections
	Mailbox      string    `json:"mbox,omitempty"`       // Visit.Mailbox, indexed under tMailbox
	QuarantineAt time.Time `json:"qnotice,omitzero"`     // when the user was last told of a quarantine
}

// ruleRec is a device access rule; its characteristic and value, lower
// case unless a device id, are its key.
type ruleRec struct {
	Value string      `json:"v"` // as the administrator wrote it
	Level AccessLevel `json:"level"`
	By    string      `json:"by,omitempty"`
	At    time.Time   `json:"at,omitzero"`
}

// prefsRec holds a user's console choices.
type prefsRec struct {
	Hidden []string `json:"hidden,omitempty"`
}

// syncRec is the record behind a sync key, for a collection or for the
// folder hierarchy. The current key is derived from Epoch and Seq; only the
// window of the current key is kept, because a client that repeats the
// previous key is asking for exactly that response again.
type syncRec struct {
	Epoch   string      `json:"epoch"`
	Seq     uint64      `json:"seq"`
	Prev    SyncKey     `json:"prev,omitempty"`
	Gen     uint64      `json:"gen,omitempty"`
	NextID  uint64      `json:"next"`
	State   string      `json:"state,omitempty"`
	Echo    []Echo      `json:"echo,omitempty"` // short-lived: only while the feed is being paged
	Pending []changeRec `json:"-"`              // in its own record, windowKey: read only when needed
	More    bool        `json:"-"`
}

// winRec is the window of a sync record, kept apart so that the frequent
// look-ups of a key (every Sync, Ping, id map) do not decode it.
type winRec struct {
	Pending []changeRec `json:"win,omitempty"`
	More    bool        `json:"more,omitempty"` // changes remained after Pending
}

// windowKey is the key of the window of the sync record at rec.
func windowKey(rec []byte) []byte { return append(keyBuf(rec).clone(), pWindow) }

type changeRec struct {
	Op       Op     `json:"o"`
	ServerID string `json:"s"`
	ItemID   string `json:"i"`
	ClientID string `json:"c,omitempty"`
}
