package imapdav

import (
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2"
)

func TestMissing(t *testing.T) {
	set := func(s string) imap.UIDSet {
		u, err := parseSet(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	for _, tc := range []struct {
		known, present string
		want           []imap.UID
	}{
		{"", "", nil},
		{"1:5", "", []imap.UID{1, 2, 3, 4, 5}},
		{"1:5", "1:5", nil},
		{"1:5", "1:10", nil},
		{"1:5", "2:3", []imap.UID{1, 4, 5}},
		{"1:5,9", "1:4,6:8", []imap.UID{5, 9}},
		{"3,1,2", "2", []imap.UID{1, 3}},
		{"1:50000", "1:24999,25001:50000", []imap.UID{25000}},
		{"4294967294:4294967295", "4294967294", []imap.UID{4294967295}},
		{"4294967294:4294967295", "1:4294967295", nil},
	} {
		got := missing(set(tc.known), set(tc.present))
		if !slices.Equal(got, tc.want) {
			t.Errorf("missing(%s, %s) = %v, want %v", tc.known, tc.present, got, tc.want)
		}
	}
}

func TestPageCacheAfter(t *testing.T) {
	pc := &pageCache{cands: []mod{{1, 5}, {2, 5}, {3, 6}, {7, 6}, {4, 9}}}
	for _, tc := range []struct {
		modseq uint64
		uid    imap.UID
		want   int // candidates left
	}{
		{0, 0, 5}, {5, 0, 3}, {5, 1, 4}, {5, 2, 3}, {6, 3, 2}, {6, 0, 1}, {9, 0, 0}, {10, 0, 0},
	} {
		if got := pc.after(&mailState{ModSeq: tc.modseq, UID: tc.uid}); len(got) != tc.want {
			t.Errorf("after(%d, %d) = %v, want %d candidates", tc.modseq, tc.uid, got, tc.want)
		}
	}
}
