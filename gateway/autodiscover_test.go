package gateway

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources/memory"
	"github.com/easgate/easgate/statecache"
)

var updateAutodiscover = flag.Bool("update-autodiscover", false, "rewrite testdata/autodiscover/*.want")

// newAutodiscoverServer serves mail.example.org for example.org and
// woodgrovebank.com, and sends old.example.org on to new.example.org.
func newAutodiscoverServer(t *testing.T) *Server {
	t.Helper()
	noon := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	return newTestServer(t, &Options{
		Backend: passwords{
			"anna": testPassword, "anna@example.org": testPassword,
			"chris@woodgrovebank.com": testPassword,
		},
		ExternalURL: "https://mail.example.org/",
		Autodiscover: AutodiscoverOptions{
			Domains:  []string{"example.org", "WoodgroveBank.com"},
			Redirect: map[string]string{"old.example.org": "new.example.org"},
		},
		Now: func() time.Time { return noon },
	}, nil)
}

// readHTTPFile reads a testdata request: LF line ends, no Content-Length.
func readHTTPFile(t *testing.T, name string) *http.Request {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	head, body, _ := strings.Cut(string(b), "\n\n")
	head = strings.ReplaceAll(head, "\n", "\r\n") + fmt.Sprintf("\r\nContent-Length: %d\r\n\r\n", len(body))
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head + body)))
	if err != nil {
		t.Fatalf("http.ReadRequest(%s) = %v", name, err)
	}
	return r
}

// TestAutodiscoverFiles answers every testdata/autodiscover/*.http and
// compares the status, content type and body with the .want file.
func TestAutodiscoverFiles(t *testing.T) {
	s := newAutodiscoverServer(t)
	files, _ := filepath.Glob("testdata/autodiscover/*.http")
	if len(files) == 0 {
		t.Fatal("no testdata/autodiscover/*.http")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".http")
		t.Run(name, func(t *testing.T) {
			r := readHTTPFile(t, f)
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			got := fmt.Sprintf("HTTP %d\nContent-Type: %s\nWWW-Authenticate: %s\n\n%s", w.Code,
				w.Header().Get("Content-Type"), w.Header().Get("WWW-Authenticate"), w.Body)
			want := strings.TrimSuffix(f, ".http") + ".want"
			if *updateAutodiscover {
				if err := os.WriteFile(want, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			b, err := os.ReadFile(want)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(b) {
				t.Errorf("ServeHTTP(%s) =\n%s\nwant\n%s", f, got, b)
			}
			// What the request carried besides the address never comes
			// back: no reflected paths, hosts or parameters.
			for _, bad := range []string{"evil", "owa", "mapi", "passwd", "%2F", "woodgrovebank.com/"} {
				if strings.Contains(w.Body.String(), bad) {
					t.Errorf("answer to %s contains %q", name, bad)
				}
			}
		})
	}
}

// TestAutodiscoverPhoneSetup follows what a phone does with nothing but an
// address and a password: v2 first, then v1, then the URL it was given.
func TestAutodiscoverPhoneSetup(t *testing.T) {
	s := newAutodiscoverServer(t)
	srv := httptest.NewServer(s)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/autodiscover/autodiscover.json/v1.0/anna@example.org?Protocol=ActiveSync")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("v2: HTTP %d", resp.StatusCode)
	}

	body, _ := xmlMarshal(eas.NewAutodiscoverRequest("anna@example.org"))
	req, _ := http.NewRequest("POST", srv.URL+"/Autodiscover/Autodiscover.xml", bytes.NewReader(body))
	req.SetBasicAuth("anna@example.org", testPassword)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	ad, err := eas.ParseAutodiscoverResponse(resp.Body, 0)
	if err != nil {
		t.Fatalf("ParseAutodiscoverResponse = %v", err)
	}
	a := ad.Response.Action
	if a == nil || a.Settings == nil || len(a.Settings.Server) != 1 {
		t.Fatalf("Action = %+v, want one server", a)
	}
	if got, want := a.Settings.Server[0], (eas.AutodiscoverServer{Type: "MobileSync",
		URL: "https://mail.example.org/Microsoft-Server-ActiveSync", Name: "https://mail.example.org/Microsoft-Server-ActiveSync"}); got != want {
		t.Errorf("Server = %+v, want %+v", got, want)
	}
}

func xmlMarshal(v any) ([]byte, error) {
	b, err := xml.Marshal(v)
	return append([]byte(xml.Header), b...), err
}

func TestAutodiscoverLimits(t *testing.T) {
	s := newAutodiscoverServer(t)
	big := strings.Repeat(" ", eas.AutodiscoverMaxSize+1)
	r := httptest.NewRequest("POST", "/autodiscover/autodiscover.xml", strings.NewReader(big))
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: HTTP %d, want 413", w.Code)
	}
	// Without Content-Length, the limit is met while reading.
	r = httptest.NewRequest("POST", "/autodiscover/autodiscover.xml", strings.NewReader(big))
	r.ContentLength = -1
	w = httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized chunked body: HTTP %d, want 413", w.Code)
	}
	r = httptest.NewRequest("GET", "/autodiscover/autodiscover.xml", nil)
	w = httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET v1: HTTP %d, want 405", w.Code)
	}
}

func TestAutodiscoverOff(t *testing.T) {
	s := newTestServer(t, nil, nil)
	for _, target := range []string{"/autodiscover/autodiscover.xml", "/autodiscover/autodiscover.json/v1.0/a@example.org?Protocol=ActiveSync"} {
		r := httptest.NewRequest("POST", target, strings.NewReader(""))
		if strings.Contains(target, "json") {
			r.Method = "GET"
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != http.StatusNotFound {
			t.Errorf("%s without an external URL: HTTP %d, want 404", target, w.Code)
		}
	}
}

func TestParseExternalURL(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"https://mail.example.org", "https://mail.example.org", true},
		{"https://mail.example.org/", "https://mail.example.org", true},
		{"https://mail.example.org:8443/eas/Microsoft-Server-ActiveSync", "https://mail.example.org:8443/eas", true},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", true},
		{"mail.example.org", "", false},
		{"ftp://mail.example.org", "", false},
		{"https://user@mail.example.org", "", false},
		{"https://mail.example.org/?x=1", "", false},
		{"https://mail.example.org/#f", "", false},
	}
	for _, tt := range tests {
		got, err := ParseExternalURL(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseExternalURL(%q) = %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	if _, err := New(&Options{Autodiscover: AutodiscoverOptions{Redirect: map[string]string{"a.example": "https://x"}}}); err == nil {
		t.Error("New with a redirect to a URL: nil error")
	}
}

func TestValidAddress(t *testing.T) {
	for in, want := range map[string]bool{
		"anna@example.org": true, "anna.berg+eas@mail.example.org": true, "o'neil@xn--bcher-kva.example": true,
		"anna": false, "@example.org": false, "anna@": false, "anna@localhost": false, "a..b@example.org": false,
		".a@example.org": false, "anna@example.org/../owa": false, "anna%2F@example.org": false,
		"anna@-x.example": false, `"a b"@example.org`: false, "anna@exa mple.org": false,
		"autodiscover/autodiscover.json?@evil.example": false, "ännä@example.org": false,
	} {
		if got := validAddress(in); got != want {
			t.Errorf("validAddress(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestAutodiscoverAccountSetup is a phone that knows only an address and a
// password: it asks v2, then v1 with the password, and syncs its folders
// at the URL it was handed, which is the server's own.
func TestAutodiscoverAccountSetup(t *testing.T) {
	var s *Server
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.ServeHTTP(w, r) }))
	defer ts.Close()
	st, err := statecache.Open("", &statecache.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s = newTestServer(t, &Options{Backend: convBackend{memory.New(nil)}, State: st, ExternalURL: ts.URL}, nil)
	addr := convUser + "@example.org"

	resp, err := http.Get(ts.URL + "/autodiscover/autodiscover.json/v1.0/" + addr + "?Protocol=ActiveSync")
	if err != nil {
		t.Fatal(err)
	}
	var v2 eas.AutodiscoverV2Response
	err = json.NewDecoder(resp.Body).Decode(&v2)
	resp.Body.Close()
	if err != nil || v2.URL != ts.URL+Path {
		t.Fatalf("v2 = %+v, %v; want Url %s", v2, err, ts.URL+Path)
	}

	body, _ := xmlMarshal(eas.NewAutodiscoverRequest(addr))
	req, _ := http.NewRequest("POST", ts.URL+"/autodiscover/autodiscover.xml", bytes.NewReader(body))
	req.SetBasicAuth(convUser, convPassword)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	ad, err := eas.ParseAutodiscoverResponse(resp.Body, 0)
	resp.Body.Close()
	if err != nil || ad.Response.Action == nil || ad.Response.Action.Settings == nil {
		t.Fatalf("v1 = %+v, %v", ad, err)
	}
	easURL := ad.Response.Action.Settings.Server[0].URL
	if easURL != v2.URL {
		t.Fatalf("v1 Url %s, v2 Url %s", easURL, v2.URL)
	}

	fs, _ := eas.Marshal(&eas.FolderSyncRequest{SyncKey: "0"})
	req, _ = http.NewRequest("POST", easURL+"?Cmd=FolderSync&User="+convUser+"&DeviceId=adsetup1&DeviceType=TestPhone", bytes.NewReader(fs))
	req.SetBasicAuth(convUser, convPassword)
	req.Header.Set("MS-ASProtocolVersion", "14.1")
	req.Header.Set("Content-Type", wbxmlType)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var fsr eas.FolderSyncResponse
	if resp.StatusCode != http.StatusOK || eas.Unmarshal(b, &fsr, nil) != nil || fsr.Status != eas.FolderSyncStatusSuccess ||
		fsr.Changes == nil || !slices.ContainsFunc(fsr.Changes.Add, func(f eas.FolderSyncFolder) bool { return f.Type == eas.FolderTypeInbox }) {
		t.Fatalf("FolderSync at the discovered URL = HTTP %d, %+v; want status 1 with an Inbox", resp.StatusCode, fsr)
	}
}
