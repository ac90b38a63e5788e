package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/gateway"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int // 0: success
		wantStdout string
	}{
		{"no-command", nil, 2, ""},
		{"unknown-command", []string{"frob"}, 2, ""},
		{"help", []string{"help"}, 0, usage},
		{"version", []string{"version"}, 0, "easgate devel\ngo " + runtime.Version() + "\n"},
		{"serve-bad-flag", []string{"serve", "-nope"}, 2, ""},
		{"serve-extra-argument", []string{"serve", "extra"}, 2, ""},
		{"wbxml-no-mode", []string{"wbxml"}, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, strings.NewReader(""), &stdout, &stderr)
			code := 0
			if err != nil {
				code = 1
				var ee *exitError
				if errors.As(err, &ee) {
					code = ee.code
				}
			}
			if code != tt.wantCode {
				t.Fatalf("run(%q) = %v (exit %d), want exit %d", tt.args, err, code, tt.wantCode)
			}
			if tt.wantStdout != "" && stdout.String() != tt.wantStdout {
				t.Errorf("run(%q) stdout = %q, want %q", tt.args, stdout.String(), tt.wantStdout)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the server's log and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServe runs serve with configs/memory.toml, the state directory set
// by its environment variable, and checks that the memory store's users
// can sync and others cannot log in.
func TestServe(t *testing.T) {
	state := t.TempDir()
	t.Cleanup(func() { // after serve has stopped
		if entries, _ := os.ReadDir(state); len(entries) == 0 {
			t.Errorf("state directory %s from EASGATE_STATE_DIR is empty", state)
		}
	})
	url, admin := serveAddrs(t, "../../configs/memory.toml", map[string]string{"EASGATE_STATE_DIR": state})

	req, _ := http.NewRequest("OPTIONS", url, nil)
	req.SetBasicAuth("alice@example.com", "alice-pass")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("MS-ASProtocolVersions") == "" {
		t.Errorf("OPTIONS = %d, versions %q; want 200 and a version list", resp.StatusCode, resp.Header.Get("MS-ASProtocolVersions"))
	}
	checkLogin(t, url, "alice@example.com", "alice-pass")
	checkAdmin(t, url, admin)
}

// memoryPhone is a device of a user of a memory store, speaking 14.1.
type memoryPhone struct{ url, user, password string }

// call posts req as command cmd, decodes a 200 answer into resp, and
// returns the HTTP status.
func (p *memoryPhone) call(t *testing.T, cmd string, req, resp any) int {
	t.Helper()
	body, err := eas.Marshal(req)
	if err != nil {
		t.Fatalf("Marshal(%T) = %v", req, err)
	}
	r, _ := http.NewRequest("POST", p.url+"?Cmd="+cmd+"&User=alice&DeviceId=servetest1&DeviceType=TestPhone", bytes.NewReader(body))
	r.SetBasicAuth(p.user, p.password)
	r.Header.Set("MS-ASProtocolVersion", "14.1")
	r.Header.Set("Content-Type", "application/vnd.ms-sync.wbxml")
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s: reading the answer: %v", cmd, err)
	}
	if res.StatusCode == http.StatusOK && resp != nil {
		if err := eas.Unmarshal(got, resp, nil); err != nil {
			t.Fatalf("%s: Unmarshal(%T) = %v", cmd, resp, err)
		}
	}
	return res.StatusCode
}

// checkAdmin checks that metrics and profiles are served on the admin
// listener at admin (host:port) and not on the EAS listener of url.
func checkAdmin(t *testing.T, url, admin string) {
	t.Helper()
	if admin == "" {
		t.Fatal("no admin listener logged")
	}
	eas := strings.TrimSuffix(url, gateway.Path)
	for _, tt := range []struct {
		url  string
		want int
	}{
		{"http://" + admin + "/metrics", http.StatusOK},
		{"http://" + admin + "/debug/pprof/", http.StatusOK},
		{eas + "/metrics", http.StatusNotFound},
		{eas + "/debug/pprof/", http.StatusNotFound},
	} {
		resp, err := http.Get(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("GET %s = %d, want %d", tt.url, resp.StatusCode, tt.want)
		}
		if tt.want == http.StatusOK && strings.HasSuffix(tt.url, "/metrics") && !bytes.Contains(body, []byte("easgate_requests_total")) {
			t.Errorf("GET %s: no easgate_requests_total in\n%s", tt.url, body)
		}
	}
}
