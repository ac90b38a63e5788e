package main

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/statecache"
)

// deviceTestState creates a statecache directory holding device dev01 of
// user alice and returns it, closed.
func deviceTestState(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	st, err := statecache.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := statecache.Account{User: "alice", Device: "dev01"}
	if err := st.Seen(t.Context(), a, statecache.Visit{Type: "iPhone", ProtocolVersion: "16.1", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func deviceRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(t.Context(), append([]string{"device"}, args...), nil, &out, &errOut)
	return out.String(), err
}

func TestDeviceWipeAndCancel(t *testing.T) {
	dir := deviceTestState(t)
	steps := []struct {
		args []string
		want string // in the output
	}{
		{[]string{"list", "-state", dir, "-user", "alice"}, "dev01"},
		{[]string{"show", "-state", dir, "dev01"}, "policy:     none"},
		{[]string{"wipe", "-state", dir, "-user", "alice", "-account-only", "dev01"}, "requested"},
		{[]string{"show", "-state", dir, "dev01"}, "account-only wipe pending"},
		{[]string{"cancel-wipe", "-state", dir, "-user", "alice", "dev01"}, "withdrawn"},
		{[]string{"list", "-state", dir, "-user", "alice"}, "none"},
		{[]string{"wipe", "-state", dir, "-user", "alice", "dev01"}, "requested"},
		{[]string{"show", "-state", dir, "dev01"}, "full wipe pending"},
		{[]string{"block", "-state", dir, "dev01"}, "block"},
		{[]string{"list", "-state", dir, "-access", "block"}, "dev01"},
		{[]string{"rule-set", "-state", dir, "-by", "type", "-value", "iPhone", "-level", "quarantine"}, "rule set"},
		{[]string{"rules", "-state", dir}, "quarantine"},
		{[]string{"rule-delete", "-state", dir, "-by", "type", "-value", "iPhone"}, "removed"},
		{[]string{"unblock", "-state", dir, "dev01"}, "removed"},
		{[]string{"reprovision", "-state", dir, "dev01"}, "provision again"},
		{[]string{"remove", "-state", dir, "dev01"}, "removed"},
	}
	for _, s := range steps {
		out, err := deviceRun(t, s.args...)
		if err != nil || !strings.Contains(out, s.want) {
			t.Fatalf("device %s = %q, %v; want output with %q", strings.Join(s.args, " "), out, err, s.want)
		}
	}
}

func TestDeviceErrors(t *testing.T) {
	dir := deviceTestState(t)
	tests := []struct {
		name     string
		args     []string
		wantCode int    // 2 for usage errors, 0 for others
		wantText string // in the error
	}{
		{"no-subcommand", nil, 2, "missing"},
		{"unknown", []string{"erase"}, 2, "unknown subcommand"},
		{"no-state", []string{"show", "dev01"}, 2, "-state"},
		{"unknown-action-user", []string{"resync", "-state", dir, "-user", "bob", "dev01"}, 0, `no user "bob"`},
		{"trace-offline", []string{"trace", "-state", dir, "dev01"}, 0, "not running"},
		{"collection-on-wipe", []string{"wipe", "-state", dir, "-collection", "1", "dev01"}, 2, "-collection"},
		{"rule-without-level", []string{"rule-set", "-state", dir, "-by", "type", "-value", "x"}, 2, "-level"},
		{"url-without-token", []string{"show", "-url", "http://127.0.0.1:1", "dev01"}, 0, "EASGATE_ADMIN_TOKEN"},
		{"no-device", []string{"wipe", "-state", dir, "-user", "alice"}, 2, "DEVICE"},
		{"account-only-on-cancel", []string{"cancel-wipe", "-state", dir, "-user", "alice", "-account-only", "dev01"}, 2, "-account-only"},
		{"bad-flag", []string{"list", "-bogus"}, 2, "bogus"},
		{"unknown-user", []string{"wipe", "-state", dir, "-user", "bob", "dev01"}, 0, `no user "bob"`},
		{"unknown-device", []string{"show", "-state", dir, "dev02"}, 0, `no device "dev02"`},
		{"missing-dir", []string{"show", "-state", dir + "/nope", "dev01"}, 0, "statecache: dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := deviceRun(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("device %v = %v, want an error with %q", tt.args, err, tt.wantText)
			}
			code := 0
			var ee *exitError
			if errors.As(err, &ee) {
				code = ee.code
			}
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d", code, tt.wantCode)
			}
		})
	}
}

// TestDeviceLocked: a running server holds the directory's lock, and the
// error says so.
func TestDeviceLocked(t *testing.T) {
	dir := deviceTestState(t)
	st, err := statecache.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, err = deviceRun(t, "show", "-state", dir, "dev01")
	if err == nil || !strings.Contains(err.Error(), "easgate serve running") {
		t.Errorf("device show on a locked dir = %v, want the lock explained", err)
	}
}

// TestDeviceLive: while serve runs, easgate device reaches it through the
// admin socket in the state directory and through the admin listener with
// the token, and a wipe is delivered at the phone's next request.
func TestDeviceLive(t *testing.T) {
	dir := t.TempDir()
	const token = "0123456789abcdef-live"
	url, admin := serveAddrs(t, "../../configs/memory.toml", map[string]string{
		"EASGATE_STATE_DIR": dir, "EASGATE_ADMIN_TOKEN": token,
	})
	phone := &memoryPhone{url: url, user: "alice", password: "alice-pass"}
	var fs eas.FolderSyncResponse
	if code := phone.call(t, "FolderSync", &eas.FolderSyncRequest{SyncKey: "0"}, &fs); code != http.StatusOK {
		t.Fatalf("FolderSync: HTTP %d", code)
	}
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"list", "-state", dir}, "servetest1"},
		{[]string{"show", "-state", dir, "servetest1"}, "alice FolderSync HTTP 200"},
		{[]string{"trace", "-state", dir, "-minutes", "5", "servetest1"}, "tracing"},
		{[]string{"wipe", "-state", dir, "servetest1"}, "requested"},
	}
	for _, s := range steps {
		out, err := deviceRun(t, s.args...)
		if err != nil || !strings.Contains(out, s.want) {
			t.Fatalf("device %s = %q, %v; want output with %q", strings.Join(s.args, " "), out, err, s.want)
		}
	}
	var pr eas.ProvisionResponse
	phone.call(t, "Provision", &eas.ProvisionRequest{Policies: &eas.ProvisionPolicies{Policy: &eas.ProvisionPolicy{PolicyType: "MS-EAS-Provisioning-WBXML"}}}, &pr)
	if !pr.RemoteWipe {
		t.Fatalf("Provision after a live wipe = %+v, want RemoteWipe", pr)
	}
	// Block and resync, live: the phone's next FolderSync sees each.
	for _, s := range [][]string{{"cancel-wipe", "-state", dir, "servetest1"}, {"block", "-state", dir, "servetest1"}} {
		if _, err := deviceRun(t, s...); err != nil {
			t.Fatalf("device %v: %v", s, err)
		}
	}
	var st eas.FolderSyncResponse
	if code := phone.call(t, "FolderSync", &eas.FolderSyncRequest{SyncKey: fs.SyncKey}, &st); code != http.StatusOK || st.Status != eas.FolderSyncStatus(eas.StatusDeviceIsBlockedForThisUser) {
		t.Errorf("FolderSync of a blocked device = HTTP %d, status %d; want 129", code, st.Status)
	}
	for _, s := range [][]string{{"allow", "-state", dir, "servetest1"}, {"resync", "-state", dir, "servetest1"}} {
		if _, err := deviceRun(t, s...); err != nil {
			t.Fatalf("device %v: %v", s, err)
		}
	}
	if code := phone.call(t, "FolderSync", &eas.FolderSyncRequest{SyncKey: fs.SyncKey}, &st); code != http.StatusOK || st.Status != eas.FolderSyncStatusInvalidSyncKey {
		t.Errorf("FolderSync after a resync = HTTP %d, status %d; want 9", code, st.Status)
	}
	if _, err := deviceRun(t, "wipe", "-state", dir, "servetest1"); err != nil {
		t.Fatal(err)
	}
	// The same over the admin listener, with the token.
	t.Setenv("EASGATE_ADMIN_TOKEN", token)
	out, err := deviceRun(t, "trace-get", "-url", "http://"+admin, "servetest1")
	if err != nil || !strings.Contains(out, "<Provision:RemoteWipe/>") || strings.Contains(out, "alice-pass") {
		t.Errorf("trace-get over the admin listener = %v:\n%s", err, out)
	}
	out, err = deviceRun(t, "cancel-wipe", "-url", "http://"+admin, "servetest1")
	if err != nil || !strings.Contains(out, "withdrawn") {
		t.Errorf("cancel-wipe over the admin listener = %q, %v", out, err)
	}
	t.Setenv("EASGATE_ADMIN_TOKEN", "wrong-token-wrong-token")
	if _, err := deviceRun(t, "show", "-url", "http://"+admin, "servetest1"); err == nil || !strings.Contains(err.Error(), "admin token") {
		t.Errorf("a wrong token = %v, want it refused", err)
	}
}
