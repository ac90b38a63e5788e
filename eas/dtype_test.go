package eas

import (
	"bytes"
	"encoding/base64"
	"errors"
	"reflect"
	"testing"
	"time"
)

// iosTimeZone is the TimeZone an iOS 16.x client sent
// (testdata/devices/ios/ios-16x-sync-calendar-client-add-empty-reminder-recurrence.wbxml):
// Central European rules without names.
const iosTimeZone = "xP///wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAoAAAAFAAMAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAMAAAAFAAIAAAAAAAAAxP///w=="

var (
	// Last Sunday of October 03:00 back to standard, last Sunday of March
	// 02:00 forward to summer time.
	berlin2026 = TimeZone{
		Bias: -60, StandardName: "CET", DaylightName: "CEST",
		StandardDate: SystemTime{Month: 10, DayOfWeek: 0, Day: 5, Hour: 3},
		DaylightDate: SystemTime{Month: 3, DayOfWeek: 0, Day: 5, Hour: 2},
		DaylightBias: -60,
	}
	// First Sunday of November 02:00, second Sunday of March 02:00.
	newYork2026 = TimeZone{
		Bias: 300, StandardName: "EST", DaylightName: "EDT",
		StandardDate: SystemTime{Month: 11, DayOfWeek: 0, Day: 1, Hour: 2},
		DaylightDate: SystemTime{Month: 3, DayOfWeek: 0, Day: 2, Hour: 2},
		DaylightBias: -60,
	}
)

func TestParseDateTime(t *testing.T) {
	tests := []struct {
		in      string
		want    DateTime
		wantErr bool
	}{
		{in: "20260130T120000Z", want: DateTime{time.Date(2026, 1, 30, 12, 0, 0, 0, time.UTC), DateTimeCompact}},
		{in: "2026-01-30T12:00:00.000Z", want: DateTime{time.Date(2026, 1, 30, 12, 0, 0, 0, time.UTC), DateTimeExtended}},
		{in: "2026-01-30T12:00:00.250Z", want: DateTime{time.Date(2026, 1, 30, 12, 0, 0, 250e6, time.UTC), DateTimeExtended}},
		{in: "2026-01-30T12:00:00Z", want: DateTime{time.Date(2026, 1, 30, 12, 0, 0, 0, time.UTC), DateTimeExtendedNoMillis}},
		{in: "2024-02-29T23:59:59.999Z", want: DateTime{time.Date(2024, 2, 29, 23, 59, 59, 999e6, time.UTC), DateTimeExtended}},
		{in: "", wantErr: true},
		{in: "2026-01-30", want: DateTime{time.Date(2026, 1, 30, 0, 0, 0, 0, time.UTC), DateTimeDate}}, // a Birthday, testdata/devices/unidentified-client
		{in: "2026-02-30", wantErr: true},
		{in: "20260130T120000", wantErr: true},
		{in: "2026-01-30T12:00:00.5Z", wantErr: true},
		{in: "2026-01-30T12:00:00.000+01:00", wantErr: true},
		{in: "20260230T120000Z", wantErr: true},
		{in: "20261330T120000Z", wantErr: true},
		{in: "2026-1-30T12:00:00Z", wantErr: true},
		{in: " 20260130T120000Z", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDateTime(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseDateTime(%q) = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if !got.Equal(tt.want) {
				t.Errorf("ParseDateTime(%q) = %v (form %d), want %v (form %d)", tt.in, got.Time, got.Form, tt.want.Time, tt.want.Form)
			}
			if s := got.String(); s != tt.in {
				t.Errorf("ParseDateTime(%q).String() = %q", tt.in, s)
			}
		})
	}
}

func TestNewDateTime(t *testing.T) {
	in := time.Date(2026, 1, 30, 13, 0, 0, 123456789, time.FixedZone("CET", 3600))
	tests := []struct {
		form DateTimeForm
		want string
	}{
		{DateTimeCompact, "20260130T120000Z"},
		{DateTimeExtended, "2026-01-30T12:00:00.123Z"},
		{DateTimeExtendedNoMillis, "2026-01-30T12:00:00Z"},
	}
	for _, tt := range tests {
		d := NewDateTime(in, tt.form)
		if got := d.String(); got != tt.want {
			t.Errorf("NewDateTime(%v, %d).String() = %q, want %q", in, tt.form, got, tt.want)
		}
		back, err := ParseDateTime(d.String())
		if err != nil || !back.Equal(d) {
			t.Errorf("ParseDateTime(%q) = %v, %v, want %v", d.String(), back, err, d)
		}
	}
}

func TestTimeZoneZones(t *testing.T) {
	tests := []struct {
		zone string
		want TimeZone
	}{
		{"UTC", TimeZone{StandardName: "UTC"}},
		{"Europe/Berlin", berlin2026},
		{"America/New_York", newYork2026},
		{"Asia/Tokyo", TimeZone{Bias: -540, StandardName: "JST"}},
		{"Asia/Kolkata", TimeZone{Bias: -330, StandardName: "IST"}},
		// Southern hemisphere: summer time spans New Year.
		{"Australia/Sydney", TimeZone{
			Bias: -600, StandardName: "AEST", DaylightName: "AEDT",
			StandardDate: SystemTime{Month: 4, DayOfWeek: 0, Day: 1, Hour: 3},
			DaylightDate: SystemTime{Month: 10, DayOfWeek: 0, Day: 1, Hour: 2},
			DaylightBias: -60,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.zone, func(t *testing.T) {
			loc, err := time.LoadLocation(tt.zone)
			if err != nil {
				t.Fatal(err)
			}
			got := NewTimeZone(loc, 2026)
			if got != tt.want {
				t.Errorf("NewTimeZone(%s, 2026) = %+v\nwant %+v", tt.zone, got, tt.want)
			}
			b, err := got.MarshalBinary()
			if err != nil || len(b) != TimeZoneSize {
				t.Fatalf("MarshalBinary() = %d bytes, %v; want %d bytes", len(b), err, TimeZoneSize)
			}
			back, err := ParseTimeZone(got.String())
			if err != nil || back != got {
				t.Errorf("ParseTimeZone(String()) = %+v, %v; want %+v", back, err, got)
			}
			// The rules give loc's offset at every hour of 2026 and 2027,
			// the transition hours included.
			start := time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC)
			for at := start; at.Year() < 2028; at = at.Add(time.Hour) {
				_, off := at.In(loc).Zone()
				if g := got.Offset(at); g != time.Duration(off)*time.Second {
					t.Fatalf("Offset(%v) = %v, want %v", at, g, time.Duration(off)*time.Second)
				}
			}
		})
	}
}

func TestTimeZoneIOSCapture(t *testing.T) {
	got, err := ParseTimeZone(iosTimeZone)
	if err != nil {
		t.Fatal(err)
	}
	want := berlin2026
	want.StandardName, want.DaylightName = "", ""
	if got != want {
		t.Errorf("ParseTimeZone(iOS) = %+v\nwant %+v", got, want)
	}
	if s := got.String(); s != iosTimeZone {
		t.Errorf("String() = %q, want the bytes iOS sent", s)
	}
	for _, tt := range []struct {
		at   time.Time
		want time.Duration
	}{
		{time.Date(2024, 8, 11, 8, 0, 0, 0, time.UTC), 2 * time.Hour}, // the capture's StartTime
		{time.Date(2024, 12, 1, 8, 0, 0, 0, time.UTC), time.Hour},
		{time.Date(2024, 3, 31, 0, 59, 0, 0, time.UTC), time.Hour},
		{time.Date(2024, 3, 31, 1, 0, 0, 0, time.UTC), 2 * time.Hour},
		{time.Date(2024, 10, 27, 0, 59, 0, 0, time.UTC), 2 * time.Hour},
		{time.Date(2024, 10, 27, 1, 0, 0, 0, time.UTC), time.Hour},
	} {
		if g := got.Offset(tt.at); g != tt.want {
			t.Errorf("Offset(%v) = %v, want %v", tt.at, g, tt.want)
		}
	}
}

func TestTimeZoneTolerance(t *testing.T) {
	full, err := berlin2026.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	pad := func(b []byte, n int, c byte) []byte {
		return append(bytes.Clone(b), bytes.Repeat([]byte{c}, n)...)
	}
	onlyBias := TimeZone{Bias: -60}
	tests := []struct {
		name    string
		data    []byte
		want    TimeZone
		wantErr bool
	}{
		{"exact", full, berlin2026, false},
		{"empty", nil, TimeZone{}, false},
		{"bias only", full[:4], onlyBias, false},
		{"cut in a name", full[:6], TimeZone{Bias: -60, StandardName: "C"}, false},
		{"zero padded", pad(full, 4, 0), berlin2026, false},
		{"zero padded to 1 KiB more", pad(full, maxTimeZonePadding, 0), berlin2026, false},
		{"data past the end", pad(full, 1, 7), TimeZone{}, true},
		{"too long", pad(full, maxTimeZonePadding+1, 0), TimeZone{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got TimeZone
			err := got.UnmarshalBinary(tt.data)
			if (err != nil) != tt.wantErr {
				t.Fatalf("UnmarshalBinary(%d bytes) = %v, want error %v", len(tt.data), err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrTimeZoneSize) {
					t.Errorf("UnmarshalBinary error %v is not ErrTimeZoneSize", err)
				}
				return
			}
			if got != tt.want {
				t.Errorf("UnmarshalBinary(%d bytes) = %+v, want %+v", len(tt.data), got, tt.want)
			}
		})
	}
}

func TestParseTimeZoneText(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{"padded", iosTimeZone, false},
		{"unpadded", iosTimeZone[:len(iosTimeZone)-2], false},
		{"line breaks", iosTimeZone[:76] + "\r\n" + iosTimeZone[76:], false},
		{"not base64", "xP///w*", true},
		{"url alphabet", "xP___w==", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTimeZone(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseTimeZone(%q) = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err == nil && got.Bias != -60 {
				t.Errorf("ParseTimeZone(%q).Bias = %d, want -60", tt.in, got.Bias)
			}
		})
	}
}

func TestTimeZoneNames(t *testing.T) {
	long := "Mitteleuropäische Normalzeit (Winter)" // 37 units
	if _, err := (TimeZone{StandardName: long}).MarshalBinary(); err == nil {
		t.Errorf("MarshalBinary with a %d-rune name = nil error", len([]rune(long)))
	}
	tz := TimeZone{StandardName: "W. Europe Standard Time", DaylightName: "Ωμέγα 😀"}
	b, err := tz.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got TimeZone
	if err := got.UnmarshalBinary(b); err != nil || got != tz {
		t.Errorf("UnmarshalBinary(MarshalBinary(%+v)) = %+v, %v", tz, got, err)
	}
}

func FuzzTimeZone(f *testing.F) {
	ios, _ := base64.StdEncoding.DecodeString(iosTimeZone)
	f.Add(ios)
	for _, tz := range []TimeZone{berlin2026, newYork2026, {}} {
		b, _ := tz.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte{0xc4, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		var tz TimeZone
		if err := tz.UnmarshalBinary(data); err != nil {
			if len(data) <= TimeZoneSize {
				t.Fatalf("UnmarshalBinary(%d bytes) = %v; short input must decode", len(data), err)
			}
			return
		}
		b, err := tz.MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary(%+v) = %v", tz, err)
		}
		var again TimeZone
		if err := again.UnmarshalBinary(b); err != nil || !reflect.DeepEqual(again, tz) {
			t.Fatalf("UnmarshalBinary(MarshalBinary(v)) = %+v, %v; want %+v", again, err, tz)
		}
		tz.Offset(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)) // must not panic on any rule
	})
}
