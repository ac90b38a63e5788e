package gateway

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/easgate/easgate/eas"
)

// Autodiscover paths, matched ignoring case: phones try both
// "/autodiscover/autodiscover.xml" and "/Autodiscover/Autodiscover.xml".
const (
	AutodiscoverPath   = "/autodiscover/autodiscover.xml"
	AutodiscoverV2Path = "/autodiscover/autodiscover.json"
)

// AutodiscoverOptions configure the Autodiscover endpoints. They answer
// only when Options.ExternalURL is set: the URL they hand out is never
// taken from the request.
type AutodiscoverOptions struct {
	// Domains are the mail domains whose addresses this server answers
	// for; nil answers for every domain not in Redirect.
	Domains []string

	// Redirect maps a mail domain served by another server to the domain
	// whose Autodiscover the phone must ask instead (Action/Redirect,
	// MS-ASCMD 2.2.3.147): "old.example" → "new.example" sends
	// anna@old.example on to anna@new.example, with no login here.
	Redirect map[string]string

	// MaxBodySize bounds a request body; 0 means eas.AutodiscoverMaxSize.
	MaxBodySize int64
}

// autodiscover is the checked form of AutodiscoverOptions.
type autodiscover struct {
	easURL   string // the MobileSync URL handed out; "" turns Autodiscover off
	v1URL    string // this endpoint's own URL, for Protocol=AutodiscoverV1
	domains  map[string]bool
	redirect map[string]string
	maxBody  int64
	id       string // the Error Id attribute: a hash of the host name
}

// newAutodiscover checks o against the EAS URL base.
func newAutodiscover(external string, o AutodiscoverOptions) (*autodiscover, error) {
	a := &autodiscover{maxBody: o.MaxBodySize, redirect: make(map[string]string)}
	if a.maxBody == 0 {
		a.maxBody = eas.AutodiscoverMaxSize
	} else if a.maxBody < 0 {
		return nil, fmt.Errorf("gateway: autodiscover: max body size %d is negative", a.maxBody)
	}
	for from, to := range o.Redirect {
		if !validDomain(from) || !validDomain(to) {
			return nil, fmt.Errorf("gateway: autodiscover: redirect %q = %q: want two mail domains", from, to)
		}
		a.redirect[strings.ToLower(from)] = strings.ToLower(to)
	}
	if o.Domains != nil {
		a.domains = make(map[string]bool)
		for _, d := range o.Domains {
			if !validDomain(d) {
				return nil, fmt.Errorf("gateway: autodiscover: domain %q is not a mail domain", d)
			}
			a.domains[strings.ToLower(d)] = true
		}
	}
	if external == "" {
		return a, nil
	}
	base, err := ParseExternalURL(external)
	if err != nil {
		return nil, err
	}
	a.easURL = base + Path
	a.v1URL = base + AutodiscoverPath
	h := fnv.New32a()
	h.Write([]byte(base))
	a.id = strconv.FormatUint(uint64(h.Sum32()), 10)
	return a, nil
}

// ParseExternalURL checks the public base URL of the EAS listener, as
// phones reach it through any proxy ("https://mail.example.org"), and
// returns it without a trailing slash or a trailing Path.
func ParseExternalURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("gateway: external URL: %w", err)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return "", fmt.Errorf("gateway: external URL %q: scheme must be https (or http behind nothing)", s)
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return "", fmt.Errorf("gateway: external URL %q: want scheme://host[:port][/path] only", s)
	}
	p := strings.TrimSuffix(u.Path, "/")
	if strings.EqualFold(p[max(0, len(p)-len(Path)):], Path) {
		p = p[:len(p)-len(Path)]
	}
	return u.Scheme + "://" + u.Host + p, nil
}

// isAutodiscover reports whether path is one of the Autodiscover
// endpoints, in any case.
func isAutodiscover(path string) bool {
	return strings.EqualFold(path, AutodiscoverPath) || len(path) >= len(AutodiscoverV2Path) &&
		strings.EqualFold(path[:len(AutodiscoverV2Path)], AutodiscoverV2Path)
}

// serveAutodiscover answers both Autodiscover versions.
func (s *Server) serveAutodiscover(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	version, outcome, code := "v1", "", 0
	if strings.EqualFold(r.URL.Path, AutodiscoverPath) {
		outcome, code = s.autodiscoverV1(w, r)
	} else {
		version = "v2"
		outcome, code = s.autodiscoverV2(w, r)
	}
	s.metrics.Autodiscover(version, outcome)
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "autodiscover", slog.String("version", version),
		slog.String("outcome", outcome), slog.Int("status", code), slog.Duration("dur", time.Since(start)))
}

// autodiscoverV1 answers POST /autodiscover/autodiscover.xml, MS-ASCMD
// 2.2.1.1. The order of checks keeps the parser bounded and answers
// nothing about an address before its user has logged in, except that its
// domain is served elsewhere:
//
//   - a body past the limit is refused (413) before anything else;
//   - a valid mobilesync request for a redirected domain gets
//     Action/Redirect, without credentials (the user has none here);
//   - then Basic credentials are checked against the store: 401, or 503
//     when the store is down;
//   - an unreadable request is answered ErrorCode 600, one in another
//     schema (Outlook's) ErrorCode 601, both at HTTP 200 as the spec shows;
//   - an address in a domain not served here gets Action/Error Status 2;
//   - otherwise the Settings with the one MobileSync server.
func (s *Server) autodiscoverV1(w http.ResponseWriter, r *http.Request) (outcome string, code int) {
	a := s.autodiscover
	if a.easURL == "" {
		http.NotFound(w, r)
		return "off", http.StatusNotFound
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "Autodiscover takes POST", http.StatusMethodNotAllowed)
		return "bad_method", http.StatusMethodNotAllowed
	}
	if r.ContentLength > a.maxBody {
		http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
		return "too_large", http.StatusRequestEntityTooLarge
	}
	req, perr := eas.ParseAutodiscoverRequest(http.MaxBytesReader(w, r.Body, a.maxBody), a.maxBody)
	var mbe *http.MaxBytesError
	if errors.Is(perr, eas.ErrAutodiscoverTooLarge) || errors.As(perr, &mbe) {
		http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
		return "too_large", http.StatusRequestEntityTooLarge
	}
	var local, domain string
	if perr == nil {
		addr := strings.TrimSpace(req.Request.EMailAddress)
		at := strings.LastIndexByte(addr, '@')
		local, domain = addr[:at], strings.ToLower(addr[at+1:])
		if to, ok := a.redirect[domain]; ok && req.WantsMobileSync() {
			s.writeAutodiscover(w, &eas.AutodiscoverResponseBody{
				Culture: "en:us",
				User:    &eas.AutodiscoverUser{EMailAddress: addr},
				Action:  &eas.AutodiscoverAction{Redirect: local + "@" + to},
			})
			return "redirect", http.StatusOK
		}
	}

	// The same login as EAS: throttled, so that Autodiscover is no side
	// door for a password guesser.
	user, _, authErr := s.login(r)
	if authErr != nil {
		if code := refuseLogin(w, authErr); code == http.StatusServiceUnavailable {
			return "unavailable", code
		}
		return "unauthorized", http.StatusUnauthorized
	}

	switch {
	case perr != nil:
		s.log.Debug("autodiscover: bad request", "user", user, "err", perr)
		s.writeAutodiscover(w, &eas.AutodiscoverResponseBody{Error: a.errorCode(s.now(), eas.AutodiscoverInvalidRequest, "Invalid Request")})
		return "invalid", http.StatusOK
	case !req.WantsMobileSync():
		s.writeAutodiscover(w, &eas.AutodiscoverResponseBody{Error: a.errorCode(s.now(), eas.AutodiscoverProviderNotFound, "Provider is not available")})
		return "provider_not_found", http.StatusOK
	}
	addr := local + "@" + domain
	if a.domains != nil && !a.domains[domain] {
		s.writeAutodiscover(w, &eas.AutodiscoverResponseBody{
			Culture: "en:us",
			User:    &eas.AutodiscoverUser{EMailAddress: addr},
			Action: &eas.AutodiscoverAction{Error: &eas.AutodiscoverError{
				Status:  eas.AutodiscoverStatusProtocolError,
				Message: "This server has no mailbox for the address",
			}},
		})
		return "unknown_domain", http.StatusOK
	}
	s.writeAutodiscover(w, &eas.AutodiscoverResponseBody{
		Culture: "en:us",
		User:    &eas.AutodiscoverUser{EMailAddress: addr},
		Action: &eas.AutodiscoverAction{Settings: &eas.AutodiscoverSettings{Server: []eas.AutodiscoverServer{
			{Type: eas.AutodiscoverMobileSync, URL: a.easURL, Name: a.easURL},
		}}},
	})
	return "settings", http.StatusOK
}

// errorCode is a Response-level Error, MS-ASCMD 4.2.3: Time is the time
// of day, Id stands for the server as Exchange's hash of its name does.
func (a *autodiscover) errorCode(now time.Time, code int, msg string) *eas.AutodiscoverError {
	return &eas.AutodiscoverError{Time: now.UTC().Format("15:04:05.0000000"), ID: a.id, ErrorCode: code, Message: msg}
}

// writeAutodiscover writes a mobilesync response at HTTP 200.
func (s *Server) writeAutodiscover(w http.ResponseWriter, body *eas.AutodiscoverResponseBody) {
	out, err := xml.Marshal(&eas.AutodiscoverResponse{Response: *body})
	if err != nil {
		s.log.Error("autodiscover: encoding the response", "err", err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "private, no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(xml.Header)+len(out)))
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(xml.Header))
	w.Write(out)
}

// autodiscoverV2 answers GET /autodiscover/autodiscover.json/v1.0/{address}
// and GET /autodiscover/autodiscover.json?Email={address}, both with
// Protocol=ActiveSync (or AutodiscoverV1). This endpoint needs no login and
// has a history of being used to reach other URLs through the server, so it
// accepts exactly these two shapes: one well-formed address, no other path
// segment, no query parameter but Email, Protocol and RedirectCount, each
// once. Its answer is built from configuration alone and never repeats
// the request.
func (s *Server) autodiscoverV2(w http.ResponseWriter, r *http.Request) (outcome string, code int) {
	a := s.autodiscover
	fail := func(code int, errCode, msg, outcome string) (string, int) {
		writeJSON(w, code, eas.AutodiscoverV2Error{ErrorCode: errCode, ErrorMessage: msg})
		return outcome, code
	}
	if a.easURL == "" {
		return fail(http.StatusNotFound, "NotFound", "Autodiscover is not configured", "off")
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		return fail(http.StatusMethodNotAllowed, "InvalidRequest", "Autodiscover v2 takes GET", "bad_method")
	}
	addr, proto, ok := parseAutodiscoverV2(r.URL)
	if !ok {
		return fail(http.StatusBadRequest, "InvalidRequest", "The request is not an Autodiscover v2 request", "invalid")
	}
	var u string
	switch {
	case strings.EqualFold(proto, eas.AutodiscoverV2ActiveSync):
		proto, u = eas.AutodiscoverV2ActiveSync, a.easURL
	case strings.EqualFold(proto, eas.AutodiscoverV2V1):
		proto, u = eas.AutodiscoverV2V1, a.v1URL
	default:
		return fail(http.StatusBadRequest, "InvalidProtocol", "Supported protocols are ActiveSync and AutodiscoverV1", "bad_protocol")
	}
	domain := strings.ToLower(addr[strings.LastIndexByte(addr, '@')+1:])
	if _, redirected := a.redirect[domain]; redirected || a.domains != nil && !a.domains[domain] {
		// The server that serves the domain is not known here by URL; the
		// phone falls back to v1, which can redirect.
		return fail(http.StatusNotFound, "NotFound", "This server does not serve the address's domain", "unknown_domain")
	}
	writeJSON(w, http.StatusOK, eas.AutodiscoverV2Response{Protocol: proto, URL: u})
	return "settings", http.StatusOK
}

// parseAutodiscoverV2 returns the address and protocol of a v2 request, or
// false for anything but the two documented shapes.
func parseAutodiscoverV2(u *url.URL) (addr, proto string, ok bool) {
	rest := u.EscapedPath()[len(AutodiscoverV2Path):]
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", "", false
	}
	for k, vs := range q {
		if len(vs) != 1 {
			return "", "", false
		}
		switch {
		case strings.EqualFold(k, "Protocol"):
			proto = vs[0]
		case strings.EqualFold(k, "Email"):
			addr = vs[0]
		case strings.EqualFold(k, "RedirectCount"):
			if n, err := strconv.Atoi(vs[0]); err != nil || n < 0 || n > 10 {
				return "", "", false
			}
		default:
			return "", "", false
		}
	}
	switch {
	case rest == "" && addr != "":
	case addr == "" && len(rest) > len("/v1.0/") && strings.EqualFold(rest[:len("/v1.0/")], "/v1.0/"):
		// The escaped path: an address never needs escaping, so "%2F"
		// and friends are refused with the other characters below.
		addr = rest[len("/v1.0/"):]
	default:
		return "", "", false
	}
	return addr, proto, proto != "" && validAddress(addr)
}

// validAddress reports whether s is a plain ASCII mail address: a local
// part of atext and dots, and a domain validDomain accepts. It is stricter
// than RFC 5322 on purpose (no quoted local parts, no comments, no
// escapes): Autodiscover addresses come from a settings screen.
func validAddress(s string) bool {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at > 64 || len(s) > 254 {
		return false
	}
	local := s[:at]
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return false
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		if !isAlnum(c) && !strings.ContainsRune(".!#$&'*+=^_`{|}~-", rune(c)) {
			return false
		}
	}
	return validDomain(s[at+1:])
}

// validDomain reports whether s is a DNS name of at least two labels of
// letters, digits and inner hyphens (IDNs in their xn-- form).
func validDomain(s string) bool {
	labels := strings.Split(s, ".")
	if len(s) > 253 || len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			if !isAlnum(l[i]) && l[i] != '-' {
				return false
			}
		}
	}
	return true
}

// writeJSON writes v as the JSON body of an answer with code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, _ := json.Marshal(v) // v is one of our own plain structs
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "private, no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	w.Write(b)
}
