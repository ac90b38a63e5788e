package gateway

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

// defaultMaxAmbiguous bounds the suggestions for one ambiguous To when
// the request sets no MaxAmbiguousRecipients: a GAL search page.
const defaultMaxAmbiguous = 100

// Availability windows, MS-ASCMD 2.2.3.16: without EndTime the window is a
// week; shorter than one 30-minute slot or longer than 42 days (Exchange
// 2010's bound) is a protocol error.
const (
	freeBusySlot      = 30 * time.Minute
	defaultFreeBusy   = 7 * 24 * time.Hour
	maxFreeBusyWindow = 42 * 24 * time.Hour
)

// MergedFreeBusy digits, MS-ASCMD 2.2.3.107.
const (
	fbFree      = '0'
	fbTentative = '1'
	fbBusy      = '2'
	fbOOF       = '3'
	fbNoData    = '4'
)

// handleResolveRecipients answers ResolveRecipients, MS-ASCMD 2.2.1.15:
// each To is looked up in the directory (gal.go). An address matches only
// an entry holding it; a name matches as in a GAL search, and only the
// best-matching entries are kept, so that "Alice" resolves to the one
// Alice even when "Alicia" exists. The user always resolves, directory or
// not, because free/busy can be given for the user alone.
func (s *Server) handleResolveRecipients(ctx context.Context, sess *Session, req *eas.ResolveRecipientsRequest) (*eas.ResolveRecipientsResponse, error) {
	o := req.Options
	if o == nil {
		o = &eas.ResolveRecipientsOptions{}
	}
	var start, end time.Time
	if a := o.Availability; a != nil {
		start, _ = time.Parse(time.RFC3339Nano, a.StartTime) // validated
		end = start.Add(defaultFreeBusy)
		if a.EndTime != "" {
			end, _ = time.Parse(time.RFC3339Nano, a.EndTime)
		}
		if d := end.Sub(start); d < freeBusySlot || d > maxFreeBusyWindow {
			return &eas.ResolveRecipientsResponse{Status: eas.ResolveRecipientsProtocolError}, nil
		}
	}
	entries, kind, err := s.dir.lookup(ctx, sess)
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "ResolveRecipients: directory", slog.String("user", sess.User),
			slog.String("device_id", sess.Request.DeviceID), slog.Any("err", err))
		return &eas.ResolveRecipientsResponse{Status: eas.ResolveRecipientsServerError}, nil
	}
	maxAmbiguous := defaultMaxAmbiguous
	if o.MaxAmbiguousRecipients != nil {
		maxAmbiguous = *o.MaxAmbiguousRecipients
	}
	self := strings.ToLower(s.primaryAddress(sess.User))
	var freeBusy string // the user's, computed once
	resp := &eas.ResolveRecipientsResponse{Status: eas.ResolveRecipientsSuccess}
	for _, to := range req.To {
		found := resolve(entries, kind, to, self, sess.User)
		res := eas.ResolveRecipientsResult{To: to, RecipientCount: ptr(len(found))}
		switch {
		case len(found) == 0:
			res.Status = eas.ResolveRecipientsUnresolved
		case len(found) == 1:
			res.Status = eas.ResolveRecipientsSuccess
		case len(found) > maxAmbiguous:
			res.Status = eas.ResolveRecipientsAmbiguousPartial
			found = found[:maxAmbiguous]
		default:
			res.Status = eas.ResolveRecipientsAmbiguous
		}
		var pics *pictures
		if p := o.Picture; p != nil {
			pics = &pictures{}
			if p.MaxSize != nil {
				pics.maxSize = *p.MaxSize
			}
			if p.MaxPictures != nil {
				pics.maxPictures = *p.MaxPictures
			}
		}
		for _, r := range found {
			rc := eas.ResolveRecipientsRecipient{Type: r.kind, DisplayName: r.name, EmailAddress: r.email}
			if o.Availability != nil && res.Status == eas.ResolveRecipientsSuccess {
				// Free/busy of others would need their calendars: the
				// directory holds contacts only.
				rc.Availability = &eas.ResolveRecipientsAvailability{Status: eas.StatusAvailabilityFailure}
				if strings.EqualFold(r.email, self) {
					if freeBusy == "" {
						fb, err := mergedFreeBusy(ctx, sess.Source, start, end)
						if err != nil {
							s.log.LogAttrs(ctx, slog.LevelWarn, "ResolveRecipients: free/busy", slog.String("user", sess.User), slog.Any("err", err))
						}
						freeBusy = fb
					}
					if freeBusy != "" {
						rc.Availability = &eas.ResolveRecipientsAvailability{Status: 1, MergedFreeBusy: freeBusy}
					}
				}
			}
			if c := o.CertificateRetrieval; c != nil && *c != eas.CertificateRetrievalNone {
				rc.Certificates = recipientCerts(r.entry)
			}
			if pics != nil {
				st, data := pics.take(r.entry)
				rc.Picture = &eas.ResolveRecipientsPicture{Status: st}
				if data != nil {
					rc.Picture.Data = base64.StdEncoding.EncodeToString(data)
				}
			}
			res.Recipient = append(res.Recipient, rc)
		}
		resp.Response = append(resp.Response, res)
	}
	return resp, nil
}

// recipientCerts gives a directory entry's S/MIME certificates (vCard
// KEY), MS-ASCMD 2.2.3.24: status 7 when it has none. A request for mini
// certificates gets the full ones, as no store keeps Exchange's mini form.
func recipientCerts(e *galEntry) *eas.ResolveRecipientsCertificates {
	if e == nil || len(e.certs) == 0 {
		return &eas.ResolveRecipientsCertificates{Status: eas.ResolveRecipientsNoValidCertificate, CertificateCount: ptr(0)}
	}
	c := &eas.ResolveRecipientsCertificates{Status: eas.ResolveRecipientsSuccess, CertificateCount: ptr(len(e.certs))}
	for _, der := range e.certs {
		c.Certificate = append(c.Certificate, base64.StdEncoding.EncodeToString(der))
	}
	return c
}

// recipient is one resolution of a To.
type recipient struct {
	kind        eas.RecipientType
	name, email string
	entry       *galEntry
}

// resolve returns the directory entries that to names. self is the user's
// address, user the login name.
func resolve(entries []*galEntry, kind eas.RecipientType, to, self, user string) []recipient {
	q := strings.TrimSpace(to)
	addr := ""
	if a, err := mail.ParseAddress(q); err == nil {
		addr = strings.ToLower(a.Address)
	}
	var out []recipient
	best := matchNone
	for _, m := range match(entries, cmp.Or(addr, q)) {
		if m.props.EmailAddress == "" || m.level < best || addr != "" && !m.hasEmail(addr) {
			continue
		}
		best = m.level
		email := m.props.EmailAddress
		if addr != "" {
			email = addr // the address asked for, when the entry has several
		}
		out = append(out, recipient{kind: kind, name: m.props.DisplayName, email: email, entry: m.galEntry})
	}
	if len(out) == 0 && addr == self {
		out = append(out, recipient{kind: eas.RecipientGAL, name: user, email: self, entry: &galEntry{}})
	}
	return out
}

// hasEmail reports whether e holds the lower-case address a.
func (e *galEntry) hasEmail(a string) bool {
	for _, x := range e.emails {
		if x == a {
			return true
		}
	}
	return false
}

// mergedFreeBusy renders the user's default calendar between start and
// end, MS-ASCMD 2.2.3.107: a digit per 30 minutes, the highest digit of
// the events touching a slot winning. A recurring series is not expanded:
// the slots from its first start to its end that no single event fills are
// "no data" rather than a free that may be false.
func mergedFreeBusy(ctx context.Context, src sources.Source, start, end time.Time) (string, error) {
	fd, err := src.Folders(ctx, "")
	if err != nil {
		return "", err
	}
	var cal sources.FolderID
	for _, f := range fd.Changed {
		if f.Kind == sources.KindCalendar {
			cal = f.ID
		}
	}
	if cal == "" {
		return "", fmt.Errorf("gateway: no calendar folder")
	}
	n := int((end.Sub(start) + freeBusySlot - 1) / freeBusySlot)
	slots := []byte(strings.Repeat(string(rune(fbFree)), n))
	var series [][2]time.Time
	mark := func(from, to time.Time, digit byte) {
		if !to.After(start) || !from.Before(end) {
			return
		}
		i := max(0, int(from.Sub(start)/freeBusySlot))
		j := min(n, int((to.Sub(start)+freeBusySlot-1)/freeBusySlot))
		for ; i < j; i++ {
			slots[i] = max(slots[i], digit)
		}
	}
	for st := sources.State(""); ; {
		d, err := src.Changes(ctx, cal, st, directoryPage)
		if err != nil {
			return "", err
		}
		items, err := src.Get(ctx, cal, d.Changed, nil)
		if err != nil {
			return "", err
		}
		for _, it := range items {
			ev := it.Event
			if ev == nil || ev.MeetingStatus == sources.MeetingCanceled || ev.MeetingStatus == sources.MeetingCanceledReceived {
				continue
			}
			if ev.Recurrence != nil {
				stop := ev.Recurrence.Until
				if stop.IsZero() || ev.Recurrence.Count > 0 {
					stop = end
				}
				series = append(series, [2]time.Time{ev.Start, stop.Add(ev.End.Sub(ev.Start))})
			}
			mark(ev.Start, ev.End, busyDigit(ev.BusyStatus))
		}
		if st = d.Next; !d.More {
			break
		}
	}
	for _, sp := range series {
		from := sp[0]
		if from.Before(start) {
			from = start
		}
		for i := int(from.Sub(start) / freeBusySlot); i < n && time.Duration(i)*freeBusySlot < sp[1].Sub(start); i++ {
			if slots[i] == fbFree {
				slots[i] = fbNoData
			}
		}
	}
	return string(slots), nil
}

// busyDigit is the MergedFreeBusy digit of a busy status. Working
// elsewhere has no digit of its own; it does not keep others from
// booking the time, so it shows as free.
func busyDigit(b sources.BusyStatus) byte {
	switch b {
	case sources.Tentative:
		return fbTentative
	case sources.OutOfOffice:
		return fbOOF
	case sources.Free, sources.WorkingElsewhere:
		return fbFree
	}
	return fbBusy
}
