package dav

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/easgate/easgate/sources"
)

// The wire layer is written on net/http and encoding/xml rather than on
// go-webdav v0.7.0's caldav and carddav clients, which go-webdav is used
// for only in discovery: their multiget decodes every object and fails
// the whole batch on one broken object, drops the raw text we need to keep
// unknown properties, has no If-Match on PUT, and CalDAV has no
// sync-collection at all.

// Namespaces of the elements below.
const (
	nsDAV     = "DAV:"
	nsCalDAV  = "urn:ietf:params:xml:ns:caldav"
	nsCardDAV = "urn:ietf:params:xml:ns:carddav"
	nsCS      = "http://calendarserver.org/ns/"
)

// multistatus is RFC 4918 section 14.16, with RFC 6578's sync-token.
type multistatus struct {
	Responses []response `xml:"DAV: response"`
	SyncToken string     `xml:"DAV: sync-token"`
}

// response is RFC 4918 section 14.24.
type response struct {
	Hrefs     []string   `xml:"DAV: href"`
	Status    string     `xml:"DAV: status"`
	Propstats []propstat `xml:"DAV: propstat"`
}

// propstat is RFC 4918 section 14.22.
type propstat struct {
	Prop   prop   `xml:"DAV: prop"`
	Status string `xml:"DAV: status"`
}

// prop holds every property this package asks for.
type prop struct {
	ETag         string        `xml:"DAV: getetag"`
	SyncToken    string        `xml:"DAV: sync-token"`
	CTag         string        `xml:"http://calendarserver.org/ns/ getctag"`
	DisplayName  string        `xml:"DAV: displayname"`
	ResourceType *resourceType `xml:"DAV: resourcetype"`
	Components   *compSet      `xml:"urn:ietf:params:xml:ns:caldav supported-calendar-component-set"`
	CalendarData *string       `xml:"urn:ietf:params:xml:ns:caldav calendar-data"`
	AddressData  *string       `xml:"urn:ietf:params:xml:ns:carddav address-data"`
	ReportSet    *struct {
		Reports []struct {
			Inner []byte `xml:",innerxml"`
		} `xml:"DAV: supported-report"`
	} `xml:"DAV: supported-report-set"`
}

type resourceType struct {
	Calendar    *struct{} `xml:"urn:ietf:params:xml:ns:caldav calendar"`
	AddressBook *struct{} `xml:"urn:ietf:params:xml:ns:carddav addressbook"`
}

// compSet is RFC 4791 section 5.2.3.
type compSet struct {
	Comps []struct {
		Name string `xml:"name,attr"`
	} `xml:"urn:ietf:params:xml:ns:caldav comp"`
}

// status returns the code of an RFC 4918 status line, "HTTP/1.1 404 Not
// Found"; 0 if there is none.
func statusCode(line string) int {
	f := strings.Fields(line)
	if len(f) < 2 {
		return 0
	}
	var n int
	fmt.Sscanf(f[1], "%d", &n)
	return n
}

// okProp returns the properties the server found (a 2xx propstat).
func (r *response) okProp() (prop, bool) {
	for _, ps := range r.Propstats {
		if c := statusCode(ps.Status); c >= 200 && c < 300 {
			return ps.Prop, true
		}
	}
	return prop{}, false
}

// href returns the response's first href as a decoded path.
func (r *response) href() string {
	if len(r.Hrefs) == 0 {
		return ""
	}
	return hrefPath(r.Hrefs[0])
}

// hrefPath turns a server href, a path or an absolute URL, into a decoded
// path.
func hrefPath(h string) string {
	u, err := url.Parse(strings.TrimSpace(h))
	if err != nil {
		return strings.TrimSpace(h)
	}
	return u.Path
}

// statusError is a non-2xx answer, kept whole so that callers can look
// for a precondition such as valid-sync-token.
type statusError struct {
	Method, Path string
	Code         int
	Body         string
}

func (e *statusError) Error() string {
	b := e.Body
	if len(b) > 200 {
		b = b[:200] + "…"
	}
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Code, strings.TrimSpace(b))
}

// Unwrap maps the status to the sources sentinel it stands for.
func (e *statusError) Unwrap() error {
	switch {
	case e.Code == http.StatusUnauthorized:
		return sources.ErrAuth
	case e.Code == http.StatusNotFound, e.Code == http.StatusGone:
		return sources.ErrNotFound
	case e.Code == http.StatusPreconditionFailed:
		return sources.ErrConflict
	case e.Code == http.StatusRequestEntityTooLarge, e.Code == http.StatusInsufficientStorage:
		return sources.ErrTooLarge
	}
	return nil
}

// Temporary reports server-side failures and throttling as worth a retry.
func (e *statusError) Temporary() bool {
	return e.Code >= 500 && e.Code != http.StatusInsufficientStorage || e.Code == http.StatusTooManyRequests
}

// request is one HTTP exchange with the server.
type request struct {
	method, path string
	header       map[string]string
	body         []byte
	xml          bool // body is XML
}

// do sends r and returns the response of a 2xx answer; the caller closes
// its body. Other statuses come back as *statusError, network failures as
// temporary errors.
func (s *Store) do(ctx context.Context, r request) (*http.Response, error) {
	u := *s.base
	u.Path = r.path
	u.RawPath = ""
	u.RawQuery = ""
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(s.user, s.password)
	if r.xml {
		// Xandikos refuses XML bodies without this exact type.
		req.Header.Set("Content-Type", `application/xml; charset="utf-8"`)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, sources.MarkTemporary(err)
	}
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, &statusError{Method: r.method, Path: r.path, Code: resp.StatusCode, Body: string(b)}
	}
	return resp, nil
}

// multi sends an XML request that answers 207 Multi-Status and decodes it.
func (s *Store) multi(ctx context.Context, method, path, depth, body string) (*multistatus, error) {
	resp, err := s.do(ctx, request{method: method, path: path, header: map[string]string{"Depth": depth}, body: []byte(body), xml: true})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusMultiStatus {
		return nil, fmt.Errorf("%s %s: %s, want 207 Multi-Status", method, path, resp.Status)
	}
	var ms multistatus
	if err := xml.NewDecoder(resp.Body).Decode(&ms); err != nil {
		return nil, sources.MarkTemporary(fmt.Errorf("%s %s: %w", method, path, err))
	}
	return &ms, nil
}

// propfind asks for props (inner XML of DAV:prop) at depth.
func (s *Store) propfind(ctx context.Context, path, depth, props string) (*multistatus, error) {
	return s.multi(ctx, "PROPFIND", path, depth, `<?xml version="1.0" encoding="utf-8"?>`+
		`<d:propfind xmlns:d="DAV:" xmlns:c="`+nsCalDAV+`" xmlns:a="`+nsCardDAV+`" xmlns:cs="`+nsCS+`"><d:prop>`+
		props+`</d:prop></d:propfind>`)
}

// syncCollection is one RFC 6578 sync-collection REPORT asking for ETags
// only. The caller loops while truncated is set: the server cut the list
// short (a 507 response for the collection itself, RFC 6578 section 3.6)
// and next continues it.
func (s *Store) syncCollection(ctx context.Context, coll, token string) (ch []change, next string, truncated bool, err error) {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>`)
	xml.EscapeText(&b, []byte(token))
	b.WriteString(`</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`)
	ms, err := s.multi(ctx, "REPORT", coll, "0", b.String())
	if err != nil {
		var se *statusError
		// RFC 6578 section 3.2: an invalid or expired token is a 403 (or
		// 409) with the valid-sync-token precondition. Xandikos 0.2.8
		// answers a bogus token with 500 instead.
		if token != "" && errors.As(err, &se) && (se.Code == 403 || se.Code == 409 || se.Code == 410 ||
			strings.Contains(se.Body, "valid-sync-token") || se.Code == 500 && s.tokenMoved(ctx, coll, token)) {
			return nil, "", false, fmt.Errorf("%w: %v", sources.ErrStateExpired, err)
		}
		return nil, "", false, err
	}
	for _, r := range ms.Responses {
		h := r.href()
		if sameDir(h, coll) {
			if statusCode(r.Status) == http.StatusInsufficientStorage {
				truncated = true
			}
			continue
		}
		if c := statusCode(r.Status); c == http.StatusNotFound || c == http.StatusGone {
			ch = append(ch, change{href: h, removed: true})
			continue
		}
		p, _ := r.okProp()
		ch = append(ch, change{href: h, etag: p.ETag})
	}
	if ms.SyncToken == "" {
		return nil, "", false, fmt.Errorf("REPORT sync-collection %s: no sync-token in the answer", coll)
	}
	return ch, ms.SyncToken, truncated, nil
}

// tokenMoved tells a 500 for a token the server does not know (Xandikos
// 0.2.8 answers a bogus token so) from a server failure: the collection
// still answers, and with another token.
func (s *Store) tokenMoved(ctx context.Context, coll, token string) bool {
	ms, err := s.propfind(ctx, coll, "0", "<d:sync-token/>")
	if err != nil {
		return false
	}
	for _, r := range ms.Responses {
		if p, ok := r.okProp(); ok && p.SyncToken != "" {
			return p.SyncToken != token
		}
	}
	return false
}

// sameDir reports whether two collection paths are the same, ignoring a
// trailing slash.
func sameDir(a, b string) bool {
	return strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/")
}

// object is one calendar object or vCard as the server has it.
type object struct {
	href, etag string
	data       string
}

// multiget fetches hrefs of collection coll with calendar-multiget
// (RFC 4791 section 7.9) or addressbook-multiget (RFC 6352 section 8.7).
// Hrefs the server does not have are left out.
func (s *Store) multiget(ctx context.Context, coll string, card bool, hrefs []string) ([]object, error) {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>`)
	if card {
		b.WriteString(`<a:addressbook-multiget xmlns:d="DAV:" xmlns:a="` + nsCardDAV + `"><d:prop><d:getetag/><a:address-data/></d:prop>`)
	} else {
		b.WriteString(`<c:calendar-multiget xmlns:d="DAV:" xmlns:c="` + nsCalDAV + `"><d:prop><d:getetag/><c:calendar-data/></d:prop>`)
	}
	for _, h := range hrefs {
		b.WriteString("<d:href>")
		xml.EscapeText(&b, []byte((&url.URL{Path: h}).EscapedPath()))
		b.WriteString("</d:href>")
	}
	if card {
		b.WriteString(`</a:addressbook-multiget>`)
	} else {
		b.WriteString(`</c:calendar-multiget>`)
	}
	ms, err := s.multi(ctx, "REPORT", coll, "1", b.String())
	if err != nil {
		return nil, err
	}
	var objs []object
	for _, r := range ms.Responses {
		p, ok := r.okProp()
		if !ok {
			continue
		}
		data := p.CalendarData
		if card {
			data = p.AddressData
		}
		if data == nil {
			continue
		}
		objs = append(objs, object{href: r.href(), etag: p.ETag, data: *data})
	}
	return objs, nil
}

// get fetches one object with GET.
func (s *Store) get(ctx context.Context, href string) (object, error) {
	resp, err := s.do(ctx, request{method: "GET", path: href})
	if err != nil {
		return object{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxObject))
	if err != nil {
		return object{}, sources.MarkTemporary(err)
	}
	return object{href: href, etag: resp.Header.Get("ETag"), data: string(b)}, nil
}

// maxObject caps the size of one object read with GET.
const maxObject = 16 << 20

// put stores data at href. With ifMatch empty it only creates
// (If-None-Match: *). It returns the new ETag, which it asks for when the
// server does not send it.
func (s *Store) put(ctx context.Context, href, contentType string, data []byte, ifMatch string) (string, error) {
	h := map[string]string{"Content-Type": contentType}
	if ifMatch == "" {
		h["If-None-Match"] = "*"
	} else {
		h["If-Match"] = ifMatch
	}
	resp, err := s.do(ctx, request{method: "PUT", path: href, header: h, body: data})
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	// RFC 4791 section 5.3.4: a server that changed the data sends no
	// ETag; ask for the one it stored.
	if et := resp.Header.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
		return et, nil
	}
	ms, err := s.propfind(ctx, href, "0", "<d:getetag/>")
	if err != nil {
		return "", err
	}
	for _, r := range ms.Responses {
		if p, ok := r.okProp(); ok && p.ETag != "" {
			return p.ETag, nil
		}
	}
	return "", fmt.Errorf("PUT %s: no ETag", href)
}
