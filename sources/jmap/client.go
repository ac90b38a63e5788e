package jmap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	gojmap "git.sr.ht/~rockorager/go-jmap"
	"git.sr.ht/~rockorager/go-jmap/core"

	"github.com/easgate/easgate/sources"
)

// Capabilities the mail part uses (RFC 8621).
const (
	uriMail       gojmap.URI = "urn:ietf:params:jmap:mail"
	uriSubmission gojmap.URI = "urn:ietf:params:jmap:submission"
)

// authTransport adds one user's credentials to every request. go-jmap's
// own WithBasicAuth goes through oauth2, which hides the HTTP status we
// need to tell a wrong password from a server that is down.
type authTransport struct {
	base          http.RoundTripper
	authorization string
}

func (t *authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", t.authorization)
	return t.base.RoundTrip(r)
}

// conn is one user's JMAP session: the HTTP client with its credentials,
// the session resource with absolute URLs, and the limits that bound
// each request.
type conn struct {
	hc         *http.Client
	sessionURL string

	mu      sync.Mutex
	session *gojmap.Session
	stale   bool // a response carried another sessionState

	// client is the go-jmap view of this session, for the pim package.
	client *gojmap.Client
}

// newConn fetches the session resource at sessionURL, the configured URL
// or its /.well-known/jmap, with the given Authorization header value.
func newConn(ctx context.Context, hc *http.Client, sessionURL, authorization string) (*conn, error) {
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c := &conn{
		hc:         &http.Client{Transport: &authTransport{base, authorization}, Timeout: hc.Timeout},
		sessionURL: sessionURL,
	}
	if err := c.refresh(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// refresh fetches the session resource again.
func (c *conn) refresh(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.sessionURL, nil)
	if err != nil {
		return fmt.Errorf("jmap: session %s: %w", c.sessionURL, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("jmap: session %s: %w", c.sessionURL, sources.MarkTemporary(err))
	}
	defer resp.Body.Close()
	if err := httpError(resp); err != nil {
		return fmt.Errorf("jmap: session %s: %w", c.sessionURL, err)
	}
	var s gojmap.Session
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return fmt.Errorf("jmap: session %s: %w", c.sessionURL, sources.MarkTemporary(err))
	}
	// Cyrus gives relative URLs; they are relative to where the session
	// was finally served from, after redirects.
	for _, u := range []*string{&s.APIURL, &s.DownloadURL, &s.UploadURL, &s.EventSourceURL} {
		if *u != "" {
			*u = resolve(resp.Request.URL, *u)
		}
	}
	if s.APIURL == "" {
		return fmt.Errorf("jmap: session %s has no apiUrl", c.sessionURL)
	}
	c.mu.Lock()
	c.session = &s
	c.stale = false
	if c.client == nil {
		c.client = &gojmap.Client{HttpClient: c.hc, SessionEndpoint: c.sessionURL}
	}
	c.client.Lock()
	c.client.Session = &s
	c.client.Unlock()
	c.mu.Unlock()
	return nil
}

// resolve resolves ref against base without escaping the {placeholders}
// of URL templates, which url.Parse would mangle in paths.
func resolve(base *url.URL, ref string) string {
	if strings.Contains(ref, "://") {
		return ref
	}
	if strings.HasPrefix(ref, "/") {
		return base.Scheme + "://" + base.Host + ref
	}
	dir := base.Path[:strings.LastIndex(base.Path, "/")+1]
	return base.Scheme + "://" + base.Host + dir + ref
}

// httpError maps an HTTP failure to the sources sentinels: 401 and 403
// mean refused credentials, 5xx and 429 a store that may come back.
func httpError(resp *http.Response) error {
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c == http.StatusUnauthorized || c == http.StatusForbidden:
		return fmt.Errorf("HTTP %d: %w", c, sources.ErrAuth)
	case c == http.StatusNotFound:
		return fmt.Errorf("HTTP %d: %w", c, sources.ErrNotFound)
	case c == http.StatusRequestEntityTooLarge:
		return fmt.Errorf("HTTP %d: %w", c, sources.ErrTooLarge)
	case c >= 500 || c == http.StatusTooManyRequests:
		return sources.MarkTemporary(fmt.Errorf("HTTP %d", c))
	default:
		var re gojmap.RequestError
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if json.Unmarshal(b, &re) == nil && re.Type != "" {
			return fmt.Errorf("HTTP %d: %s %s", c, re.Type, re.Detail)
		}
		return fmt.Errorf("HTTP %d", c)
	}
}

// sessionInfo returns the current session, fetching it again first if
// a response said it changed.
func (c *conn) sessionInfo(ctx context.Context) (*gojmap.Session, error) {
	c.mu.Lock()
	s, stale := c.session, c.stale
	c.mu.Unlock()
	if !stale {
		return s, nil
	}
	if err := c.refresh(ctx); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session, nil
}

// limits returns maxCallsInRequest and maxObjectsInGet, with defaults
// for servers that do not say.
func limits(s *gojmap.Session) (calls, objects int) {
	calls, objects = 16, 500
	if cc, ok := s.Capabilities[gojmap.CoreURI].(*core.Core); ok {
		if cc.MaxCallsInRequest > 0 {
			calls = int(cc.MaxCallsInRequest)
		}
		if cc.MaxObjectsInGet > 0 {
			objects = int(cc.MaxObjectsInGet)
		}
	}
	return calls, objects
}

// call is one method call of a request: the method's arguments (a
// go-jmap method type or our own), where to decode its response, and the
// method-level error, if the server answered with one.
type call struct {
	args gojmap.Method
	resp any
	err  *gojmap.MethodError
	done bool
}

// wire type of RFC 8620 section 3.3; responses (section 3.4) are decoded
// by decodeResponses rather than through go-jmap's method registry, so
// that a method go-jmap does not know cannot fail a whole response.
type wireRequest struct {
	Using []gojmap.URI         `json:"using"`
	Calls []*gojmap.Invocation `json:"methodCalls"`
}

// do sends calls in as few requests as maxCallsInRequest allows. Calls
// that refer to earlier results (#ids) must fit in one request; callers
// keep such groups small. The error is about the requests; each call's
// own failure is in its err field.
func (c *conn) do(ctx context.Context, calls ...*call) error {
	s, err := c.sessionInfo(ctx)
	if err != nil {
		return err
	}
	max, _ := limits(s)
	for len(calls) > 0 {
		n := min(len(calls), max)
		if err := c.send(ctx, s, calls[:n]); err != nil {
			return err
		}
		calls = calls[n:]
	}
	return nil
}

func (c *conn) send(ctx context.Context, s *gojmap.Session, calls []*call) error {
	using := map[gojmap.URI]bool{gojmap.CoreURI: true}
	req := wireRequest{}
	for i, cl := range calls {
		for _, u := range cl.args.Requires() {
			using[u] = true
		}
		req.Calls = append(req.Calls, &gojmap.Invocation{Name: cl.args.Name(), Args: cl.args, CallID: fmt.Sprint(i)})
	}
	for u := range using {
		req.Using = append(req.Using, u)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("jmap: %w", err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, s.APIURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("jmap: %w", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(hr)
	if err != nil {
		return fmt.Errorf("jmap: %s: %w", calls[0].args.Name(), sources.MarkTemporary(err))
	}
	defer resp.Body.Close()
	if err := httpError(resp); err != nil {
		return fmt.Errorf("jmap: %s: %w", calls[0].args.Name(), err)
	}
	sessionState, err := decodeResponses(resp.Body, calls)
	if err != nil {
		return fmt.Errorf("jmap: %s: reading the response: %w", calls[0].args.Name(), err)
	}
	// The decoder stops at the end of the JSON value; the body must be
	// read to its end for the connection to be reused (issue 14).
	drain(resp.Body)
	if sessionState != "" && sessionState != s.State {
		c.mu.Lock()
		c.stale = true
		c.mu.Unlock()
	}
	for _, cl := range calls {
		if !cl.done && cl.err == nil {
			return sources.MarkTemporary(fmt.Errorf("jmap: %s: no response", cl.args.Name()))
		}
	}
	return nil
}

// methodError wraps a method-level error with the sources sentinel it
// means.
func methodError(e *gojmap.MethodError) error {
	if e == nil {
		return nil
	}
	switch e.Type {
	case "cannotCalculateChanges", "anchorNotFound":
		return fmt.Errorf("%s: %w", e.Type, sources.ErrStateExpired)
	case "stateMismatch":
		return fmt.Errorf("%s: %w", e.Type, sources.ErrConflict)
	case "requestTooLarge", "tooLarge":
		return fmt.Errorf("%s: %w", e.Type, sources.ErrTooLarge)
	case "serverFail", "serverUnavailable":
		return sources.MarkTemporary(e)
	case "accountNotFound":
		return fmt.Errorf("%s: %w", e.Type, sources.ErrAuth)
	case "forbidden", "unknownMethod":
		return fmt.Errorf("%s: %w", e.Type, sources.ErrUnsupported)
	}
	return e
}

// setError maps an item-level SetError.
func setError(e *gojmap.SetError) error {
	desc := ""
	if e.Description != nil {
		desc = ": " + *e.Description
	}
	err := fmt.Errorf("%s%s", e.Type, desc)
	switch e.Type {
	case "notFound":
		return fmt.Errorf("%w: %w", err, sources.ErrNotFound)
	case "alreadyExists", "stateMismatch", "mailboxHasChild":
		return fmt.Errorf("%w: %w", err, sources.ErrConflict)
	case "tooLarge", "overQuota":
		return fmt.Errorf("%w: %w", err, sources.ErrTooLarge)
	case "forbidden":
		return fmt.Errorf("%w: %w", err, sources.ErrUnsupported)
	}
	return err
}

// maxDrain bounds what drain reads past a decoded response: a body with
// more left over is not worth its connection.
const maxDrain = 64 << 10

// drain reads what is left of a response body, up to maxDrain, so that
// net/http can put the connection back into its pool: a body closed
// before its end costs the next request a new connection, and Cyrus a
// new session (about 7 ms of its CPU each, issue 14).
func drain(r io.Reader) {
	io.Copy(io.Discard, io.LimitReader(r, maxDrain))
}

// decodeResponses reads a Response object (RFC 8620 section 3.4) from r
// into the calls' resp and err fields, and returns its sessionState.
// Methods answer in the order they were called (section 3.6), so each
// response is decoded straight into the call it answers, in one pass:
// an Email/get of 100 mails is most of a megabyte, and going through
// json.RawMessage scanned it five times (JSON was two thirds of
// easgate's CPU in Get during a first Sync, issue 14). Its call id, which follows, must
// confirm the guess. Email/set, which a server also sends as the
// implicit answer to EmailSubmission/set (RFC 8621 section 7.5), and
// any name the next call does not expect go through json.RawMessage and
// are placed by call id. A call answered more than once keeps the first
// answer of its own name.
func decodeResponses(r io.Reader, calls []*call) (sessionState string, err error) {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return "", err
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return "", sources.MarkTemporary(err)
		}
		switch key {
		case "methodResponses":
			if err := expectDelim(dec, '['); err != nil {
				return "", err
			}
			for dec.More() {
				if err := decodeResponse(dec, calls); err != nil {
					return "", err
				}
			}
			if err := expectDelim(dec, ']'); err != nil {
				return "", err
			}
		case "sessionState":
			if err := dec.Decode(&sessionState); err != nil {
				return "", sources.MarkTemporary(err)
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return "", sources.MarkTemporary(err)
			}
		}
	}
	return sessionState, expectDelim(dec, '}')
}

// decodeResponse reads one Invocation: [name, arguments, call id].
func decodeResponse(dec *json.Decoder, calls []*call) error {
	if err := expectDelim(dec, '['); err != nil {
		return err
	}
	var name string
	if err := dec.Decode(&name); err != nil {
		return sources.MarkTemporary(err)
	}
	next := slices.IndexFunc(calls, func(c *call) bool { return !c.done && c.err == nil })
	var direct any // where the arguments go if the guess holds
	var raw json.RawMessage
	merr := new(gojmap.MethodError)
	switch {
	case name == "error":
		direct = merr
	case next >= 0 && name == calls[next].args.Name() && name != "Email/set" && calls[next].resp != nil:
		direct = calls[next].resp
	default:
		direct = &raw
	}
	if err := dec.Decode(direct); err != nil {
		return argsError(name, err)
	}
	var id string
	if err := dec.Decode(&id); err != nil {
		return sources.MarkTemporary(err)
	}
	if err := expectDelim(dec, ']'); err != nil {
		return err
	}
	i, err := strconv.Atoi(id)
	if err != nil || i < 0 || i >= len(calls) {
		return nil // not ours
	}
	cl := calls[i]
	switch {
	case name == "error":
		if !cl.done && cl.err == nil {
			cl.err = merr
		}
	case direct != &raw:
		if i != next {
			return sources.MarkTemporary(fmt.Errorf("%s answered out of order (call %d for %d)", name, i, next))
		}
		cl.done = true
	case !cl.done && cl.err == nil && name == cl.args.Name() && cl.resp != nil:
		if err := json.Unmarshal(raw, cl.resp); err != nil {
			return argsError(name, err)
		}
		cl.done = true
	}
	return nil
}

// argsError wraps a failure to decode a method's arguments: arguments
// of the wrong shape are the server's answer, a broken stream may not be.
func argsError(name string, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("%s: %w", name, err)
	}
	return fmt.Errorf("%s: %w", name, sources.MarkTemporary(err))
}

// expectDelim reads the delimiter d.
func expectDelim(dec *json.Decoder, d json.Delim) error {
	t, err := dec.Token()
	if err != nil {
		return sources.MarkTemporary(err)
	}
	if t != d {
		return sources.MarkTemporary(fmt.Errorf("got %v, want %v", t, d))
	}
	return nil
}
