package jmap

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	gojmap "git.sr.ht/~rockorager/go-jmap"
	"git.sr.ht/~rockorager/go-jmap/mail/mailbox"

	"github.com/easgate/easgate/sources"
)

// kinds maps RFC 8621 mailbox roles (RFC 6154 names) to folder kinds.
// Junk and archive are ordinary mail folders to EAS.
var kinds = map[mailbox.Role]sources.FolderKind{
	mailbox.RoleInbox:  sources.KindInbox,
	mailbox.RoleDrafts: sources.KindDrafts,
	mailbox.RoleTrash:  sources.KindDeleted,
	mailbox.RoleSent:   sources.KindSent,
	"outbox":           sources.KindOutbox,
}

var mailboxProps = []string{"id", "name", "parentId", "role"}

// countProps are the Mailbox properties that change with every message;
// a Mailbox/changes that names only these is no folder change.
var countProps = []string{"totalEmails", "unreadEmails", "totalThreads", "unreadThreads"}

// folderState is the State of Folders: the Mailbox state and a digest of
// each pim folder, whose store has no change feed of its own.
type folderState struct {
	M string            `json:"m"`
	P map[string]string `json:"p,omitempty"`
}

func (st folderState) encode() sources.State {
	b, _ := json.Marshal(st)
	return sources.State(base64.RawURLEncoding.EncodeToString(b))
}

func decodeFolderState(s sources.State) (folderState, error) {
	var st folderState
	b, err := base64.RawURLEncoding.DecodeString(string(s))
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil || st.M == "" {
		return st, fmt.Errorf("jmap: folder state %q: %w", s, sources.ErrStateExpired)
	}
	return st, nil
}

func toFolder(m *mailbox.Mailbox) sources.Folder {
	return sources.Folder{
		ID:       sources.FolderID(m.ID),
		ParentID: sources.FolderID(m.ParentID),
		Name:     m.Name,
		Kind:     kinds[m.Role],
		Role:     string(m.Role),
	}
}

// Folders implements sources.Source.
func (s *Source) Folders(ctx context.Context, since sources.State) (sources.FolderDelta, error) {
	var d sources.FolderDelta
	var next, old folderState
	if since == "" {
		var get mailbox.GetResponse
		if err := s.do1(ctx, &mailbox.Get{Account: s.account, Properties: mailboxProps}, &get); err != nil {
			return d, fmt.Errorf("jmap: Mailbox/get: %w", err)
		}
		for _, m := range get.List {
			d.Changed = append(d.Changed, toFolder(m))
		}
		next.M = get.State
	} else {
		var err error
		if old, err = decodeFolderState(since); err != nil {
			return d, err
		}
		next.M = old.M
		for more := true; more; {
			var ch mailbox.ChangesResponse
			if err := s.do1(ctx, &mailbox.Changes{Account: s.account, SinceState: next.M}, &ch); err != nil {
				return d, fmt.Errorf("jmap: Mailbox/changes since %q: %w", next.M, err)
			}
			ids := slices.Clone(ch.Created)
			if !onlyCounts(ch.UpdatedProperties) {
				ids = append(ids, ch.Updated...)
			}
			if len(ids) > 0 {
				var get mailbox.GetResponse
				if err := s.do1(ctx, &mailbox.Get{Account: s.account, IDs: ids, Properties: mailboxProps}, &get); err != nil {
					return d, fmt.Errorf("jmap: Mailbox/get: %w", err)
				}
				for _, m := range get.List {
					d.Changed = append(d.Changed, toFolder(m))
				}
			}
			for _, id := range ch.Destroyed {
				d.Removed = append(d.Removed, sources.FolderID(id))
			}
			next.M, more = ch.NewState, ch.HasMoreChanges
		}
	}
	if p := s.pimStore(); p != nil {
		fs, err := p.Folders(ctx)
		if err != nil {
			return d, fmt.Errorf("jmap: pim folders: %w", err)
		}
		next.P = make(map[string]string, len(fs))
		for _, f := range fs {
			h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d", f.ParentID, f.Name, f.Kind))
			dg := hex.EncodeToString(h[:8])
			next.P[string(f.ID)] = dg
			if old.P[string(f.ID)] != dg {
				d.Changed = append(d.Changed, f)
			}
		}
	}
	if since != "" {
		d.Removed = append(d.Removed, pimRemoved(old.P, next.P)...)
	}
	d.Next = next.encode()
	return d, nil
}

func pimRemoved(old, now map[string]string) []sources.FolderID {
	var r []sources.FolderID
	for id := range old {
		if _, ok := now[id]; !ok {
			r = append(r, sources.FolderID(id))
		}
	}
	slices.Sort(r)
	return r
}

func onlyCounts(props []string) bool {
	if props == nil {
		return false
	}
	for _, p := range props {
		if !slices.Contains(countProps, p) {
			return false
		}
	}
	return true
}

// do1 runs one method call and returns its error, mapped to the sources
// sentinels.
func (s *Source) do1(ctx context.Context, m gojmap.Method, resp any) error {
	c := &call{args: m, resp: resp}
	if err := s.do(ctx, c); err != nil {
		return err
	}
	return methodError(c.err)
}

// mailboxes returns every mailbox by id.
func (s *Source) mailboxes(ctx context.Context) (map[gojmap.ID]*mailbox.Mailbox, error) {
	var get mailbox.GetResponse
	if err := s.do1(ctx, &mailbox.Get{Account: s.account, Properties: mailboxProps}, &get); err != nil {
		return nil, fmt.Errorf("jmap: Mailbox/get: %w", err)
	}
	m := make(map[gojmap.ID]*mailbox.Mailbox, len(get.List))
	for _, mb := range get.List {
		m[mb.ID] = mb
	}
	return m, nil
}

// roleMailbox returns the id of the mailbox with role r.
func (s *Source) roleMailbox(ctx context.Context, r mailbox.Role) (gojmap.ID, error) {
	mbs, err := s.mailboxes(ctx)
	if err != nil {
		return "", err
	}
	for id, mb := range mbs {
		if mb.Role == r {
			return id, nil
		}
	}
	return "", fmt.Errorf("jmap: no %s mailbox: %w", r, sources.ErrNotFound)
}

// CreateFolder implements sources.FolderWriter.
func (s *Source) CreateFolder(ctx context.Context, parent sources.FolderID, name string, kind sources.FolderKind) (sources.FolderID, error) {
	if kind.Content() != sources.ContentMail || isPIM(parent) {
		return "", fmt.Errorf("jmap: create %s folder: %w", kind, sources.ErrUnsupported)
	}
	var r mailbox.SetResponse
	set := &mailbox.Set{Account: s.account, Create: map[gojmap.ID]*mailbox.Mailbox{
		"new": {Name: name, ParentID: gojmap.ID(parent)},
	}}
	if err := s.do1(ctx, set, &r); err != nil {
		return "", fmt.Errorf("jmap: Mailbox/set create %q: %w", name, err)
	}
	if e := r.NotCreated["new"]; e != nil {
		return "", fmt.Errorf("jmap: Mailbox/set create %q: %w", name, mailboxSetError(e))
	}
	m := r.Created["new"]
	if m == nil || m.ID == "" {
		return "", fmt.Errorf("jmap: Mailbox/set create %q: no id", name)
	}
	return sources.FolderID(m.ID), nil
}

// mailboxSetError reads a name clash, which Cyrus reports as
// invalidProperties on name, as a conflict.
func mailboxSetError(e *gojmap.SetError) error {
	if e.Type == "invalidProperties" && e.Properties != nil && slices.Contains(*e.Properties, "name") {
		return fmt.Errorf("%w: %w", setError(e), sources.ErrConflict)
	}
	return setError(e)
}

// RenameFolder implements sources.FolderWriter.
func (s *Source) RenameFolder(ctx context.Context, id, parent sources.FolderID, name string) error {
	if isPIM(id) {
		return fmt.Errorf("jmap: rename %q: %w", id, sources.ErrUnsupported)
	}
	var pid any
	if parent != "" {
		pid = string(parent)
	}
	var r mailbox.SetResponse
	set := &mailbox.Set{Account: s.account, Update: map[gojmap.ID]gojmap.Patch{
		gojmap.ID(id): {"name": name, "parentId": pid},
	}}
	if err := s.do1(ctx, set, &r); err != nil {
		return fmt.Errorf("jmap: Mailbox/set rename %q: %w", id, err)
	}
	if e := r.NotUpdated[gojmap.ID(id)]; e != nil {
		return fmt.Errorf("jmap: Mailbox/set rename %q: %w", id, mailboxSetError(e))
	}
	return nil
}

// DeleteFolder implements sources.FolderWriter. Child mailboxes go
// first, since JMAP refuses to destroy a parent.
func (s *Source) DeleteFolder(ctx context.Context, id sources.FolderID) error {
	if isPIM(id) {
		return fmt.Errorf("jmap: delete %q: %w", id, sources.ErrUnsupported)
	}
	mbs, err := s.mailboxes(ctx)
	if err != nil {
		return err
	}
	if mbs[gojmap.ID(id)] == nil {
		return fmt.Errorf("jmap: delete folder %q: %w", id, sources.ErrNotFound)
	}
	var order []gojmap.ID
	var walk func(gojmap.ID)
	walk = func(p gojmap.ID) {
		for cid, mb := range mbs {
			if mb.ParentID == p {
				walk(cid)
			}
		}
		order = append(order, p)
	}
	walk(gojmap.ID(id))
	var r mailbox.SetResponse
	set := &mailbox.Set{Account: s.account, Destroy: order, OnDestroyRemoveEmails: true}
	if err := s.do1(ctx, set, &r); err != nil {
		return fmt.Errorf("jmap: Mailbox/set destroy %q: %w", id, err)
	}
	for _, e := range r.NotDestroyed {
		return fmt.Errorf("jmap: Mailbox/set destroy %q: %w", id, setError(e))
	}
	return nil
}
