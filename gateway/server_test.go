package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

const (
	testUser     = `CORP\alice`
	testPassword = "s3cret-pw"
	plainQuery   = "?User=alice&DeviceId=dev01&DeviceType=TestPhone&Cmd="
)

type passwords map[string]string

// Login accepts the listed passwords and opens no store: the front-door
// tests need none.
func (p passwords) Login(_ context.Context, user, password string) (sources.Source, error) {
	if user == "busy" {
		return nil, tempError{}
	}
	if pw, ok := p[user]; ok && pw == password {
		return nil, nil
	}
	return nil, fmt.Errorf("bad credentials: %w", sources.ErrAuth)
}

// newTestServer returns a Server whose access lines go to logs.
func newTestServer(t *testing.T, o *Options, logs *bytes.Buffer) *Server {
	t.Helper()
	if o == nil {
		o = &Options{}
	}
	if o.Backend == nil {
		o.Backend = passwords{testUser: testPassword}
	}
	if logs != nil {
		o.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// install sets the handler of cmd in s.
func install[Req request, Resp any](s *Server, cmd eas.Command, h func(*Server, context.Context, *Session, Req) (Resp, error)) {
	rt := s.route(cmd)
	rt.handle, rt.stream = handler(h), nil
}

// onlyRoutes leaves s routing just cmds, each with a handler that answers
// nothing.
func onlyRoutes(s *Server, cmds ...eas.Command) {
	for i := range s.routes {
		s.routes[i].handle, s.routes[i].stream = nil, nil
	}
	for _, c := range cmds {
		s.route(c).handle = func(*Server, context.Context, *Session, request) (any, error) { return nil, nil }
	}
}

// routedNames lists the commands of the shared table that have a handler,
// in table order: what OPTIONS must advertise.
func routedNames() string {
	var names []string
	for _, rt := range routes {
		if rt.routed() {
			names = append(names, rt.cmd.String())
		}
	}
	return strings.Join(names, ",")
}

// post sends an authenticated EAS POST with protocol version 14.1 unless
// headers say otherwise.
func post(s *Server, target string, body []byte, headers ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", target, bytes.NewReader(body))
	r.SetBasicAuth(testUser, testPassword)
	r.Header.Set("MS-ASProtocolVersion", "14.1")
	r.Header.Set("Content-Type", "application/vnd.ms-sync.wbxml")
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			r.Header.Del(headers[i])
		} else {
			r.Header.Set(headers[i], headers[i+1])
		}
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := eas.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeStatus reads a minimal <Page:Cmd><Page:Status>N</Page:Status></Page:Cmd>
// document and returns its root tag and N.
func decodeStatus(t *testing.T, body []byte) (eas.Tag, int) {
	t.Helper()
	d := eas.NewDecoder(bytes.NewReader(body), nil)
	var toks []eas.Token
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("decoding status body % x: %v", body, err)
		}
		toks = append(toks, eas.CopyToken(tok))
	}
	if len(toks) != 5 {
		t.Fatalf("status body has tokens %v, want 5", toks)
	}
	root := toks[0].(eas.StartTag).Tag
	if st := toks[1].(eas.StartTag).Tag; st != (eas.Tag{Page: root.Page, Name: "Status"}) {
		t.Fatalf("status element %s under %s", st, root)
	}
	n, err := strconv.Atoi(string(toks[2].(eas.Text)))
	if err != nil {
		t.Fatal(err)
	}
	return root, n
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name         string
		opts         *Options
		handlers     []eas.Command
		path         string
		wantVersions string
		wantCommands string
		wantServer   string
	}{
		{"defaults", nil, nil, Path, "2.5,12.0,12.1,14.0,14.1,16.0,16.1", routedNames(), "16.1"},
		{"routed-commands", &Options{Versions: []eas.ProtocolVersion{eas.V140, eas.V141}},
			[]eas.Command{eas.CmdPing, eas.CmdFolderSync}, Path, "14.0,14.1", "FolderSync,Ping", "14.1"},
		{"lower-case-path", nil, nil, strings.ToLower(Path), "2.5,12.0,12.1,14.0,14.1,16.0,16.1", routedNames(), "16.1"},
		// Find exists in 16.1 only, GetAttachment up to 12.1: neither is
		// advertised where no enabled version has it.
		{"commands-of-enabled-versions", &Options{Versions: []eas.ProtocolVersion{eas.V141}},
			[]eas.Command{eas.CmdFind, eas.CmdGetAttachment, eas.CmdSync}, Path, "14.1", "Sync", "14.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, tt.opts, nil)
			if tt.handlers != nil {
				onlyRoutes(s, tt.handlers...)
			}
			w := httptest.NewRecorder()
			r := httptest.NewRequest("OPTIONS", tt.path, nil)
			r.SetBasicAuth(testUser, testPassword)
			s.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				t.Fatalf("OPTIONS %s = %d, want 200", tt.path, w.Code)
			}
			for h, want := range map[string]string{
				"MS-ASProtocolVersions": tt.wantVersions,
				"MS-ASProtocolCommands": tt.wantCommands,
				"MS-Server-ActiveSync":  tt.wantServer,
				"Allow":                 "OPTIONS,POST",
			} {
				if got := w.Header().Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	for name, o := range map[string]*Options{
		"unknown-version": {Versions: []eas.ProtocolVersion{130}},
		"no-versions":     {Versions: []eas.ProtocolVersion{}},
		"negative-body":   {MaxBodySize: -1},
		"small-budget":    {MaxBodySize: 1000, DecodeBudget: 10},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := New(o); err == nil {
				t.Errorf("New(%+v) = nil error", o)
			}
		})
	}
}

func folderSyncOK(_ *Server, _ context.Context, sess *Session, req *eas.FolderSyncRequest) (*eas.FolderSyncResponse, error) {
	return &eas.FolderSyncResponse{Status: eas.FolderSyncStatusSuccess, SyncKey: req.SyncKey + "-" + sess.Request.DeviceID + "-" + sess.User}, nil
}

func TestFolderSyncRoundTrip(t *testing.T) {
	s := newTestServer(t, nil, nil)
	install(s, eas.CmdFolderSync, folderSyncOK)
	body := mustMarshal(t, &eas.FolderSyncRequest{SyncKey: "0"})
	for name, target := range map[string]string{
		"plain":  Path + plainQuery + "FolderSync",
		"base64": "/microsoft-server-activesync?" + b64(head(141, 9), lv("dev01"), noKey, lv("TestPhone")),
	} {
		t.Run(name, func(t *testing.T) {
			w := post(s, target, body)
			if w.Code != 200 || w.Header().Get("Content-Type") != wbxmlType {
				t.Fatalf("POST = %d %q, want 200 %s", w.Code, w.Header().Get("Content-Type"), wbxmlType)
			}
			var got eas.FolderSyncResponse
			if err := eas.Unmarshal(w.Body.Bytes(), &got, nil); err != nil {
				t.Fatal(err)
			}
			want := eas.FolderSyncResponse{Status: eas.FolderSyncStatusSuccess, SyncKey: `0-dev01-CORP\alice`}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("response = %+v, want %+v", got, want)
			}
		})
	}
}

// TestErrors drives every error path over HTTP and checks the exact HTTP
// status and, for 200, the decoded Status element.
func TestErrors(t *testing.T) {
	folderSync := mustMarshal(t, &eas.FolderSyncRequest{SyncKey: "0"})
	badSchema := mustMarshal(t, &eas.FolderSyncRequest{})
	moveItems := mustMarshal(t, &eas.MoveItemsRequest{Move: []eas.MoveItem{{SrcMsgID: "1:1", SrcFldID: "1", DstFldID: "2"}}})
	failWith := func(err error) func(*Server, context.Context, *Session, *eas.FolderSyncRequest) (*eas.FolderSyncResponse, error) {
		return func(*Server, context.Context, *Session, *eas.FolderSyncRequest) (*eas.FolderSyncResponse, error) {
			return nil, err
		}
	}
	tests := []struct {
		name     string
		err      error  // returned by the FolderSync and MoveItems handlers
		target   string // default: plain FolderSync
		body     []byte // default: a valid FolderSync
		headers  []string
		wantCode int
		wantTag  eas.Tag // zero: no WBXML body expected
		wantSt   int
		wantText string      // the plain-text body of a refusal; "" with wantTag zero: none
		unrouted eas.Command // a command whose handler the server lacks: every command has one
	}{
		{name: "no-auth", headers: []string{"Authorization", ""}, wantCode: 401},
		{name: "wrong-password", headers: []string{"Authorization", "Basic " + basic(testUser, "nope")}, wantCode: 401},
		{name: "auth-store-down", headers: []string{"Authorization", "Basic " + basic("busy", "x")}, wantCode: 503},
		{name: "no-query", target: Path, wantCode: 400, wantText: "gateway: bad request: no query\n"},
		{name: "unknown-command", target: Path + plainQuery + "Frobnicate", wantCode: 400,
			wantText: "gateway: bad request: unknown command \"Frobnicate\"\n"},
		{name: "unrouted-command", unrouted: eas.CmdValidateCert, target: Path + plainQuery + "ValidateCert", wantCode: 400,
			wantText: "gateway: bad request: command ValidateCert is not supported in protocol version 14.1\n"},
		{name: "command-not-in-version", target: Path + plainQuery + "GetHierarchy", wantCode: 400,
			wantText: "gateway: bad request: command GetHierarchy is not supported in protocol version 14.1\n"},
		{name: "no-version", headers: []string{"MS-ASProtocolVersion", ""}, wantCode: 400,
			wantText: "gateway: bad request: no MS-ASProtocolVersion header\n"},
		{name: "unsupported-version", headers: []string{"MS-ASProtocolVersion", "13.0"}, wantCode: 400,
			wantText: "gateway: bad request: MS-ASProtocolVersion \"13.0\" is not a supported version\n"},
		{name: "bad-policy-key", headers: []string{"X-MS-PolicyKey", "key"}, wantCode: 400,
			wantText: "gateway: bad request: X-MS-PolicyKey \"key\" is not a 32-bit unsigned integer\n"},
		{name: "bad-content-type", headers: []string{"Content-Type", "text/plain"}, wantCode: 400,
			wantText: "gateway: bad request: Content-Type \"text/plain\" is not allowed for FolderSync in 14.1\n"},
		{name: "bad-base64", target: Path + "?" + b64(head(141, 9), []byte{200}), wantCode: 400,
			wantText: "gateway: bad request: base64 query: field of 200 bytes past the end\n"},
		{name: "invalid-wbxml", body: []byte{3, 1, 0x6a, 0, 0, 7, 0x56}, wantCode: 200, // FolderSync, cut short
			wantTag: eas.Tag{Page: eas.PageFolderHierarchy, Name: "FolderSync"}, wantSt: 102},
		{name: "invalid-xml", body: badSchema, wantCode: 200,
			wantTag: eas.Tag{Page: eas.PageFolderHierarchy, Name: "FolderSync"}, wantSt: 103},
		{name: "empty-body", body: []byte{}, wantCode: 200,
			wantTag: eas.Tag{Page: eas.PageFolderHierarchy, Name: "FolderSync"}, wantSt: 103},
		{name: "status-error", err: &eas.StatusError{Status: 9}, wantCode: 200,
			wantTag: eas.Tag{Page: eas.PageFolderHierarchy, Name: "FolderSync"}, wantSt: 9},
		{name: "server-error", err: errors.New("store exploded"), wantCode: 200,
			wantTag: eas.Tag{Page: eas.PageFolderHierarchy, Name: "FolderSync"}, wantSt: 110},
		{name: "retry-later", err: context.DeadlineExceeded, wantCode: 200,
			wantTag: eas.Tag{Page: eas.PageFolderHierarchy, Name: "FolderSync"}, wantSt: 6}, // FolderSync's own "server error, retry"
		{name: "server-error-12.1", err: errors.New("store exploded"), headers: []string{"MS-ASProtocolVersion", "12.1"}, wantCode: 500},
		{name: "command-status-12.1", err: &eas.StatusError{Status: 9}, headers: []string{"MS-ASProtocolVersion", "12.1"}, wantCode: 200,
			wantTag: eas.Tag{Page: eas.PageFolderHierarchy, Name: "FolderSync"}, wantSt: 9},
		{name: "no-status-element", target: Path + plainQuery + "MoveItems", body: moveItems, err: errors.New("x"), wantCode: 500},
		{name: "no-status-element-syntax", target: Path + plainQuery + "MoveItems", body: []byte{3, 1}, wantCode: 400},
		{name: "request-error-from-handler", err: badRequest("no"), wantCode: 400, wantText: "gateway: bad request: no\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, nil, nil)
			install(s, eas.CmdFolderSync, failWith(tt.err))
			install(s, eas.CmdMoveItems, func(*Server, context.Context, *Session, *eas.MoveItemsRequest) (*eas.MoveItemsResponse, error) {
				return nil, tt.err
			})
			install(s, eas.CmdGetHierarchy, func(*Server, context.Context, *Session, *eas.GetHierarchyRequest) (*eas.GetHierarchyResponse, error) {
				return nil, nil
			})
			if tt.unrouted != 0 {
				rt := s.route(tt.unrouted)
				rt.handle, rt.stream = nil, nil
			}
			target, body := tt.target, tt.body
			if target == "" {
				target = Path + plainQuery + "FolderSync"
			}
			if body == nil {
				body = folderSync
			}
			w := post(s, target, body, tt.headers...)
			if w.Code != tt.wantCode {
				t.Fatalf("POST %s = %d, want %d", tt.name, w.Code, tt.wantCode)
			}
			if w.Code == 401 && w.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if w.Code == 401 || w.Code == 503 || tt.wantText != "" {
				// Refused before the body: the connection is not kept for it.
				if c := w.Header().Get("Connection"); c != "close" {
					t.Errorf("Connection = %q, want close", c)
				}
			}
			if tt.wantTag == (eas.Tag{}) {
				if got := w.Body.String(); got != tt.wantText {
					t.Errorf("body %q, want %q", got, tt.wantText)
				}
				if ct := w.Header().Get("Content-Type"); tt.wantText != "" && ct != "text/plain; charset=utf-8" {
					t.Errorf("Content-Type %q, want text/plain", ct)
				}
				return
			}
			tag, st := decodeStatus(t, w.Body.Bytes())
			if tag != tt.wantTag || st != tt.wantSt {
				t.Errorf("status body = %s %d, want %s %d", tag, st, tt.wantTag, tt.wantSt)
			}
		})
	}
}

func basic(user, pass string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pass)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

func TestNoBackend(t *testing.T) {
	s, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	install(s, eas.CmdFolderSync, folderSyncOK)
	if w := post(s, Path+plainQuery+"FolderSync", mustMarshal(t, &eas.FolderSyncRequest{SyncKey: "0"})); w.Code != 401 {
		t.Errorf("POST without Backend = %d, want 401", w.Code)
	}
}

func TestBodyLimit(t *testing.T) {
	s := newTestServer(t, &Options{MaxBodySize: 64}, nil)
	install(s, eas.CmdFolderSync, folderSyncOK)
	big := mustMarshal(t, &eas.FolderSyncRequest{SyncKey: strings.Repeat("9", 100)})
	for name, length := range map[string]int64{"content-length": int64(len(big)), "chunked": -1} {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest("POST", Path+plainQuery+"FolderSync", bytes.NewReader(big))
			r.ContentLength = length
			r.SetBasicAuth(testUser, testPassword)
			r.Header.Set("MS-ASProtocolVersion", "14.1")
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != http.StatusRequestEntityTooLarge {
				t.Errorf("POST of %d bytes = %d, want 413", len(big), w.Code)
			}
		})
	}
}

func TestDecoderLimit(t *testing.T) {
	s := newTestServer(t, &Options{Decoder: &eas.DecoderOptions{MaxStringSize: 8}}, nil)
	install(s, eas.CmdFolderSync, folderSyncOK)
	w := post(s, Path+plainQuery+"FolderSync", mustMarshal(t, &eas.FolderSyncRequest{SyncKey: strings.Repeat("9", 100)}))
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("POST past MaxStringSize = %d, want 413", w.Code)
	}
}

func TestEmptyBodyAndNilResponse(t *testing.T) {
	s := newTestServer(t, nil, nil)
	var got *eas.PingRequest
	called := false
	install(s, eas.CmdPing, func(_ *Server, _ context.Context, _ *Session, req *eas.PingRequest) (*eas.PingResponse, error) {
		called, got = true, req
		return nil, nil
	})
	w := post(s, Path+plainQuery+"Ping", nil)
	if w.Code != 200 || w.Body.Len() != 0 || !called || got != nil {
		t.Errorf("empty Ping = %d % x, handler called %v with %v; want 200, no body, called with nil", w.Code, w.Body.Bytes(), called, got)
	}
}

func TestHandlerPanic(t *testing.T) {
	s := newTestServer(t, nil, nil)
	install(s, eas.CmdFolderSync, func(*Server, context.Context, *Session, *eas.FolderSyncRequest) (*eas.FolderSyncResponse, error) {
		panic("bug")
	})
	if w := post(s, Path+plainQuery+"FolderSync", mustMarshal(t, &eas.FolderSyncRequest{SyncKey: "0"})); w.Code != 500 {
		t.Errorf("panicking handler = %d, want 500", w.Code)
	}
}

func TestRouting(t *testing.T) {
	s := newTestServer(t, nil, nil)
	tests := []struct {
		method, path string
		want         int
	}{
		{"GET", Path, http.StatusMethodNotAllowed},
		{"POST", "/elsewhere", http.StatusNotFound},
		{"OPTIONS", "/MICROSOFT-SERVER-ACTIVESYNC", http.StatusOK},
		{"PUT", Path, http.StatusMethodNotAllowed},
		// Metrics and profiles are on the admin listener only.
		{"GET", "/metrics", http.StatusNotFound},
		{"GET", "/debug/pprof/", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.method+tt.path, func(t *testing.T) {
			w := httptest.NewRecorder()
			r := httptest.NewRequest(tt.method, tt.path, nil)
			r.SetBasicAuth(testUser, testPassword)
			s.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Errorf("%s %s = %d, want %d", tt.method, tt.path, w.Code, tt.want)
			}
		})
	}
}

func TestAccessLog(t *testing.T) {
	var logs bytes.Buffer
	s := newTestServer(t, nil, &logs)
	install(s, eas.CmdFolderSync, func(*Server, context.Context, *Session, *eas.FolderSyncRequest) (*eas.FolderSyncResponse, error) {
		return nil, errors.New("store exploded")
	})
	post(s, Path+plainQuery+"FolderSync", mustMarshal(t, &eas.FolderSyncRequest{SyncKey: "0"}))
	if strings.Contains(logs.String(), testPassword) {
		t.Fatalf("log holds the password:\n%s", logs.String())
	}
	var access map[string]any
	errorLines := 0
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		switch m["msg"] {
		case "request":
			access = m
		case "request failed":
			errorLines++
		}
	}
	if errorLines != 1 {
		t.Errorf("%d error lines for one server error, want 1", errorLines)
	}
	want := map[string]any{"cmd": "FolderSync", "user": testUser, "device_id": "dev01", "device_type": "TestPhone",
		"proto": "14.1", "status": 200.0, "eas_status": 110.0}
	for k, v := range want {
		if access[k] != v {
			t.Errorf("access line %s = %v, want %v", k, access[k], v)
		}
	}
	if _, ok := access["dur"]; !ok {
		t.Error("access line has no dur")
	}
}

func TestMetricsEndpoint(t *testing.T) {
	s := newTestServer(t, nil, nil)
	install(s, eas.CmdFolderSync, folderSyncOK)
	body := mustMarshal(t, &eas.FolderSyncRequest{SyncKey: "0"})
	post(s, Path+plainQuery+"FolderSync", body)
	post(s, Path+plainQuery+"FolderSync", body)
	post(s, Path+plainQuery+"FolderSync", body, "Authorization", "")
	post(s, Path+plainQuery+"Nonsense", body)

	w := httptest.NewRecorder()
	s.Admin().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(w.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	counts := map[string]float64{}
	for _, m := range fams["easgate_requests_total"].GetMetric() {
		counts[label(m, "command")+"/"+label(m, "status")] = m.GetCounter().GetValue()
	}
	want := map[string]float64{"FolderSync/200": 2, "FolderSync/401": 1, "unknown/400": 1}
	if !reflect.DeepEqual(counts, want) {
		t.Errorf("easgate_requests_total = %v, want %v", counts, want)
	}
	if h := fams["easgate_request_duration_seconds"].GetMetric(); len(h) != 2 || h[0].GetHistogram().GetSampleCount() == 0 {
		t.Errorf("easgate_request_duration_seconds = %v, want 2 commands with samples", h)
	}
	if g := fams["easgate_requests_in_flight"].GetMetric(); len(g) != 1 || g[0].GetGauge().GetValue() != 0 {
		t.Errorf("easgate_requests_in_flight = %v, want 0", g)
	}
}

func TestAdminMux(t *testing.T) {
	s := newTestServer(t, nil, nil)
	s.Admin().HandleFunc("GET /admin/ping", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "pong") })
	tests := []struct {
		path string
		want int
	}{
		{"/metrics", http.StatusOK},
		{"/debug/pprof/", http.StatusOK},
		{"/debug/pprof/goroutine?debug=1", http.StatusOK},
		{"/admin/ping", http.StatusOK},
		{Path, http.StatusNotFound}, // EAS is not on the admin listener
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		s.Admin().ServeHTTP(w, httptest.NewRequest("GET", tt.path, nil))
		if w.Code != tt.want {
			t.Errorf("admin GET %s = %d, want %d", tt.path, w.Code, tt.want)
		}
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func TestRoutesTable(t *testing.T) {
	seen := map[eas.Command]int{}
	for _, rt := range routes {
		seen[rt.cmd]++
		if rt.newRequest == nil || rt.newRequest(&Request{}) == nil {
			t.Errorf("%s: no request type", rt.cmd)
		}
		if rt.handle != nil && rt.stream != nil {
			t.Errorf("%s: both a buffered and a streamed handler", rt.cmd)
		}
	}
	for _, c := range eas.AllCommands {
		if seen[c] != 1 {
			t.Errorf("%s has %d rows, want 1", c, seen[c])
		}
	}
}

func TestGetAttachmentFromQuery(t *testing.T) {
	s := newTestServer(t, nil, nil)
	var got string
	install(s, eas.CmdGetAttachment, func(_ *Server, _ context.Context, _ *Session, req *eas.GetAttachmentRequest) (any, error) {
		got = req.AttachmentName
		return nil, nil
	})
	w := post(s, Path+plainQuery+"GetAttachment&AttachmentName=5%3A7%3A1", nil, "MS-ASProtocolVersion", "12.1", "Content-Type", "")
	if w.Code != 200 || got != "5:7:1" {
		t.Errorf("GetAttachment = %d, handler saw %q; want 200, 5:7:1", w.Code, got)
	}
	w = post(s, Path+plainQuery+"GetAttachment", nil, "MS-ASProtocolVersion", "12.1")
	if w.Code != 400 {
		t.Errorf("GetAttachment without AttachmentName = %d, want 400 (103 has no element here)", w.Code)
	}
}
