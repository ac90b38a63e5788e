package graph

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/easgate/easgate/sources"
)

// client is the typed net/http client of one tenant: app-only tokens,
// Prefer: IdType="ImmutableId" on every request, and the per-mailbox
// limits of the notes' §5.1.
type client struct {
	o    *Options
	http *http.Client
	base string // https://graph.microsoft.com/v1.0

	tokMu sync.Mutex
	tok   oauth2.TokenSource

	boxMu sync.Mutex
	boxes map[string]*limiter

	requests requestCounter
	observer atomic.Pointer[Observer]
}

// requestCounter counts Graph requests, for the figures and metrics.
type requestCounter struct {
	mu sync.Mutex
	n  int64
}

func (r *requestCounter) add() {
	r.mu.Lock()
	r.n++
	r.mu.Unlock()
}

func (r *requestCounter) get() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// limiter is one mailbox's share of Graph: a semaphore below the
// service's 4 concurrent requests, a request budget per window, and the
// time before which Retry-After asked us not to call.
type limiter struct {
	sem chan struct{}
	limiterStats

	mu     sync.Mutex
	window time.Time
	spent  int
	until  time.Time // Retry-After
}

func newClient(o *Options) *client {
	return &client{o: o, http: o.HTTPClient, base: strings.TrimSuffix(o.GraphURL, "/") + "/v1.0", boxes: make(map[string]*limiter)}
}

func (c *client) limiter(mailbox string) *limiter {
	c.boxMu.Lock()
	defer c.boxMu.Unlock()
	l := c.boxes[mailbox]
	if l == nil {
		l = &limiter{sem: make(chan struct{}, c.o.Concurrency)}
		c.boxes[mailbox] = l
	}
	return l
}

// tokenSource returns the cached token source, made on first use.
// Tokens are refreshed five minutes before they expire.
func (c *client) tokenSource() oauth2.TokenSource {
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	if c.tok != nil {
		return c.tok
	}
	tokenURL := strings.TrimSuffix(c.o.AuthorityURL, "/") + "/" + url.PathEscape(c.o.Tenant) + "/oauth2/v2.0/token"
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, c.http)
	var src oauth2.TokenSource
	if c.o.Key != nil {
		src = &assertionSource{o: c.o, url: tokenURL, http: c.http}
	} else {
		cc := &clientcredentials.Config{ClientID: c.o.ClientID, ClientSecret: c.o.ClientSecret, TokenURL: tokenURL,
			Scopes: []string{"https://graph.microsoft.com/.default"}, AuthStyle: oauth2.AuthStyleInParams}
		src = cc.TokenSource(ctx)
	}
	c.tok = oauth2.ReuseTokenSourceWithExpiry(nil, src, 5*time.Minute)
	return c.tok
}

// dropToken forgets the cached token after Graph refused it.
func (c *client) dropToken() {
	c.tokMu.Lock()
	c.tok = nil
	c.tokMu.Unlock()
}

// assertionSource gets tokens with a client assertion: a JWT signed with
// the app's certificate key (RS256), as Entra ID's certificate
// credentials require.
type assertionSource struct {
	o    *Options
	url  string
	http *http.Client
}

func (a *assertionSource) Token() (*oauth2.Token, error) {
	jwt, err := a.assertion()
	if err != nil {
		return nil, err
	}
	form := url.Values{"client_id": {a.o.ClientID}, "scope": {"https://graph.microsoft.com/.default"},
		"grant_type":            {"client_credentials"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {jwt}}
	resp, err := a.http.PostForm(a.url, form)
	if err != nil {
		return nil, fmt.Errorf("graph: token: %w", sources.MarkTemporary(err))
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return nil, fmt.Errorf("graph: token: HTTP %d: %w", resp.StatusCode, err)
	}
	if resp.StatusCode != 200 || body.AccessToken == "" {
		return nil, fmt.Errorf("graph: token: %s: %s", body.Error, body.Description)
	}
	return &oauth2.Token{AccessToken: body.AccessToken, TokenType: "Bearer",
		Expiry: time.Now().Add(time.Duration(body.ExpiresIn) * time.Second)}, nil
}

func (a *assertionSource) assertion() (string, error) {
	thumb := sha1.Sum(a.o.Certificate.Raw)
	head, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "x5t": base64.RawURLEncoding.EncodeToString(thumb[:])})
	now := time.Now()
	jti := make([]byte, 16)
	rand.Read(jti)
	claims, _ := json.Marshal(map[string]any{"aud": a.url, "iss": a.o.ClientID, "sub": a.o.ClientID,
		"jti": base64.RawURLEncoding.EncodeToString(jti), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()})
	signing := base64.RawURLEncoding.EncodeToString(head) + "." + base64.RawURLEncoding.EncodeToString(claims)
	h := sha256.Sum256([]byte(signing))
	sig, err := a.o.Key.Sign(rand.Reader, h[:], crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("graph: signing the client assertion: %w", err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// ParseCertificate reads a PEM certificate and its RSA private key, as an
// app's certificate credential is kept.
func ParseCertificate(certPEM, keyPEM []byte) (*x509.Certificate, crypto.Signer, error) {
	cb, kb := pemBlock(certPEM, "CERTIFICATE"), pemBlock(keyPEM, "PRIVATE KEY")
	if cb == nil || kb == nil {
		return nil, nil, errors.New("graph: no PEM certificate or private key")
	}
	cert, err := x509.ParseCertificate(cb)
	if err != nil {
		return nil, nil, fmt.Errorf("graph: certificate: %w", err)
	}
	var key crypto.Signer
	if k, err := x509.ParsePKCS8PrivateKey(kb); err == nil {
		key, _ = k.(*rsa.PrivateKey)
	} else if k, err := x509.ParsePKCS1PrivateKey(kb); err == nil {
		key = k
	}
	if key == nil {
		return nil, nil, errors.New("graph: the private key is not an RSA key in PKCS#8 or PKCS#1")
	}
	return cert, key, nil
}

// apiError is a Graph error answer (§5.2).
type apiError struct {
	Status     int
	Code       string // the error code; nested innerError codes joined by "/"
	Message    string
	RetryAfter time.Duration
}

func (e *apiError) Error() string {
	return fmt.Sprintf("graph: HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

// Unwrap maps the answer to the sources sentinels, so callers test with
// errors.Is.
func (e *apiError) Unwrap() error {
	switch {
	case e.expired():
		return sources.ErrStateExpired
	case e.Status == 404:
		return sources.ErrNotFound
	case e.Status == 409 || e.Status == 412:
		return sources.ErrConflict
	case e.Status == 413:
		return sources.ErrTooLarge
	case e.Status == 401 || e.Status == 403:
		return sources.ErrAuth
	case e.Status == 501:
		return sources.ErrUnsupported
	}
	return nil
}

// Temporary says a throttled or unavailable service is worth retrying.
func (e *apiError) Temporary() bool {
	return e.Status == 429 || e.Status == 503 || e.Status == 504 || e.Status == 500
}

// expired reports a delta token Graph no longer honours (§2.4, A1): any
// 410, or a 400 or 404 whose code names a lost sync state, compared
// without case (A16).
func (e *apiError) expired() bool {
	if e.Status == 410 {
		return true
	}
	c := strings.ToLower(e.Code)
	return (e.Status == 400 || e.Status == 404) && (strings.Contains(c, "syncstatenotfound") || strings.Contains(c, "resyncrequired"))
}

// decodeError reads a Graph error body; both innerError spellings are
// walked (A16).
func decodeError(status int, h http.Header, body []byte) *apiError {
	e := &apiError{Status: status}
	var env struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil && len(env.Error) > 0 {
		var codes []string
		raw := env.Error
		for depth := 0; len(raw) > 0 && depth < 8; depth++ {
			var m map[string]json.RawMessage
			if json.Unmarshal(raw, &m) != nil {
				break
			}
			var code, msg string
			json.Unmarshal(m["code"], &code)
			json.Unmarshal(m["message"], &msg)
			if code != "" {
				codes = append(codes, code)
			}
			if e.Message == "" {
				e.Message = msg
			}
			raw = m["innerError"]
			if raw == nil {
				raw = m["innererror"]
			}
		}
		e.Code = strings.Join(codes, "/")
	}
	if s := h.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			e.RetryAfter = time.Duration(n) * time.Second
		}
	}
	return e
}

// request is one Graph call.
type request struct {
	method  string
	path    string // after /v1.0, or an absolute link from Graph
	query   url.Values
	body    []byte
	ctype   string
	prefer  []string // Prefer values besides the immutable ids
	ifMatch string
	// idempotent calls are retried after 503/504 and network errors.
	idempotent bool
	// preauth calls go to a pre-authenticated URL (an upload session's):
	// no Authorization header, no Prefer.
	preauth      bool
	contentRange string
}

// do runs r for mailbox mb within its limits and returns the answer,
// whose body the caller closes. Throttling answers are retried while
// Retry-After stays within Options.MaxRetryWait; past it, or after the
// retries, the error is marked temporary for the gateway to answer
// "try again later".
func (c *client) do(ctx context.Context, mb string, r request) (*http.Response, error) {
	l := c.limiter(mb)
	u := r.path
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		u = c.base + r.path
	}
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var lastErr error
	for attempt := 0; attempt < 4; attempt++ {
		waited, err := l.acquire(ctx, c.o)
		if waited > 0 {
			c.observeWait(l, waited)
		}
		if err != nil {
			return nil, err
		}
		resp, err := c.send(ctx, u, r)
		<-l.sem
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		c.observeRequest(l, status)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			lastErr = sources.MarkTemporary(fmt.Errorf("graph: %s %s: %w", r.method, r.path, err))
			if !r.idempotent {
				return nil, lastErr
			}
			if err := sleep(ctx, backoff(attempt)); err != nil {
				return nil, err
			}
			continue
		}
		if resp.StatusCode < 400 {
			return resp, nil
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		e := decodeError(resp.StatusCode, resp.Header, body)
		lastErr = fmt.Errorf("graph: %s %s: %w", r.method, r.path, e)
		switch {
		case e.Status == 401 && attempt == 0:
			c.dropToken()
			continue
		case e.Status == 429:
			c.observeThrottled(l)
			wait := e.RetryAfter
			if wait <= 0 {
				wait = backoff(attempt)
			}
			l.hold(wait)
			if wait > c.o.MaxRetryWait {
				return nil, sources.MarkTemporary(lastErr)
			}
			continue // acquire waits for the Retry-After
		case e.Status == 503 || e.Status == 504:
			if e.RetryAfter > 0 {
				c.observeThrottled(l)
			}
			if !r.idempotent {
				return nil, sources.MarkTemporary(lastErr)
			}
			wait := e.RetryAfter
			if wait <= 0 {
				wait = backoff(attempt)
			}
			if wait > c.o.MaxRetryWait {
				return nil, sources.MarkTemporary(lastErr)
			}
			if err := sleep(ctx, wait); err != nil {
				return nil, err
			}
			if e.RetryAfter > 0 {
				c.observeWait(l, wait)
			}
			continue
		}
		return nil, lastErr
	}
	return nil, sources.MarkTemporary(lastErr)
}

func (c *client) send(ctx context.Context, u string, r request) (*http.Response, error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return nil, err
	}
	if !r.preauth {
		tok, err := c.tokenSource().Token()
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		// One Prefer header, comma-joined (A15).
		req.Header.Set("Prefer", strings.Join(append([]string{`IdType="ImmutableId"`}, r.prefer...), ", "))
	}
	if r.contentRange != "" {
		req.Header.Set("Content-Range", r.contentRange)
	}
	if r.body != nil {
		ct := r.ctype
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if r.ifMatch != "" {
		req.Header.Set("If-Match", r.ifMatch)
	}
	c.requests.add()
	return c.http.Do(req)
}

// acquire waits for a slot of the mailbox's semaphore, for a pending
// Retry-After and for the request budget. A wait longer than
// MaxRetryWait fails at once with a temporary error: the phone is
// better told to come back than kept hanging.
func (l *limiter) acquire(ctx context.Context, o *Options) (waited time.Duration, err error) {
	l.mu.Lock()
	now := time.Now()
	wait := time.Until(l.until)
	if now.Sub(l.window) >= o.BudgetWindow {
		l.window, l.spent = now, 0
	}
	over := l.spent >= o.Budget
	if !over && wait <= o.MaxRetryWait {
		// Only a request that will be sent spends the budget: a caller
		// refused below for a long Retry-After has cost Graph nothing.
		l.spent++
	}
	l.mu.Unlock()
	if over {
		return 0, sources.MarkTemporary(errors.New("graph: the mailbox's request budget is spent"))
	}
	if wait > o.MaxRetryWait {
		return 0, sources.MarkTemporary(fmt.Errorf("graph: throttled for another %v", wait.Round(time.Second)))
	}
	if wait > 0 {
		if err := sleep(ctx, wait); err != nil {
			return 0, err
		}
		waited = wait
	}
	select {
	case l.sem <- struct{}{}:
		return waited, nil
	case <-ctx.Done():
		return waited, ctx.Err()
	}
}

// hold records a Retry-After.
func (l *limiter) hold(d time.Duration) {
	l.mu.Lock()
	if u := time.Now().Add(d); u.After(l.until) {
		l.until = u
	}
	l.mu.Unlock()
}

// backoff is exponential with full jitter from 500 ms, capped at 8 s.
func backoff(attempt int) time.Duration {
	d := min(500*time.Millisecond<<attempt, 8*time.Second)
	return time.Duration(mrand.Int64N(int64(d))) + 50*time.Millisecond
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// getJSON runs a GET and decodes its JSON answer into out.
func (c *client) getJSON(ctx context.Context, mb, path string, q url.Values, prefer []string, out any) error {
	resp, err := c.do(ctx, mb, request{method: "GET", path: path, query: q, prefer: prefer, idempotent: true})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("graph: GET %s: decoding: %w", path, err)
	}
	return nil
}

// sendJSON runs a POST, PATCH or DELETE with a JSON body (nil for none)
// and decodes the answer into out when out is not nil.
func (c *client) sendJSON(ctx context.Context, mb, method, path string, in, out any, ifMatch string) error {
	r := request{method: method, path: path, ifMatch: ifMatch, idempotent: method == "PATCH" || method == "DELETE"}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		r.body = b
	}
	resp, err := c.do(ctx, mb, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return fmt.Errorf("graph: %s %s: decoding: %w", method, path, err)
		}
	}
	return nil
}

// batchItem is one request of a $batch and, after it, its answer.
type batchItem struct {
	path   string
	query  url.Values
	prefer []string

	status int
	body   json.RawMessage
	err    error
}

// batchGET runs GETs through $batch, 20 at a time ([D] json-batching);
// each item gets its own status. Throttled items (inner 429) are retried
// in a later batch after the Retry-After.
func (c *client) batchGET(ctx context.Context, mb string, items []*batchItem) error {
	for start := 0; start < len(items); start += 20 {
		chunk := items[start:min(start+20, len(items))]
		for round := 0; ; round++ {
			var todo []*batchItem
			for _, it := range chunk {
				if it.status == 0 || it.status == 429 {
					todo = append(todo, it)
				}
			}
			if len(todo) == 0 {
				break
			}
			if round == 4 {
				for _, it := range todo {
					it.err = sources.MarkTemporary(fmt.Errorf("graph: GET %s: still throttled", it.path))
				}
				break
			}
			if err := c.batchOnce(ctx, mb, todo); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *client) batchOnce(ctx context.Context, mb string, items []*batchItem) error {
	type inner struct {
		ID      string            `json:"id"`
		Method  string            `json:"method"`
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers,omitempty"`
	}
	reqs := make([]inner, len(items))
	for i, it := range items {
		u := it.path
		if len(it.query) > 0 {
			u += "?" + it.query.Encode()
		}
		reqs[i] = inner{ID: strconv.Itoa(i), Method: "GET", URL: u}
		reqs[i].Headers = map[string]string{"Prefer": strings.Join(append([]string{`IdType="ImmutableId"`}, it.prefer...), ", ")}
	}
	b, _ := json.Marshal(map[string]any{"requests": reqs})
	resp, err := c.do(ctx, mb, request{method: "POST", path: "/$batch", body: b, idempotent: true})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct {
		Responses []struct {
			ID      string            `json:"id"`
			Status  int               `json:"status"`
			Headers map[string]string `json:"headers"`
			Body    json.RawMessage   `json:"body"`
		} `json:"responses"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return fmt.Errorf("graph: $batch: decoding: %w", err)
	}
	var wait time.Duration
	for _, r := range out.Responses {
		i, err := strconv.Atoi(r.ID)
		if err != nil || i < 0 || i >= len(items) {
			continue
		}
		it := items[i]
		// A retried item's earlier 429 is forgotten with its new answer.
		it.status, it.body, it.err = r.Status, r.Body, nil
		if r.Status >= 400 {
			h := http.Header{}
			for k, v := range r.Headers {
				h.Set(k, v)
			}
			e := decodeError(r.Status, h, r.Body)
			it.err = fmt.Errorf("graph: GET %s: %w", it.path, e)
			if r.Status == 429 {
				wait = max(wait, e.RetryAfter, time.Second)
				c.observeThrottled(c.limiter(mb))
			}
		}
	}
	if wait > 0 {
		c.limiter(mb).hold(wait)
	}
	return nil
}
