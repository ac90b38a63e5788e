package imapdav

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/easgate/easgate/sources"
)

// mailState is a position in a mailbox's change feed. Encoded, it reads
// "m1.<uidvalidity>.<modseq>.<uid>.<uidnext>.<messages>.<uids>":
//
//   - every change up to (ModSeq, UID) has been reported: all messages with
//     a smaller mod-sequence, and those with ModSeq itself up to UID (UID 0
//     means all of ModSeq), so a page can stop inside a run of messages
//     that one STORE gave the same mod-sequence;
//   - UIDs is the set of messages the caller knows of, as an IMAP sequence
//     set ("1:4800,4802"), whose ranges keep it short; messages leaving it
//     are the expunges;
//   - UIDNext and Messages are the mailbox's counters when the state was
//     final (both 0 while paging): if STATUS still shows them, with the
//     same HIGHESTMODSEQ, nothing changed and Changes answers after one
//     round trip.
//
// Without CONDSTORE the form is "f1.<uidvalidity>.<key>", key naming a
// snapshot of UIDs and flags that the Source keeps in memory (see
// flagChanges); a snapshot it no longer has makes the state expire.
type mailState struct {
	UIDValidity uint32
	ModSeq      uint64
	UID         imap.UID
	UIDNext     imap.UID
	Messages    uint32
	UIDs        imap.UIDSet

	// Key names the flag snapshot of a server without CONDSTORE.
	Key string
}

func (st *mailState) encode() sources.State {
	if st.Key != "" {
		return sources.State(fmt.Sprintf("f1.%d.%s", st.UIDValidity, st.Key))
	}
	return sources.State(fmt.Sprintf("m1.%d.%d.%d.%d.%d.%s", st.UIDValidity, st.ModSeq, st.UID,
		st.UIDNext, st.Messages, setString(st.UIDs)))
}

var errBadState = errors.New("malformed state")

func parseState(s sources.State) (*mailState, error) {
	f := strings.Split(string(s), ".")
	var st mailState
	var err error
	num := func(i int, bits int) uint64 {
		if err != nil {
			return 0
		}
		var n uint64
		n, err = strconv.ParseUint(f[i], 10, bits)
		return n
	}
	switch {
	case len(f) == 7 && f[0] == "m1":
		st.UIDValidity = uint32(num(1, 32))
		st.ModSeq = num(2, 64)
		st.UID = imap.UID(num(3, 32))
		st.UIDNext = imap.UID(num(4, 32))
		st.Messages = uint32(num(5, 32))
		if err == nil {
			st.UIDs, err = parseSet(f[6])
		}
	case len(f) == 3 && f[0] == "f1" && f[2] != "":
		st.UIDValidity = uint32(num(1, 32))
		st.Key = f[2]
	default:
		err = errBadState
	}
	if err != nil {
		return nil, fmt.Errorf("imapdav: state %q: %w: %w", s, sources.ErrStateExpired, err)
	}
	return &st, nil
}

// setString formats a UID set; the empty set is "".
func setString(s imap.UIDSet) string {
	if len(s) == 0 {
		return ""
	}
	return s.String()
}

// parseSet reads what setString wrote: ranges "a:b" and numbers, joined by
// commas, without "*".
func parseSet(s string) (imap.UIDSet, error) {
	var set imap.UIDSet
	if s == "" {
		return set, nil
	}
	for _, r := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(r, ":")
		a, err := strconv.ParseUint(lo, 10, 32)
		if err != nil || a == 0 {
			return nil, errBadState
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 32); err != nil || b == 0 {
				return nil, errBadState
			}
		}
		set.AddRange(imap.UID(min(a, b)), imap.UID(max(a, b)))
	}
	return set, nil
}

// uidList returns the UIDs of a set without "*", in ascending order.
func uidList(s imap.UIDSet) []imap.UID {
	l, _ := s.Nums()
	return l
}

// setOf builds a compact set from UIDs in any order.
func setOf(uids []imap.UID) imap.UIDSet {
	var s imap.UIDSet
	if len(uids) > 0 {
		s.AddNum(uids...)
	}
	return s
}
