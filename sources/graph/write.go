package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/easgate/easgate/sources"
)

func zoneOf(name string) *time.Location {
	loc, _ := sources.WindowsZone(name)
	return loc
}

// Put implements sources.Writer. New mail becomes a draft in folder f
// (Graph creates every posted message as a draft); replacing works on
// drafts only, as Graph allows. Contacts, events and tasks are written
// by pimPut.
func (s *Source) Put(ctx context.Context, fid sources.FolderID, it *sources.Item, ifMatch string) (sources.ItemID, string, error) {
	f, err := s.feed(ctx, fid)
	if err != nil {
		return "", "", err
	}
	if f.kind != contentMail {
		return s.pimPut(ctx, f, it, ifMatch)
	}
	if it.Mail == nil {
		return "", "", fmt.Errorf("graph: put into mail folder %s: not a message: %w", fid, sources.ErrUnsupported)
	}
	m := it.Mail
	msg := map[string]any{"subject": m.Subject, "toRecipients": toRecipients(m.To), "ccRecipients": toRecipients(m.Cc),
		"bccRecipients": toRecipients(m.Bcc)}
	switch {
	case m.HTML != nil:
		msg["body"] = map[string]any{"contentType": "html", "content": m.HTML.Data}
	case m.Text != nil:
		msg["body"] = map[string]any{"contentType": "text", "content": m.Text.Data}
	}
	var out graphMessage
	if it.ID == "" {
		msg["isRead"] = m.Read
		err = s.c.sendJSON(ctx, s.id, "POST", s.path+"/mailFolders/"+url.PathEscape(string(fid))+"/messages", msg, &out, "")
	} else {
		err = s.c.sendJSON(ctx, s.id, "PATCH", s.path+"/messages/"+url.PathEscape(string(it.ID)), msg, &out, etagOf(ifMatch))
	}
	if err != nil {
		return "", "", fmt.Errorf("graph: put into %s: %w", fid, err)
	}
	if f.lock(ctx) == nil {
		f.record(sources.ItemID(out.ID), out.ChangeKey)
		f.mu.Unlock()
	}
	return sources.ItemID(out.ID), out.ChangeKey, nil
}

// etagOf turns a changeKey, the ETag sources see, into the If-Match
// Graph compares against @odata.etag.
func etagOf(changeKey string) string {
	if changeKey == "" {
		return ""
	}
	return `W/"` + changeKey + `"`
}

// Delete implements sources.Writer. Deleting a message puts it where
// Graph's DELETE does (Recoverable Items, A13); the gateway moves to
// Deleted Items itself when the device asks for that.
func (s *Source) Delete(ctx context.Context, fid sources.FolderID, id sources.ItemID) error {
	f, err := s.feed(ctx, fid)
	if err != nil {
		return err
	}
	if err := s.c.sendJSON(ctx, s.id, "DELETE", s.itemPath(f, id), nil, nil, ""); err != nil {
		return fmt.Errorf("graph: delete %s from %s: %w", id, fid, err)
	}
	return nil
}

// itemPath is an item's URL path.
func (s *Source) itemPath(f *feed, id sources.ItemID) string {
	esc := url.PathEscape(string(id))
	switch f.kind {
	case contentContacts:
		return s.path + "/contacts/" + esc
	case contentEvents:
		return s.path + "/events/" + esc
	case contentTasks:
		return s.path + "/todo/lists/" + url.PathEscape(graphID(f.folder)) + "/tasks/" + esc
	}
	return s.path + "/messages/" + esc
}

// Move implements sources.Mover for mail: with immutable ids a moved
// message keeps its id (§4.4, §4.6). Events and contacts have no move in
// Graph v1.0.
func (s *Source) Move(ctx context.Context, from, to sources.FolderID, ids []sources.ItemID) (map[sources.ItemID]sources.ItemID, error) {
	if graphID(from) != string(from) || graphID(to) != string(to) {
		return nil, fmt.Errorf("graph: moving items other than mail: %w", sources.ErrUnsupported)
	}
	out := make(map[sources.ItemID]sources.ItemID, len(ids))
	for _, id := range ids {
		var m graphMessage
		err := s.c.sendJSON(ctx, s.id, "POST", s.path+"/messages/"+url.PathEscape(string(id))+"/move",
			map[string]any{"destinationId": string(to)}, &m, "")
		if errors.Is(err, sources.ErrNotFound) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("graph: move %s to %s: %w", id, to, err)
		}
		out[id] = sources.ItemID(m.ID)
	}
	return out, nil
}

// UpdateFlags implements sources.Flagger with one PATCH (§4.5).
func (s *Source) UpdateFlags(ctx context.Context, fid sources.FolderID, id sources.ItemID, u sources.FlagUpdate) error {
	patch := make(map[string]any)
	if u.Read != nil {
		patch["isRead"] = *u.Read
	}
	switch {
	case u.SetFollowUp && u.FollowUp == nil:
		patch["flag"] = map[string]any{"flagStatus": "notFlagged"}
	case u.SetFollowUp:
		fl := map[string]any{"flagStatus": "flagged"}
		if !u.FollowUp.Completed.IsZero() {
			fl["flagStatus"] = "complete"
			fl["completedDateTime"] = toTZ(u.FollowUp.Completed)
		}
		// A due date needs a start date (§4.5).
		if !u.FollowUp.Due.IsZero() {
			start := u.FollowUp.Start
			if start.IsZero() {
				start = u.FollowUp.Due
			}
			fl["startDateTime"], fl["dueDateTime"] = toTZ(start), toTZ(u.FollowUp.Due)
		}
		patch["flag"] = fl
	case u.Flagged != nil && *u.Flagged:
		patch["flag"] = map[string]any{"flagStatus": "flagged"}
	case u.Flagged != nil:
		patch["flag"] = map[string]any{"flagStatus": "notFlagged"}
	}
	if u.SetCategories {
		patch["categories"] = append([]string{}, u.Categories...)
	}
	if len(patch) == 0 {
		return nil
	}
	if err := s.c.sendJSON(ctx, s.id, "PATCH", s.path+"/messages/"+url.PathEscape(string(id)), patch, nil, ""); err != nil {
		return fmt.Errorf("graph: flags of %s: %w", id, err)
	}
	return nil
}

// Search implements sources.Searcher with $search (§2.2: not on delta).
// Graph's $search does not count; Total is what was found up to the page
// asked for, plus one when a further page may exist.
func (s *Source) Search(ctx context.Context, q sources.SearchQuery) (sources.SearchResult, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	want := min(q.Offset+limit, 1000)
	paths := []string{s.path + "/messages"}
	if len(q.Folders) > 0 {
		paths = paths[:0]
		for _, f := range q.Folders {
			paths = append(paths, s.path+"/mailFolders/"+url.PathEscape(string(f))+"/messages")
		}
	}
	type hit struct {
		ref      sources.ItemRef
		received time.Time
	}
	var hits []hit
	for _, p := range paths {
		query := url.Values{"$select": {"id,parentFolderId,receivedDateTime"}, "$top": {strconv.Itoa(want + 1)}}
		if q.Text != "" {
			query.Set("$search", `"`+strings.ReplaceAll(q.Text, `"`, "")+`"`)
		}
		var page struct {
			Value []struct {
				ID       string    `json:"id"`
				Parent   string    `json:"parentFolderId"`
				Received time.Time `json:"receivedDateTime"`
			} `json:"value"`
		}
		if err := s.c.getJSON(ctx, s.id, p, query, nil, &page); err != nil {
			return sources.SearchResult{}, fmt.Errorf("graph: search: %w", err)
		}
		for _, v := range page.Value {
			if !q.Since.IsZero() && v.Received.Before(q.Since) || !q.Before.IsZero() && !v.Received.Before(q.Before) {
				continue
			}
			hits = append(hits, hit{sources.ItemRef{Folder: sources.FolderID(v.Parent), ID: sources.ItemID(v.ID)}, v.Received})
		}
	}
	// Newest first across folders.
	for i := 1; i < len(hits); i++ {
		for j := i; j > 0 && hits[j].received.After(hits[j-1].received); j-- {
			hits[j], hits[j-1] = hits[j-1], hits[j]
		}
	}
	res := sources.SearchResult{Total: len(hits)}
	for i := q.Offset; i < len(hits) && len(res.Hits) < limit; i++ {
		res.Hits = append(res.Hits, hits[i].ref)
	}
	return res, nil
}

// OpenAttachment implements sources.Attachments with the attachment's
// $value (§4.2).
func (s *Source) OpenAttachment(ctx context.Context, ref sources.AttachmentRef) (sources.Attachment, io.ReadCloser, error) {
	base := s.path + "/messages/" + url.PathEscape(string(ref.Item)) + "/attachments/" + url.PathEscape(ref.ID)
	var a graphAttachment
	if err := s.c.getJSON(ctx, s.id, base, url.Values{"$select": {"id,name,contentType,size,isInline"}}, nil, &a); err != nil {
		return sources.Attachment{}, nil, fmt.Errorf("graph: attachment %s of %s: %w", ref.ID, ref.Item, err)
	}
	resp, err := s.c.do(ctx, s.id, request{method: "GET", path: base + "/$value", idempotent: true})
	if err != nil {
		return sources.Attachment{}, nil, fmt.Errorf("graph: attachment %s of %s: %w", ref.ID, ref.Item, err)
	}
	return sources.Attachment{ID: a.ID, Name: a.Name, ContentType: a.ContentType, Size: a.Size,
		ContentID: strings.Trim(a.ContentID, "<>"), Inline: a.IsInline}, resp.Body, nil
}

type automaticReplies struct {
	Status                 string      `json:"status"` // disabled, alwaysEnabled, scheduled
	ExternalAudience       string      `json:"externalAudience"`
	InternalReplyMessage   string      `json:"internalReplyMessage"`
	ExternalReplyMessage   string      `json:"externalReplyMessage"`
	ScheduledStartDateTime *dateTimeTZ `json:"scheduledStartDateTime,omitempty"`
	ScheduledEndDateTime   *dateTimeTZ `json:"scheduledEndDateTime,omitempty"`
}

// Oof reads the automatic replies from mailboxSettings.
func (s *Source) Oof(ctx context.Context) (sources.Oof, error) {
	var ms struct {
		AutomaticRepliesSetting automaticReplies `json:"automaticRepliesSetting"`
	}
	if err := s.c.getJSON(ctx, s.id, s.path+"/mailboxSettings", nil, nil, &ms); err != nil {
		return sources.Oof{}, fmt.Errorf("graph: automatic replies: %w", err)
	}
	a := ms.AutomaticRepliesSetting
	o := sources.Oof{Start: tzTime(a.ScheduledStartDateTime), End: tzTime(a.ScheduledEndDateTime)}
	switch a.Status {
	case "alwaysEnabled":
		o.State = sources.OofOn
	case "scheduled":
		o.State = sources.OofScheduled
	}
	html := strings.Contains(a.InternalReplyMessage, "<")
	o.Internal = sources.OofReply{Enabled: o.State != sources.OofOff, Text: a.InternalReplyMessage, HTML: html}
	ext := sources.OofReply{Enabled: o.State != sources.OofOff && a.ExternalAudience != "none", Text: a.ExternalReplyMessage,
		HTML: strings.Contains(a.ExternalReplyMessage, "<")}
	o.ExternalKnown = ext
	o.ExternalUnknown = ext
	if a.ExternalAudience == "contactsOnly" {
		o.ExternalUnknown.Enabled = false
	}
	return o, nil
}

// SetOof writes the automatic replies. Graph has one external reply for
// known and unknown senders; the known senders' one wins.
func (s *Source) SetOof(ctx context.Context, o sources.Oof) error {
	a := automaticReplies{Status: "disabled", ExternalAudience: "none",
		InternalReplyMessage: o.Internal.Text, ExternalReplyMessage: o.ExternalKnown.Text}
	switch o.State {
	case sources.OofOn:
		a.Status = "alwaysEnabled"
	case sources.OofScheduled:
		a.Status = "scheduled"
		a.ScheduledStartDateTime, a.ScheduledEndDateTime = toTZ(o.Start), toTZ(o.End)
	}
	switch {
	case o.ExternalUnknown.Enabled:
		a.ExternalAudience = "all"
		if a.ExternalReplyMessage == "" {
			a.ExternalReplyMessage = o.ExternalUnknown.Text
		}
	case o.ExternalKnown.Enabled:
		a.ExternalAudience = "contactsOnly"
	}
	if err := s.c.sendJSON(ctx, s.id, "PATCH", s.path+"/mailboxSettings", map[string]any{"automaticRepliesSetting": a}, nil, ""); err != nil {
		return fmt.Errorf("graph: automatic replies: %w", err)
	}
	return nil
}

// marshal is json.Marshal for bodies built here, which cannot fail.
func marshal(v any) []byte {
	var b bytes.Buffer
	json.NewEncoder(&b).Encode(v)
	return b.Bytes()
}
