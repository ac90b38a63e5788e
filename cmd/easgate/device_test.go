package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

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
		{"no-user", []string{"wipe", "-state", dir, "dev01"}, 2, "-user"},
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
