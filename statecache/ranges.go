package statecache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The item map's reverse direction (ServerId → store id) is kept in ranges:
// the ServerIds one transaction mints are consecutive ("5:101" … "5:200"),
// so one row holds the store ids of all of them, keyed by the last number
// of the range. An Advance of a window of 100 new mails then writes 101
// rows instead of 200, which on PostgreSQL was 40 % of the database's work
// per Advance. The forward direction (store id → ServerId) stays one row
// per item: its keys are the store's ids, which have no order to share.
//
// A lookup of "5:N" reads the first range whose last number is N or more;
// it holds N if its first number is N or less. A confirmed Delete blanks
// its entry, and a range with no entry left is deleted. Maps written
// before ranges existed keep one pByEAS row per item, which lookups and
// deletes still read: no migration rewrites them.

// pRange tags a range row of an item map generation.
const pRange byte = 'r'

// maxRangeIDs bounds the ids one range row holds: a larger batch is
// written as several rows, so that blanking one entry never rewrites an
// unbounded value.
const maxRangeIDs = 256

func rangeKey(k CollectionKey, gen, last uint64) []byte {
	return itemsKey(k).u64(gen).tag(pRange).u64(last)
}

// idRange is the decoded value of a range row: ids[i] is the store id of
// ServerId number first+i, or "" once deleted.
type idRange struct {
	first uint64
	ids   []string
}

func (r idRange) last() uint64 { return r.first + uint64(len(r.ids)) - 1 }

// live reports whether any entry is left.
func (r idRange) live() bool {
	return slices.ContainsFunc(r.ids, func(s string) bool { return s != "" })
}

// encode writes the version byte, the first number, the count, then each
// id as a length and its bytes.
func (r idRange) encode() []byte {
	n := 1 + 2*binary.MaxVarintLen64
	for _, id := range r.ids {
		n += binary.MaxVarintLen32 + len(id)
	}
	b := make([]byte, 0, n)
	b = append(b, valueVersion)
	b = binary.AppendUvarint(b, r.first)
	b = binary.AppendUvarint(b, uint64(len(r.ids)))
	for _, id := range r.ids {
		b = binary.AppendUvarint(b, uint64(len(id)))
		b = append(b, id...)
	}
	return b
}

var errBadRange = errors.New("statecache: malformed id range")

func decodeRange(b []byte) (idRange, error) {
	if len(b) == 0 || b[0] != valueVersion {
		return idRange{}, fmt.Errorf("%w: unknown value version", errBadRange)
	}
	b = b[1:]
	var r idRange
	var count uint64
	var ok bool
	if r.first, b, ok = uvarint(b); !ok {
		return idRange{}, errBadRange
	}
	if count, b, ok = uvarint(b); !ok || count == 0 || count > maxRangeIDs || r.first+count-1 < r.first {
		return idRange{}, errBadRange
	}
	r.ids = make([]string, count)
	for i := range r.ids {
		var n uint64
		if n, b, ok = uvarint(b); !ok || n > uint64(len(b)) {
			return idRange{}, errBadRange
		}
		r.ids[i], b = string(b[:n]), b[n:]
	}
	if len(b) != 0 {
		return idRange{}, errBadRange
	}
	return r, nil
}

func uvarint(b []byte) (uint64, []byte, bool) {
	v, w := binary.Uvarint(b)
	if w <= 0 {
		return 0, nil, false
	}
	return v, b[w:], true
}

// serverNumber returns N of a ServerId "collection:N" of k's collection.
func serverNumber(k CollectionKey, serverID string) (uint64, bool) {
	rest, ok := strings.CutPrefix(serverID, k.Collection+":")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	return n, err == nil && n > 0
}

// writeRanges stores the reverse entries of ServerIds just minted: first
// is the number of ids[0], and the numbers that follow belong to the ids
// after it. The rows are new (their numbers were never minted), so they
// are inserted.
func writeRanges(txn kvTxn, k CollectionKey, gen, first uint64, ids []string) error {
	for len(ids) > 0 {
		n := min(len(ids), maxRangeIDs)
		r := idRange{first: first, ids: ids[:n]}
		if err := insertNew(txn, rangeKey(k, gen, r.last()), r.encode()); err != nil {
			return err
		}
		first, ids = first+uint64(n), ids[n:]
	}
	return nil
}

// findRange reads the range row that holds number n, if any.
func findRange(txn kvTxn, k CollectionKey, gen, n uint64) (key []byte, r idRange, ok bool, err error) {
	start := rangeKey(k, gen, n)
	end := prefixEnd(itemsKey(k).u64(gen).tag(pRange))
	err = txn.scan(start, end, 1, func(kk, v []byte) error {
		got, err := decodeRange(v)
		if err != nil {
			return err
		}
		if got.first <= n {
			key, r, ok = slices.Clone(kk), got, true
		}
		return nil
	})
	return key, r, ok, err
}

// lookupServerID returns the store id behind serverID in generation gen:
// from its range, or from the one-row entry of a map written before
// ranges.
func lookupServerID(txn kvTxn, k CollectionKey, gen uint64, serverID string) (string, bool, error) {
	if n, ok := serverNumber(k, serverID); ok {
		_, r, found, err := findRange(txn, k, gen, n)
		if err != nil {
			return "", false, err
		}
		if found {
			id := r.ids[n-r.first]
			return id, id != "", nil
		}
	}
	return getID(txn, itemKey(k, gen, pByEAS, serverID))
}

// forgetServerIDs removes the reverse entries of serverIDs: blanks them in
// their ranges (one read and one write per range touched), or deletes the
// one-row entries of a map written before ranges.
func forgetServerIDs(txn kvTxn, k CollectionKey, gen uint64, serverIDs []string) error {
	var nums []uint64
	for _, sid := range serverIDs {
		if n, ok := serverNumber(k, sid); ok {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	nums = slices.Compact(nums)
	covered := make(map[uint64]bool, len(nums))
	for i := 0; i < len(nums); {
		key, r, ok, err := findRange(txn, k, gen, nums[i])
		if err != nil {
			return err
		}
		if !ok {
			i++
			continue
		}
		for ; i < len(nums) && nums[i] <= r.last(); i++ {
			r.ids[nums[i]-r.first] = ""
			covered[nums[i]] = true
		}
		if r.live() {
			err = txn.set(key, r.encode())
		} else {
			err = txn.del(key)
		}
		if err != nil {
			return err
		}
	}
	for _, sid := range serverIDs {
		if n, ok := serverNumber(k, sid); ok && covered[n] {
			continue
		}
		if err := txn.del(itemKey(k, gen, pByEAS, sid)); err != nil {
			return err
		}
	}
	return nil
}
