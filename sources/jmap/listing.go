package jmap

import (
	"slices"
	"sync"
	"time"

	gojmap "git.sr.ht/~rockorager/go-jmap"

	"github.com/easgate/easgate/sources"
)

// A folder's first listing pages through the ids of one Email/query
// sorted newest first. Cyrus evaluates such a query over the whole
// mailbox whatever its limit or anchor (45 ms of its processor time at
// 50,000 mails, against 2–3 ms for a request that does nothing), so one
// query per window of 100 made a first Sync cost it O(mailbox²). A
// listing therefore asks for ListChunk ids at a time and keeps them in
// a segment, from which the following windows are served without a
// request to the store. The listing's State still carries the last id
// delivered, so that a listing whose segment is gone (evicted, expired,
// another easgate node) carries on with an Email/query anchored there,
// as before: the segment saves requests, it never decides what a phone
// gets.

// Defaults of Options.ListChunk, and how many segments a user keeps and
// for how long.
const (
	defaultListChunk = 10000
	maxSegments      = 4
	segmentTTL       = 5 * time.Minute
)

// segment is a run of one listing's ids, newest first.
type segment struct {
	folder sources.FolderID
	q      string // the listing's queryState: which listing it belongs to
	e      string // and its Email state
	start  int    // how many ids the listing delivered before ids[0]
	after  string // the id delivered just before ids[0]; "" at the top
	ids    []gojmap.ID
	end    bool // ids reach the folder's end
	used   time.Time

	// pos is how many of ids the listing has handed out, and window
	// how many it asked for last: what follows is its next window,
	// which Get may fetch ahead (prefetch.go).
	pos, window int
}

// at returns where in sg a listing continues that has delivered n ids,
// the last of them cursor, or -1 if sg does not hold that place.
func (sg *segment) at(f sources.FolderID, q string, n int, cursor string) int {
	i := n - sg.start
	switch {
	case sg.folder != f || sg.q != q || i < 0 || i > len(sg.ids):
		return -1
	case i == 0 && sg.after != cursor, i > 0 && string(sg.ids[i-1]) != cursor:
		return -1
	}
	return i
}

// segments are one user's listing segments: at most maxSegments, each
// dropped segmentTTL after its last use or once its listing has passed
// its end. With ListChunk ids of Cyrus's 25 bytes (about 48 bytes each
// with their string headers), that bounds a user at maxSegments ×
// ListChunk × 48 bytes: 1.9 MB at the default 10,000, held only while
// the user's phones list folders.
type segments struct {
	mu    sync.Mutex
	list  []*segment
	timer *time.Timer // sweeps while list is not empty
}

// find returns the segment holding the place of a listing and the index
// in it where the listing continues.
func (ss *segments) find(f sources.FolderID, q string, n int, cursor string) (*segment, int) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := time.Now()
	ss.expire(now)
	for _, sg := range ss.list {
		if i := sg.at(f, q, n, cursor); i >= 0 && (i < len(sg.ids) || sg.end) {
			sg.used = now
			return sg, i
		}
	}
	return nil, 0
}

// handed records that the listing handed out sg's ids up to pos, in a
// window of at most window.
func (ss *segments) handed(sg *segment, pos, window int) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	sg.pos, sg.window = pos, window
}

// following returns the ids of the window that follows last in a
// listing of folder f, as far as a segment holds them, and the Email
// state the listing began in. last is the last id the listing handed
// out, or, with e the listing's Email state, the last of a window after
// it.
func (ss *segments) following(f sources.FolderID, last gojmap.ID, e string) ([]gojmap.ID, string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for _, sg := range ss.list {
		if sg.folder != f || sg.pos == 0 || e != "" && sg.e != e {
			continue
		}
		i := sg.pos - 1
		if sg.ids[i] != last {
			if e == "" {
				continue
			}
			if i = slices.Index(sg.ids[i:], last); i < 0 {
				continue
			}
			i += sg.pos - 1
		}
		return slices.Clone(sg.ids[i+1 : min(len(sg.ids), i+1+sg.window)]), sg.e
	}
	return nil, ""
}

// put adds sg, evicting the least recently used segment past the limit.
func (ss *segments) put(sg *segment) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	sg.used = time.Now()
	ss.expire(sg.used)
	if len(ss.list) >= maxSegments {
		old := 0
		for i, o := range ss.list {
			if o.used.Before(ss.list[old].used) {
				old = i
			}
		}
		ss.list = append(ss.list[:old], ss.list[old+1:]...)
	}
	ss.list = append(ss.list, sg)
	if ss.timer == nil {
		ss.timer = time.AfterFunc(segmentTTL, ss.sweep)
	}
}

// sweep drops expired segments, and comes back while some are left, so
// that a user who stops listing keeps none for longer than segmentTTL.
func (ss *segments) sweep() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.timer = nil
	now := time.Now()
	ss.expire(now)
	if len(ss.list) == 0 {
		return
	}
	oldest := ss.list[0].used
	for _, sg := range ss.list {
		if sg.used.Before(oldest) {
			oldest = sg.used
		}
	}
	ss.timer = time.AfterFunc(segmentTTL-now.Sub(oldest), ss.sweep)
}

// done drops sg once its listing has delivered all of it.
func (ss *segments) done(sg *segment) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for i, o := range ss.list {
		if o == sg {
			ss.list = append(ss.list[:i], ss.list[i+1:]...)
			return
		}
	}
}

// expire drops the segments unused for segmentTTL. Called with mu held.
func (ss *segments) expire(now time.Time) {
	kept := ss.list[:0]
	for _, sg := range ss.list {
		if now.Sub(sg.used) < segmentTTL {
			kept = append(kept, sg)
		}
	}
	clear(ss.list[len(kept):])
	ss.list = kept
}
