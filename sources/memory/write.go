package memory

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/easgate/easgate/sources"
)

func etag(seq uint64) string { return strconv.FormatUint(seq, 36) }

// Put implements sources.Writer. The item must have exactly one kind
// pointer set; the store keeps a copy.
func (s *Source) Put(ctx context.Context, id sources.FolderID, it *sources.Item, ifMatch string) (sources.ItemID, string, error) {
	if err := ctx.Err(); err != nil {
		return "", "", err
	}
	if n := kinds(it); n != 1 {
		return "", "", fmt.Errorf("memory: put an item of %d kinds: %w", n, sources.ErrUnsupported)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.folder(id)
	if err != nil {
		return "", "", err
	}
	c := copyItem(it)
	e := &entry{}
	if it.ID == "" {
		e.id = sources.ItemID(s.newID("i"))
	} else {
		old, ok := f.items[it.ID]
		if !ok {
			return "", "", fmt.Errorf("memory: put %q in %q: %w", it.ID, id, sources.ErrNotFound)
		}
		if ifMatch != "" && ifMatch != old.item.ETag {
			return "", "", fmt.Errorf("memory: put %q: etag %q, have %q: %w", it.ID, ifMatch, old.item.ETag, sources.ErrConflict)
		}
		e = old
	}
	c.ID, c.Folder, c.Modified = e.id, id, time.Now()
	e.item, e.raw, e.atts = &c, nil, nil
	s.store(f, e)
	return e.id, e.item.ETag, nil
}

// store records e, new or changed, in f.
func (s *Source) store(f *folder, e *entry) {
	if _, ok := f.items[e.id]; !ok {
		e.created = s.seq + 1 // the modseq touch gives it
		f.items[e.id] = e
	}
	s.touch(f, e)
}

func kinds(it *sources.Item) int {
	if it == nil {
		return 0
	}
	n := 0
	for _, set := range []bool{it.Mail != nil, it.Contact != nil, it.Event != nil, it.Task != nil, it.Note != nil} {
		if set {
			n++
		}
	}
	return n
}

// Delete implements sources.Writer.
func (s *Source) Delete(ctx context.Context, id sources.FolderID, item sources.ItemID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.folder(id)
	if err != nil {
		return err
	}
	e, ok := f.items[item]
	if !ok {
		return fmt.Errorf("memory: delete %q from %q: %w", item, id, sources.ErrNotFound)
	}
	s.remove(f, e)
	return nil
}

// Move implements sources.Mover. Moved items get new ids, as IMAP gives
// new UIDs, so that callers exercise the id map; moving within one folder
// changes nothing.
func (s *Source) Move(ctx context.Context, from, to sources.FolderID, ids []sources.ItemID) (map[sources.ItemID]sources.ItemID, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	src, err := s.folder(from)
	if err != nil {
		return nil, err
	}
	dst, err := s.folder(to)
	if err != nil {
		return nil, err
	}
	moved := make(map[sources.ItemID]sources.ItemID, len(ids))
	for _, id := range ids {
		e, ok := src.items[id]
		if !ok {
			continue
		}
		if src == dst {
			moved[id] = id
			continue
		}
		n := &entry{id: sources.ItemID(s.newID("i")), item: e.item, raw: e.raw, atts: e.atts}
		n.item.ID, n.item.Folder = n.id, to
		s.remove(src, e)
		s.store(dst, n)
		moved[id] = n.id
	}
	return moved, nil
}

// UpdateFlags implements sources.Flagger.
func (s *Source) UpdateFlags(ctx context.Context, id sources.FolderID, item sources.ItemID, u sources.FlagUpdate) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.folder(id)
	if err != nil {
		return err
	}
	e, ok := f.items[item]
	if !ok {
		return fmt.Errorf("memory: flags of %q in %q: %w", item, id, sources.ErrNotFound)
	}
	if e.item.Mail == nil {
		return fmt.Errorf("memory: flags of %q: not mail: %w", item, sources.ErrUnsupported)
	}
	m := *e.item.Mail
	for _, p := range []struct {
		v   *bool
		dst *bool
	}{{u.Read, &m.Read}, {u.Flagged, &m.Flagged}, {u.Answered, &m.Answered}, {u.Forwarded, &m.Forwarded}} {
		if p.v != nil {
			*p.dst = *p.v
		}
	}
	if u.SetFollowUp {
		m.FollowUp = nil
		if u.FollowUp != nil {
			fu := *u.FollowUp
			m.FollowUp = &fu
		}
	}
	if u.SetCategories {
		m.Categories = append([]string(nil), u.Categories...)
	}
	c := *e.item
	c.Mail, c.Modified = &m, time.Now()
	e.item = &c
	s.touch(f, e)
	return nil
}

// CreateFolder implements sources.FolderWriter.
func (s *Source) CreateFolder(ctx context.Context, parent sources.FolderID, name string, kind sources.FolderKind) (sources.FolderID, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkPlace("", parent, name); err != nil {
		return "", err
	}
	f := s.addFolder(sources.Folder{ID: sources.FolderID(s.newID("f")), ParentID: parent, Name: name, Kind: kind})
	return f.ID, nil
}

// RenameFolder implements sources.FolderWriter.
func (s *Source) RenameFolder(ctx context.Context, id, parent sources.FolderID, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.folder(id)
	if err != nil {
		return err
	}
	if err := s.checkPlace(id, parent, name); err != nil {
		return err
	}
	for p := parent; p != ""; p = s.folders[p].ParentID {
		if p == id {
			return fmt.Errorf("memory: move folder %q under itself: %w", id, sources.ErrConflict)
		}
	}
	f.ParentID, f.Name, f.seq = parent, name, s.next()
	return nil
}

// checkPlace checks that folder id may be called name under parent.
func (s *Source) checkPlace(id, parent sources.FolderID, name string) error {
	if name == "" {
		return errors.New("memory: empty folder name")
	}
	if parent != "" {
		if _, err := s.folder(parent); err != nil {
			return err
		}
	}
	for _, f := range s.folders {
		if f.ID != id && f.ParentID == parent && f.Name == name {
			return fmt.Errorf("memory: folder %q exists in %q: %w", name, parent, sources.ErrConflict)
		}
	}
	return nil
}

// DeleteFolder implements sources.FolderWriter. Default folders, those
// with a role, cannot be deleted.
func (s *Source) DeleteFolder(ctx context.Context, id sources.FolderID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.folder(id)
	if err != nil {
		return err
	}
	if f.Role != "" {
		return fmt.Errorf("memory: delete default folder %q: %w", id, sources.ErrUnsupported)
	}
	s.deleteFolder(f)
	if n := len(s.folderTombs); n > s.opts.Tombstones {
		drop := n - s.opts.Tombstones/2
		s.folderHorizon = s.folderTombs[drop-1].seq
		s.folderTombs = append([]tomb(nil), s.folderTombs[drop:]...)
	}
	return nil
}

func (s *Source) deleteFolder(f *folder) {
	for _, c := range s.folders {
		if c.ParentID == f.ID {
			s.deleteFolder(c)
		}
	}
	delete(s.folders, f.ID)
	s.folderTombs = append(s.folderTombs, tomb{id: f.ID, seq: s.next(), created: f.created})
	f.wake()
}
