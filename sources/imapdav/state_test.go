package imapdav

import (
	"errors"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/easgate/easgate/sources"
)

func TestStateRoundTrip(t *testing.T) {
	var uids imap.UIDSet
	uids.AddRange(1, 4800)
	uids.AddNum(4802, 4900)
	tests := []struct {
		name string
		st   mailState
		want sources.State
	}{
		{"empty", mailState{UIDValidity: 7}, "m1.7.0.0.0.0."},
		{"final", mailState{UIDValidity: 1700000000, ModSeq: 99, UIDNext: 4901, Messages: 4802, UIDs: uids},
			"m1.1700000000.99.0.4901.4802.1:4800,4802,4900"},
		{"paging", mailState{UIDValidity: 3, ModSeq: 12, UID: 40, UIDs: imap.UIDSetNum(40)}, "m1.3.12.40.0.0.40"},
		{"flags", mailState{UIDValidity: 3, Key: "abc123"}, "f1.3.abc123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.st.encode()
			if got != tt.want {
				t.Fatalf("encode(%+v) = %q, want %q", tt.st, got, tt.want)
			}
			back, err := parseState(got)
			if err != nil {
				t.Fatalf("parseState(%q) = %v", got, err)
			}
			if again := back.encode(); again != got {
				t.Errorf("parseState(%q).encode() = %q", got, again)
			}
		})
	}
}

func TestStateMalformed(t *testing.T) {
	for _, s := range []sources.State{"x", "m1.1.2.3", "m1.a.0.0.0.0.", "m1.1.0.0.0.0.0:3", "m1.1.0.0.0.0.1,,2",
		"m2.1.0.0.0.0.", "f1.1.", "m1.99999999999.0.0.0.0."} {
		if _, err := parseState(s); !errors.Is(err, sources.ErrStateExpired) {
			t.Errorf("parseState(%q) = %v, want ErrStateExpired", s, err)
		}
	}
}

func TestSubtract(t *testing.T) {
	var a imap.UIDSet
	a.AddRange(1, 10)
	got := subtract(a, imap.UIDSetNum(3, 4, 10))
	if s := got.String(); s != "1:2,5:9" {
		t.Errorf("subtract(1:10, 3,4,10) = %s, want 1:2,5:9", s)
	}
}
