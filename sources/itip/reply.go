package itip

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-ical"

	"github.com/easgate/easgate/sources"
)

// Reply is an attendee's answer to a meeting, to mail to its organizer.
type Reply struct {
	Meeting *sources.MeetingRequest // the invitation answered: UID, organizer, times, SEQUENCE, occurrence
	From    sources.Address         // the attendee answering
	Status  sources.AttendeeStatus  // StatusAccepted, StatusTentative or StatusDeclined
	Comment string                  // the attendee's text, if any

	// ProposedStart and ProposedEnd, when set, propose a new time: the
	// answer is then a COUNTER (RFC 5546 3.2.7) rather than a REPLY.
	ProposedStart, ProposedEnd time.Time
}

// Message renders r as an iMIP message (RFC 6047 2.4): a text/plain part
// with the comment and a text/calendar alternative whose METHOD is REPLY
// (or COUNTER) and whose one ATTENDEE is the answering user, as Outlook
// and Gmail send them. now stamps DTSTAMP and Date.
func (r *Reply) Message(now time.Time) ([]byte, error) {
	ev := &r.Meeting.Event
	if ev.Organizer.Email == "" {
		return nil, fmt.Errorf("itip: meeting %q has no organizer to answer", ev.UID)
	}
	method := "REPLY"
	counter := !r.ProposedStart.IsZero() && !r.ProposedEnd.IsZero()
	if counter {
		method = "COUNTER"
	}
	cal := ical.NewCalendar()
	cal.Props.SetText(ical.PropProductID, "-//easgate//iTIP//EN")
	cal.Props.SetText(ical.PropVersion, "2.0")
	cal.Props.SetText(ical.PropMethod, method)
	vev := ical.NewComponent(ical.CompEvent)
	p := vev.Props
	p.SetText(ical.PropUID, ev.UID)
	p.SetDateTime(ical.PropDateTimeStamp, now.UTC())
	seq := ical.NewProp(ical.PropSequence)
	seq.Value = strconv.Itoa(r.Meeting.Sequence)
	p.Set(seq)
	if !r.Meeting.RecurrenceID.IsZero() {
		p.SetDateTime(ical.PropRecurrenceID, r.Meeting.RecurrenceID.UTC())
	}
	start, end := ev.Start, ev.End
	if counter {
		start, end = r.ProposedStart, r.ProposedEnd
	}
	if ev.AllDay && !counter {
		p.SetDate(ical.PropDateTimeStart, start)
		p.SetDate(ical.PropDateTimeEnd, end)
	} else {
		p.SetDateTime(ical.PropDateTimeStart, start.UTC())
		p.SetDateTime(ical.PropDateTimeEnd, end.UTC())
	}
	if ev.Summary != "" {
		p.SetText(ical.PropSummary, ev.Summary)
	}
	if ev.Location != "" {
		p.SetText(ical.PropLocation, ev.Location)
	}
	org := ical.NewProp(ical.PropOrganizer)
	org.Value = "mailto:" + ev.Organizer.Email
	if ev.Organizer.Name != "" {
		org.Params.Set(ical.ParamCommonName, ev.Organizer.Name)
	}
	p.Set(org)
	att := ical.NewProp(ical.PropAttendee)
	att.Value = "mailto:" + r.From.Email
	if r.From.Name != "" {
		att.Params.Set(ical.ParamCommonName, r.From.Name)
	}
	att.Params.Set(ical.ParamParticipationStatus, [...]string{"NEEDS-ACTION", "ACCEPTED", "DECLINED", "TENTATIVE", "DELEGATED"}[r.Status])
	p.Set(att)
	if r.Comment != "" {
		p.SetText(ical.PropComment, r.Comment)
	}
	cal.Children = append(cal.Children, vev)
	var ics bytes.Buffer
	if err := ical.NewEncoder(&ics).Encode(cal); err != nil {
		return nil, fmt.Errorf("itip: %w", err)
	}

	verb := map[sources.AttendeeStatus]string{sources.StatusAccepted: "Accepted", sources.StatusTentative: "Tentative",
		sources.StatusDeclined: "Declined"}[r.Status]
	subject := verb + ": " + ev.Summary
	if counter {
		subject = "New Time Proposed: " + ev.Summary
	}
	text := r.Comment
	if text == "" {
		who := r.From.Name
		if who == "" {
			who = r.From.Email
		}
		text = fmt.Sprintf("%s has %s the invitation.", who, map[string]string{"Accepted": "accepted", "Tentative": "tentatively accepted", "Declined": "declined"}[verb])
	}
	var id [12]byte
	rand.Read(id[:])
	boundary := "itip-" + hex.EncodeToString(id[:6])
	domain := "easgate.invalid"
	if i := strings.LastIndexByte(r.From.Email, '@'); i >= 0 {
		domain = r.From.Email[i+1:]
	}
	var b bytes.Buffer
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	hdr("From", (&mail.Address{Name: r.From.Name, Address: r.From.Email}).String())
	hdr("To", (&mail.Address{Name: ev.Organizer.Name, Address: ev.Organizer.Email}).String())
	hdr("Subject", mime.QEncoding.Encode("utf-8", subject))
	hdr("Date", now.Format(time.RFC1123Z))
	hdr("Message-ID", "<"+hex.EncodeToString(id[:])+"@"+domain+">")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	b.WriteString("\r\n--" + boundary + "\r\n")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "base64")
	b.WriteString("\r\n" + wrap64(text+"\r\n"))
	b.WriteString("--" + boundary + "\r\n")
	hdr("Content-Type", "text/calendar; charset=utf-8; method="+method)
	hdr("Content-Transfer-Encoding", "base64")
	b.WriteString("\r\n" + wrap64(ics.String()))
	b.WriteString("--" + boundary + "--\r\n")
	return b.Bytes(), nil
}

// wrap64 is s in base64, in lines of 76 characters (RFC 2045 6.8).
func wrap64(s string) string {
	enc := base64.StdEncoding.EncodeToString([]byte(s))
	var b strings.Builder
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	return b.String() + enc + "\r\n"
}
