package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/easgate/easgate/gateway"
	"github.com/easgate/easgate/statecache"
)

// deadResolver knows no names: it asks a DNS server that is not there and
// fails at once, so that no test waits on the network.
var deadResolver = &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
	return nil, errors.New("no DNS in tests")
}}

// checkServer serves a gateway in front of a memory store with user anna
// (password "anna-pw") over TLS, with Autodiscover handing out external,
// or the server's own URL when external is "". It returns the URL and a
// PEM file of the certificate to trust, and the server's device state.
func checkServer(t *testing.T, external string) (string, string, *statecache.Store) {
	t.Helper()
	var gw *gateway.Server
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { gw.ServeHTTP(w, r) }))
	ts.StartTLS()
	t.Cleanup(ts.Close)
	if external == "" {
		external = ts.URL
	}
	st, err := statecache.Open("", &statecache.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	gw, err = gateway.New(&gateway.Options{
		Backend:      newMemoryBackend(map[string]string{"anna": "anna-pw"}, "example.org"),
		State:        st,
		Policy:       gateway.Policy{Mode: gateway.PolicyAllow},
		ExternalURL:  external,
		Autodiscover: gateway.AutodiscoverOptions{Domains: []string{"example.org"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return ts.URL, ca, st
}

// runCheckTest runs easgate check with password pw and returns the report
// and whether it passed.
func runCheckTest(t *testing.T, pw string, args ...string) (string, bool) {
	t.Helper()
	t.Setenv(checkPasswordEnv, pw)
	var stdout, stderr bytes.Buffer
	err := runCheckWith(t.Context(), args, strings.NewReader(""), &stdout, &stderr, deadResolver)
	var ee *exitError
	if err != nil && !(errors.As(err, &ee) && ee.code == 1) {
		t.Fatalf("check %q = %v\n%s", args, err, stderr.String())
	}
	return stdout.String(), err == nil
}

// stepLine matches the report line of step with result.
func stepLine(result, step string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(result) + ` +` + regexp.QuoteMeta(step) + ` `)
}

func TestCheckHealthyDemo(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	d := demoStart(t, ctx)
	report, ok := runCheckTest(t, demoPassword, d.url, "-user", demoUser)
	cancel()
	d.wait(t)
	if !ok {
		t.Fatalf("check of the demo failed:\n%s", report)
	}
	for _, step := range []string{"OPTIONS", "Provision", "FolderSync", "Sync", "Ping"} {
		if !stepLine("ok", step).MatchString(report) {
			t.Errorf("report has no ok %s:\n%s", step, report)
		}
	}
	// The demo speaks plain HTTP: fine on loopback, not for phones.
	if !stepLine("warn", "TLS").MatchString(report) {
		t.Errorf("report does not warn of plain HTTP:\n%s", report)
	}
}

func TestCheckHealthyTLS(t *testing.T) {
	url, ca, _ := checkServer(t, "")
	report, ok := runCheckTest(t, "anna-pw", url, "-user", "anna@example.org", "-ca", ca)
	t.Log(report)
	if !ok {
		t.Fatalf("check failed:\n%s", report)
	}
	for _, step := range []string{"Autodiscover v2", "Autodiscover v1", "TLS", "OPTIONS", "Provision", "FolderSync", "Sync", "Ping"} {
		if !stepLine("ok", step).MatchString(report) {
			t.Errorf("report has no ok %s:\n%s", step, report)
		}
	}
}

// TestCheckFaults checks that each broken setup is reported with the step
// that fails and the fix that names the fault.
func TestCheckFaults(t *testing.T) {
	url, ca, _ := checkServer(t, "")
	wrongURL, wrongCA, _ := checkServer(t, "https://mail.wrong.example")
	always449 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "OPTIONS" {
			w.Header().Set("MS-ASProtocolVersions", "12.1,14.0,14.1")
			w.Header().Set("MS-ASProtocolCommands", "Sync,FolderSync,Ping,Provision")
			return
		}
		w.WriteHeader(449)
	}))
	defer always449.Close()
	blocked := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "OPTIONS" {
			w.Header().Set("MS-ASProtocolVersions", "14.1")
			return
		}
		w.WriteHeader(http.StatusForbidden)
	}))
	defer blocked.Close()
	localhost := strings.Replace(url, "127.0.0.1", "localhost", 1)

	tests := []struct {
		name, pw string
		args     []string
		step     string
		want     string // in the FAIL line or its fix
	}{
		// OPTIONS authenticates, as Exchange's does: a wrong password
		// shows there first.
		{"wrong password", "nope", []string{url, "-user", "anna", "-ca", ca}, "OPTIONS", "HTTP 401"},
		{"wrong external URL", "anna-pw", []string{wrongURL, "-user", "anna@example.org", "-ca", wrongCA}, "Autodiscover URL", "server.external_url"},
		{"certificate for another name", "anna-pw", []string{localhost, "-user", "anna", "-ca", ca}, "TLS", "not localhost"},
		{"untrusted certificate", "anna-pw", []string{url, "-user", "anna"}, "TLS", "trusted CA"},
		{"449 loop", "pw", []string{always449.URL, "-user", "anna"}, "Provision", "449 loop"},
		{"blocked device", "pw", []string{blocked.URL, "-user", "anna"}, "Provision", "device access rules"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			report, ok := runCheckTest(t, tt.pw, tt.args...)
			if ok {
				t.Fatalf("check passed:\n%s", report)
			}
			i := stepLine("FAIL", tt.step).FindStringIndex(report)
			if i == nil {
				t.Fatalf("no FAIL %s in:\n%s", tt.step, report)
			}
			// The FAIL line and its fix line.
			lines := strings.SplitN(report[i[0]:], "\n", 3)
			if got := strings.Join(lines[:min(2, len(lines))], "\n"); !strings.Contains(got, tt.want) {
				t.Errorf("FAIL %s = %q, want it to name %q\n%s", tt.step, got, tt.want, report)
			}
		})
	}
}

// TestCheckBlockedByEasgate blocks the check's device id with easgate's
// own device access rules, as an operator would.
func TestCheckBlockedByEasgate(t *testing.T) {
	url, ca, st := checkServer(t, "")
	rule := statecache.AccessRule{By: statecache.ByDeviceID, Value: checkDeviceID, Level: statecache.AccessBlock}
	if err := st.SetAccessRule(t.Context(), rule); err != nil {
		t.Fatal(err)
	}
	report, ok := runCheckTest(t, "anna-pw", url, "-user", "anna", "-ca", ca)
	if ok || !strings.Contains(report, "easgate device allow "+checkDeviceID) {
		t.Errorf("check of a blocked device did not name the access rule:\n%s", report)
	}
}

func TestCheckUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"https://x.example"}, {"not-an-address"}, {"ftp://x.example", "-user", "a"}} {
		var stdout, stderr bytes.Buffer
		err := runCheckWith(t.Context(), args, strings.NewReader("pw\n"), &stdout, &stderr, deadResolver)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("check %q = %v, want a usage error", args, err)
		}
	}
}
