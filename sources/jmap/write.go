package jmap

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"strings"
	"time"

	gojmap "git.sr.ht/~rockorager/go-jmap"
	"git.sr.ht/~rockorager/go-jmap/mail/email"
	"git.sr.ht/~rockorager/go-jmap/mail/mailbox"

	"github.com/easgate/easgate/sources"
)

// current returns the mailboxIds and keywords of ids.
func (s *Source) current(ctx context.Context, ids []gojmap.ID) (map[gojmap.ID]*wireEmail, error) {
	if len(ids) == 0 {
		return nil, nil // an Email/get without ids would fetch every email
	}
	var r wireGetResponse
	if err := s.do1(ctx, &email.Get{Account: s.account, IDs: ids, Properties: []string{"id", "mailboxIds", "keywords"}}, &r); err != nil {
		return nil, fmt.Errorf("jmap: Email/get %v: %w", ids, err)
	}
	m := make(map[gojmap.ID]*wireEmail, len(r.List))
	for _, e := range r.List {
		m[e.ID] = e
	}
	return m, nil
}

// update applies patches with Email/set and returns the first failure.
func (s *Source) update(ctx context.Context, patches map[gojmap.ID]gojmap.Patch) error {
	if len(patches) == 0 {
		return nil
	}
	var r email.SetResponse
	if err := s.do1(ctx, &email.Set{Account: s.account, Update: patches}, &r); err != nil {
		return fmt.Errorf("jmap: Email/set: %w", err)
	}
	for id, e := range r.NotUpdated {
		return fmt.Errorf("jmap: Email/set %q: %w", id, setError(e))
	}
	return nil
}

// Put implements sources.Writer for mail: the message is composed from
// the item and imported. JMAP mail is immutable, so replacing one imports
// the new version and destroys the old, and the id changes.
func (s *Source) Put(ctx context.Context, f sources.FolderID, it *sources.Item, ifMatch string) (sources.ItemID, string, error) {
	if isPIM(f) {
		p := s.pimStore()
		if p == nil {
			return "", "", fmt.Errorf("jmap: folder %q: %w", f, sources.ErrNotFound)
		}
		return p.Put(ctx, f, it, ifMatch)
	}
	if it.Mail == nil {
		return "", "", fmt.Errorf("jmap: put into mail folder %q: %w", f, sources.ErrUnsupported)
	}
	if it.ID != "" {
		cur, err := s.current(ctx, []gojmap.ID{gojmap.ID(it.ID)})
		if err != nil {
			return "", "", err
		}
		e := cur[gojmap.ID(it.ID)]
		if e == nil || !e.MailboxIDs[gojmap.ID(f)] {
			return "", "", fmt.Errorf("jmap: put %q: %w", it.ID, sources.ErrNotFound)
		}
		if ifMatch != "" && etag(e.ID, e.Keywords, e.MailboxIDs) != ifMatch {
			return "", "", fmt.Errorf("jmap: put %q: etag %q: %w", it.ID, ifMatch, sources.ErrConflict)
		}
	}
	kw := keywordsOf(it.Mail)
	if mbs, err := s.mailboxes(ctx); err == nil && mbs[gojmap.ID(f)] != nil && mbs[gojmap.ID(f)].Role == mailbox.RoleDrafts {
		kw[kwDraft] = true
	}
	e, err := s.importMessage(ctx, bytes.NewReader(compose(it.Mail)), map[gojmap.ID]bool{gojmap.ID(f): true}, kw)
	if err != nil {
		return "", "", err
	}
	if it.ID != "" {
		var r email.SetResponse
		if err := s.do1(ctx, &email.Set{Account: s.account, Destroy: []gojmap.ID{gojmap.ID(it.ID)}}, &r); err != nil {
			return "", "", fmt.Errorf("jmap: Email/set destroy %q: %w", it.ID, err)
		}
	}
	return sources.ItemID(e.ID), etag(e.ID, kw, map[gojmap.ID]bool{gojmap.ID(f): true}), nil
}

func keywordsOf(m *sources.Message) map[string]bool {
	kw := map[string]bool{}
	for k, on := range map[string]bool{kwSeen: m.Read, kwFlagged: m.Flagged, kwAnswered: m.Answered, kwForwarded: m.Forwarded} {
		if on {
			kw[k] = true
		}
	}
	for _, c := range m.Categories {
		if k := keyword(c); k != "" {
			kw[k] = true
		}
	}
	return kw
}

// keyword turns a category into a keyword: RFC 8621 keywords are IMAP
// atoms, so characters outside them become "_".
func keyword(c string) string {
	b := []byte(c)
	for i, ch := range b {
		if ch <= ' ' || ch >= 0x7f || strings.IndexByte(`(){]%*"\`, ch) >= 0 {
			b[i] = '_'
		}
	}
	if len(b) == 0 || b[0] == '$' {
		return ""
	}
	return strings.ToLower(string(b))
}

// importMessage uploads raw and files it by Email/import.
func (s *Source) importMessage(ctx context.Context, raw io.Reader, mailboxes map[gojmap.ID]bool, kw map[string]bool) (*email.Email, error) {
	blob, err := s.upload(ctx, raw)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	var r email.ImportResponse
	imp := &email.Import{Account: s.account, Emails: map[string]*email.EmailImport{
		"m": {BlobID: blob, MailboxIDs: mailboxes, Keywords: kw, ReceivedAt: &now},
	}}
	if err := s.do1(ctx, imp, &r); err != nil {
		return nil, fmt.Errorf("jmap: Email/import: %w", err)
	}
	if e := r.NotCreated["m"]; e != nil {
		return nil, fmt.Errorf("jmap: Email/import: %w", setError(e))
	}
	e := r.Created["m"]
	if e == nil || e.ID == "" {
		return nil, fmt.Errorf("jmap: Email/import: no id")
	}
	return e, nil
}

// upload posts raw to the session's uploadUrl and returns the blob id.
func (s *Source) upload(ctx context.Context, raw io.Reader) (gojmap.ID, error) {
	c := s.conn()
	sess, err := c.sessionInfo(ctx)
	if err != nil {
		return "", err
	}
	u := strings.ReplaceAll(sess.UploadURL, "{accountId}", string(s.account))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, raw)
	if err != nil {
		return "", fmt.Errorf("jmap: upload: %w", err)
	}
	req.Header.Set("Content-Type", "message/rfc822")
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("jmap: upload: %w", sources.MarkTemporary(err))
	}
	defer resp.Body.Close()
	if err := httpError(resp); err != nil {
		return "", fmt.Errorf("jmap: upload: %w", err)
	}
	var ur gojmap.UploadResponse
	if err := json.NewDecoder(resp.Body).Decode(&ur); err != nil || ur.ID == "" {
		return "", fmt.Errorf("jmap: upload: bad response: %v", err)
	}
	return ur.ID, nil
}

// compose writes a minimal RFC 5322 message for a draft a device wrote:
// headers and a text or HTML body in quoted-printable.
func compose(m *sources.Message) []byte {
	var b bytes.Buffer
	hdr := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	list := func(as []sources.Address) string {
		var parts []string
		for _, a := range as {
			parts = append(parts, (&mail.Address{Name: a.Name, Address: a.Email}).String())
		}
		return strings.Join(parts, ", ")
	}
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	hdr("Date", date.Format(time.RFC1123Z))
	hdr("From", list(m.From))
	hdr("To", list(m.To))
	hdr("Cc", list(m.Cc))
	hdr("Bcc", list(m.Bcc))
	hdr("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	if m.MessageID != "" {
		hdr("Message-ID", "<"+m.MessageID+">")
	}
	if m.InReplyTo != "" {
		hdr("In-Reply-To", "<"+m.InReplyTo+">")
	}
	hdr("MIME-Version", "1.0")
	typ, data := "text/plain", ""
	if m.HTML != nil {
		typ, data = "text/html", m.HTML.Data
	} else if m.Text != nil {
		data = m.Text.Data
	}
	hdr("Content-Type", typ+"; charset=utf-8")
	hdr("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	w := quotedprintable.NewWriter(&b)
	io.WriteString(w, data)
	w.Close()
	b.WriteString("\r\n")
	return b.Bytes()
}

// Delete implements sources.Writer: mail moves to the trash mailbox, or
// is destroyed when it is already there or Options.DestroyOnDelete.
func (s *Source) Delete(ctx context.Context, f sources.FolderID, id sources.ItemID) error {
	if isPIM(f) {
		p := s.pimStore()
		if p == nil {
			return fmt.Errorf("jmap: folder %q: %w", f, sources.ErrNotFound)
		}
		return p.Delete(ctx, f, id)
	}
	cur, err := s.current(ctx, []gojmap.ID{gojmap.ID(id)})
	if err != nil {
		return err
	}
	e := cur[gojmap.ID(id)]
	if e == nil || !e.MailboxIDs[gojmap.ID(f)] {
		return fmt.Errorf("jmap: delete %q from %q: %w", id, f, sources.ErrNotFound)
	}
	trash := gojmap.ID("")
	if !s.opts.DestroyOnDelete {
		if trash, err = s.roleMailbox(ctx, mailbox.RoleTrash); err != nil {
			trash = ""
		}
	}
	if trash == "" || trash == gojmap.ID(f) {
		var r email.SetResponse
		if err := s.do1(ctx, &email.Set{Account: s.account, Destroy: []gojmap.ID{gojmap.ID(id)}}, &r); err != nil {
			return fmt.Errorf("jmap: Email/set destroy %q: %w", id, err)
		}
		for _, e := range r.NotDestroyed {
			return fmt.Errorf("jmap: Email/set destroy %q: %w", id, setError(e))
		}
		return nil
	}
	return s.update(ctx, map[gojmap.ID]gojmap.Patch{gojmap.ID(id): {"mailboxIds": map[gojmap.ID]bool{trash: true}}})
}

// Move implements sources.Mover by a mailboxIds patch; JMAP ids do not
// change with the mailbox.
func (s *Source) Move(ctx context.Context, from, to sources.FolderID, ids []sources.ItemID) (map[sources.ItemID]sources.ItemID, error) {
	if isPIM(from) || isPIM(to) {
		return nil, fmt.Errorf("jmap: move %q to %q: %w", from, to, sources.ErrUnsupported)
	}
	jids := make([]gojmap.ID, len(ids))
	for i, id := range ids {
		jids[i] = gojmap.ID(id)
	}
	cur, err := s.current(ctx, jids)
	if err != nil {
		return nil, err
	}
	moved := make(map[sources.ItemID]sources.ItemID)
	patches := make(map[gojmap.ID]gojmap.Patch)
	for _, id := range jids {
		if e := cur[id]; e != nil && e.MailboxIDs[gojmap.ID(from)] {
			patches[id] = gojmap.Patch{"mailboxIds/" + string(from): nil, "mailboxIds/" + string(to): true}
			moved[sources.ItemID(id)] = sources.ItemID(id)
		}
	}
	if err := s.update(ctx, patches); err != nil {
		return nil, err
	}
	return moved, nil
}

// UpdateFlags implements sources.Flagger with keyword patches.
func (s *Source) UpdateFlags(ctx context.Context, f sources.FolderID, id sources.ItemID, u sources.FlagUpdate) error {
	if isPIM(f) {
		return fmt.Errorf("jmap: flags in %q: %w", f, sources.ErrUnsupported)
	}
	p := gojmap.Patch{}
	set := func(kw string, v *bool) {
		if v != nil {
			if *v {
				p["keywords/"+kw] = true
			} else {
				p["keywords/"+kw] = nil
			}
		}
	}
	set(kwSeen, u.Read)
	set(kwFlagged, u.Flagged)
	set(kwAnswered, u.Answered)
	set(kwForwarded, u.Forwarded)
	if u.SetFollowUp {
		v := u.FollowUp != nil && u.FollowUp.Completed.IsZero()
		set(kwFlagged, &v)
	}
	if u.SetCategories {
		cur, err := s.current(ctx, []gojmap.ID{gojmap.ID(id)})
		if err != nil {
			return err
		}
		if e := cur[gojmap.ID(id)]; e != nil {
			for k := range e.Keywords {
				if !strings.HasPrefix(k, "$") {
					p["keywords/"+k] = nil
				}
			}
		}
		for _, c := range u.Categories {
			if k := keyword(c); k != "" {
				p["keywords/"+k] = true
			}
		}
	}
	if len(p) == 0 {
		return nil
	}
	return s.update(ctx, map[gojmap.ID]gojmap.Patch{gojmap.ID(id): p})
}
