package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/easgate/easgate/sources"
)

// wellKnown are the default mail folders and their kinds (§4.4).
var wellKnown = []struct {
	name, role string
	kind       sources.FolderKind
}{
	{"inbox", "inbox", sources.KindInbox}, {"drafts", "drafts", sources.KindDrafts},
	{"sentitems", "sent", sources.KindSent}, {"deleteditems", "trash", sources.KindDeleted},
	{"outbox", "outbox", sources.KindOutbox}, {"junkemail", "junk", sources.KindUserMail},
	{"msgfolderroot", "", sources.KindUserMail},
}

// wellKnownIDs finds the ids of the default mail folders once, in one
// $batch.
func (s *Source) wellKnownIDs(ctx context.Context) (map[string]string, error) {
	s.mu.Lock()
	if s.wellDone {
		defer s.mu.Unlock()
		return s.well, nil
	}
	s.mu.Unlock()
	items := make([]*batchItem, len(wellKnown))
	for i, w := range wellKnown {
		items[i] = &batchItem{path: s.path + "/mailFolders/" + w.name, query: url.Values{"$select": {"id"}}}
	}
	if err := s.c.batchGET(ctx, s.id, items); err != nil {
		return nil, err
	}
	well := make(map[string]string)
	for i, it := range items {
		if it.err != nil {
			if errors.Is(it.err, sources.ErrNotFound) {
				continue
			}
			return nil, it.err
		}
		var f struct {
			ID string `json:"id"`
		}
		json.Unmarshal(it.body, &f)
		well[wellKnown[i].name] = f.ID
	}
	s.mu.Lock()
	s.well, s.wellDone = well, true
	s.mu.Unlock()
	return well, nil
}

type graphFolder struct {
	ID                string `json:"id"`
	DisplayName       string `json:"displayName"`
	Name              string `json:"name"` // calendars
	ParentFolderID    string `json:"parentFolderId"`
	IsDefaultCalendar bool   `json:"isDefaultCalendar"`
	WellknownListName string `json:"wellknownListName"`
	Removed           any    `json:"@removed"`
}

// listFolders lists every folder of the mailbox: the mail folder tree
// through mailFolders/delta (flattened, A4), then contact folders,
// calendars and To Do lists. A hierarchy the server does not offer (501)
// or the app may not read (403) is left out.
func (s *Source) listFolders(ctx context.Context) ([]sources.Folder, error) {
	well, err := s.wellKnownIDs(ctx)
	if err != nil {
		return nil, err
	}
	kinds := make(map[string]int)
	for i, w := range wellKnown {
		kinds[well[w.name]] = i
	}
	root := well["msgfolderroot"]
	var out []sources.Folder
	u, q := s.path+"/mailFolders/delta", url.Values{"$select": {"displayName,parentFolderId"}}
	for pages := 0; u != "" && pages < 1000; pages++ {
		var p struct {
			Value    []graphFolder `json:"value"`
			NextLink string        `json:"@odata.nextLink"`
		}
		if err := s.c.getJSON(ctx, s.id, u, q, []string{"odata.maxpagesize=" + strconv.Itoa(s.b.o.PageSize)}, &p); err != nil {
			return nil, err
		}
		u, q = p.NextLink, nil
		for _, g := range p.Value {
			if g.Removed != nil || g.ID == root {
				continue
			}
			f := sources.Folder{ID: sources.FolderID(g.ID), Name: g.DisplayName, ParentID: sources.FolderID(g.ParentFolderID)}
			if g.ParentFolderID == root {
				f.ParentID = ""
			}
			if i, ok := kinds[g.ID]; ok {
				f.Kind, f.Role = wellKnown[i].kind, wellKnown[i].role
			}
			out = append(out, f)
		}
	}
	type list struct {
		path   string
		prefix string
		each   func(g graphFolder, first bool) sources.Folder
	}
	lists := []list{
		{"/contactFolders", prefixContacts, func(g graphFolder, _ bool) sources.Folder {
			// chosen: v1.0 names no default contacts folder; the one called
			// Contacts is it.
			k := sources.KindUserContacts
			if strings.EqualFold(g.DisplayName, "Contacts") {
				k = sources.KindContacts
			}
			return sources.Folder{Name: g.DisplayName, Kind: k}
		}},
		{"/calendars", prefixCalendar, func(g graphFolder, _ bool) sources.Folder {
			k := sources.KindUserCalendar
			if g.IsDefaultCalendar {
				k = sources.KindCalendar
			}
			return sources.Folder{Name: g.Name, Kind: k}
		}},
		{"/todo/lists", prefixTasks, func(g graphFolder, _ bool) sources.Folder {
			k := sources.KindUserTasks
			if g.WellknownListName == "defaultList" {
				k = sources.KindTasks
			}
			return sources.Folder{Name: g.DisplayName, Kind: k}
		}},
	}
	if s.b.o.Directory != "" {
		out = append(out, sources.Folder{ID: prefixDirectory, Name: s.b.o.Directory, Kind: sources.KindUserContacts})
	}
	for _, l := range lists {
		var p struct {
			Value []graphFolder `json:"value"`
		}
		err := s.c.getJSON(ctx, s.id, s.path+l.path, url.Values{"$top": {"200"}}, nil, &p)
		if errors.Is(err, sources.ErrUnsupported) || errors.Is(err, sources.ErrAuth) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for i, g := range p.Value {
			f := l.each(g, i == 0)
			f.ID = sources.FolderID(l.prefix + g.ID)
			out = append(out, f)
		}
	}
	return out, nil
}

// Folders implements sources.Source: the hierarchy is listed afresh and
// diffed against its journal, so a State is a journal position like an
// item feed's.
func (s *Source) Folders(ctx context.Context, since sources.State) (sources.FolderDelta, error) {
	s.mu.Lock()
	f := s.folders
	s.mu.Unlock()
	if err := f.lock(ctx); err != nil {
		return sources.FolderDelta{}, err
	}
	defer f.mu.Unlock()
	seq, initial, _, err := f.parseState(since)
	if err != nil {
		return sources.FolderDelta{}, err
	}
	list, err := s.listFolders(ctx)
	if err != nil {
		return sources.FolderDelta{}, fmt.Errorf("graph: folders: %w", err)
	}
	s.mu.Lock()
	seen := make(map[sources.ItemID]bool)
	for _, fo := range list {
		id := sources.ItemID(fo.ID)
		seen[id] = true
		f.record(id, fmt.Sprintf("%d|%s|%s", fo.Kind, fo.ParentID, fo.Name))
		s.known[fo.ID] = fo
	}
	for id, e := range f.entries {
		if !e.removed && !seen[id] {
			f.drop(id)
			delete(s.known, sources.FolderID(id))
		}
	}
	d := f.changes(seq, initial, 0)
	var out sources.FolderDelta
	for _, id := range d.Changed {
		out.Changed = append(out.Changed, s.known[sources.FolderID(id)])
	}
	for _, id := range d.Removed {
		out.Removed = append(out.Removed, sources.FolderID(id))
	}
	s.mu.Unlock()
	if err := f.save(ctx); err != nil {
		return sources.FolderDelta{}, err
	}
	out.Next = d.Next
	return out, nil
}

// CreateFolder implements sources.FolderWriter for mail folders.
func (s *Source) CreateFolder(ctx context.Context, parent sources.FolderID, name string, kind sources.FolderKind) (sources.FolderID, error) {
	if kind.Content() != sources.ContentMail {
		return "", fmt.Errorf("graph: creating %v folders: %w", kind, sources.ErrUnsupported)
	}
	path := s.path + "/mailFolders"
	if parent != "" {
		path += "/" + url.PathEscape(string(parent)) + "/childFolders"
	}
	var out graphFolder
	if err := s.c.sendJSON(ctx, s.id, "POST", path, map[string]any{"displayName": name}, &out, ""); err != nil {
		return "", fmt.Errorf("graph: creating folder %q: %w", name, err)
	}
	return sources.FolderID(out.ID), nil
}

// RenameFolder implements sources.FolderWriter.
func (s *Source) RenameFolder(ctx context.Context, id, parent sources.FolderID, name string) error {
	s.mu.Lock()
	old, ok := s.known[id]
	s.mu.Unlock()
	if graphID(id) != string(id) {
		return fmt.Errorf("graph: renaming non-mail folders: %w", sources.ErrUnsupported)
	}
	path := s.path + "/mailFolders/" + url.PathEscape(string(id))
	if err := s.c.sendJSON(ctx, s.id, "PATCH", path, map[string]any{"displayName": name}, nil, ""); err != nil {
		return fmt.Errorf("graph: renaming folder %s: %w", id, err)
	}
	if ok && old.ParentID != parent {
		dest := string(parent)
		if dest == "" {
			dest = "msgfolderroot"
		}
		if err := s.c.sendJSON(ctx, s.id, "POST", path+"/move", map[string]any{"destinationId": dest}, nil, ""); err != nil {
			return fmt.Errorf("graph: moving folder %s: %w", id, err)
		}
	}
	return nil
}

// DeleteFolder implements sources.FolderWriter.
func (s *Source) DeleteFolder(ctx context.Context, id sources.FolderID) error {
	if graphID(id) != string(id) {
		return fmt.Errorf("graph: deleting non-mail folders: %w", sources.ErrUnsupported)
	}
	if err := s.c.sendJSON(ctx, s.id, "DELETE", s.path+"/mailFolders/"+url.PathEscape(string(id)), nil, nil, ""); err != nil {
		return fmt.Errorf("graph: deleting folder %s: %w", id, err)
	}
	return nil
}
