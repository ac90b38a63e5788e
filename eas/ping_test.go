package eas

import (
	"reflect"
	"testing"
)

func TestGoldenPing(t *testing.T) {
	t.Run("request", func(t *testing.T) {
		checkGolden(t, "ping/request", func(Tag) any { return new(PingRequest) })
	})
	t.Run("response", func(t *testing.T) {
		checkGolden(t, "ping/response", func(Tag) any { return new(PingResponse) })
	})
}

const pingCapture = "unidentified-client/ping-heartbeat-120-six-folders.wbxml"

func TestPingCapture(t *testing.T) {
	var r PingRequest
	checkCapture(t, pingCapture, V141, &r)
	want := []PingFolder{
		{"14", "Email"}, {"4", "Calendar"}, {"5", "Calendar"}, {"6", "Calendar"}, {"7", "Contacts"}, {"8", "Contacts"},
	}
	if r.HeartbeatInterval != 120 || r.Folders == nil || !reflect.DeepEqual(r.Folders.Folder, want) {
		t.Errorf("Unmarshal(%s) = %+v, want interval 120 and folders %v", pingCapture, r, want)
	}
}

func TestPingRequestValidate(t *testing.T) {
	folders := func(fs ...PingFolder) *PingFolders { return &PingFolders{Folder: fs} }
	tests := []struct {
		name string
		req  PingRequest
		v    ProtocolVersion
		ok   bool
	}{
		{"empty reuses the last", PingRequest{}, V141, true},
		{"long interval is the handler's", PingRequest{HeartbeatInterval: 7200}, V141, true},
		{"negative interval", PingRequest{HeartbeatInterval: -1}, V141, false},
		{"tasks and notes", PingRequest{Folders: folders(PingFolder{"t", "Tasks"}, PingFolder{"n", "Notes"})}, V25, true},
		{"sms at 14.0", PingRequest{Folders: folders(PingFolder{"i", "SMS"})}, V140, true},
		{"sms at 12.1", PingRequest{Folders: folders(PingFolder{"i", "SMS"})}, V121, false},
		{"no id", PingRequest{Folders: folders(PingFolder{"", "Email"})}, V141, false},
		{"no class", PingRequest{Folders: folders(PingFolder{"i", ""})}, V141, false},
		{"lower-case class", PingRequest{Folders: folders(PingFolder{"i", "email"})}, V141, false},
		{"no folder", PingRequest{Folders: folders()}, V141, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.req.Validate(tt.v); (err == nil) != tt.ok {
				t.Errorf("Validate(%v) = %v, want ok %v", tt.v, err, tt.ok)
			}
		})
	}
}

func FuzzUnmarshalPing(f *testing.F) {
	addFuzzSeeds(f, "ping", pingCapture)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRoundTrip[PingRequest](t, data)
		checkRoundTrip[PingResponse](t, data)
	})
}
