package gateway

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/statecache"
)

// quarantineNotice tells the user, by a message put in their Inbox, that
// a device of theirs is quarantined: once per device and quarantine
// (statecache.NoteQuarantine), on its first refused request. The phone
// cannot read it, but the user's other mail clients show it, as with
// Exchange. Failures are logged, not answered: the device is refused
// anyway, and the notice is not tried again for this quarantine.
func (s *Server) quarantineNotice(ctx context.Context, sess *Session, rule statecache.AccessRule) {
	if !s.qnotice || sess.Source == nil {
		return
	}
	w, ok := sess.Source.(sources.Writer)
	if !ok {
		return
	}
	now := s.now()
	first, err := s.state.NoteQuarantine(ctx, sess.Account, rule.CreatedAt, now)
	if err != nil || !first {
		if err != nil {
			s.log.WarnContext(ctx, "quarantine notice: recording it", "user", sess.User, "device_id", sess.Request.DeviceID, "err", err)
		}
		return
	}
	err = func() error {
		inbox, err := inboxOf(ctx, sess.Source)
		if err != nil {
			return err
		}
		_, _, err = w.Put(ctx, inbox, &sources.Item{Mail: s.quarantineMessage(sess, now)}, "")
		return err
	}()
	if err != nil {
		s.log.WarnContext(ctx, "quarantine notice: putting it in the Inbox", "user", sess.User, "device_id", sess.Request.DeviceID, "err", err)
		return
	}
	s.log.InfoContext(ctx, "quarantine notice sent", "user", sess.User, "device_id", sess.Request.DeviceID)
}

// inboxOf returns the id of the user's Inbox.
func inboxOf(ctx context.Context, src sources.Source) (sources.FolderID, error) {
	d, err := src.Folders(ctx, "")
	if err != nil {
		return "", fmt.Errorf("listing folders: %w", err)
	}
	for _, f := range d.Changed {
		if f.Kind == sources.KindInbox {
			return f.ID, nil
		}
	}
	return "", fmt.Errorf("no Inbox: %w", sources.ErrNotFound)
}

// quarantineMessage is the notice: what tried to connect, when, and what
// to do.
func (s *Server) quarantineMessage(sess *Session, now time.Time) *sources.Message {
	to := s.primaryAddress(sess.User)
	domain := "localhost"
	if i := strings.LastIndexByte(to, '@'); i >= 0 {
		domain = to[i+1:]
	}
	q := sess.Request
	text := fmt.Sprintf(`A device tried to synchronise with your mailbox and is waiting for an
administrator to allow it. Until then it receives no mail, contacts or
calendar.

  Device type:  %s
  Device id:    %s
  User agent:   %s
  First try:    %s

If this is your device, ask your administrator to allow it. If it is not,
tell your administrator and change your password.
`, q.DeviceType, q.DeviceID, q.UserAgent, now.UTC().Format("2006-01-02 15:04 MST"))
	return &sources.Message{
		From:      []sources.Address{{Name: "Mobile device access", Email: "postmaster@" + domain}},
		To:        []sources.Address{{Email: to}},
		Subject:   "Your device is waiting for approval",
		Date:      now,
		Received:  now,
		MessageID: rand.Text() + "@" + domain,
		Text:      &sources.Body{Data: text, Size: int64(len(text))},
	}
}
