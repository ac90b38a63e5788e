package pim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/easgate/easgate/sources"
)

// A State is the JMAP state string of the folder's type, behind "s/";
// during a first listing, which pages through Foo/query, it is
// "l/<position>/<state>", the state taken before the first page.
const (
	statePrefix   = "s/"
	listingPrefix = "l/"
)

// getBatch bounds the ids of one Foo/get, below any server's
// maxObjectsInGet we know of (Cyrus: 4096).
const getBatch = 500

// Changes reports the items of folder f changed or removed since since.
// JMAP's Foo/changes is account-wide: the changed objects' folders are
// fetched in the same request, objects now elsewhere count as removed, and
// destroyed ids are all reported, as the caller ignores those it never saw.
func (s *Store) Changes(ctx context.Context, f sources.FolderID, since sources.State, max int) (sources.Delta, error) {
	fo, err := s.folder(ctx, f)
	if err != nil {
		return sources.Delta{}, err
	}
	st := string(since)
	switch {
	case st == "":
		return s.list(ctx, fo, 0, "", max)
	case strings.HasPrefix(st, listingPrefix):
		pos, state, ok := strings.Cut(st[len(listingPrefix):], "/")
		n, err := strconv.Atoi(pos)
		if !ok || err != nil || n < 0 {
			return sources.Delta{}, fmt.Errorf("jmap: %s state %q: %w", fo.kind.name, st, sources.ErrStateExpired)
		}
		return s.list(ctx, fo, n, state, max)
	case strings.HasPrefix(st, statePrefix):
		return s.changes(ctx, fo, st[len(statePrefix):], max)
	}
	return sources.Delta{}, fmt.Errorf("jmap: %s state %q: %w", fo.kind.name, st, sources.ErrStateExpired)
}

// list pages through the folder's objects from position pos; state is the
// type's state before the first page, or empty on the first page. Cyrus
// 3.6's CalendarEvent/query ignores position (kind.ignoresPosition; a
// server found doing so on a later page is caught too): then list takes
// all ids, sorted for a stable order, and pages through them itself.
func (s *Store) list(ctx context.Context, fo folder, pos int, state string, max int) (sources.Delta, error) {
	k := fo.kind
	q := map[string]any{"accountId": s.account, "position": pos, "calculateTotal": true}
	if k.queryFilter != "" {
		q["filter"] = map[string]any{k.queryFilter: []string{fo.id}}
	}
	if k.ignoresPosition {
		q["position"] = 0
	} else if max > 0 {
		q["limit"] = max
	}
	calls := []*call{
		{k.name + "/get", k.using, map[string]any{"accountId": s.account, "ids": []string{}}},
		{k.name + "/query", k.using, q},
	}
	res, err := s.do(ctx, calls...)
	if err != nil {
		return sources.Delta{}, err
	}
	if state == "" {
		state = res[0].(*getResponse).State
	}
	qr := res[1].(*queryResponse)
	ids, total := qr.IDs, -1
	if qr.Total != nil {
		total = *qr.Total
	}
	if k.ignoresPosition || qr.Position != pos {
		all := qr.IDs
		if !k.ignoresPosition {
			delete(q, "limit")
			q["position"] = 0
			res, err := s.do(ctx, &call{k.name + "/query", k.using, q})
			if err != nil {
				return sources.Delta{}, err
			}
			all = res[0].(*queryResponse).IDs
		}
		all = slices.Sorted(slices.Values(all))
		total = len(all)
		ids = all[min(pos, total):]
		if max > 0 && len(ids) > max {
			ids = ids[:max]
		}
	}
	var d sources.Delta
	if len(ids) > 0 {
		res, err := s.do(ctx, &call{k.name + "/get", k.using, map[string]any{"accountId": s.account, "ids": ids,
			"properties": []string{"id", k.folderProp}}})
		if err != nil {
			return sources.Delta{}, err
		}
		here := make(map[string]bool)
		for _, o := range res[0].(*getResponse).List {
			here[str(o, "id")] = k.in(o, fo.id)
		}
		for _, id := range ids {
			if here[id] {
				d.Changed = append(d.Changed, sources.ItemID(id))
			}
		}
	}
	next := pos + len(ids)
	if len(ids) > 0 && (total < 0 || next < total) {
		d.More = true
		d.Next = sources.State(listingPrefix + strconv.Itoa(next) + "/" + state)
	} else {
		d.Next = sources.State(statePrefix + state)
	}
	return d, nil
}

func (s *Store) changes(ctx context.Context, fo folder, since string, max int) (sources.Delta, error) {
	k := fo.kind
	args := map[string]any{"accountId": s.account, "sinceState": since}
	if max > 0 {
		args["maxChanges"] = max
	}
	props := []string{"id", k.folderProp}
	calls := []*call{
		{k.name + "/changes", k.using, args},
		{k.name + "/get", k.using, map[string]any{"accountId": s.account, "#ids": ref(0, k.name+"/changes", "/created"), "properties": props}},
		{k.name + "/get", k.using, map[string]any{"accountId": s.account, "#ids": ref(0, k.name+"/changes", "/updated"), "properties": props}},
	}
	res, err := s.do(ctx, calls...)
	if err != nil {
		// Cyrus answers a state it cannot read with invalidArguments:
		// either way the caller must start over.
		if methodError(err, "cannotCalculateChanges", "invalidArguments") {
			return sources.Delta{}, fmt.Errorf("jmap: %s/changes since %q: %w: %w", k.name, since, sources.ErrStateExpired, err)
		}
		return sources.Delta{}, err
	}
	ch := res[0].(*changesResponse)
	d := sources.Delta{Next: sources.State(statePrefix + ch.NewState), More: ch.HasMoreChanges}
	for i, ids := range [][]string{ch.Created, ch.Updated} {
		in := make(map[string]bool)
		for _, o := range res[1+i].(*getResponse).List {
			in[str(o, "id")] = k.in(o, fo.id)
		}
		for _, id := range ids {
			switch here, found := in[id]; {
			case here:
				d.Changed = append(d.Changed, sources.ItemID(id))
			case i == 1 || !found:
				// Updated into another folder, or gone since: removed
				// from this one, as far as the caller can tell.
				d.Removed = append(d.Removed, sources.ItemID(id))
			}
		}
	}
	for _, id := range ch.Destroyed {
		d.Removed = append(d.Removed, sources.ItemID(id))
	}
	return d, nil
}

// Get returns the items of f named by ids; ids not in f are left out.
func (s *Store) Get(ctx context.Context, f sources.FolderID, ids []sources.ItemID, o *sources.GetOptions) ([]sources.Item, error) {
	fo, err := s.folder(ctx, f)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]obj, len(ids))
	for start := 0; start < len(ids); start += getBatch {
		batch := ids[start:min(start+getBatch, len(ids))]
		list, _, err := s.get(ctx, fo.kind, batch)
		if err != nil {
			return nil, err
		}
		for _, o := range list {
			byID[str(o, "id")] = o
		}
	}
	items := make([]sources.Item, 0, len(ids))
	for _, id := range ids {
		ob, ok := byID[string(id)]
		if !ok || !fo.kind.in(ob, fo.id) {
			continue
		}
		it := sources.Item{ID: id, Folder: f, ETag: etag(ob)}
		if t, err := time.Parse(time.RFC3339, str(ob, "updated")); err == nil {
			it.Modified = t
		}
		if err := fo.kind.read(ob, &it); err != nil {
			return nil, fmt.Errorf("jmap: %s %q: %w", fo.kind.name, id, err)
		}
		items = append(items, it)
	}
	return items, nil
}

func (s *Store) get(ctx context.Context, k *kind, ids []sources.ItemID) ([]obj, string, error) {
	res, err := s.do(ctx, &call{k.name + "/get", k.using, map[string]any{"accountId": s.account, "ids": ids}})
	if err != nil {
		return nil, "", err
	}
	g := res[0].(*getResponse)
	return g.List, g.State, nil
}

// etag hashes an object's JSON: JMAP objects carry no ETag, and any change
// to an object changes some property of it. Maps marshal with sorted keys.
func etag(o obj) string {
	b, _ := json.Marshal(o)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// Put creates it in f, or updates item it.ID with a patch of the
// properties whose model value changed; ifMatch, if set, must be the
// item's current ETag. A concurrent change to another object of the type
// (a state mismatch) makes Put read and compare again, a few times.
func (s *Store) Put(ctx context.Context, f sources.FolderID, it *sources.Item, ifMatch string) (sources.ItemID, string, error) {
	fo, err := s.folder(ctx, f)
	if err != nil {
		return "", "", err
	}
	k := fo.kind
	if it.ID == "" {
		return s.create(ctx, fo, it)
	}
	for range 3 {
		list, state, err := s.get(ctx, k, []sources.ItemID{it.ID})
		if err != nil {
			return "", "", err
		}
		if len(list) == 0 || !k.in(list[0], fo.id) {
			return "", "", fmt.Errorf("jmap: %s %q: %w", k.name, it.ID, sources.ErrNotFound)
		}
		cur := list[0]
		if tag := etag(cur); ifMatch != "" && tag != ifMatch {
			return "", "", fmt.Errorf("jmap: %s %q: ETag %q, not %q: %w", k.name, it.ID, tag, ifMatch, sources.ErrConflict)
		}
		p, err := s.patch(k, cur, it)
		if err != nil {
			return "", "", err
		}
		if len(p) == 0 {
			return it.ID, etag(cur), nil
		}
		res, err := s.do(ctx,
			&call{k.name + "/set", k.using, map[string]any{"accountId": s.account, "ifInState": state,
				"update": map[string]any{string(it.ID): p}}},
			&call{k.name + "/get", k.using, map[string]any{"accountId": s.account, "ids": []sources.ItemID{it.ID}}})
		if methodError(err, "stateMismatch") {
			continue
		}
		if err != nil {
			return "", "", err
		}
		if e := res[0].(*setResponse).NotUpdated[string(it.ID)]; e != nil {
			return "", "", setError(fmt.Sprintf("%s/set update %q", k.name, it.ID), e)
		}
		g := res[1].(*getResponse)
		if len(g.List) == 0 {
			return "", "", fmt.Errorf("jmap: %s %q: %w", k.name, it.ID, sources.ErrNotFound)
		}
		return it.ID, etag(g.List[0]), nil
	}
	return "", "", sources.MarkTemporary(fmt.Errorf("jmap: %s/set %q: the type's state keeps changing", k.name, it.ID))
}

// patch compares what the model makes of the current object with what it
// makes of the new item, both written on top of the current object; only
// the differences are sent. A lossy reading (a rule the model cannot hold)
// thus leaves the property alone unless the device really changed it.
func (s *Store) patch(k *kind, cur obj, it *sources.Item) (obj, error) {
	var was sources.Item
	if err := k.read(cur, &was); err != nil {
		return nil, err
	}
	before, err := k.write(&was, cur)
	if err != nil {
		return nil, err
	}
	after, err := k.write(it, cur)
	if err != nil {
		return nil, err
	}
	return diff(k, before, after), nil
}

func (s *Store) create(ctx context.Context, fo folder, it *sources.Item) (sources.ItemID, string, error) {
	k := fo.kind
	o, err := k.write(it, nil)
	if err != nil {
		return "", "", err
	}
	for p, v := range k.newObject {
		o[p] = v
	}
	k.setFolder(o, fo.id)
	res, err := s.do(ctx, &call{k.name + "/set", k.using, map[string]any{"accountId": s.account, "create": map[string]any{"n": o}}})
	if err != nil {
		return "", "", err
	}
	sr := res[0].(*setResponse)
	if e := sr.NotCreated["n"]; e != nil {
		return "", "", setError(k.name+"/set create", e)
	}
	// Cyrus 3.6 resolves no "/created/*/id" reference: a second request.
	id := sources.ItemID(str(sr.Created["n"], "id"))
	list, _, err := s.get(ctx, k, []sources.ItemID{id})
	if err != nil {
		return "", "", err
	}
	if len(list) == 0 {
		return "", "", fmt.Errorf("jmap: %s/set create: no object %q: %w", k.name, id, sources.ErrNotFound)
	}
	return id, etag(list[0]), nil
}

// Delete destroys item id of folder f.
func (s *Store) Delete(ctx context.Context, f sources.FolderID, id sources.ItemID) error {
	fo, err := s.folder(ctx, f)
	if err != nil {
		return err
	}
	k := fo.kind
	list, _, err := s.get(ctx, k, []sources.ItemID{id})
	if err != nil {
		return err
	}
	if len(list) == 0 || !k.in(list[0], fo.id) {
		return fmt.Errorf("jmap: %s %q: %w", k.name, id, sources.ErrNotFound)
	}
	res, err := s.do(ctx, &call{k.name + "/set", k.using, map[string]any{"accountId": s.account, "destroy": []sources.ItemID{id}}})
	if err != nil {
		return err
	}
	if e := res[0].(*setResponse).NotDestroyed[string(id)]; e != nil {
		return setError(fmt.Sprintf("%s/set destroy %q", k.name, id), e)
	}
	return nil
}

var errBadValue = errors.New("bad value")
