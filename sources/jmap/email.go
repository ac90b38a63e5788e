package jmap

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync"

	gojmap "git.sr.ht/~rockorager/go-jmap"
	"git.sr.ht/~rockorager/go-jmap/mail"
	"git.sr.ht/~rockorager/go-jmap/mail/email"
	"git.sr.ht/~rockorager/go-jmap/mail/mailbox"

	"github.com/easgate/easgate/sources"
)

// The order of a folder's listing: newest first, so that a device's
// first window holds the latest mail. Email/queryChanges must repeat it.
var newestFirst = []*email.SortComparator{{Property: "receivedAt", IsAscending: false}}

// mailState is the State of one mail folder's feed. A complete state is
// the folder query's queryState with the account's Email state: the
// first finds mail added to and removed from the folder, the second mail
// changed in place (keywords), which RFC 8620 does not oblige
// queryChanges to report. The other two kinds page a backlog:
//   - listing: the first listing, newest first; N ids were delivered,
//     the last of them Cursor and the few before it Back, oldest first,
//     for when Cursor has left the folder (listing.go). Q and E are
//     taken when it began and become the final state.
//   - paging: a delta too long for one page; Q and E are where it starts,
//     TQ and TE where it ends, and ids up to Cursor were delivered.
type mailState struct {
	Kind   byte     `json:"k"`
	Q      string   `json:"q"`
	E      string   `json:"e"`
	TQ     string   `json:"tq,omitempty"`
	TE     string   `json:"te,omitempty"`
	Cursor string   `json:"c,omitempty"`
	Back   []string `json:"b,omitempty"`
	N      int      `json:"n,omitempty"`
}

// maxBack is how many ids a listing's state keeps before its Cursor, to
// anchor its next query at when the Cursor's mail has left the folder
// (anchorNotFound): only when all of them have too does the listing
// start again (ErrStateExpired).
const maxBack = 3

// delivered records that ids were delivered after Cursor.
func (st *mailState) delivered(ids []gojmap.ID) {
	if len(ids) == 0 {
		return
	}
	if st.Cursor != "" {
		st.Back = append(st.Back, st.Cursor)
	}
	for _, id := range ids[:len(ids)-1] {
		st.Back = append(st.Back, string(id))
	}
	if n := len(st.Back); n > maxBack {
		st.Back = slices.Clone(st.Back[n-maxBack:])
	}
	st.Cursor, st.N = string(ids[len(ids)-1]), st.N+len(ids)
}

const (
	complete = 'c'
	listing  = 'l'
	paging   = 'p'
)

func (st mailState) encode() sources.State {
	b, _ := json.Marshal(st)
	return sources.State(base64.RawURLEncoding.EncodeToString(b))
}

func decodeMailState(s sources.State) (mailState, error) {
	var st mailState
	b, err := base64.RawURLEncoding.DecodeString(string(s))
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil || !slices.Contains([]byte{complete, listing, paging}, st.Kind) {
		return st, fmt.Errorf("jmap: bad state %q: %w", s, sources.ErrStateExpired)
	}
	return st, nil
}

// stateGet is Email/get with an empty id list, which answers the state
// alone; go-jmap's Get omits an empty list, which means "all".
type stateGet struct {
	Account gojmap.ID   `json:"accountId"`
	IDs     []gojmap.ID `json:"ids"`
}

func (*stateGet) Name() string           { return "Email/get" }
func (*stateGet) Requires() []gojmap.URI { return []gojmap.URI{uriMail} }

// folderCheck is the Mailbox/get call that tells whether folder f still
// exists, sent with each feed request at no extra round trip.
func (s *Source) folderCheck(f sources.FolderID) (*call, *mailbox.GetResponse) {
	r := new(mailbox.GetResponse)
	return &call{args: &mailbox.Get{Account: s.account, IDs: []gojmap.ID{gojmap.ID(f)}, Properties: []string{"id"}}, resp: r}, r
}

func checkFolder(f sources.FolderID, c *call, r *mailbox.GetResponse) error {
	if err := methodError(c.err); err != nil {
		return fmt.Errorf("jmap: Mailbox/get %q: %w", f, err)
	}
	if len(r.List) == 0 {
		return fmt.Errorf("jmap: folder %q: %w", f, sources.ErrNotFound)
	}
	return nil
}

func inMailbox(f sources.FolderID) *email.FilterCondition {
	return &email.FilterCondition{InMailbox: gojmap.ID(f)}
}

// Changes implements sources.Source.
func (s *Source) Changes(ctx context.Context, f sources.FolderID, since sources.State, max int) (sources.Delta, error) {
	if isPIM(f) {
		p := s.pimStore()
		if p == nil {
			return sources.Delta{}, fmt.Errorf("jmap: folder %q: %w", f, sources.ErrNotFound)
		}
		return p.Changes(ctx, f, since, max)
	}
	if since == "" {
		return s.list(ctx, f, mailState{Kind: listing}, max)
	}
	st, err := decodeMailState(since)
	if err != nil {
		return sources.Delta{}, err
	}
	if st.Kind == listing {
		return s.list(ctx, f, st, max)
	}
	return s.delta(ctx, f, st, max)
}

// list pages through the folder newest first: from the segment of the
// listing's ids this Source holds, if it does, or else by an Email/query
// anchored at the last id delivered (so that mail arriving meanwhile, at
// the top, shifts nothing), which fetches the next segment.
func (s *Source) list(ctx context.Context, f sources.FolderID, st mailState, max int) (sources.Delta, error) {
	var d sources.Delta
	defer func() {
		if len(d.Changed) > 0 {
			s.ahead.claim(f, d.Changed[0], st.E)
		}
	}()
	for {
		sg, i := s.lists.find(f, st.Q, st.N, st.Cursor)
		if sg == nil {
			var err error
			if sg, err = s.segment(ctx, f, &st); err != nil {
				return d, err
			}
			i = 0
		}
		n := len(sg.ids) - i
		if max > 0 {
			n = min(n, max-len(d.Changed))
		}
		for _, id := range sg.ids[i : i+n] {
			d.Changed = append(d.Changed, sources.ItemID(id))
		}
		st.delivered(sg.ids[i : i+n])
		if max > 0 {
			s.lists.handed(sg, i+n, max)
		}
		if i+n == len(sg.ids) {
			s.lists.done(sg) // passed: the next page needs the next segment
			if sg.end {
				d.Next = s.remember(f, mailState{Kind: complete, Q: st.Q, E: st.E})
				return d, nil
			}
		}
		if max > 0 && len(d.Changed) >= max {
			d.Next, d.More = st.encode(), true
			return d, nil
		}
	}
}

// segment fetches the listing's next ListChunk ids after st.Cursor, and
// its queryState and Email state if st has none yet, and keeps them.
// When the Cursor's mail has left the folder, the query is anchored at
// the last of st.Back still in it: the ids delivered after that one are
// gone too, so what follows it is what follows the Cursor.
func (s *Source) segment(ctx context.Context, f sources.FolderID, st *mailState) (*segment, error) {
	chunk := uint64(s.opts.ListChunk)
	limit := chunk + 1
	anchors := []string{st.Cursor}
	for i := len(st.Back) - 1; i >= 0; i-- {
		anchors = append(anchors, st.Back[i])
	}
	var qr email.QueryResponse
	var sr email.GetResponse
	for try := 0; ; try++ {
		q := &email.Query{Account: s.account, Filter: inMailbox(f), Sort: newestFirst, Limit: limit}
		if anchors[try] != "" {
			q.Anchor, q.AnchorOffset = gojmap.ID(anchors[try]), 1
		}
		chk, mb := s.folderCheck(f)
		calls := []*call{chk, {args: q, resp: &qr}}
		if st.Q == "" {
			calls = append(calls, &call{args: &stateGet{Account: s.account, IDs: []gojmap.ID{}}, resp: &sr})
		}
		if err := s.do(ctx, calls...); err != nil {
			return nil, err
		}
		if err := checkFolder(f, chk, mb); err != nil {
			return nil, err
		}
		if e := calls[1].err; e != nil && e.Type == "anchorNotFound" && try+1 < len(anchors) {
			continue
		}
		if err := methodError(calls[1].err); err != nil {
			return nil, fmt.Errorf("jmap: Email/query %q after %q: %w", f, anchors[try], err)
		}
		if st.Q == "" {
			if err := methodError(calls[2].err); err != nil {
				return nil, fmt.Errorf("jmap: Email/get state: %w", err)
			}
			st.Q, st.E = qr.QueryState, sr.State
		}
		break
	}
	// A server may answer fewer ids than asked (RFC 8620 section 5.5,
	// saying so in limit): a full answer then means more may follow.
	ids, end := qr.IDs, true
	switch lim := cmp.Or(qr.Limit, limit); {
	case lim >= limit && uint64(len(ids)) > chunk:
		ids, end = ids[:chunk], false
	case lim < limit && uint64(len(ids)) >= lim:
		end = false
	}
	sg := &segment{folder: f, q: st.Q, e: st.E, start: st.N, after: st.Cursor, ids: slices.Clip(ids), end: end}
	s.lists.put(sg)
	return sg, nil
}

// delta reports the folder's changes since a complete or paging state.
// A complete state is first checked with Mailbox/get (is the folder
// there) and the account's Email state alone: when nothing in the
// account changed, that one cheap request is the whole answer, at a cost
// that grows with neither the folder nor the account (Email/changes
// costs Cyrus twice as much, Email/queryChanges grows with the folder;
// issue 14). Otherwise Email/changes with the mailboxIds of what it
// names tells what is in the folder now; Email/queryChanges, whose cost
// grows with the folder, is asked only when mail left some folder or
// was destroyed, to tell which of it was in this one.
func (s *Source) delta(ctx context.Context, f sources.FolderID, st mailState, max int) (sources.Delta, error) {
	chk, mb := s.folderCheck(f)
	if st.Kind == complete {
		var sr email.GetResponse
		calls := []*call{chk, {args: &stateGet{Account: s.account, IDs: []gojmap.ID{}}, resp: &sr}}
		if err := s.do(ctx, calls...); err != nil {
			return sources.Delta{}, err
		}
		if err := checkFolder(f, chk, mb); err != nil {
			return sources.Delta{}, err
		}
		if err := methodError(calls[1].err); err != nil {
			return sources.Delta{}, fmt.Errorf("jmap: Email/get state: %w", err)
		}
		if sr.State == st.E {
			return sources.Delta{Next: s.remember(f, st)}, nil
		}
		chk = nil
	}
	sess, err := s.conn().sessionInfo(ctx)
	if err != nil {
		return sources.Delta{}, err
	}
	_, per := limits(sess)
	changed := make(map[gojmap.ID]bool) // in the folder now
	left := make(map[gojmap.ID]bool)    // destroyed, or changed and not in the folder
	eNow := st.E
	for more := true; more; {
		var ec email.ChangesResponse
		var created, updated email.GetResponse
		calls := []*call{
			{args: &email.Changes{Account: s.account, SinceState: eNow, MaxChanges: uint64(per)}, resp: &ec},
			{args: &email.Get{Account: s.account, Properties: []string{"mailboxIds"},
				ReferenceIDs: &gojmap.ResultReference{ResultOf: "0", Name: "Email/changes", Path: "/created"}}, resp: &created},
			{args: &email.Get{Account: s.account, Properties: []string{"mailboxIds"},
				ReferenceIDs: &gojmap.ResultReference{ResultOf: "0", Name: "Email/changes", Path: "/updated"}}, resp: &updated},
		}
		if chk != nil {
			calls = append(calls, chk)
		}
		if err := s.do(ctx, calls...); err != nil {
			return sources.Delta{}, err
		}
		if chk != nil {
			if err := checkFolder(f, chk, mb); err != nil {
				return sources.Delta{}, err
			}
			chk = nil
		}
		for _, c := range calls {
			if err := methodError(c.err); err != nil {
				return sources.Delta{}, fmt.Errorf("jmap: %s since %q: %w", c.args.Name(), eNow, err)
			}
		}
		// Mail created elsewhere never was in the folder; mail changed
		// elsewhere, or gone before Email/get, may have been.
		for _, e := range created.List {
			if e.MailboxIDs[gojmap.ID(f)] {
				changed[e.ID] = true
			}
		}
		for _, e := range updated.List {
			if e.MailboxIDs[gojmap.ID(f)] {
				changed[e.ID] = true
			} else {
				left[e.ID] = true
			}
		}
		for _, id := range slices.Concat(ec.Destroyed, created.NotFound, updated.NotFound) {
			left[id] = true
		}
		eNow, more = ec.NewState, ec.HasMoreChanges
	}
	qNow := st.Q
	var removed []gojmap.ID
	if len(left) > 0 {
		var qc email.QueryChangesResponse
		qcall := &call{args: &email.QueryChanges{Account: s.account, Filter: inMailbox(f), Sort: newestFirst, SinceQueryState: st.Q}, resp: &qc}
		if err := s.do(ctx, qcall); err != nil {
			return sources.Delta{}, err
		}
		if err := methodError(qcall.err); err != nil {
			return sources.Delta{}, fmt.Errorf("jmap: Email/queryChanges %q since %q: %w", f, st.Q, err)
		}
		for _, id := range qc.Removed {
			if left[id] && !changed[id] {
				removed = append(removed, id)
			}
		}
		// Mail that entered the folder is in changed already: every
		// change of a mail's mailboxes is a change of the mail.
		qNow = qc.NewQueryState
	}
	ids := slices.Concat(slices.Collect(maps.Keys(changed)), removed)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	// A window fetched ahead that holds mail changed since is older than
	// the state this delta hands out: no Get after it may take it.
	s.ahead.forget(slices.Concat(ids, slices.Collect(maps.Keys(left))))

	target := mailState{Kind: complete, Q: qNow, E: eNow}
	if st.Kind == paging {
		target = mailState{Kind: complete, Q: st.TQ, E: st.TE}
		i, _ := slices.BinarySearch(ids, gojmap.ID(st.Cursor))
		for i < len(ids) && ids[i] <= gojmap.ID(st.Cursor) {
			i++
		}
		ids = ids[i:]
	}
	var d sources.Delta
	if max > 0 && len(ids) > max {
		ids = ids[:max]
		d.More = true
		d.Next = mailState{Kind: paging, Q: st.Q, E: st.E, TQ: target.Q, TE: target.E, Cursor: string(ids[max-1])}.encode()
	} else {
		d.Next = s.remember(f, target)
	}
	for _, id := range ids {
		if changed[id] {
			d.Changed = append(d.Changed, sources.ItemID(id))
		} else {
			d.Removed = append(d.Removed, sources.ItemID(id))
		}
	}
	return d, nil
}

// State implements sources.Stater: the folder's complete state as of now.
func (s *Source) State(ctx context.Context, f sources.FolderID) (sources.State, error) {
	if isPIM(f) {
		p := s.pimStore()
		if p == nil {
			return "", fmt.Errorf("jmap: folder %q: %w", f, sources.ErrNotFound)
		}
		var st sources.State
		for {
			d, err := p.Changes(ctx, f, st, 1000)
			if err != nil {
				return "", err
			}
			if st = d.Next; !d.More {
				return st, nil
			}
		}
	}
	// The folder's last complete state is still current while the
	// account's Email state has not moved: then a cheap request answers,
	// without the Email/query that Cyrus evaluates over the whole mailbox
	// (44 ms of its CPU at 50,000 mails, for every Ping).
	if known, ok := s.knownState(f); ok {
		chk, mb := s.folderCheck(f)
		var sr email.GetResponse
		calls := []*call{chk, {args: &stateGet{Account: s.account, IDs: []gojmap.ID{}}, resp: &sr}}
		if err := s.do(ctx, calls...); err != nil {
			return "", err
		}
		if err := checkFolder(f, chk, mb); err != nil {
			return "", err
		}
		if err := methodError(calls[1].err); err != nil {
			return "", fmt.Errorf("jmap: Email/get state: %w", err)
		}
		if sr.State == known.E {
			return known.encode(), nil
		}
	}
	chk, mb := s.folderCheck(f)
	var qr email.QueryResponse
	var sr email.GetResponse
	calls := []*call{chk,
		{args: &email.Query{Account: s.account, Filter: inMailbox(f), Sort: newestFirst, Limit: 1}, resp: &qr},
		{args: &stateGet{Account: s.account, IDs: []gojmap.ID{}}, resp: &sr}}
	if err := s.do(ctx, calls...); err != nil {
		return "", err
	}
	if err := checkFolder(f, chk, mb); err != nil {
		return "", err
	}
	for _, c := range calls[1:] {
		if err := methodError(c.err); err != nil {
			return "", fmt.Errorf("jmap: %s %q: %w", c.args.Name(), f, err)
		}
	}
	return s.remember(f, mailState{Kind: complete, Q: qr.QueryState, E: sr.State}), nil
}

// maxKnownStates bounds the folders whose last complete state a Source
// remembers (about 100 bytes each).
const maxKnownStates = 256

// remember notes st, a complete state of folder f that Changes or State
// handed out, for State, and returns it encoded.
func (s *Source) remember(f sources.FolderID, st mailState) sources.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.known == nil || len(s.known) >= maxKnownStates {
		s.known = make(map[sources.FolderID]mailState)
	}
	s.known[f] = st
	return st.encode()
}

func (s *Source) knownState(f sources.FolderID) (mailState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.known[f]
	return st, ok
}

// wireEmail is the part of an Email object we read, with the two
// priority headers go-jmap's Email has no field for.
type wireEmail struct {
	email.Email
	Importance string `json:"header:Importance:asText"`
	Priority   string `json:"header:X-Priority:asText"`
}

type wireGetResponse struct {
	State    string       `json:"state"`
	List     []*wireEmail `json:"list"`
	NotFound []gojmap.ID  `json:"notFound"`
}

var emailProps = []string{
	"id", "blobId", "threadId", "mailboxIds", "keywords", "size", "receivedAt",
	"messageId", "inReplyTo", "references", "from", "to", "cc", "bcc", "replyTo",
	"subject", "sentAt", "attachments", "header:Importance:asText", "header:X-Priority:asText",
}

var bodyProps = []string{"partId", "blobId", "size", "name", "type", "charset", "disposition", "cid"}

// minFetchPart is the fewest mails Get sends in a request of their own:
// a request costs Cyrus 1.7–2.5 ms of CPU before any mail (issue 14).
const minFetchPart = 25

// Get implements sources.Source. The mails come from the window fetched
// ahead for a listing's Get (prefetch.go) as far as it holds them, the
// rest from fetch; a Get that reaches a listing's frontier starts
// fetching the next window.
func (s *Source) Get(ctx context.Context, f sources.FolderID, ids []sources.ItemID, o *sources.GetOptions) ([]sources.Item, error) {
	if isPIM(f) {
		p := s.pimStore()
		if p == nil {
			return nil, fmt.Errorf("jmap: folder %q: %w", f, sources.ErrNotFound)
		}
		return p.Get(ctx, f, ids, o)
	}
	if o == nil {
		o = &sources.GetOptions{}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	var got fetched
	rest := ids
	if a := s.ahead.take(f, keyOf(o), ids); a != nil {
		select {
		case <-a.done:
		case <-ctx.Done():
			a.cancel()
			s.ahead.stats.gone(1, false)
			return nil, fmt.Errorf("jmap: Email/get in %q: %w", f, ctx.Err())
		}
		s.ahead.stats.taken(a.err != nil)
		if a.err == nil {
			got, rest = a.mails, nil
			for _, id := range ids {
				if !a.ids[id] {
					rest = append(rest, id)
				}
			}
		}
	}
	if len(rest) > 0 {
		m, err := s.fetch(ctx, f, rest, o)
		if err != nil {
			return nil, err
		}
		if got == nil {
			got = m
		} else {
			maps.Copy(got, m)
		}
	}
	s.prefetch(f, ids[len(ids)-1], o, "")
	items := make([]sources.Item, 0, len(ids))
	for _, id := range ids {
		if e := got[id]; e != nil {
			items = append(items, s.toItem(f, e, o))
		}
	}
	return items, nil
}

// fetch gets the mails ids of folder f: one Email/get per
// maxObjectsInGet ids, as many per request as maxCallsInRequest allows,
// spread over up to Options.FetchConns requests sent at once.
func (s *Source) fetch(ctx context.Context, f sources.FolderID, ids []sources.ItemID, o *sources.GetOptions) (fetched, error) {
	props := slices.Clone(emailProps)
	if o.Text {
		props = append(props, "textBody")
	}
	if o.HTML {
		props = append(props, "htmlBody")
	}
	if o.Text || o.HTML {
		props = append(props, "bodyValues")
	}
	sess, err := s.conn().sessionInfo(ctx)
	if err != nil {
		return nil, err
	}
	_, per := limits(sess)
	var calls []*call
	var resps []*wireGetResponse
	// Split over FetchConns requests at once, each of minFetchPart mails
	// at least: Cyrus answers each connection with its own process.
	parts := max(1, min(s.opts.FetchConns, len(ids)/minFetchPart))
	size := min(per, (len(ids)+parts-1)/parts)
	for chunk := range slices.Chunk(ids, size) {
		g := &email.Get{Account: s.account, Properties: props, BodyProperties: bodyProps,
			FetchTextBodyValues: o.Text, FetchHTMLBodyValues: o.HTML}
		if o.BodyLimit > 0 {
			g.MaxBodyValueBytes = uint64(o.BodyLimit)
		}
		for _, id := range chunk {
			g.IDs = append(g.IDs, gojmap.ID(id))
		}
		r := new(wireGetResponse)
		calls = append(calls, &call{args: g, resp: r})
		resps = append(resps, r)
	}
	if err := s.doParallel(ctx, calls); err != nil {
		return nil, err
	}
	byID := make(fetched, len(ids))
	for i, c := range calls {
		if err := methodError(c.err); err != nil {
			return nil, fmt.Errorf("jmap: Email/get in %q: %w", f, err)
		}
		for _, e := range resps[i].List {
			if e.MailboxIDs[gojmap.ID(f)] {
				byID[sources.ItemID(e.ID)] = e
			}
		}
	}
	return byID, nil
}

// doParallel sends calls, none of which refers to another, in up to
// Options.FetchConns requests at once. The server works on them in
// parallel (Cyrus has a process per connection), and easgate decodes one
// answer while the next is being written.
func (s *Source) doParallel(ctx context.Context, calls []*call) error {
	n := min(s.opts.FetchConns, len(calls))
	if n <= 1 {
		return s.do(ctx, calls...)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		part := calls[len(calls)*i/n : len(calls)*(i+1)/n]
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					s.log.Error("jmap: fetch panic", "panic", r, "stack", string(debug.Stack()))
					errs[i] = fmt.Errorf("jmap: fetch panic: %v", r)
				}
			}()
			errs[i] = s.do(ctx, part...)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// etag names the version of an email: its body never changes in JMAP,
// so its keywords and mailboxes are all that can.
func etag(id gojmap.ID, keywords map[string]bool, mailboxes map[gojmap.ID]bool) string {
	h := sha256.New()
	io.WriteString(h, string(id))
	for _, k := range slices.Sorted(mapKeys(keywords)) {
		if keywords[k] {
			fmt.Fprintf(h, "\x00k%s", k)
		}
	}
	for _, m := range slices.Sorted(mapKeys(mailboxes)) {
		if mailboxes[m] {
			fmt.Fprintf(h, "\x00m%s", m)
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Keywords with a meaning of their own (RFC 8621 section 4.1.1 and the
// IANA registry); other keywords not starting with "$" are categories.
const (
	kwSeen      = "$seen"
	kwFlagged   = "$flagged"
	kwAnswered  = "$answered"
	kwForwarded = "$forwarded"
	kwDraft     = "$draft"
)

func (s *Source) toItem(f sources.FolderID, e *wireEmail, o *sources.GetOptions) sources.Item {
	m := &sources.Message{
		From: addrs(e.From), To: addrs(e.To), Cc: addrs(e.CC), Bcc: addrs(e.BCC), ReplyTo: addrs(e.ReplyTo),
		Subject:    e.Subject,
		MessageID:  first(e.MessageID),
		InReplyTo:  first(e.InReplyTo),
		References: e.References,
		ThreadID:   string(e.ThreadID),
		Read:       e.Keywords[kwSeen],
		Flagged:    e.Keywords[kwFlagged],
		Answered:   e.Keywords[kwAnswered],
		Forwarded:  e.Keywords[kwForwarded],
		Importance: sources.ParseImportance(e.Importance, e.Priority),
		Size:       int64(e.Size),
	}
	if e.SentAt != nil {
		m.Date = *e.SentAt
	}
	if e.ReceivedAt != nil {
		m.Received = *e.ReceivedAt
	}
	for _, k := range slices.Sorted(mapKeys(e.Keywords)) {
		if e.Keywords[k] && !strings.HasPrefix(k, "$") {
			m.Categories = append(m.Categories, k)
		}
	}
	if o.Text {
		m.Text = body(e, e.TextBody, "text/plain")
	}
	if o.HTML {
		m.HTML = body(e, e.HTMLBody, "text/html")
	}
	for _, p := range e.Attachments {
		m.Attachments = append(m.Attachments, sources.Attachment{
			ID: p.PartID, Name: p.Name, ContentType: p.Type, Size: int64(p.Size),
			ContentID: strings.Trim(p.CID, "<>"), Inline: p.Disposition == "inline",
		})
	}
	if o.MIME && e.BlobID != "" {
		blob := e.BlobID
		m.MIME = func(ctx context.Context) (io.ReadCloser, error) { return s.download(ctx, blob, "message/rfc822") }
	}
	it := sources.Item{ID: sources.ItemID(e.ID), Folder: f, ETag: etag(e.ID, e.Keywords, e.MailboxIDs), Mail: m}
	it.Modified = m.Received
	return it
}

// body joins the parts of type typ, as the server decoded and perhaps
// truncated them.
func body(e *wireEmail, parts []*email.BodyPart, typ string) *sources.Body {
	var b *sources.Body
	for _, p := range parts {
		v := e.BodyValues[p.PartID]
		if v == nil || !strings.EqualFold(p.Type, typ) {
			continue
		}
		if b == nil {
			b = &sources.Body{}
		}
		b.Data += v.Value
		b.Size += int64(max(p.Size, uint64(len(v.Value))))
		b.Truncated = b.Truncated || v.IsTruncated
	}
	return b
}

func addrs(as []*mail.Address) []sources.Address {
	var r []sources.Address
	for _, a := range as {
		r = append(r, sources.Address{Name: a.Name, Email: a.Email})
	}
	return r
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// download streams blob from the session's downloadUrl.
func (s *Source) download(ctx context.Context, blob gojmap.ID, typ string) (io.ReadCloser, error) {
	c := s.conn()
	sess, err := c.sessionInfo(ctx)
	if err != nil {
		return nil, err
	}
	u := strings.NewReplacer(
		"{accountId}", string(s.account), "{blobId}", string(blob),
		"{name}", "blob", "{type}", strings.ReplaceAll(typ, "/", "%2F"),
	).Replace(sess.DownloadURL)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("jmap: download %s: %w", blob, err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jmap: download %s: %w", blob, sources.MarkTemporary(err))
	}
	if err := httpError(resp); err != nil {
		resp.Body.Close()
		return nil, fmt.Errorf("jmap: download %s: %w", blob, err)
	}
	return resp.Body, nil
}

// OpenAttachment implements sources.Attachments: the part's blob, which
// the server serves decoded.
func (s *Source) OpenAttachment(ctx context.Context, ref sources.AttachmentRef) (sources.Attachment, io.ReadCloser, error) {
	var r wireGetResponse
	g := &email.Get{Account: s.account, IDs: []gojmap.ID{gojmap.ID(ref.Item)},
		Properties: []string{"mailboxIds", "bodyStructure"}, BodyProperties: append(bodyProps, "subParts")}
	if err := s.do1(ctx, g, &r); err != nil {
		return sources.Attachment{}, nil, fmt.Errorf("jmap: Email/get %q: %w", ref.Item, err)
	}
	if len(r.List) == 0 || !r.List[0].MailboxIDs[gojmap.ID(ref.Folder)] {
		return sources.Attachment{}, nil, fmt.Errorf("jmap: attachment %q of %q: %w", ref.ID, ref.Item, sources.ErrNotFound)
	}
	p := findPart(r.List[0].BodyStructure, ref.ID)
	if p == nil || p.BlobID == "" {
		return sources.Attachment{}, nil, fmt.Errorf("jmap: attachment %q of %q: %w", ref.ID, ref.Item, sources.ErrNotFound)
	}
	a := sources.Attachment{ID: p.PartID, Name: p.Name, ContentType: p.Type, Size: int64(p.Size),
		ContentID: strings.Trim(p.CID, "<>"), Inline: p.Disposition == "inline"}
	rc, err := s.download(ctx, p.BlobID, cmp.Or(p.Type, "application/octet-stream"))
	if err != nil {
		return sources.Attachment{}, nil, err
	}
	return a, rc, nil
}

func findPart(p *email.BodyPart, id string) *email.BodyPart {
	if p == nil {
		return nil
	}
	if p.PartID == id {
		return p
	}
	for _, sp := range p.SubParts {
		if r := findPart(sp, id); r != nil {
			return r
		}
	}
	return nil
}
