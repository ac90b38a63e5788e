package jmap

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/mail"
	"strings"

	gojmap "git.sr.ht/~rockorager/go-jmap"
	"git.sr.ht/~rockorager/go-jmap/mail/email"
	"git.sr.ht/~rockorager/go-jmap/mail/emailsubmission"
	"git.sr.ht/~rockorager/go-jmap/mail/identity"
	"git.sr.ht/~rockorager/go-jmap/mail/mailbox"

	"github.com/easgate/easgate/sources"
)

// maxSend bounds a message read for sending; the server's own upload
// limit applies too.
const maxSend = 64 << 20

// Send implements sources.Sender (RFC 8621 section 7): the message is
// imported into Drafts, submitted with the user's identity, and on
// success moved to Sent or destroyed, in one request.
func (s *Source) Send(ctx context.Context, msg io.Reader, saveInSent bool) error {
	raw, err := io.ReadAll(io.LimitReader(msg, maxSend+1))
	if err != nil {
		return fmt.Errorf("jmap: send: %w", err)
	}
	if len(raw) > maxSend {
		return fmt.Errorf("jmap: send: %w", sources.ErrTooLarge)
	}
	env, err := envelope(raw)
	if err != nil {
		return fmt.Errorf("jmap: send: %w", err)
	}
	mbs, err := s.mailboxes(ctx)
	if err != nil {
		return err
	}
	var drafts, sent gojmap.ID
	for id, mb := range mbs {
		switch mb.Role {
		case mailbox.RoleDrafts:
			drafts = id
		case mailbox.RoleSent:
			sent = id
		}
	}
	if drafts == "" {
		return fmt.Errorf("jmap: send: no drafts mailbox: %w", sources.ErrNotFound)
	}
	var ir identity.GetResponse
	if err := s.do1(ctx, &identity.Get{Account: s.account}, &ir); err != nil {
		return fmt.Errorf("jmap: Identity/get: %w", err)
	}
	idn := pickIdentity(ir.List, env.MailFrom.Email)
	if idn == nil {
		return fmt.Errorf("jmap: send: no identity: %w", sources.ErrUnsupported)
	}
	e, err := s.importMessage(ctx, bytes.NewReader(raw), map[gojmap.ID]bool{drafts: true}, map[string]bool{kwSeen: true, kwDraft: true})
	if err != nil {
		return err
	}
	set := &emailsubmission.Set{Account: s.account, Create: map[gojmap.ID]*emailsubmission.EmailSubmission{
		"s": {IdentityID: idn.ID, EmailID: e.ID, Envelope: env},
	}}
	if saveInSent && sent != "" {
		set.OnSuccessUpdateEmail = map[gojmap.ID]gojmap.Patch{"#s": {
			"mailboxIds": map[gojmap.ID]bool{sent: true}, "keywords/" + kwDraft: nil,
		}}
	} else {
		set.OnSuccessDestroyEmail = []gojmap.ID{"#s"}
	}
	var r emailsubmission.SetResponse
	if err := s.do1(ctx, set, &r); err != nil {
		return fmt.Errorf("jmap: EmailSubmission/set: %w", err)
	}
	if se := r.NotCreated["s"]; se != nil {
		return fmt.Errorf("jmap: EmailSubmission/set: %w", setError(se))
	}
	return nil
}

// pickIdentity prefers the identity of the From address, then the first.
// Cyrus 3.6 has one identity with an empty email.
func pickIdentity(ids []*identity.Identity, from string) *identity.Identity {
	for _, i := range ids {
		if strings.EqualFold(i.Email, from) {
			return i
		}
	}
	if len(ids) > 0 {
		return ids[0]
	}
	return nil
}

// envelope takes the SMTP envelope from the headers, as a submission
// server would: From (or Sender) and every To, Cc and Bcc address.
func envelope(raw []byte) (*emailsubmission.Envelope, error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("reading headers: %w", err)
	}
	from, err := m.Header.AddressList("From")
	if err != nil || len(from) == 0 {
		return nil, fmt.Errorf("no From address: %w", sources.ErrUnsupported)
	}
	env := &emailsubmission.Envelope{MailFrom: &emailsubmission.Address{Email: from[0].Address}}
	if sender, err := m.Header.AddressList("Sender"); err == nil && len(sender) > 0 {
		env.MailFrom.Email = sender[0].Address
	}
	seen := map[string]bool{}
	for _, h := range []string{"To", "Cc", "Bcc"} {
		as, _ := m.Header.AddressList(h)
		for _, a := range as {
			if k := strings.ToLower(a.Address); !seen[k] {
				seen[k] = true
				env.RcptTo = append(env.RcptTo, &emailsubmission.Address{Email: a.Address})
			}
		}
	}
	if len(env.RcptTo) == 0 {
		return nil, fmt.Errorf("no recipients: %w", sources.ErrUnsupported)
	}
	return env, nil
}

// Search implements sources.Searcher with an Email/query filter and an
// Email/get of the hits' mailboxes, in one request.
func (s *Source) Search(ctx context.Context, q sources.SearchQuery) (sources.SearchResult, error) {
	var conds []email.Filter
	if q.Text != "" {
		conds = append(conds, &email.FilterCondition{Text: q.Text})
	}
	if !q.Since.IsZero() {
		t := q.Since.UTC()
		conds = append(conds, &email.FilterCondition{After: &t})
	}
	if !q.Before.IsZero() {
		t := q.Before.UTC()
		conds = append(conds, &email.FilterCondition{Before: &t})
	}
	var in []email.Filter
	for _, f := range q.Folders {
		if !isPIM(f) {
			in = append(in, inMailbox(f))
		}
	}
	switch len(in) {
	case 0:
	case 1:
		conds = append(conds, in[0])
	default:
		conds = append(conds, &email.FilterOperator{Operator: gojmap.OperatorOR, Conditions: in})
	}
	var filter email.Filter
	switch len(conds) {
	case 0:
	case 1:
		filter = conds[0]
	default:
		filter = &email.FilterOperator{Operator: gojmap.OperatorAND, Conditions: conds}
	}
	query := &email.Query{Account: s.account, Filter: filter, Sort: newestFirst, Position: int64(q.Offset), CalculateTotal: true}
	if q.Limit > 0 {
		query.Limit = uint64(q.Limit)
	}
	var qr email.QueryResponse
	var gr email.GetResponse
	calls := []*call{
		{args: query, resp: &qr},
		{args: &email.Get{Account: s.account, Properties: []string{"id", "mailboxIds"},
			ReferenceIDs: &gojmap.ResultReference{ResultOf: "0", Name: "Email/query", Path: "/ids"}}, resp: &gr},
	}
	if err := s.do(ctx, calls...); err != nil {
		return sources.SearchResult{}, err
	}
	for _, c := range calls {
		if err := methodError(c.err); err != nil {
			return sources.SearchResult{}, fmt.Errorf("jmap: search %q: %w", q.Text, err)
		}
	}
	where := make(map[gojmap.ID]map[gojmap.ID]bool, len(gr.List))
	for _, e := range gr.List {
		where[e.ID] = e.MailboxIDs
	}
	res := sources.SearchResult{Total: int(qr.Total)}
	for _, id := range qr.IDs {
		if f := hitFolder(where[id], q.Folders); f != "" {
			res.Hits = append(res.Hits, sources.ItemRef{Folder: f, ID: sources.ItemID(id)})
		}
	}
	return res, nil
}

// hitFolder names the mailbox a hit is reported in: one of those
// searched, or else any of its own.
func hitFolder(mbs map[gojmap.ID]bool, searched []sources.FolderID) sources.FolderID {
	for _, f := range searched {
		if mbs[gojmap.ID(f)] {
			return f
		}
	}
	var best gojmap.ID
	for id, on := range mbs {
		if on && (best == "" || id < best) {
			best = id
		}
	}
	return sources.FolderID(best)
}
