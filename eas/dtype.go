package eas

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"
)

// DateTimeForm says which spelling a DateTime travels in. Calendar items
// use the compact form and the other classes the extended one; a decoded
// DateTime keeps its form so that a device is answered in the spelling it
// sent.
type DateTimeForm uint8

// The date-time spellings.
const (
	// DateTimeExtended is 2026-01-30T12:00:00.000Z, MS-ASDTYPE 2.3.
	DateTimeExtended DateTimeForm = iota
	// DateTimeCompact is 20260130T120000Z, MS-ASDTYPE 2.7.2.
	DateTimeCompact
	// DateTimeExtendedNoMillis is 2026-01-30T12:00:00Z: MS-ASDTYPE 2.3
	// makes the milliseconds optional.
	DateTimeExtendedNoMillis
	// DateTimeDate is 2026-01-30, a date alone, read as midnight UTC: the
	// contact Birthday of the client in
	// testdata/devices/unidentified-client/sync-contacts-client-add.wbxml.
	DateTimeDate
)

var dateTimeLayouts = [...]string{
	DateTimeExtended:         "2006-01-02T15:04:05.000Z",
	DateTimeCompact:          "20060102T150405Z",
	DateTimeExtendedNoMillis: "2006-01-02T15:04:05Z",
	DateTimeDate:             "2006-01-02",
}

// DateTime is a UTC instant in one of the EAS date-time spellings.
// MS-ASDTYPE 2.3 and 2.7.2.
type DateTime struct {
	Time time.Time
	Form DateTimeForm
}

// ParseDateTime parses either spelling and records which one s used. It is
// strict: a value that would not format back to s is rejected, so a
// decoded DateTime encodes to the bytes it came from.
func ParseDateTime(s string) (DateTime, error) {
	form := DateTimeCompact
	switch {
	case strings.Contains(s, "."):
		form = DateTimeExtended
	case len(s) == len("2006-01-02") && !strings.Contains(s, "T"):
		form = DateTimeDate
	case strings.Contains(s, "-"):
		form = DateTimeExtendedNoMillis
	}
	t, err := time.Parse(dateTimeLayouts[form], s)
	if err != nil || t.Format(dateTimeLayouts[form]) != s {
		return DateTime{}, fmt.Errorf("eas: bad date-time %q", clip(s))
	}
	return DateTime{Time: t, Form: form}, nil
}

// NewDateTime returns t in UTC in the given form, truncated to what the
// form can carry.
func NewDateTime(t time.Time, form DateTimeForm) DateTime {
	res := time.Second
	if form == DateTimeExtended {
		res = time.Millisecond
	}
	return DateTime{Time: t.UTC().Truncate(res), Form: form}
}

// String formats t in its form. An unknown form formats as extended.
func (t DateTime) String() string {
	f := t.Form
	if int(f) >= len(dateTimeLayouts) {
		f = DateTimeExtended
	}
	return t.Time.UTC().Format(dateTimeLayouts[f])
}

// Equal reports whether t and u name the same instant in the same form.
func (t DateTime) Equal(u DateTime) bool {
	return t.Form == u.Form && t.Time.Equal(u.Time)
}

// MarshalWBXML writes t as an inline string (MS-ASDTYPE 2.3 forbids
// opaque dates).
func (t DateTime) MarshalWBXML(e *Encoder, start StartTag) error {
	return encodeTextElement(e, start, t.String())
}

// UnmarshalWBXML reads a date-time element.
func (t *DateTime) UnmarshalWBXML(d *Decoder, start StartTag) error {
	s, err := decodeTextElement(d, start)
	if err != nil {
		return err
	}
	v, err := ParseDateTime(s)
	if err != nil {
		return schemaErrorf("Sync", "%s: %v", start.Tag, err)
	}
	*t = v
	return nil
}

// encodeTextElement writes <start>s</start>, as an empty tag when s is "".
func encodeTextElement(e *Encoder, start StartTag, s string) error {
	start.Empty = s == ""
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	if s != "" {
		if err := e.EncodeToken(Text(s)); err != nil {
			return err
		}
	}
	return e.EncodeToken(EndTag{Tag: start.Tag})
}

// decodeTextElement reads the text content of the element start opened,
// through its end tag. Opaque content is accepted as text, as devices
// send either for strings; a child element is a schema error.
func decodeTextElement(d *Decoder, start StartTag) (string, error) {
	var b strings.Builder
	for {
		k, err := d.next()
		if err != nil {
			return "", err
		}
		switch k {
		case kindText, kindOpaque:
			b.Write(d.data)
		case kindEnd:
			return b.String(), nil
		case kindStart:
			return "", schemaErrorf("Sync", "%s: unexpected element %s", start.Tag, d.tag())
		}
	}
}

// SystemTime is the Windows SYSTEMTIME inside a TIMEZONE blob. As a
// transition rule (Year 0) Month, DayOfWeek (0 = Sunday) and Day (the
// week of the month, 1–4, 5 = last) name a recurring day, and Hour and
// Minute the local wall-clock time of the change; with Year set it is one
// absolute date. MS-ASCAL 2.2.1.41.
type SystemTime struct {
	Year, Month, DayOfWeek, Day, Hour, Minute, Second, Milliseconds uint16
}

// TimeZone is the TIMEZONE structure that calendar items and meeting
// requests carry base64-encoded: the Windows TIME_ZONE_INFORMATION layout, 172 bytes
// little-endian. Biases are minutes with UTC = local + bias.
// MS-ASDTYPE 2.7, MS-ASCAL 2.2.1.41.
type TimeZone struct {
	Bias         int32
	StandardName string // at most 32 UTF-16 code units
	StandardDate SystemTime
	StandardBias int32
	DaylightName string // at most 32 UTF-16 code units
	DaylightDate SystemTime
	DaylightBias int32
}

// TimeZoneSize is the size of an encoded TimeZone.
const TimeZoneSize = 172

// maxTimeZonePadding bounds the zero bytes accepted after the 172; devices
// pad to a block size at most, and anything longer is not a TIMEZONE.
const maxTimeZonePadding = 1024

// ErrTimeZoneSize reports a TIMEZONE blob too long to be one.
var ErrTimeZoneSize = errors.New("eas: TIMEZONE longer than 172 bytes")

const tzNameUnits = 32

// MarshalBinary encodes tz in its 172-byte wire layout.
func (tz TimeZone) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, TimeZoneSize)
	var err error
	b = binary.LittleEndian.AppendUint32(b, uint32(tz.Bias))
	if b, err = appendTZName(b, tz.StandardName); err != nil {
		return nil, err
	}
	b = appendSystemTime(b, tz.StandardDate)
	b = binary.LittleEndian.AppendUint32(b, uint32(tz.StandardBias))
	if b, err = appendTZName(b, tz.DaylightName); err != nil {
		return nil, err
	}
	b = appendSystemTime(b, tz.DaylightDate)
	b = binary.LittleEndian.AppendUint32(b, uint32(tz.DaylightBias))
	return b, nil
}

// UnmarshalBinary decodes a TIMEZONE. It tolerates what devices send: a
// blob shorter than 172 bytes reads as if zero-filled, and zero padding
// after the 172 bytes is ignored. Non-zero data past 172 bytes, or more
// than 1 KiB of padding, is ErrTimeZoneSize. Names end at their first NUL.
func (tz *TimeZone) UnmarshalBinary(data []byte) error {
	if len(data) > TimeZoneSize {
		if len(data) > TimeZoneSize+maxTimeZonePadding {
			return fmt.Errorf("%w: %d bytes", ErrTimeZoneSize, len(data))
		}
		for _, c := range data[TimeZoneSize:] {
			if c != 0 {
				return fmt.Errorf("%w: %d bytes with data past the end", ErrTimeZoneSize, len(data))
			}
		}
		data = data[:TimeZoneSize]
	}
	var b [TimeZoneSize]byte
	copy(b[:], data)
	le := binary.LittleEndian
	*tz = TimeZone{
		Bias:         int32(le.Uint32(b[0:])),
		StandardName: tzName(b[4:68]),
		StandardDate: systemTime(b[68:84]),
		StandardBias: int32(le.Uint32(b[84:])),
		DaylightName: tzName(b[88:152]),
		DaylightDate: systemTime(b[152:168]),
		DaylightBias: int32(le.Uint32(b[168:])),
	}
	return nil
}

// ParseTimeZone decodes the base64 text of a TimeZone element. Padding
// '=' may be missing and line breaks are ignored.
func ParseTimeZone(s string) (TimeZone, error) {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
	data, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return TimeZone{}, fmt.Errorf("eas: TIMEZONE base64: %w", err)
	}
	var tz TimeZone
	if err := tz.UnmarshalBinary(data); err != nil {
		return TimeZone{}, err
	}
	return tz, nil
}

// String returns tz as padded base64, the way it travels. It returns ""
// if a name is too long to encode; MarshalWBXML reports that as an error.
func (tz TimeZone) String() string {
	b, err := tz.MarshalBinary()
	if err != nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(b)
}

// MarshalWBXML writes tz as base64 inline text.
func (tz TimeZone) MarshalWBXML(e *Encoder, start StartTag) error {
	b, err := tz.MarshalBinary()
	if err != nil {
		return err
	}
	return encodeTextElement(e, start, base64.StdEncoding.EncodeToString(b))
}

// UnmarshalWBXML reads a base64 TimeZone element.
func (tz *TimeZone) UnmarshalWBXML(d *Decoder, start StartTag) error {
	s, err := decodeTextElement(d, start)
	if err != nil {
		return err
	}
	v, err := ParseTimeZone(s)
	if err != nil {
		return schemaErrorf("Sync", "%s: %v", start.Tag, err)
	}
	*tz = v
	return nil
}

func appendTZName(b []byte, name string) ([]byte, error) {
	u := utf16.Encode([]rune(name))
	if len(u) > tzNameUnits {
		return nil, fmt.Errorf("eas: TIMEZONE name %q longer than %d UTF-16 units", clip(name), tzNameUnits)
	}
	for i := range tzNameUnits {
		var c uint16
		if i < len(u) {
			c = u[i]
		}
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return b, nil
}

func tzName(b []byte) string {
	u := make([]uint16, 0, tzNameUnits)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

func appendSystemTime(b []byte, st SystemTime) []byte {
	for _, v := range [...]uint16{st.Year, st.Month, st.DayOfWeek, st.Day, st.Hour, st.Minute, st.Second, st.Milliseconds} {
		b = binary.LittleEndian.AppendUint16(b, v)
	}
	return b
}

func systemTime(b []byte) SystemTime {
	le := binary.LittleEndian
	return SystemTime{
		Year: le.Uint16(b[0:]), Month: le.Uint16(b[2:]), DayOfWeek: le.Uint16(b[4:]), Day: le.Uint16(b[6:]),
		Hour: le.Uint16(b[8:]), Minute: le.Uint16(b[10:]), Second: le.Uint16(b[12:]), Milliseconds: le.Uint16(b[14:]),
	}
}

// HasDST reports whether tz has a daylight-saving rule.
func (tz TimeZone) HasDST() bool {
	return tz.StandardDate.Month != 0 && tz.DaylightDate.Month != 0
}

// Offset returns the offset from UTC that tz gives at the instant t,
// following its daylight-saving rule for t's year.
func (tz TimeZone) Offset(t time.Time) time.Duration {
	std := -time.Duration(tz.Bias+tz.StandardBias) * time.Minute
	if !tz.HasDST() {
		return std
	}
	dst := -time.Duration(tz.Bias+tz.DaylightBias) * time.Minute
	year := t.UTC().Add(std).Year()
	// DaylightDate is a wall-clock time in standard time, StandardDate one
	// in daylight time.
	begin := tz.DaylightDate.transition(year).Add(-std)
	end := tz.StandardDate.transition(year).Add(-dst)
	in := !t.Before(begin) && t.Before(end)
	if end.Before(begin) { // southern hemisphere: DST spans New Year
		in = !t.Before(begin) || t.Before(end)
	}
	if in {
		return dst
	}
	return std
}

// transition returns the wall-clock time st names in year, as a UTC
// time.Time holding that wall clock.
func (st SystemTime) transition(year int) time.Time {
	clock := time.Duration(st.Hour)*time.Hour + time.Duration(st.Minute)*time.Minute +
		time.Duration(st.Second)*time.Second + time.Duration(st.Milliseconds)*time.Millisecond
	if st.Year != 0 {
		return time.Date(int(st.Year), time.Month(st.Month), int(st.Day), 0, 0, 0, 0, time.UTC).Add(clock)
	}
	first := time.Date(year, time.Month(st.Month), 1, 0, 0, 0, 0, time.UTC)
	day := 1 + (int(st.DayOfWeek)-int(first.Weekday())+7)%7 + 7*(int(st.Day)-1)
	for day > daysIn(first) {
		day -= 7
	}
	return first.AddDate(0, 0, day-1).Add(clock)
}

func daysIn(firstOfMonth time.Time) int {
	return firstOfMonth.AddDate(0, 1, -1).Day()
}

// NewTimeZone describes loc's rules in year as a TimeZone: its standard
// offset and, if loc switches to and from daylight time that year, the
// two transitions as recurring week-of-month rules. A zone that changes
// its standard offset during the year gets the offset in force at the
// end of the year and no daylight rule.
func NewTimeZone(loc *time.Location, year int) TimeZone {
	type change struct {
		at       time.Time // first instant of the new offset
		old, new int       // offsets in seconds
		oldName  string
		newName  string
		toDST    bool
	}
	var changes []change
	t := time.Date(year, 1, 1, 0, 0, 0, 0, loc)
	end := time.Date(year+1, 1, 1, 0, 0, 0, 0, loc)
	for ; t.Before(end); t = t.Add(time.Hour) {
		oldName, old := t.Zone()
		next := t.Add(time.Hour)
		if _, off := next.Zone(); off == old {
			continue
		}
		lo, hi := t, next // narrow down to the minute of the change
		for hi.Sub(lo) > time.Minute {
			mid := lo.Add(hi.Sub(lo) / 2)
			if _, o := mid.Zone(); o == old {
				lo = mid
			} else {
				hi = mid
			}
		}
		newName, off := hi.Zone()
		changes = append(changes, change{at: hi, old: old, new: off, oldName: oldName, newName: newName, toDST: hi.IsDST()})
	}
	endName, endOff := end.Add(-time.Second).Zone()
	tz := TimeZone{Bias: int32(-endOff / 60), StandardName: endName}
	if len(changes) != 2 || changes[0].toDST == changes[1].toDST {
		return tz
	}
	for _, c := range changes {
		// The rule is the wall-clock time of the change, read on the
		// clock in force before it.
		wall := c.at.UTC().Add(time.Duration(c.old) * time.Second)
		week := (wall.Day()-1)/7 + 1
		if wall.Day()+7 > daysIn(wall.AddDate(0, 0, 1-wall.Day())) {
			week = 5
		}
		st := SystemTime{
			Month: uint16(wall.Month()), DayOfWeek: uint16(wall.Weekday()), Day: uint16(week),
			Hour: uint16(wall.Hour()), Minute: uint16(wall.Minute()),
		}
		if c.toDST {
			tz.Bias = int32(-c.old / 60)
			tz.StandardName, tz.DaylightName = c.oldName, c.newName
			tz.DaylightDate = st
			tz.DaylightBias = int32(-(c.new - c.old) / 60)
		} else {
			tz.StandardDate = st
		}
	}
	return tz
}
