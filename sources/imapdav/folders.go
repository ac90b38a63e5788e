package imapdav

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/easgate/easgate/sources"
)

// keepLists is how many Folders answers a Source remembers to compute
// deltas from; an older state expires.
const keepLists = 8

// mailbox is one LIST entry.
type mailbox struct {
	name  string
	delim rune
	attrs []imap.MailboxAttr
}

// list runs LIST "" "*", asking for special-use attributes where the
// server has them.
func (c *conn) list() ([]mailbox, error) {
	var o *imap.ListOptions
	if c.has(imap.CapSpecialUse) && c.has(imap.CapListExtended) {
		o = &imap.ListOptions{ReturnSpecialUse: true}
	}
	l, err := c.c.List("", "*", o).Collect()
	if err != nil {
		return nil, wrap(err, "list")
	}
	var out []mailbox
	for _, d := range l {
		if hasAttr(d.Attrs, imap.MailboxAttrNonExistent) {
			continue
		}
		out = append(out, mailbox{d.Mailbox, d.Delim, d.Attrs})
	}
	return out, nil
}

// hasAttr compares case-insensitively: Cyrus sends "\sent" where Dovecot
// sends "\Sent".
func hasAttr(attrs []imap.MailboxAttr, a imap.MailboxAttr) bool {
	return slices.ContainsFunc(attrs, func(b imap.MailboxAttr) bool { return strings.EqualFold(string(a), string(b)) })
}

// specialUses maps SPECIAL-USE attributes to default folder kinds; the
// others keep KindUserMail with their role.
var specialUses = []struct {
	attr imap.MailboxAttr
	kind sources.FolderKind
}{
	{imap.MailboxAttrDrafts, sources.KindDrafts},
	{imap.MailboxAttrSent, sources.KindSent},
	{imap.MailboxAttrTrash, sources.KindDeleted},
	{imap.MailboxAttrJunk, sources.KindUserMail},
	{imap.MailboxAttrArchive, sources.KindUserMail},
	{imap.MailboxAttrAll, sources.KindUserMail},
	{imap.MailboxAttrFlagged, sources.KindUserMail},
	{imap.MailboxAttrImportant, sources.KindUserMail},
}

// mailFolders turns a LIST answer into folders. Each default kind goes to
// the first mailbox that claims it.
func mailFolders(l []mailbox) []sources.Folder {
	names := make(map[string]bool, len(l))
	for _, m := range l {
		names[m.name] = true
	}
	taken := make(map[sources.FolderKind]bool)
	out := make([]sources.Folder, 0, len(l))
	for _, m := range l {
		f := sources.Folder{ID: sources.FolderID(m.name), Name: m.name}
		if m.delim != 0 {
			if i := strings.LastIndex(m.name, string(m.delim)); i >= 0 {
				f.Name = m.name[i+1:]
				if parent := m.name[:i]; names[parent] {
					f.ParentID = sources.FolderID(parent)
				}
			}
		}
		kind := sources.KindUserMail
		if strings.EqualFold(m.name, "INBOX") {
			kind, f.Role = sources.KindInbox, "inbox"
		} else {
			for _, su := range specialUses {
				if hasAttr(m.attrs, su.attr) {
					kind, f.Role = su.kind, strings.ToLower(strings.TrimPrefix(string(su.attr), `\`))
					break
				}
			}
		}
		if kind != sources.KindUserMail && !taken[kind] {
			taken[kind] = true
			f.Kind = kind
		}
		out = append(out, f)
	}
	return out
}

// folderState hashes a folder list.
func folderState(l []sources.Folder) sources.State {
	h := sha256.New()
	for _, f := range l {
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d\x00%s\n", f.ID, f.ParentID, f.Name, f.Kind, f.Role)
	}
	return sources.State("f" + hex.EncodeToString(h.Sum(nil)[:12]))
}

// Folders implements sources.Source. The state is a hash of the folder
// list; the Source remembers its last few lists to answer deltas, and a
// state it has forgotten expires.
func (s *Source) Folders(ctx context.Context, since sources.State) (sources.FolderDelta, error) {
	var boxes []mailbox
	err := s.with(ctx, func(c *conn) (err error) {
		boxes, err = c.list()
		return err
	})
	if err != nil {
		return sources.FolderDelta{}, err
	}
	all := mailFolders(boxes)
	partial := false
	if s.dav != nil {
		pim, err := s.dav.Folders(ctx)
		s.mu.Lock()
		if err == nil {
			s.pim = pim
		} else {
			// The calendar server is down: the mail folders are
			// still answered, with the DAV folders last seen.
			s.logger().Warn("imapdav: dav folders unavailable; answering the last known", "err", err)
			pim, partial = s.pim, true
			if pim == nil {
				pim = slices.DeleteFunc(slices.Clone(s.lists[since]), func(f sources.Folder) bool { return !isDAV(f.ID) })
			}
		}
		s.mu.Unlock()
		all = append(all, pim...)
	}
	next := folderState(all)
	s.mu.Lock()
	old, known := s.lists[since]
	if _, ok := s.lists[next]; !ok {
		if len(s.lists) >= keepLists {
			clear(s.lists)
		}
		s.lists[next] = all
	}
	s.mu.Unlock()
	switch {
	case since == "":
		return sources.FolderDelta{Changed: all, Next: next, Partial: partial}, nil
	case since == next:
		return sources.FolderDelta{Next: next, Partial: partial}, nil
	case !known:
		return sources.FolderDelta{}, fmt.Errorf("imapdav: folders since %q: %w", since, sources.ErrStateExpired)
	}
	d := sources.FolderDelta{Next: next, Partial: partial}
	was := make(map[sources.FolderID]sources.Folder, len(old))
	for _, f := range old {
		was[f.ID] = f
	}
	for _, f := range all {
		if w, ok := was[f.ID]; !ok || w != f {
			d.Changed = append(d.Changed, f)
		}
		delete(was, f.ID)
	}
	for _, f := range old {
		if _, ok := was[f.ID]; ok {
			d.Removed = append(d.Removed, f.ID)
		}
	}
	return d, nil
}

// specialFolder returns the name of the mailbox with attribute a.
func (c *conn) specialFolder(a imap.MailboxAttr) (string, error) {
	l, err := c.list()
	if err != nil {
		return "", err
	}
	for _, m := range l {
		if hasAttr(m.attrs, a) {
			return m.name, nil
		}
	}
	return "", fmt.Errorf("imapdav: no %s mailbox: %w", a, sources.ErrNotFound)
}

// CreateFolder implements sources.FolderWriter for mail folders; the kind
// is ignored, since IMAP folders all hold mail.
func (s *Source) CreateFolder(ctx context.Context, parent sources.FolderID, name string, kind sources.FolderKind) (sources.FolderID, error) {
	if isDAV(parent) || kind.Content() != sources.ContentMail {
		return "", fmt.Errorf("imapdav: create folder %q of kind %v: %w", name, kind, sources.ErrUnsupported)
	}
	var id string
	err := s.with(ctx, func(c *conn) error {
		full, err := c.childName(parent, name)
		if err != nil {
			return err
		}
		if err := c.c.Create(full, nil).Wait(); err != nil {
			return wrap(err, "create %q", full)
		}
		id = full
		c.c.Subscribe(full).Wait() // best effort: some clients show only subscribed folders
		return nil
	})
	return sources.FolderID(id), err
}

// childName returns the mailbox name of name under parent, refusing a name
// that contains the hierarchy delimiter.
func (c *conn) childName(parent sources.FolderID, name string) (string, error) {
	if parent == "" {
		l, err := c.c.List("", "", nil).Collect()
		if err != nil {
			return "", wrap(err, "list delimiter")
		}
		if len(l) > 0 && l[0].Delim != 0 && strings.ContainsRune(name, l[0].Delim) {
			return "", fmt.Errorf("imapdav: folder name %q contains the delimiter: %w", name, sources.ErrUnsupported)
		}
		return name, nil
	}
	l, err := c.c.List("", string(parent), nil).Collect()
	if err != nil {
		return "", wrap(err, "list %q", parent)
	}
	if len(l) == 0 {
		return "", fmt.Errorf("imapdav: parent folder %q: %w", parent, sources.ErrNotFound)
	}
	d := l[0].Delim
	if d == 0 || strings.ContainsRune(name, d) {
		return "", fmt.Errorf("imapdav: folder %q under %q: %w", name, parent, sources.ErrUnsupported)
	}
	return string(parent) + string(d) + name, nil
}

// RenameFolder implements sources.FolderWriter. The folder's id is its
// name, so a renamed folder gets a new id: Folders reports the old one
// removed and the new one created.
func (s *Source) RenameFolder(ctx context.Context, id, parent sources.FolderID, name string) error {
	if isDAV(id) {
		return fmt.Errorf("imapdav: rename %q: %w", id, sources.ErrUnsupported)
	}
	return s.with(ctx, func(c *conn) error {
		full, err := c.childName(parent, name)
		if err != nil {
			return err
		}
		if c.selected == string(id) {
			c.c.Unselect().Wait()
			c.selected = ""
		}
		return wrap(c.c.Rename(string(id), full, nil).Wait(), "rename %q to %q", id, full)
	})
}

// DeleteFolder implements sources.FolderWriter, deleting children first.
func (s *Source) DeleteFolder(ctx context.Context, id sources.FolderID) error {
	if isDAV(id) {
		return fmt.Errorf("imapdav: delete %q: %w", id, sources.ErrUnsupported)
	}
	return s.with(ctx, func(c *conn) error {
		l, err := c.c.List("", string(id), nil).Collect()
		if err != nil {
			return wrap(err, "list %q", id)
		}
		if len(l) == 0 {
			return fmt.Errorf("imapdav: delete folder %q: %w", id, sources.ErrNotFound)
		}
		if d := l[0].Delim; d != 0 {
			kids, err := c.c.List("", string(id)+string(d)+"*", nil).Collect()
			if err != nil {
				return wrap(err, "list under %q", id)
			}
			// Deepest first.
			slices.SortFunc(kids, func(a, b *imap.ListData) int { return len(b.Mailbox) - len(a.Mailbox) })
			for _, k := range kids {
				if err := c.c.Delete(k.Mailbox).Wait(); err != nil {
					return wrap(err, "delete %q", k.Mailbox)
				}
			}
		}
		if c.selected != "" {
			c.c.Unselect().Wait()
			c.selected = ""
		}
		return wrap(c.c.Delete(string(id)).Wait(), "delete %q", id)
	})
}
