package sources

import (
	"testing"
	"time"
)

// TestWindowsZonesLoad: every IANA name in the table loads from Go's time
// zone database, and no Windows or IANA name appears twice (but for the
// alias of UTC).
func TestWindowsZonesLoad(t *testing.T) {
	windows := map[string]bool{}
	zones := map[string]string{}
	for _, z := range windowsZones {
		if windows[z.windows] {
			t.Errorf("Windows zone %q listed twice", z.windows)
		}
		windows[z.windows] = true
		for _, name := range append([]string{z.zone}, z.others...) {
			if _, err := time.LoadLocation(name); err != nil {
				t.Errorf("%s: LoadLocation(%q) = %v", z.windows, name, err)
			}
			if w, ok := zones[name]; ok && w != z.windows && z.windows != "Coordinated Universal Time" {
				t.Errorf("IANA zone %q listed under %q and %q", name, w, z.windows)
			}
			zones[name] = z.windows
		}
	}
	if len(windows) < 139 {
		t.Errorf("table has %d Windows zones, want CLDR's 139", len(windows))
	}
}

func TestZoneForWindows(t *testing.T) {
	for _, c := range []struct{ windows, zone string }{
		{"W. Europe Standard Time", "Europe/Berlin"},
		{"Eastern Standard Time", "America/New_York"},
		{"India Standard Time", "Asia/Kolkata"},
		{"Lord Howe Standard Time", "Australia/Lord_Howe"},
		{"FLE Standard Time", "Europe/Kyiv"},
		{"UTC", "UTC"},
		{"Coordinated Universal Time", "UTC"},
		{"Mars Standard Time", ""},
	} {
		if got := ZoneForWindows(c.windows); got != c.zone {
			t.Errorf("ZoneForWindows(%q) = %q, want %q", c.windows, got, c.zone)
		}
	}
}

func TestWindowsName(t *testing.T) {
	for _, c := range []struct{ zone, windows string }{
		{"Europe/Berlin", "W. Europe Standard Time"},
		{"Europe/Oslo", "W. Europe Standard Time"},
		{"Asia/Calcutta", "India Standard Time"},
		{"Asia/Kolkata", "India Standard Time"},
		{"Australia/Lord_Howe", "Lord Howe Standard Time"},
		{"UTC", "UTC"},
		{"Etc/UTC", "UTC"},
		{"Mars/Olympus_Mons", ""},
	} {
		if got := WindowsName(c.zone); got != c.windows {
			t.Errorf("WindowsName(%q) = %q, want %q", c.zone, got, c.windows)
		}
	}
	// Every Windows name's own zone maps back to it.
	for w, z := range WindowsZones() {
		if w == "Coordinated Universal Time" {
			continue
		}
		if got := WindowsName(z); got != w {
			t.Errorf("WindowsName(ZoneForWindows(%q) = %q) = %q", w, z, got)
		}
	}
}

func TestWindowsZone(t *testing.T) {
	for _, c := range []struct {
		name, zone string
		ok         bool
	}{
		{"Tokyo Standard Time", "Asia/Tokyo", true},
		{"Europe/Paris", "Europe/Paris", true},
		{"", "UTC", true},
		{"Mars Standard Time", "UTC", false},
	} {
		loc, ok := WindowsZone(c.name)
		if loc.String() != c.zone || ok != c.ok {
			t.Errorf("WindowsZone(%q) = %s, %v, want %s, %v", c.name, loc, ok, c.zone, c.ok)
		}
	}
}
