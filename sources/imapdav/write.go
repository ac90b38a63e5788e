package imapdav

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message/mail"

	"github.com/easgate/easgate/sources"
)

// maxMessage bounds the messages Put and Send read into memory.
const maxMessage = 50 << 20

// Put implements sources.Writer. IMAP messages cannot be changed, so a
// mail Put appends a new message (from Message.MIME when set, otherwise
// composed from the fields) and, when it replaces it.ID, expunges the old
// one: the id changes. A message's ETag is its MODSEQ.
func (s *Source) Put(ctx context.Context, f sources.FolderID, it *sources.Item, ifMatch string) (sources.ItemID, string, error) {
	if isDAV(f) {
		d, err := s.davStore(f)
		if err != nil {
			return "", "", err
		}
		return d.Put(ctx, f, it, ifMatch)
	}
	if it.Mail == nil {
		return "", "", fmt.Errorf("imapdav: put into mail folder %q: not a message: %w", f, sources.ErrUnsupported)
	}
	raw, err := compose(ctx, it.Mail)
	if err != nil {
		return "", "", err
	}
	var id sources.ItemID
	var etag string
	err = s.with(ctx, func(c *conn) error {
		var old imap.UID
		if it.ID != "" {
			u, err := parseUID(it.ID)
			if err != nil {
				return err
			}
			if err := c.ensure(string(f)); err != nil {
				return err
			}
			cur, err := c.etag(u)
			if err != nil {
				return err
			}
			if ifMatch != "" && cur != ifMatch {
				return fmt.Errorf("imapdav: message %d: etag %q, not %q: %w", u, cur, ifMatch, sources.ErrConflict)
			}
			old = u
		}
		u, err := c.appendMsg(string(f), raw, flagsOf(it.Mail), it.Mail.Received)
		if err != nil {
			return err
		}
		if old != 0 {
			if err := c.expunge(imap.UIDSetNum(old)); err != nil {
				return err
			}
		}
		if err := c.ensure(string(f)); err != nil {
			return err
		}
		id = itemID(u)
		etag, err = c.etag(u)
		return err
	})
	if err != nil {
		return "", "", fmt.Errorf("imapdav: put into %q: %w", f, err)
	}
	return id, etag, nil
}

// etag returns the ETag of message u of the selected mailbox: its MODSEQ,
// or a hash of its flags without CONDSTORE; ErrNotFound when it is gone or
// \Deleted.
func (c *conn) etag(u imap.UID) (string, error) {
	cs := c.has(imap.CapCondStore)
	msgs, err := c.c.Fetch(imap.UIDSetNum(u), &imap.FetchOptions{UID: true, Flags: true, ModSeq: cs}).Collect()
	if err != nil {
		return "", wrap(err, "fetch %d", u)
	}
	for _, m := range msgs {
		if m.UID == u && !slices.Contains(m.Flags, imap.FlagDeleted) {
			if cs {
				return strconv.FormatUint(m.ModSeq, 10), nil
			}
			return strconv.FormatUint(flagHash(m.Flags), 36), nil
		}
	}
	return "", fmt.Errorf("imapdav: message %d of %q: %w", u, c.selected, sources.ErrNotFound)
}

// appendMsg APPENDs raw to mailbox and returns its UID from APPENDUID,
// or, without UIDPLUS, the UIDNEXT that STATUS showed before.
func (c *conn) appendMsg(mailbox string, raw []byte, flags []imap.Flag, t time.Time) (imap.UID, error) {
	var next imap.UID
	if !c.has(imap.CapUIDPlus) {
		sd, err := c.status(mailbox, &imap.StatusOptions{UIDNext: true})
		if err != nil {
			return 0, err
		}
		next = sd.UIDNext
	}
	cmd := c.c.Append(mailbox, int64(len(raw)), &imap.AppendOptions{Flags: flags, Time: t})
	if _, err := cmd.Write(raw); err != nil {
		cmd.Close()
		return 0, wrap(err, "append to %q", mailbox)
	}
	if err := cmd.Close(); err != nil {
		return 0, wrap(err, "append to %q", mailbox)
	}
	ad, err := cmd.Wait()
	if err != nil {
		return 0, wrap(err, "append to %q", mailbox)
	}
	if ad.UID != 0 {
		return ad.UID, nil
	}
	return next, nil
}

// expunge marks uids of the selected mailbox \Deleted and expunges them
// (only them where UIDPLUS allows).
func (c *conn) expunge(uids imap.UIDSet) error {
	err := c.c.Store(uids, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
	if err != nil {
		return wrap(err, "store \\Deleted %v", uids)
	}
	if c.has(imap.CapUIDPlus) {
		return wrap(c.c.UIDExpunge(uids).Close(), "uid expunge %v", uids)
	}
	return wrap(c.c.Expunge().Close(), "expunge")
}

// flagsOf returns the IMAP flags for a message's flags and categories.
func flagsOf(m *sources.Message) []imap.Flag {
	var fl []imap.Flag
	if m.Read {
		fl = append(fl, imap.FlagSeen)
	}
	if m.Flagged {
		fl = append(fl, imap.FlagFlagged)
	}
	if m.Answered {
		fl = append(fl, imap.FlagAnswered)
	}
	if m.Forwarded {
		fl = append(fl, imap.FlagForwarded)
	}
	for _, c := range m.Categories {
		fl = append(fl, keyword(c))
	}
	return fl
}

// keyword turns a category into an IMAP keyword (an atom).
func keyword(c string) imap.Flag {
	return imap.Flag(strings.Map(func(r rune) rune {
		if r <= ' ' || strings.ContainsRune(`(){%*"\]`, r) || r > 0x7e {
			return '_'
		}
		return r
	}, c))
}

// compose returns the raw message: m.MIME's content when set, otherwise a
// message built from m's fields.
func compose(ctx context.Context, m *sources.Message) ([]byte, error) {
	if m.MIME != nil {
		rc, err := m.MIME(ctx)
		if err != nil {
			return nil, fmt.Errorf("imapdav: open message: %w", err)
		}
		defer rc.Close()
		raw, err := io.ReadAll(io.LimitReader(rc, maxMessage+1))
		if err != nil {
			return nil, fmt.Errorf("imapdav: read message: %w", err)
		}
		if len(raw) > maxMessage {
			return nil, fmt.Errorf("imapdav: message over %d bytes: %w", maxMessage, sources.ErrTooLarge)
		}
		return raw, nil
	}
	var h mail.Header
	h.SetSubject(m.Subject)
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	h.SetDate(date)
	for key, l := range map[string][]sources.Address{"From": m.From, "To": m.To, "Cc": m.Cc, "Bcc": m.Bcc, "Reply-To": m.ReplyTo} {
		if len(l) > 0 {
			as := make([]*mail.Address, len(l))
			for i, a := range l {
				as[i] = &mail.Address{Name: a.Name, Address: a.Email}
			}
			h.SetAddressList(key, as)
		}
	}
	if m.MessageID != "" {
		h.SetMessageID(m.MessageID)
	} else if err := h.GenerateMessageID(); err != nil {
		return nil, fmt.Errorf("imapdav: compose: %w", err)
	}
	if m.InReplyTo != "" {
		h.SetMsgIDList("In-Reply-To", []string{m.InReplyTo})
	}
	if len(m.References) > 0 {
		h.SetMsgIDList("References", m.References)
	}
	switch m.Importance {
	case sources.ImportanceHigh:
		h.Set("Importance", "high")
	case sources.ImportanceLow:
		h.Set("Importance", "low")
	}
	var buf bytes.Buffer
	w, err := mail.CreateInlineWriter(&buf, h)
	if err != nil {
		return nil, fmt.Errorf("imapdav: compose: %w", err)
	}
	for _, b := range []struct {
		body *sources.Body
		typ  string
	}{{m.Text, "text/plain"}, {m.HTML, "text/html"}} {
		if b.body == nil {
			continue
		}
		var ph mail.InlineHeader
		ph.SetContentType(b.typ, map[string]string{"charset": "utf-8"})
		pw, err := w.CreatePart(ph)
		if err == nil {
			_, err = io.WriteString(pw, b.body.Data)
			if cerr := pw.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return nil, fmt.Errorf("imapdav: compose: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("imapdav: compose: %w", err)
	}
	return buf.Bytes(), nil
}

// Delete implements sources.Writer: by Options.Delete, a move to the
// trash folder (an expunge when f is the trash) or an expunge.
func (s *Source) Delete(ctx context.Context, f sources.FolderID, id sources.ItemID) error {
	if isDAV(f) {
		d, err := s.davStore(f)
		if err != nil {
			return err
		}
		return d.Delete(ctx, f, id)
	}
	u, err := parseUID(id)
	if err != nil {
		return err
	}
	err = s.with(ctx, func(c *conn) error {
		if err := c.ensure(string(f)); err != nil {
			return err
		}
		if _, err := c.etag(u); err != nil {
			return err
		}
		if s.opts.Delete == DeleteToTrash {
			trash, err := c.specialFolder(imap.MailboxAttrTrash)
			if err == nil && trash != string(f) {
				if err := c.ensure(string(f)); err != nil {
					return err
				}
				_, err := c.c.Move(imap.UIDSetNum(u), trash).Wait()
				return wrap(err, "move %d to %q", u, trash)
			}
		}
		if err := c.ensure(string(f)); err != nil {
			return err
		}
		return c.expunge(imap.UIDSetNum(u))
	})
	if err != nil {
		return fmt.Errorf("imapdav: delete %q from %q: %w", id, f, err)
	}
	return nil
}

// UpdateFlags implements sources.Flagger with UID STORE. Follow-up dates
// have no IMAP form; a follow-up flag sets or clears \Flagged.
func (s *Source) UpdateFlags(ctx context.Context, f sources.FolderID, id sources.ItemID, upd sources.FlagUpdate) error {
	if isDAV(f) {
		return fmt.Errorf("imapdav: flags of %q: %w", f, sources.ErrUnsupported)
	}
	u, err := parseUID(id)
	if err != nil {
		return err
	}
	var add, del []imap.Flag
	set := func(p *bool, fl imap.Flag) {
		switch {
		case p == nil:
		case *p:
			add = append(add, fl)
		default:
			del = append(del, fl)
		}
	}
	set(upd.Read, imap.FlagSeen)
	set(upd.Flagged, imap.FlagFlagged)
	set(upd.Answered, imap.FlagAnswered)
	set(upd.Forwarded, imap.FlagForwarded)
	if upd.SetFollowUp && upd.Flagged == nil {
		on := upd.FollowUp != nil && upd.FollowUp.Completed.IsZero()
		set(&on, imap.FlagFlagged)
	}
	err = s.with(ctx, func(c *conn) error {
		if err := c.ensure(string(f)); err != nil {
			return err
		}
		msgs, err := c.c.Fetch(imap.UIDSetNum(u), &imap.FetchOptions{UID: true, Flags: true}).Collect()
		if err != nil {
			return wrap(err, "fetch %d", u)
		}
		if len(msgs) == 0 || slices.Contains(msgs[0].Flags, imap.FlagDeleted) {
			return fmt.Errorf("imapdav: message %d: %w", u, sources.ErrNotFound)
		}
		if upd.SetCategories {
			// Replace the category keywords: drop those not wanted.
			want := make(map[imap.Flag]bool)
			for _, cat := range upd.Categories {
				want[keyword(cat)] = true
				add = append(add, keyword(cat))
			}
			var probe sources.Message
			for _, fl := range msgs[0].Flags {
				probe.Categories = nil
				applyFlags(&probe, []imap.Flag{fl})
				if len(probe.Categories) > 0 && !want[fl] {
					del = append(del, fl)
				}
			}
		}
		for _, op := range []struct {
			op imap.StoreFlagsOp
			fl []imap.Flag
		}{{imap.StoreFlagsAdd, add}, {imap.StoreFlagsDel, del}} {
			if len(op.fl) == 0 {
				continue
			}
			err := c.c.Store(imap.UIDSetNum(u), &imap.StoreFlags{Op: op.op, Silent: true, Flags: op.fl}, nil).Close()
			if err != nil {
				return wrap(err, "store %d", u)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("imapdav: update flags of %q in %q: %w", id, f, err)
	}
	return nil
}

// Move implements sources.Mover with UID MOVE (go-imap falls back to COPY,
// STORE and EXPUNGE without MOVE); the new ids come from COPYUID.
func (s *Source) Move(ctx context.Context, from, to sources.FolderID, ids []sources.ItemID) (map[sources.ItemID]sources.ItemID, error) {
	if isDAV(from) || isDAV(to) {
		return nil, fmt.Errorf("imapdav: move from %q to %q: %w", from, to, sources.ErrUnsupported)
	}
	var uids []imap.UID
	for _, id := range ids {
		if u, err := parseUID(id); err == nil {
			uids = append(uids, u)
		}
	}
	out := make(map[sources.ItemID]sources.ItemID)
	if len(uids) == 0 {
		return out, nil
	}
	err := s.with(ctx, func(c *conn) error {
		if err := c.ensure(string(from)); err != nil {
			return err
		}
		// Only messages that exist and are not \Deleted move.
		live, err := c.search(&imap.SearchCriteria{UID: []imap.UIDSet{setOf(uids)}, NotFlag: []imap.Flag{imap.FlagDeleted}})
		if err != nil || len(live) == 0 {
			return err
		}
		md, err := c.c.Move(live, string(to)).Wait()
		if err != nil {
			return wrap(err, "move %v to %q", live, to)
		}
		src, _ := md.SourceUIDs.(imap.UIDSet)
		dst, _ := md.DestUIDs.(imap.UIDSet)
		sl, dl := uidList(src), uidList(dst)
		if len(sl) != len(dl) || len(sl) == 0 {
			return fmt.Errorf("imapdav: move to %q: the server sent no COPYUID: %w", to, sources.ErrUnsupported)
		}
		for i := range sl {
			out[itemID(sl[i])] = itemID(dl[i])
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("imapdav: move from %q to %q: %w", from, to, err)
	}
	return out, nil
}
