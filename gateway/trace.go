package gateway

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/easgate/easgate/eas"
)

// Per-device traces keep what one misbehaving phone sent and got, rendered
// as the XML of "easgate wbxml decode", for an administrator to read. They
// are off by default, switched on for one device at a time through the
// admin API, and end by themselves. Their memory is bounded by the
// constants below: at most maxTraces devices × DefaultTraceEntries
// exchanges × 2 bodies × traceBodyMax, about 26 MB.
const (
	// DefaultTraceEntries is how many exchanges a trace keeps, and the
	// most it may keep: the oldest go first.
	DefaultTraceEntries = 50
	// DefaultTraceDuration is how long a trace stays on when the request
	// does not say; maxTraceDuration is the longest it may.
	DefaultTraceDuration = 30 * time.Minute
	maxTraceDuration     = 24 * time.Hour
	// maxTraces bounds the devices traced at once; a new trace beyond it
	// ends the one that expires first.
	maxTraces = 8
	// traceBodyMax bounds each kept body, raw and rendered.
	traceBodyMax = 32 << 10
	// recentPerDevice is how many request summaries "show" lists per
	// device; recentDevices bounds the devices they are kept for (beyond
	// it, one device's are dropped at random).
	recentPerDevice = 10
	recentDevices   = 10000
)

// TraceEntry is one traced exchange.
type TraceEntry struct {
	At         time.Time         `json:"at"`
	User       string            `json:"user"`
	Command    string            `json:"command"`
	Query      string            `json:"query"`   // the request URI's query, which holds no credentials
	Headers    map[string]string `json:"headers"` // only the EAS headers; never Authorization or cookies
	HTTPStatus int               `json:"http_status"`
	EASStatus  int               `json:"eas_status,omitempty"`
	Duration   string            `json:"duration"`
	Request    string            `json:"request,omitempty"` // XML, or the text of a MIME body
	Response   string            `json:"response,omitempty"`
	// RequestTruncated and ResponseTruncated say that only the first
	// traceBodyMax bytes were kept.
	RequestTruncated  bool `json:"request_truncated,omitempty"`
	ResponseTruncated bool `json:"response_truncated,omitempty"`
}

// TraceStatus describes a device's trace.
type TraceStatus struct {
	Until   time.Time `json:"until"`
	Max     int       `json:"max"`
	Entries int       `json:"entries"`
}

// RequestJSON summarises one recent request of a device.
type RequestJSON struct {
	At         time.Time `json:"at"`
	User       string    `json:"user"`
	Command    string    `json:"command"`
	HTTPStatus int       `json:"http_status"`
	EASStatus  int       `json:"eas_status,omitempty"`
	DurationMS int64     `json:"duration_ms"`
}

type trace struct {
	until   time.Time
	max     int
	entries []TraceEntry // oldest first
}

// traces holds the Server's per-device traces and recent requests.
type traces struct {
	mu   sync.Mutex
	on   map[string]*trace
	last map[string][]RequestJSON // newest last
}

// traceCapture collects the bodies of one traced exchange.
type traceCapture struct {
	req, resp capBuf
	headers   map[string]string
	query     string
	mime      bool
}

// capBuf keeps the first traceBodyMax bytes written to it.
type capBuf struct {
	b         bytes.Buffer
	truncated bool
}

func (c *capBuf) Write(p []byte) (int, error) {
	if room := traceBodyMax - c.b.Len(); room < len(p) {
		c.truncated = true
		if room > 0 {
			c.b.Write(p[:room])
		}
		return len(p), nil
	}
	return c.b.Write(p)
}

// teeBody copies what the handler reads of a body into a capBuf.
type teeBody struct {
	io.ReadCloser
	c *capBuf
}

func (t teeBody) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	t.c.Write(p[:n])
	return n, err
}

// tracedHeaders are the request headers a trace keeps.
var tracedHeaders = []string{"MS-ASProtocolVersion", "X-MS-PolicyKey", "User-Agent", "Content-Type", "MS-ASAcceptMultiPart"}

// start switches device dev's trace on, or renews it, and returns its
// status.
func (ts *traces) start(dev string, minutes, max int, now time.Time) TraceStatus {
	d := DefaultTraceDuration
	if minutes > 0 {
		d = min(time.Duration(minutes)*time.Minute, maxTraceDuration)
	}
	if max <= 0 || max > DefaultTraceEntries {
		max = DefaultTraceEntries
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.on == nil {
		ts.on = make(map[string]*trace)
	}
	ts.expire(now)
	t := ts.on[dev]
	if t == nil {
		if len(ts.on) >= maxTraces {
			var first string
			for k, o := range ts.on {
				if first == "" || o.until.Before(ts.on[first].until) {
					first = k
				}
			}
			delete(ts.on, first)
		}
		t = &trace{}
		ts.on[dev] = t
	}
	t.until, t.max = now.Add(d), max
	if len(t.entries) > max {
		t.entries = t.entries[len(t.entries)-max:]
	}
	return TraceStatus{Until: t.until, Max: t.max, Entries: len(t.entries)}
}

// expire drops the traces whose time is up. ts.mu is held.
func (ts *traces) expire(now time.Time) {
	for k, t := range ts.on {
		if !now.Before(t.until) {
			delete(ts.on, k)
		}
	}
}

func (ts *traces) stop(dev string) {
	ts.mu.Lock()
	delete(ts.on, dev)
	ts.mu.Unlock()
}

// status returns dev's trace status, or nil when it is off.
func (ts *traces) status(dev string, now time.Time) *TraceStatus {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.expire(now)
	t := ts.on[dev]
	if t == nil {
		return nil
	}
	return &TraceStatus{Until: t.until, Max: t.max, Entries: len(t.entries)}
}

// entries returns a copy of dev's traced exchanges, oldest first; ok is
// false when no trace is on.
func (ts *traces) entries(dev string, now time.Time) ([]TraceEntry, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.expire(now)
	t := ts.on[dev]
	if t == nil {
		return nil, false
	}
	return append([]TraceEntry(nil), t.entries...), true
}

func (ts *traces) lastRequests(dev string) []RequestJSON {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	rs := ts.last[dev]
	out := make([]RequestJSON, len(rs))
	for i, r := range rs {
		out[len(rs)-1-i] = r
	}
	return out
}

// capture starts collecting the exchange of x when its device is traced:
// it tees r's body and keeps the EAS headers.
func (ts *traces) capture(x *exchange, r *http.Request, now time.Time) {
	if x.q == nil || x.q.DeviceID == "" {
		return
	}
	ts.mu.Lock()
	t := ts.on[x.q.DeviceID]
	on := t != nil && now.Before(t.until)
	ts.mu.Unlock()
	if !on {
		return
	}
	c := &traceCapture{headers: make(map[string]string), query: r.URL.RawQuery}
	for _, h := range tracedHeaders {
		if v := r.Header.Get(h); v != "" {
			c.headers[h] = v
		}
	}
	c.mime = x.q.MIME
	r.Body = teeBody{ReadCloser: r.Body, c: &c.req}
	x.tr = c
}

// observe records a finished exchange: its summary always, its bodies
// when it was captured.
func (ts *traces) observe(x *exchange, now time.Time) {
	q := x.q
	if q == nil || q.DeviceID == "" {
		return
	}
	cmd := ""
	if q.Command != 0 {
		cmd = q.Command.String()
	}
	dur := now.Sub(x.start)
	sum := RequestJSON{At: x.start, User: x.user, Command: cmd, HTTPStatus: x.w.code, EASStatus: int(x.easStatus),
		DurationMS: dur.Milliseconds()}
	var e *TraceEntry
	if c := x.tr; c != nil {
		// Rendering happens outside the lock, and only for traced devices.
		e = &TraceEntry{
			At: x.start, User: x.user, Command: cmd, Query: c.query, Headers: c.headers,
			HTTPStatus: x.w.code, EASStatus: int(x.easStatus), Duration: dur.String(),
			RequestTruncated: c.req.truncated, ResponseTruncated: c.resp.truncated,
		}
		e.Request = renderBody(c.req.b.Bytes(), c.mime, c.req.truncated)
		e.Response = renderBody(c.resp.b.Bytes(), false, c.resp.truncated)
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.last == nil {
		ts.last = make(map[string][]RequestJSON)
	}
	rs, ok := ts.last[q.DeviceID]
	if !ok && len(ts.last) >= recentDevices {
		for k := range ts.last {
			delete(ts.last, k)
			break
		}
	}
	if len(rs) == recentPerDevice {
		rs = append(rs[:0], rs[1:]...)
	}
	ts.last[q.DeviceID] = append(rs, sum)
	if e == nil {
		return
	}
	t := ts.on[q.DeviceID]
	if t == nil {
		return // stopped meanwhile
	}
	if len(t.entries) == t.max {
		t.entries = append(t.entries[:0], t.entries[1:]...)
	}
	t.entries = append(t.entries, *e)
}

// passwordText matches the text of any Password element: Settings'
// DevicePassword (MS-ASCMD 2.2.3.131) is the one an EAS body carries.
var passwordText = regexp.MustCompile(`(<[A-Za-z0-9]+:Password>)[^<]*(</)`)

// renderBody returns a body as a trace shows it: WBXML as XML, with
// passwords removed; a MIME body as text; anything else as a note.
func renderBody(b []byte, mime, truncated bool) string {
	if len(b) == 0 {
		return ""
	}
	if !mime {
		var out bytes.Buffer
		err := eas.DecodeXML(&out, bytes.NewReader(b), nil)
		if err == nil || out.Len() > 0 {
			s := passwordText.ReplaceAllString(out.String(), "${1}[removed]${2}")
			if err != nil {
				note := "decoding stopped"
				if truncated {
					note = "body truncated"
				}
				s += fmt.Sprintf("\n<!-- %s: %v -->", note, err)
			}
			return capString(s)
		}
		return fmt.Sprintf("<!-- %d bytes that are not WBXML: %v -->", len(b), err)
	}
	if !utf8.Valid(b) {
		return fmt.Sprintf("<!-- %d bytes of MIME that are not UTF-8 -->", len(b))
	}
	return capString(string(b))
}

func capString(s string) string {
	if len(s) <= traceBodyMax {
		return s
	}
	cut := traceBodyMax
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "\n<!-- truncated -->"
}

// apiGetTrace serves a device's trace: JSON, or with ?format=text a
// readable log, as a download.
func (s *Server) apiGetTrace(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	es, ok := s.traces.entries(id, s.now())
	if !ok {
		apiError(w, http.StatusNotFound, fmt.Errorf("no trace is on for device %q (POST %sdevices/%s/trace starts one)", id, AdminPrefix, id))
		return
	}
	if r.URL.Query().Get("format") == "text" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", "easgate-trace-"+safeName(id)+".txt"))
		writeTraceText(w, id, es)
		return
	}
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", "easgate-trace-"+safeName(id)+".json"))
	writeJSON(w, http.StatusOK, map[string]any{"device": id, "entries": es})
}

func writeTraceText(w io.Writer, id string, es []TraceEntry) {
	fmt.Fprintf(w, "easgate trace of device %s: %d exchanges\n", id, len(es))
	for _, e := range es {
		fmt.Fprintf(w, "\n=== %s %s user=%s HTTP %d", e.At.UTC().Format(time.RFC3339Nano), e.Command, e.User, e.HTTPStatus)
		if e.EASStatus != 0 {
			fmt.Fprintf(w, " status=%d", e.EASStatus)
		}
		fmt.Fprintf(w, " in %s\n?%s\n", e.Duration, e.Query)
		for _, h := range tracedHeaders {
			if v, ok := e.Headers[h]; ok {
				fmt.Fprintf(w, "%s: %s\n", h, v)
			}
		}
		fmt.Fprintf(w, "--- request\n%s\n--- response\n%s\n", e.Request, e.Response)
	}
}

// safeName keeps the characters of a device id that are safe in a file
// name.
func safeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}
