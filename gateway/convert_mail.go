package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net/mail"
	"strings"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/itip"
)

// mailToEAS converts a message. MS-ASEMAIL 2.2.2.
func mailToEAS(ctx context.Context, it *sources.Item, v eas.ProtocolVersion, p bodyPrefs) (*eas.Email, error) {
	m := it.Mail
	if m.Meeting == nil {
		m.Meeting = meetingOf(ctx, p.src, it)
	}
	e := &eas.Email{
		To:           addressList(m.To),
		Cc:           addressList(m.Cc),
		From:         addressList(m.From),
		ReplyTo:      addressList(m.ReplyTo),
		Subject:      m.Subject,
		DisplayTo:    displayNames(m.To),
		ThreadTopic:  threadTopic(m.Subject),
		Importance:   ptr(easImportance(m.Importance)),
		Read:         ptr(m.Read),
		MessageClass: messageClass(m),
		InternetCPID: "65001", // UTF-8: the store hands us decoded text
	}
	received := m.Received
	if received.IsZero() {
		received = m.Date
	}
	e.DateReceived = dateTime(received, eas.DateTimeExtended)

	src := bodySource{text: m.Text, html: m.HTML, mime: m.MIME, mimeSize: m.Size}
	if v == eas.V25 {
		if m.MIME != nil && (p.mimeSupport == 2 || p.mimeSupport == 1 && isSMIME(m)) {
			lim, limited := mimeTruncationBytes(p.mimeTruncation)
			b, err := readMIME(ctx, m.MIME, lim, limited)
			if err != nil {
				return nil, err
			}
			size := max(m.Size, int64(len(b)))
			e.MIMEData25 = ptr(string(b))
			e.MIMESize25 = ptr(uint32(min(size, 1<<32-1)))
			e.MIMETruncated25 = ptr(size > int64(len(b)))
		} else {
			e.Body25, e.BodySize25, e.BodyTruncated25 = p.body25(src)
		}
		if len(m.Attachments) > 0 {
			e.Attachments25 = &eas.Attachments25{}
			for _, a := range m.Attachments {
				ref := fileReference(sources.AttachmentRef{Folder: it.Folder, Item: it.ID, ID: a.ID})
				e.Attachments25.Attachment = append(e.Attachments25.Attachment, eas.Attachment25{
					AttMethod: eas.AttachByValue, AttSize: uint32(min(a.Size, 1<<32-1)),
					DisplayName: a.Name, AttName: ref,
				})
			}
		}
	} else {
		b, err := p.body(ctx, src)
		if err != nil {
			return nil, err
		}
		e.Body = b
		native := eas.BodyPlainText
		if m.HTML != nil {
			native = eas.BodyHTML
		}
		e.NativeBodyType = &native
		e.Flag = easFlag(m, p.location())
		e.ContentClass = "urn:content-classes:message"
		if m.Meeting != nil {
			e.ContentClass = "urn:content-classes:calendarmessage"
		}
		if len(m.Attachments) > 0 {
			e.Attachments = &eas.Attachments{}
			for _, a := range m.Attachments {
				if m.Meeting != nil && a.Name == "" && itip.IsCalendar(a.ContentType) {
					continue // the invitation itself, shown as MeetingRequest
				}
				method := eas.AttachByValue
				if a.ContentType == "message/rfc822" {
					method = eas.AttachEmbeddedMsg
				}
				at := eas.Attachment{
					DisplayName:       a.Name,
					FileReference:     fileReference(sources.AttachmentRef{Folder: it.Folder, Item: it.ID, ID: a.ID}),
					Method:            method,
					EstimatedDataSize: uint32(min(a.Size, 1<<32-1)),
					ContentID:         a.ContentID,
				}
				if a.Inline {
					at.IsInline = ptr(true)
				}
				e.Attachments.Attachment = append(e.Attachments.Attachment, at)
			}
		}
	}
	if v >= eas.V140 {
		e.Categories = &eas.EmailCategories{Category: categories(m.Categories)}
		e.ConversationID = conversationID(m)
		e.ConversationIndex = conversationIndex(m.Date)
	}
	if v >= eas.V160 && len(m.Bcc) > 0 {
		e.Bcc = addressList(m.Bcc)
	}
	if m.Meeting != nil {
		e.MeetingRequest = meetingToEAS(m.Meeting, v)
	}
	return e, nil
}

// mailFromEAS applies a client's message. Of an existing message only
// Read, Flag and Categories change: MS-ASEMAIL 2.2.2 makes the other
// properties read-only. A new message (a 16.0 draft) takes its headers
// and body too.
func mailFromEAS(e *eas.Email, sent elements, old *sources.Message) *sources.Message {
	m := &sources.Message{}
	if old != nil {
		*m = *old
	} else {
		m.To, m.Cc, m.Bcc = parseAddresses(e.To), parseAddresses(e.Cc), parseAddresses(e.Bcc)
		m.From, m.ReplyTo = parseAddresses(e.From), parseAddresses(e.ReplyTo)
		m.Subject = e.Subject
		m.Importance = modelImportance(e.Importance)
		if e.Body != nil && e.Body.Data != nil {
			b := &sources.Body{Data: *e.Body.Data, Size: int64(len(*e.Body.Data))}
			if e.Body.Type == eas.BodyHTML {
				m.HTML = b
			} else {
				m.Text = b
			}
		}
	}
	if e.Read != nil {
		m.Read = *e.Read
	}
	if sent.has("Email:Flag") {
		m.Flagged, m.FollowUp = modelFlag(e.Flag, m.FollowUp)
	}
	if sent.has("Email:Categories") {
		m.Categories = nil
		if e.Categories != nil {
			m.Categories = categories(e.Categories.Category)
		}
	}
	return m
}

// easFlag returns the Flag of m: an empty Flag when it has none, which
// tells the client to clear any it holds. MS-ASEMAIL 2.2.2.34.
func easFlag(m *sources.Message, loc *time.Location) *eas.Flag {
	f := m.FollowUp
	if f == nil && !m.Flagged {
		return &eas.Flag{}
	}
	if f == nil {
		f = &sources.FollowUp{}
	}
	fl := &eas.Flag{Status: ptr(eas.FlagActive), FlagType: f.Request}
	if fl.FlagType == "" {
		fl.FlagType = "Follow up"
	}
	if !f.Completed.IsZero() {
		fl.Status = ptr(eas.FlagComplete)
		fl.CompleteTime = dateTime(f.Completed, eas.DateTimeExtended)
		fl.DateCompleted = dateTime(f.Completed, eas.DateTimeExtended)
	}
	// Start and due dates go in pairs, local and UTC (MS-ASEMAIL 2.2.2.34).
	if !f.Start.IsZero() || !f.Due.IsZero() {
		start, due := f.Start, f.Due
		if start.IsZero() {
			start = due
		}
		if due.IsZero() {
			due = start
		}
		fl.StartDate = dateTime(wallAsUTC(start, loc), eas.DateTimeExtended)
		fl.UtcStartDate = dateTime(start, eas.DateTimeExtended)
		fl.DueDate = dateTime(wallAsUTC(due, loc), eas.DateTimeExtended)
		fl.UtcDueDate = dateTime(due, eas.DateTimeExtended)
	}
	return fl
}

// modelFlag reads a client's Flag; an empty one clears the flag.
func modelFlag(fl *eas.Flag, old *sources.FollowUp) (flagged bool, f *sources.FollowUp) {
	if fl == nil || fl.Status == nil || *fl.Status == eas.FlagCleared {
		return false, nil
	}
	f = &sources.FollowUp{}
	if old != nil {
		*f = *old
	}
	if fl.FlagType != "" {
		f.Request = fl.FlagType
	}
	if fl.UtcStartDate != nil {
		f.Start = fl.UtcStartDate.Time
	}
	if fl.UtcDueDate != nil {
		f.Due = fl.UtcDueDate.Time
	}
	f.Completed = time.Time{}
	if *fl.Status == eas.FlagComplete {
		f.Completed = timeOf(fl.CompleteTime)
		if f.Completed.IsZero() {
			f.Completed = timeOf(fl.DateCompleted)
		}
		if f.Completed.IsZero() {
			f.Completed = time.Now().UTC().Truncate(time.Second)
		}
		return false, f
	}
	return true, f
}

func easImportance(i sources.Importance) eas.Importance {
	switch i {
	case sources.ImportanceLow:
		return eas.ImportanceLow
	case sources.ImportanceHigh:
		return eas.ImportanceHigh
	}
	return eas.ImportanceNormal
}

func modelImportance(i *eas.Importance) sources.Importance {
	if i == nil {
		return sources.ImportanceNormal
	}
	switch *i {
	case eas.ImportanceLow:
		return sources.ImportanceLow
	case eas.ImportanceHigh:
		return sources.ImportanceHigh
	}
	return sources.ImportanceNormal
}

// addressList formats addresses as an RFC 5322 address list.
func addressList(as []sources.Address) string {
	s := make([]string, 0, len(as))
	for _, a := range as {
		s = append(s, (&mail.Address{Name: a.Name, Address: a.Email}).String())
	}
	return strings.Join(s, ", ")
}

// parseAddresses reads an address list; what does not parse is kept as
// a bare address rather than lost.
func parseAddresses(s string) []sources.Address {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	list, err := mail.ParseAddressList(s)
	if err != nil {
		return []sources.Address{{Email: strings.TrimSpace(s)}}
	}
	as := make([]sources.Address, len(list))
	for i, a := range list {
		as[i] = sources.Address{Name: a.Name, Email: a.Address}
	}
	return as
}

// displayNames is DisplayTo: the recipients' names, ';'-separated.
func displayNames(as []sources.Address) string {
	s := make([]string, 0, len(as))
	for _, a := range as {
		if a.Name != "" {
			s = append(s, a.Name)
		} else {
			s = append(s, a.Email)
		}
	}
	return strings.Join(s, "; ")
}

// threadTopic is the subject without reply and forward prefixes.
func threadTopic(subject string) string {
	s := strings.TrimSpace(subject)
	for {
		i := strings.IndexByte(s, ':')
		if i < 0 || i > 4 {
			return s
		}
		switch strings.ToLower(strings.TrimSpace(s[:i])) {
		case "re", "fw", "fwd", "aw", "wg", "sv", "vs", "tr":
			s = strings.TrimSpace(s[i+1:])
		default:
			return s
		}
	}
}

// conversationID is the store's thread id, or a hash of the thread
// topic when it has none: 16 bytes that are the same for every message
// of a thread. MS-ASEMAIL 2.2.2.20.
func conversationID(m *sources.Message) []byte {
	key := "thread\x00" + m.ThreadID
	if m.ThreadID == "" {
		key = "topic\x00" + strings.ToLower(threadTopic(m.Subject))
	}
	sum := sha256.Sum256([]byte(key))
	return sum[:16]
}

// conversationIndex is the one 5-byte timestamp of a message's place in
// its conversation: the high 40 bits of its date as a FILETIME.
// MS-ASEMAIL 2.2.2.21.
func conversationIndex(date time.Time) []byte {
	if date.IsZero() {
		return nil
	}
	const epochDiff = 116444736000000000 // 1601 to 1970 in 100 ns
	ft := uint64(date.UnixNano()/100 + epochDiff)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], ft)
	return b[:5]
}

// meetingOf returns the meeting a message carries when its store did not
// read it: the first iCalendar part with a METHOD (package itip), read
// through the store's Attachments. A part that is not a scheduling message
// leaves the message an ordinary one.
func meetingOf(ctx context.Context, src sources.Source, it *sources.Item) *sources.MeetingRequest {
	att, ok := src.(sources.Attachments)
	if !ok || it.Mail == nil {
		return nil
	}
	for _, a := range it.Mail.Attachments {
		if !itip.IsCalendar(a.ContentType) {
			continue
		}
		_, rc, err := att.OpenAttachment(ctx, sources.AttachmentRef{Folder: it.Folder, Item: it.ID, ID: a.ID})
		if err != nil {
			continue
		}
		mr, err := itip.Parse(rc)
		rc.Close()
		if err == nil {
			return mr
		}
	}
	return nil
}

// messageClass names the kind of message, MS-ASEMAIL 2.2.2.49.
func messageClass(m *sources.Message) string {
	if mr := m.Meeting; mr != nil {
		switch mr.Method {
		case sources.MethodCancel:
			return "IPM.Schedule.Meeting.Canceled"
		case sources.MethodReply, sources.MethodCounter:
			status := sources.StatusNeedsAction
			if len(mr.Event.Attendees) > 0 {
				status = mr.Event.Attendees[0].Status
			}
			switch status {
			case sources.StatusAccepted:
				return "IPM.Schedule.Meeting.Resp.Pos"
			case sources.StatusDeclined:
				return "IPM.Schedule.Meeting.Resp.Neg"
			}
			return "IPM.Schedule.Meeting.Resp.Tent"
		}
		return "IPM.Schedule.Meeting.Request"
	}
	switch smimeKind(m) {
	case smimeEncrypted:
		return "IPM.Note.SMIME"
	case smimeSigned:
		return "IPM.Note.SMIME.MultipartSigned"
	}
	return "IPM.Note"
}

// S/MIME kinds of a message, by its S/MIME part.
const (
	smimeNone = iota
	smimeSigned
	smimeEncrypted // or signed opaquely, which also needs the whole MIME to read
)

// smimeKind tells an encrypted (application/pkcs7-mime) message from one
// with a detached signature (multipart/signed with an
// application/pkcs7-signature part), MS-ASEMAIL 2.2.2.49.
func smimeKind(m *sources.Message) int {
	kind := smimeNone
	for _, a := range m.Attachments {
		switch strings.ToLower(a.ContentType) {
		case "application/pkcs7-mime", "application/x-pkcs7-mime":
			return smimeEncrypted
		case "application/pkcs7-signature", "application/x-pkcs7-signature":
			kind = smimeSigned
		}
	}
	return kind
}

// isSMIME reports an encrypted or signed message: MIMESupport 1 sends
// both as MIME, since a client can check a signature only on the bytes
// that were signed.
func isSMIME(m *sources.Message) bool { return smimeKind(m) != smimeNone }

// meetingToEAS converts the meeting of an invitation. MS-ASEMAIL 2.2.2.48.
func meetingToEAS(mr *sources.MeetingRequest, v eas.ProtocolVersion) *eas.MeetingRequest {
	ev := &mr.Event
	loc := eventLocation(ev.TimeZone)
	tz := eventTimeZone(ev)
	r := &eas.MeetingRequest{
		AllDayEvent:       ptr(ev.AllDay),
		StartTime:         dateTime(ev.Start, eas.DateTimeExtended),
		EndTime:           dateTime(ev.End, eas.DateTimeExtended),
		DtStamp:           dateTime(mr.Stamp, eas.DateTimeExtended),
		Organizer:         addressList([]sources.Address{ev.Organizer}),
		RecurrenceID:      dateTime(mr.RecurrenceID, eas.DateTimeExtended),
		ResponseRequested: ptr(mr.ResponseRequested),
		Sensitivity:       ptr(eas.Sensitivity(ev.Sensitivity)),
		BusyStatus:        ptr(easBusyStatus(ev.BusyStatus, v)),
		TimeZone:          &tz,
		InstanceType:      ptr(uint8(0)),
	}
	if ev.Organizer.Email == "" {
		r.Organizer = ""
	}
	if r.DtStamp == nil {
		r.DtStamp = dateTime(ev.Stamp, eas.DateTimeExtended)
	}
	if ev.Reminder != nil {
		r.Reminder = eas.UintValue(uint32(max(*ev.Reminder, 0)))
	}
	switch {
	case !mr.RecurrenceID.IsZero():
		r.InstanceType = ptr(uint8(3)) // one occurrence of a series
	case ev.Recurrence != nil:
		r.InstanceType = ptr(uint8(1))
		rc := recurrenceToEAS(ev.Recurrence, ev.Start.In(loc), v)
		r.Recurrences = &eas.Recurrences{Recurrence: []eas.EmailRecurrence{{
			Type: rc.Type, Interval: rc.Interval, Until: rc.Until, Occurrences: rc.Occurrences,
			WeekOfMonth: rc.WeekOfMonth, DayOfMonth: rc.DayOfMonth, DayOfWeek: rc.DayOfWeek,
			MonthOfYear: rc.MonthOfYear, FirstDayOfWeek: rc.FirstDayOfWeek,
		}}}
		if u := r.Recurrences.Recurrence[0].Until; u != nil {
			u.Form = eas.DateTimeExtended
		}
	}
	if v >= eas.V160 {
		r.Location = &eas.Location{DisplayName: ev.Location}
		r.UID = ev.UID
	} else {
		if ev.Location != "" {
			r.LocationText = ptr(ev.Location)
		}
		if ev.UID != "" {
			r.GlobalObjID = globalObjID(ev.UID)
		}
	}
	if v >= eas.V140 {
		r.DisallowNewTimeProposal = ptr(false)
	}
	if v >= eas.V141 && mr.Method == sources.MethodRequest {
		r.MeetingMessageType = ptr(uint8(1)) // an initial request
	}
	return r
}

// globalObjID wraps an iCalendar UID the way Outlook does for UIDs it did
// not make: the PidLidGlobalObjectId header, then "vCal-Uid", a version
// and the NUL-terminated UID (MS-OXOCAL 2.2.1.27), base64.
func globalObjID(uid string) string {
	b := []byte{
		0x04, 0x00, 0x00, 0x00, 0x82, 0x00, 0xE0, 0x00, 0x74, 0xC5, 0xB7, 0x10, 0x1A, 0x82, 0xE0, 0x08,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	}
	data := append([]byte("vCal-Uid\x01\x00\x00\x00"), uid...)
	data = append(data, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	return base64.StdEncoding.EncodeToString(append(b, data...))
}
