package imapdav

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/easgate/easgate/sources"
)

// Search implements sources.Searcher with UID SEARCH (TEXT, SINCE, BEFORE,
// UNDELETED) in each folder, then a FETCH of the hits' INTERNALDATE to put
// them newest first.
func (s *Source) Search(ctx context.Context, q sources.SearchQuery) (sources.SearchResult, error) {
	type hit struct {
		ref  sources.ItemRef
		date time.Time
	}
	var hits []hit
	err := s.with(ctx, func(c *conn) error {
		folders := q.Folders
		if len(folders) == 0 {
			l, err := c.list()
			if err != nil {
				return err
			}
			for _, m := range l {
				if !hasAttr(m.attrs, imap.MailboxAttrNoSelect) && !hasAttr(m.attrs, imap.MailboxAttrTrash) && !hasAttr(m.attrs, imap.MailboxAttrJunk) {
					folders = append(folders, sources.FolderID(m.name))
				}
			}
		}
		crit := &imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagDeleted}, Since: q.Since, Before: q.Before}
		if q.Text != "" {
			crit.Text = []string{q.Text}
		}
		for _, f := range folders {
			if isDAV(f) {
				continue
			}
			if err := c.ensure(string(f)); err != nil {
				return err
			}
			set, err := c.search(crit)
			if err != nil {
				return err
			}
			if len(set) == 0 {
				continue
			}
			msgs, err := c.c.Fetch(set, &imap.FetchOptions{UID: true, InternalDate: true}).Collect()
			if err != nil {
				return wrap(err, "fetch dates in %q", f)
			}
			for _, m := range msgs {
				hits = append(hits, hit{sources.ItemRef{Folder: f, ID: itemID(m.UID)}, m.InternalDate})
			}
		}
		return nil
	})
	if err != nil {
		return sources.SearchResult{}, fmt.Errorf("imapdav: search: %w", err)
	}
	slices.SortStableFunc(hits, func(a, b hit) int { return b.date.Compare(a.date) })
	res := sources.SearchResult{Total: len(hits)}
	if q.Offset < len(hits) {
		hits = hits[q.Offset:]
		if q.Limit > 0 && len(hits) > q.Limit {
			hits = hits[:q.Limit]
		}
		for _, h := range hits {
			res.Hits = append(res.Hits, h.ref)
		}
	}
	return res, nil
}
