package gateway

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

// defaultSearchRange is the page a Search without Range gets: the first
// 100 results, MS-ASCMD 2.2.3.143.3.
const defaultSearchRange = "0-99"

// handleSearch answers Search, MS-ASCMD 2.2.1.16. The mailbox is searched
// through sources.Searcher, the GAL through the directory (gal.go);
// document libraries are not supported. The outcome of the store
// travels in the Store's Status, the top-level Status staying 1 unless the
// request itself failed.
func (s *Server) handleSearch(ctx context.Context, sess *Session, req *eas.SearchRequest) (*eas.SearchResponse, error) {
	var store eas.SearchStoreResult
	switch name := req.Store.Name; {
	case strings.EqualFold(name, eas.SearchStoreMailbox):
		res, err := s.searchMailbox(ctx, sess, &req.Store)
		if err != nil {
			res = eas.SearchStoreResult{Status: eas.SearchStatus(s.statusOf(ctx, sess, eas.ScopeCollection, err))}
		}
		store = res
	case strings.EqualFold(name, eas.SearchStoreGAL):
		res, err := s.searchGAL(ctx, sess, &req.Store)
		if err != nil {
			res = eas.SearchStoreResult{Status: eas.SearchStatus(s.statusOf(ctx, sess, eas.ScopeCollection, err))}
		}
		store = res
	default:
		// No document library stands behind easgate.
		err := fmt.Errorf("gateway: search of store %q: %w", name, sources.ErrUnsupported)
		store = eas.SearchStoreResult{Status: eas.SearchStatus(s.statusOf(ctx, sess, eas.ScopeCollection, err))}
	}
	return &eas.SearchResponse{
		Status:   eas.SearchStatusSuccess,
		Response: &eas.SearchResponseBody{Store: store},
	}, nil
}

// mailboxQuery is a Search query in the store's terms.
type mailboxQuery struct {
	q           sources.SearchQuery
	collections []string // EAS CollectionIds searched
	classes     []string
	conv        []byte // ConversationId, nil for any
}

// add merges the criteria of q into m: those of an And all apply; an Or
// is taken only with a single criterion, which makes it an And.
func (m *mailboxQuery) add(q *eas.SearchQuery) error {
	if o := q.Or; o != nil {
		// CollectionIds are a union anyway, which is what Folders means;
		// beside them an Or may hold one criterion, or none.
		others := len(o.Class)
		for _, set := range []bool{o.FreeText != "", o.ConversationID != nil, o.GreaterThan != nil,
			o.LessThan != nil, o.And != nil, o.Or != nil} {
			if set {
				others++
			}
		}
		if others > 1 || others == 1 && len(o.CollectionID) > 0 {
			// The store model cannot express an Or of several
			// criteria.
			return errTooComplex
		}
		if err := m.add(o); err != nil {
			return err
		}
	}
	if q.And != nil {
		if err := m.add(q.And); err != nil {
			return err
		}
	}
	if q.FreeText != "" {
		m.q.Text = strings.TrimSpace(m.q.Text + " " + q.FreeText)
	}
	m.classes = append(m.classes, q.Class...)
	m.collections = append(m.collections, q.CollectionID...)
	if q.ConversationID != nil {
		m.conv = q.ConversationID
	}
	// MS-ASCMD 2.2.3.86 and 2.2.3.96 bound email:DateReceived.
	var err error
	if q.GreaterThan != nil {
		m.q.Since, err = searchDate(q.GreaterThan)
	}
	if q.LessThan != nil && err == nil {
		m.q.Before, err = searchDate(q.LessThan)
	}
	return err
}

// searchDate parses the Value of GreaterThan or LessThan.
func searchDate(c *eas.SearchComparison) (time.Time, error) {
	dt, err := eas.ParseDateTime(c.Value)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: date %q", errBadRequest, c.Value)
	}
	return dt.Time, nil
}

// searchMailbox runs a mailbox search and converts one page of results.
func (s *Server) searchMailbox(ctx context.Context, sess *Session, st *eas.SearchStore) (eas.SearchStoreResult, error) {
	var m mailboxQuery
	if err := m.add(st.Query); err != nil {
		return eas.SearchStoreResult{}, err
	}
	if len(m.classes) > 0 && !containsFold(m.classes, classEmail) {
		// Only mail is searched (MS-ASCMD 2.2.3.142.2).
		return eas.SearchStoreResult{Status: eas.SearchStatusSuccess, Result: []eas.SearchResult{{}}, Total: ptr(0)}, nil
	}
	o := st.Options
	if o == nil {
		o = &eas.SearchOptions{}
	}
	// RebuildResults asks to search again rather than page through a
	// cached result set; every search here runs afresh.
	from, to := searchRange(o.Range)
	hits, total, err := s.mailboxHits(ctx, sess, &m, o.DeepTraversal, from, to)
	if err != nil {
		return eas.SearchStoreResult{}, err
	}

	res := eas.SearchStoreResult{Status: eas.SearchStatusSuccess, Total: ptr(total)}
	results, err := s.searchResults(ctx, sess, hits, o)
	if err != nil {
		return eas.SearchStoreResult{}, err
	}
	if len(results) == 0 {
		// MS-ASCMD 2.2.3.155.3: no match is an empty Result.
		res.Result = []eas.SearchResult{{}}
		return res, nil
	}
	res.Result = results
	res.Range = strconv.Itoa(from) + "-" + strconv.Itoa(from+len(results)-1)
	return res, nil
}

// searchRange parses a validated Range, "m-n"; "" is defaultSearchRange.
func searchRange(rng string) (from, to int) {
	if rng == "" {
		rng = defaultSearchRange
	}
	a, b, _ := strings.Cut(rng, "-")
	from, _ = strconv.Atoi(a)
	to, _ = strconv.Atoi(b)
	return from, to
}

// mailboxHits runs the mailbox query m through sources.Searcher and
// returns the matches from index from to index to, with the number of all
// matches. Search and Find share it.
func (s *Server) mailboxHits(ctx context.Context, sess *Session, m *mailboxQuery, deep bool, from, to int) ([]sources.ItemRef, int, error) {
	searcher, ok := sess.Source.(sources.Searcher)
	if !ok {
		return nil, 0, fmt.Errorf("gateway: the store cannot search: %w", sources.ErrUnsupported)
	}
	for _, c := range m.collections {
		f, err := s.searchFolder(ctx, sess, c)
		if err != nil {
			return nil, 0, err
		}
		m.q.Folders = append(m.q.Folders, f)
	}
	if deep && len(m.q.Folders) > 0 {
		fs, err := withSubfolders(ctx, sess.Source, m.q.Folders)
		if err != nil {
			return nil, 0, err
		}
		m.q.Folders = fs
	}
	if m.conv == nil {
		m.q.Offset, m.q.Limit = from, to-from+1
		r, err := searcher.Search(ctx, m.q)
		if err != nil {
			return nil, 0, err
		}
		return r.Hits, r.Total, nil
	}
	// The store knows no ConversationId: filter all matches, then page.
	r, err := searcher.Search(ctx, m.q)
	if err != nil {
		return nil, 0, err
	}
	conv, err := conversationMessages(ctx, sess.Source, m.conv, m.q.Folders)
	if err != nil {
		return nil, 0, err
	}
	in := map[sources.ItemRef]bool{}
	for _, fi := range conv {
		for _, id := range fi.ids {
			in[sources.ItemRef{Folder: fi.folder, ID: id}] = true
		}
	}
	var hits []sources.ItemRef
	for _, h := range r.Hits {
		if in[h] {
			hits = append(hits, h)
		}
	}
	total := len(hits)
	hits = hits[min(from, len(hits)):]
	return hits[:min(len(hits), to-from+1)], total, nil
}

// searchFolder resolves a CollectionId of a query. One the device does not
// have from FolderSync asks it to sync its folders first.
func (s *Server) searchFolder(ctx context.Context, sess *Session, collectionID string) (sources.FolderID, error) {
	if s.state == nil {
		return "", errors.New("gateway: no state store")
	}
	f, err := s.state.FolderID(ctx, sess.Account, collectionID)
	if err != nil {
		return "", fmt.Errorf("gateway: search folder %q: %w", collectionID, err)
	}
	return sources.FolderID(f), nil
}

// withSubfolders adds the folders below fs, for DeepTraversal.
func withSubfolders(ctx context.Context, src sources.Source, fs []sources.FolderID) ([]sources.FolderID, error) {
	d, err := src.Folders(ctx, "")
	if err != nil {
		return nil, err
	}
	in := map[sources.FolderID]bool{}
	for _, f := range fs {
		in[f] = true
	}
	for grew := true; grew; {
		grew = false
		for _, f := range d.Changed {
			if !in[f.ID] && in[f.ParentID] {
				in[f.ID] = true
				fs = append(fs, f.ID)
				grew = true
			}
		}
	}
	return fs, nil
}

// searchResults converts the hits, in order, with the body the Options
// prefer. Each result carries its CollectionId and a LongId for
// ItemOperations. Hits that vanished since the search are left out.
func (s *Server) searchResults(ctx context.Context, sess *Session, hits []sources.ItemRef, o *eas.SearchOptions) ([]eas.SearchResult, error) {
	if len(hits) == 0 {
		return nil, nil
	}
	if s.state == nil {
		return nil, errors.New("gateway: no state store")
	}
	v := sess.Version()
	p := newBodyPrefs(v, classEmail, &eas.SyncOptions{BodyPreference: o.BodyPreference, MIMESupport: o.MIMESupport})
	p.src, p.self = sess.Source, s.primaryAddress(sess.User)
	var folders []string
	byFolder := map[sources.FolderID][]sources.ItemID{}
	for _, h := range hits {
		if _, ok := byFolder[h.Folder]; !ok {
			folders = append(folders, string(h.Folder))
		}
		byFolder[h.Folder] = append(byFolder[h.Folder], h.ID)
	}
	cids, err := s.state.CollectionIDs(ctx, sess.Account, folders)
	if err != nil {
		return nil, fmt.Errorf("gateway: collections of the hits: %w", err)
	}
	items := map[sources.ItemRef]*sources.Item{}
	collection := map[sources.FolderID]string{}
	for i, f := range folders {
		fid := sources.FolderID(f)
		collection[fid] = cids[i]
		got, err := sess.Source.Get(ctx, fid, byFolder[fid], p.getOptions())
		if err != nil {
			return nil, err
		}
		for j := range got {
			items[sources.ItemRef{Folder: fid, ID: got[j].ID}] = &got[j]
		}
	}
	var out []eas.SearchResult
	for _, h := range hits {
		it := items[h]
		if it == nil {
			continue
		}
		props, err := toEAS(ctx, it, v, p)
		if err != nil {
			return nil, err
		}
		out = append(out, eas.SearchResult{
			Class:        itemClassOf(it),
			LongID:       longID(h),
			CollectionID: collection[h.Folder],
			Properties:   props,
		})
	}
	return out, nil
}

// containsFold reports whether ss holds s, ignoring case.
func containsFold(ss []string, s string) bool {
	for _, x := range ss {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
