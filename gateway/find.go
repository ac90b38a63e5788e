package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/statecache"
)

// findPreview is the length of Find:Preview, MS-ASCMD 2.2.3.139.1.
const findPreview = 255

// handleFind answers Find (16.1), MS-ASCMD 2.2.1.2: the mailbox through
// the same search as Search's (search.go), the GAL through the directory
// (gal.go). The top-level Status says the request was understood; the
// outcome of the search travels in the Response's.
func (s *Server) handleFind(ctx context.Context, sess *Session, req *eas.FindRequest) (*eas.FindResponse, error) {
	// MS-ASCMD 2.2.3.178.1: the Store of a Find response is always
	// "Mailbox".
	body := &eas.FindResponseBody{Store: eas.SearchStoreMailbox}
	var err error
	if c := req.ExecuteSearch.GALSearchCriterion; c != nil {
		err = s.findGAL(ctx, sess, c, body)
	} else {
		err = s.findMailbox(ctx, sess, req.ExecuteSearch.MailboxSearchCriterion, body)
	}
	if err != nil {
		*body = eas.FindResponseBody{Store: body.Store, Status: eas.FindStatus(s.statusOf(ctx, sess, eas.ScopeCollection, err))}
	}
	return &eas.FindResponse{Status: eas.FindStatusSuccess, Response: body}, nil
}

// findGAL fills body with one page of the directory entries matching c.
func (s *Server) findGAL(ctx context.Context, sess *Session, c *eas.FindCriterion, body *eas.FindResponseBody) error {
	entries, _, err := s.dir.lookup(ctx, sess)
	if err != nil {
		return err
	}
	found := match(entries, c.Query.FreeText)
	rng := ""
	var pics *pictures
	if o := c.Options; o != nil {
		rng = o.Range
		if o.Picture != nil {
			pics = &pictures{maxSize: int(o.Picture.MaxSize), maxPictures: int(o.Picture.MaxPictures)}
		}
	}
	page, from := galRange(rng, found)
	body.Status, body.Total = eas.FindStatusSuccess, ptr(len(found))
	for _, m := range page {
		g := m.props
		p := eas.FindProperties{
			DisplayName: g.DisplayName, Phone: g.Phone, Office: g.Office, Title: g.Title,
			Company: g.Company, Alias: g.Alias, FirstName: g.FirstName, LastName: g.LastName,
			HomePhone: g.HomePhone, MobilePhone: g.MobilePhone, EmailAddress: g.EmailAddress,
		}
		if pics != nil {
			p.Picture = pics.galPicture(m.galEntry)
		}
		body.Result = append(body.Result, eas.FindResult{Properties: p})
	}
	if len(page) > 0 {
		body.Range = fmt.Sprintf("%d-%d", from, from+len(page)-1)
	}
	return nil
}

// findMailbox fills body with one page of the messages matching c, as
// previews.
func (s *Server) findMailbox(ctx context.Context, sess *Session, c *eas.FindCriterion, body *eas.FindResponseBody) error {
	q := &eas.SearchQuery{FreeText: c.Query.FreeText}
	if c.Query.Class != "" {
		q.Class = []string{c.Query.Class}
	}
	if c.Query.CollectionID != "" {
		q.CollectionID = []string{c.Query.CollectionID}
	}
	var m mailboxQuery
	if err := m.add(q); err != nil {
		return err
	}
	body.Status, body.Total = eas.FindStatusSuccess, ptr(0)
	if len(m.classes) > 0 && !containsFold(m.classes, classEmail) {
		return nil // only mail is searched
	}
	rng, deep := "", false
	if o := c.Options; o != nil {
		rng, deep = o.Range, o.DeepTraversal
	}
	from, to := searchRange(rng)
	hits, total, err := s.mailboxHits(ctx, sess, &m, deep, from, to)
	if err != nil {
		return err
	}
	body.Total = ptr(total)
	results, err := s.findResults(ctx, sess, hits)
	if err != nil {
		return err
	}
	body.Result = results
	if len(results) > 0 {
		body.Range = fmt.Sprintf("%d-%d", from, from+len(results)-1)
	}
	return nil
}

// findResults turns hits into previews with their CollectionId and
// ServerId. A hit in a folder the device never synced has no ServerId
// yet, and is sent without one.
func (s *Server) findResults(ctx context.Context, sess *Session, hits []sources.ItemRef) ([]eas.FindResult, error) {
	if len(hits) == 0 {
		return nil, nil
	}
	if s.state == nil {
		return nil, errors.New("gateway: no state store")
	}
	var folders []sources.FolderID
	byFolder := map[sources.FolderID][]sources.ItemID{}
	for _, h := range hits {
		if _, ok := byFolder[h.Folder]; !ok {
			folders = append(folders, h.Folder)
		}
		byFolder[h.Folder] = append(byFolder[h.Folder], h.ID)
	}
	names := make([]string, len(folders))
	for i, f := range folders {
		names[i] = string(f)
	}
	cids, err := s.state.CollectionIDs(ctx, sess.Account, names)
	if err != nil {
		return nil, fmt.Errorf("gateway: collections of the hits: %w", err)
	}
	items := map[sources.ItemRef]*sources.Item{}
	collection := map[sources.FolderID]string{}
	serverIDs := map[sources.ItemRef]string{}
	for i, f := range folders {
		collection[f] = cids[i]
		got, err := sess.Source.Get(ctx, f, byFolder[f], &sources.GetOptions{Text: true, HTML: true, BodyLimit: 4 * findPreview})
		if err != nil {
			return nil, err
		}
		ids := make([]string, len(got))
		for j := range got {
			items[sources.ItemRef{Folder: f, ID: got[j].ID}] = &got[j]
			ids[j] = string(got[j].ID)
		}
		sids, err := s.state.ServerIDs(ctx, statecache.CollectionKey{Account: sess.Account, Collection: cids[i]}, ids)
		if errors.Is(err, statecache.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for j, id := range ids {
			serverIDs[sources.ItemRef{Folder: f, ID: sources.ItemID(id)}] = sids[j]
		}
	}
	var out []eas.FindResult
	for _, h := range hits {
		it := items[h]
		if it == nil || it.Mail == nil {
			continue
		}
		out = append(out, eas.FindResult{
			Class:        classEmail,
			ServerID:     serverIDs[h],
			CollectionID: collection[h.Folder],
			Properties:   findPreviewOf(it),
		})
	}
	return out, nil
}

// findPreviewOf is the preview of a message, MS-ASCMD 2.2.3.139.1.
func findPreviewOf(it *sources.Item) eas.FindProperties {
	m := it.Mail
	received := m.Received
	if received.IsZero() {
		received = m.Date
	}
	text := ""
	switch {
	case m.Text != nil:
		text = m.Text.Data
	case m.HTML != nil:
		text = htmlToText(m.HTML.Data)
	}
	attached := false
	for _, a := range m.Attachments {
		attached = attached || !a.Inline
	}
	p := eas.FindProperties{
		Subject:        m.Subject,
		DisplayTo:      displayNames(m.To),
		DisplayCc:      displayNames(m.Cc),
		DisplayBcc:     displayNames(m.Bcc),
		Importance:     ptr(int(easImportance(m.Importance))),
		Read:           ptr(m.Read),
		Preview:        preview(text, findPreview),
		HasAttachments: ptr(attached),
		From:           formatAddresses(m.From),
	}
	if !received.IsZero() {
		p.DateReceived = eas.NewDateTime(received, eas.DateTimeExtended).String()
	}
	return p
}
