package gateway

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

// TestQuarantineNotice checks that the user of a quarantined device finds
// one notice in their Inbox per quarantine, however often the device
// asks, and none without QuarantineNotice.
func TestQuarantineNotice(t *testing.T) {
	for _, on := range []bool{true, false} {
		e := newAdminEnv(t, Options{QuarantineNotice: on})
		ctx := context.Background()
		inbox, err := inboxOf(ctx, e.src)
		if err != nil {
			t.Fatal(err)
		}
		notices := func() []string {
			t.Helper()
			d, err := e.src.Changes(ctx, inbox, "", 0)
			if err != nil {
				t.Fatal(err)
			}
			items, err := e.src.Get(ctx, inbox, d.Changed, &sources.GetOptions{Text: true})
			if err != nil {
				t.Fatal(err)
			}
			var l []string
			for _, it := range items {
				if it.Mail != nil && it.Mail.Subject == "Your device is waiting for approval" {
					l = append(l, it.Mail.Text.Data)
				}
			}
			return l
		}
		d := e.device("newphone", "Android", eas.V161)
		refused := func() {
			t.Helper()
			code, b := d.post("FolderSync", mustMarshal(t, &eas.FolderSyncRequest{SyncKey: "0"}))
			if _, st := decodeStatus(t, b); code != http.StatusOK || st != int(eas.StatusDeviceIsBlockedForThisUser) {
				t.Fatalf("FolderSync of a quarantined device = %d, status %d; want 129", code, st)
			}
		}
		// New Android devices wait for approval.
		if code := e.call("POST", "rules", RuleJSON{By: "type", Value: "android", Level: "quarantine"}, nil); code != http.StatusOK {
			t.Fatalf("POST rules = %d", code)
		}
		refused()
		refused()
		n := notices()
		switch {
		case !on && len(n) != 0:
			t.Fatalf("QuarantineNotice off: %d notices", len(n))
		case !on:
			continue
		case len(n) != 1 || !strings.Contains(n[0], "newphone") || !strings.Contains(n[0], "Android"):
			t.Fatalf("after two refused requests: notices %q, want one naming the device", n)
		}
		// Allowed, then quarantined again: a new notice.
		if code := e.call("POST", "devices/newphone/allow", nil, nil); code != http.StatusOK {
			t.Fatalf("allow = %d", code)
		}
		d.folderSync("0")
		if code := e.call("POST", "devices/newphone/quarantine", nil, nil); code != http.StatusOK {
			t.Fatalf("quarantine = %d", code)
		}
		refused()
		if n := notices(); len(n) != 2 {
			t.Errorf("after a second quarantine: %d notices, want 2", len(n))
		}
	}
}
