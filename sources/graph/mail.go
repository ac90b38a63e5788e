package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/easgate/easgate/sources"
)

// messageFields are the properties Get asks for, besides the body.
const messageFields = "id,changeKey,subject,from,sender,toRecipients,ccRecipients,bccRecipients,replyTo," +
	"sentDateTime,receivedDateTime,internetMessageId,conversationId,isRead,isDraft,flag,categories,importance," +
	"hasAttachments,lastModifiedDateTime,parentFolderId"

type emailAddress struct {
	EmailAddress struct {
		Name    string `json:"name"`
		Address string `json:"address"`
	} `json:"emailAddress"`
}

type dateTimeTZ struct {
	DateTime string `json:"dateTime"`
	TimeZone string `json:"timeZone"`
}

type graphMessage struct {
	ID                string         `json:"id"`
	ChangeKey         string         `json:"changeKey"`
	Subject           string         `json:"subject"`
	From              *emailAddress  `json:"from"`
	To                []emailAddress `json:"toRecipients"`
	Cc                []emailAddress `json:"ccRecipients"`
	Bcc               []emailAddress `json:"bccRecipients"`
	ReplyTo           []emailAddress `json:"replyTo"`
	SentDateTime      time.Time      `json:"sentDateTime"`
	ReceivedDateTime  time.Time      `json:"receivedDateTime"`
	LastModified      time.Time      `json:"lastModifiedDateTime"`
	InternetMessageID string         `json:"internetMessageId"`
	ConversationID    string         `json:"conversationId"`
	IsRead            bool           `json:"isRead"`
	Flag              struct {
		FlagStatus        string      `json:"flagStatus"`
		StartDateTime     *dateTimeTZ `json:"startDateTime"`
		DueDateTime       *dateTimeTZ `json:"dueDateTime"`
		CompletedDateTime *dateTimeTZ `json:"completedDateTime"`
	} `json:"flag"`
	Categories     []string `json:"categories"`
	Importance     string   `json:"importance"`
	HasAttachments bool     `json:"hasAttachments"`
	Body           *struct {
		ContentType string `json:"contentType"`
		Content     string `json:"content"`
	} `json:"body"`
	Attachments []graphAttachment `json:"attachments"`

	// An eventMessage's type and, expanded, the user's event it is about
	// ([D] resources/eventmessage, api/eventmessage-get).
	ODataType          string      `json:"@odata.type"`
	MeetingMessageType string      `json:"meetingMessageType"`
	Event              *graphEvent `json:"event"`
}

type graphAttachment struct {
	Type        string `json:"@odata.type"`
	ID          string `json:"id"`
	Name        string `json:"name"`
	ContentType string `json:"contentType"`
	Size        int64  `json:"size"`
	IsInline    bool   `json:"isInline"`
	ContentID   string `json:"contentId"`
}

// Get implements sources.Source: the items come through $batch, 20 per
// request (§5.3). A message's MIME is opened on demand from $value.
func (s *Source) Get(ctx context.Context, fid sources.FolderID, ids []sources.ItemID, o *sources.GetOptions) ([]sources.Item, error) {
	if o == nil {
		o = &sources.GetOptions{}
	}
	f, err := s.feed(ctx, fid)
	if err != nil {
		return nil, err
	}
	items := make([]*batchItem, len(ids))
	for i, id := range ids {
		items[i] = s.getRequest(f, id, o)
	}
	if err := s.c.batchGET(ctx, s.id, items); err != nil {
		return nil, fmt.Errorf("graph: get from %s: %w", fid, err)
	}
	out := make([]sources.Item, 0, len(ids))
	for i, it := range items {
		if it.err != nil {
			if it.status == 404 {
				continue // gone since Changes
			}
			return nil, fmt.Errorf("graph: get from %s: %w", fid, it.err)
		}
		item, ok, err := s.convert(ctx, f, ids[i], it.body, o)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, item)
		}
	}
	return out, nil
}

// getRequest is the GET of one item of feed f.
func (s *Source) getRequest(f *feed, id sources.ItemID, o *sources.GetOptions) *batchItem {
	switch f.kind {
	case contentDirectory:
		return &batchItem{path: "/users/" + url.PathEscape(string(id)), query: url.Values{"$select": {userFields}}}
	case contentMail:
	default:
		return &batchItem{path: s.itemPath(f, id)}
	}
	esc := url.PathEscape(string(id))
	sel := messageFields
	var prefer []string
	if o.Text || o.HTML {
		sel += ",body"
		if !o.HTML {
			prefer = append(prefer, `outlook.body-content-type="text"`)
		}
	}
	return &batchItem{path: s.path + "/messages/" + esc,
		query: url.Values{"$select": {sel}, "$expand": {"attachments($select=id,name,contentType,size,isInline)," +
			"microsoft.graph.eventMessage/event"}},
		prefer: prefer}
}

// convert turns an item's JSON into a sources.Item; ok is false for an
// item no longer in folder f.
func (s *Source) convert(ctx context.Context, f *feed, id sources.ItemID, body json.RawMessage, o *sources.GetOptions) (sources.Item, bool, error) {
	switch f.kind {
	case contentMail:
		var g graphMessage
		if err := json.Unmarshal(body, &g); err != nil {
			return sources.Item{}, false, fmt.Errorf("graph: message %s: %w", id, err)
		}
		return s.mailItem(f.folder, id, &g, o), true, nil
	}
	return s.pimItem(ctx, f, id, body)
}

func (s *Source) mailItem(fid sources.FolderID, id sources.ItemID, g *graphMessage, o *sources.GetOptions) sources.Item {
	m := &sources.Message{
		From: addrs(g.From), To: addrList(g.To), Cc: addrList(g.Cc), Bcc: addrList(g.Bcc), ReplyTo: addrList(g.ReplyTo),
		Subject: g.Subject, Date: g.SentDateTime, Received: g.ReceivedDateTime,
		MessageID: strings.Trim(g.InternetMessageID, "<>"), ThreadID: g.ConversationID,
		Read: g.IsRead, Flagged: g.Flag.FlagStatus == "flagged", Categories: g.Categories,
	}
	switch g.Importance {
	case "high":
		m.Importance = sources.ImportanceHigh
	case "low":
		m.Importance = sources.ImportanceLow
	}
	if g.Flag.FlagStatus == "flagged" || g.Flag.FlagStatus == "complete" {
		m.FollowUp = &sources.FollowUp{Request: "Follow up", Start: tzTime(g.Flag.StartDateTime),
			Due: tzTime(g.Flag.DueDateTime), Completed: tzTime(g.Flag.CompletedDateTime)}
	}
	if g.Body != nil {
		b := body(g.Body.Content, o.BodyLimit)
		if strings.EqualFold(g.Body.ContentType, "html") {
			if o.HTML {
				m.HTML = b
			}
		} else if o.Text {
			m.Text = b
		}
		m.Size = int64(len(g.Body.Content))
	}
	for _, a := range g.Attachments {
		m.Attachments = append(m.Attachments, sources.Attachment{ID: a.ID, Name: a.Name, ContentType: a.ContentType,
			Size: a.Size, ContentID: strings.Trim(a.ContentID, "<>"), Inline: a.IsInline})
	}
	m.Meeting = s.meeting(g)
	if o.MIME {
		path := s.path + "/messages/" + url.PathEscape(string(id)) + "/$value"
		m.MIME = func(ctx context.Context) (io.ReadCloser, error) {
			resp, err := s.c.do(ctx, s.id, request{method: "GET", path: path, idempotent: true})
			if err != nil {
				return nil, err
			}
			return resp.Body, nil
		}
	}
	return sources.Item{ID: id, Folder: fid, ETag: g.ChangeKey, Modified: g.LastModified, Mail: m}
}

func body(s string, limit int64) *sources.Body {
	b := &sources.Body{Data: s, Size: int64(len(s))}
	if limit > 0 && int64(len(s)) > limit {
		cut := int(limit)
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		b.Data, b.Truncated = s[:cut], true
	}
	return b
}

func addrs(a *emailAddress) []sources.Address {
	if a == nil {
		return nil
	}
	return addrList([]emailAddress{*a})
}

func addrList(list []emailAddress) []sources.Address {
	var out []sources.Address
	for _, a := range list {
		out = append(out, sources.Address{Name: a.EmailAddress.Name, Email: a.EmailAddress.Address})
	}
	return out
}

func toRecipients(list []sources.Address) []emailAddress {
	out := []emailAddress{}
	for _, a := range list {
		var e emailAddress
		e.EmailAddress.Name, e.EmailAddress.Address = a.Name, a.Email
		out = append(out, e)
	}
	return out
}

// tzTime reads a dateTimeTimeZone (§6.1): without a Prefer time zone
// Graph answers in UTC; a named zone is looked up, falling back to UTC.
func tzTime(d *dateTimeTZ) time.Time {
	if d == nil || d.DateTime == "" {
		return time.Time{}
	}
	loc := zoneOf(d.TimeZone)
	for _, layout := range []string{"2006-01-02T15:04:05.9999999", time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, d.DateTime, loc); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

func toTZ(t time.Time) *dateTimeTZ {
	if t.IsZero() {
		return nil
	}
	return &dateTimeTZ{DateTime: t.UTC().Format("2006-01-02T15:04:05.0000000"), TimeZone: "UTC"}
}
