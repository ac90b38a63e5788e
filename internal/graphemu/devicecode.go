package graphemu

import (
	"crypto/rand"
	"fmt"
	"html"
	"net/http"
	"strings"
	"time"
)

// The device-code flow (§1.1, [D] entra/identity-platform/v2-oauth2-device-code):
// the app asks /devicecode for a code, shows the user the user_code and
// the verification URL, and polls /token, which answers
// authorization_pending until the user has signed in there. The token is
// delegated: it reads the signed-in user's /me and nothing else here.
// The emulator's verification page (GET and POST /devicelogin) trusts the
// address typed in, as it has no passwords; tests complete a sign-in with
// CompleteDeviceCode.

const deviceCodeTTL = 15 * time.Minute // [D] expires_in is 900 s by default

type deviceCode struct {
	userCode string
	app      *App
	expires  time.Time
	user     string // object id once signed in
	declined bool
}

// serveDeviceCode answers POST /{tenant}/oauth2/v2.0/devicecode.
func (s *Server) serveDeviceCode(w http.ResponseWriter, r *http.Request, tenant string) {
	oauthErr := s.oauthError(w)
	if r.Method != http.MethodPost {
		oauthErr(405, "invalid_request", "AADSTS900561: The endpoint only accepts POST requests.", 900561)
		return
	}
	if !strings.EqualFold(tenant, s.o.Tenant) {
		oauthErr(400, "invalid_request", "AADSTS90002: Tenant '"+tenant+"' not found.", 90002)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		oauthErr(400, "invalid_request", "AADSTS900144: The request body is not a valid form.", 900144)
		return
	}
	app := s.app(r.PostForm.Get("client_id"))
	if app == nil {
		oauthErr(400, "unauthorized_client", "AADSTS700016: Application with identifier '"+r.PostForm.Get("client_id")+"' was not found in the directory.", 700016)
		return
	}
	if r.PostForm.Get("scope") == "" {
		oauthErr(400, "invalid_request", "AADSTS900144: The request body must contain the parameter 'scope'.", 900144)
		return
	}
	b := make([]byte, 9)
	rand.Read(b)
	const letters = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	var uc strings.Builder
	for _, x := range b {
		uc.WriteByte(letters[int(x)%len(letters)])
	}
	dc := &deviceCode{userCode: uc.String(), app: app, expires: s.o.Now().Add(deviceCodeTTL)}
	code := newID("DC")
	verify := s.link("devicelogin", nil)
	s.mu.Lock()
	s.deviceCodes[code] = dc
	s.mu.Unlock()
	writeJSON(w, 200, map[string]any{"device_code": code, "user_code": dc.userCode, "verification_uri": verify,
		"expires_in": int(deviceCodeTTL / time.Second), "interval": int(s.o.DeviceCodeInterval / time.Second),
		"message": fmt.Sprintf("To sign in, use a web browser to open the page %s and enter the code %s to authenticate.", verify, dc.userCode)})
}

// deviceToken answers the token endpoint's device_code grant.
func (s *Server) deviceToken(w http.ResponseWriter, r *http.Request) {
	oauthErr := s.oauthError(w)
	f := r.PostForm
	s.mu.Lock()
	dc := s.deviceCodes[f.Get("device_code")]
	var user string
	var pending, declined, expired bool
	if dc != nil {
		user, declined, expired = dc.user, dc.declined, !s.o.Now().Before(dc.expires)
		pending = user == "" && !declined && !expired
		if !pending {
			delete(s.deviceCodes, f.Get("device_code"))
		}
	}
	s.mu.Unlock()
	switch {
	case dc == nil || dc.app.ClientID != f.Get("client_id"):
		oauthErr(400, "bad_verification_code", "AADSTS70019: The device code is not known.", 70019)
	case expired:
		oauthErr(400, "expired_token", "AADSTS70020: The provided value for the input parameter 'device_code' is not valid. This device code has expired.", 70020)
	case declined:
		oauthErr(400, "authorization_declined", "AADSTS70000: The user declined the sign-in.", 70000)
	case pending:
		oauthErr(400, "authorization_pending", "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending. Continue polling.", 70016)
	default:
		tok := "eyJ0eXAiOiJKV1QiLCJkZWwiOnRydWV9." + newID("")
		s.mu.Lock()
		s.tokens[tok] = issuedToken{app: dc.app, user: user, expires: s.o.Now().Add(s.o.TokenTTL)}
		s.mu.Unlock()
		secs := int(s.o.TokenTTL / time.Second)
		writeJSON(w, 200, map[string]any{"token_type": "Bearer", "scope": "User.Read profile openid email",
			"expires_in": secs, "ext_expires_in": secs, "access_token": tok})
	}
}

// CompleteDeviceCode signs user in for the device code whose user code
// is userCode, as the user would on the verification page; decline says
// the user declined.
func (s *Server) CompleteDeviceCode(userCode, user string, decline bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.findLocked(user)
	if m == nil && !decline {
		return fmt.Errorf("graphemu: no user %q", user)
	}
	for _, dc := range s.deviceCodes {
		if strings.EqualFold(dc.userCode, strings.TrimSpace(userCode)) && dc.user == "" && !dc.declined {
			if decline {
				dc.declined = true
			} else {
				dc.user = m.id
			}
			return nil
		}
	}
	return fmt.Errorf("graphemu: no pending device code %q", userCode)
}

// serveDeviceLogin is the verification page: a form asking for the code
// and the user's address.
func (s *Server) serveDeviceLogin(w http.ResponseWriter, r *http.Request) {
	msg := ""
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		r.ParseForm()
		if err := s.CompleteDeviceCode(r.PostForm.Get("code"), r.PostForm.Get("user"), false); err != nil {
			msg = err.Error()
		} else {
			msg = "Signed in. You can close this page."
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html><title>Graph emulator sign-in</title><h1>Sign in (Graph emulator)</h1><p>%s</p>
<form method="post"><p><label>Code <input name="code"></label></p><p><label>User <input name="user"></label></p><p><button>Sign in</button></p></form>`,
		html.EscapeString(msg))
}

// serveMe answers GET /me, which only a delegated token may call ([D]:
// an app-only token gets 400).
func (s *Server) serveMe(w http.ResponseWriter, r *http.Request) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	it, ok := s.tokens[tok]
	var m *mailbox
	if ok {
		m = s.boxes[it.user]
	}
	s.mu.Unlock()
	switch {
	case !ok || !s.o.Now().Before(it.expires):
		s.writeError(w, errf(401, "InvalidAuthenticationToken", "Access token validation failure."))
	case it.user == "":
		s.writeError(w, errf(400, "BadRequest", "/me request is only valid with delegated authentication flow."))
	case m == nil:
		s.writeError(w, notFound("user"))
	case r.Method != http.MethodGet:
		s.writeError(w, notImplemented(r))
	default:
		s.mu.Lock()
		j := userJSON(m)
		s.mu.Unlock()
		writeJSON(w, 200, j)
	}
}

// oauthError writes the token endpoints' flat error JSON (observed).
func (s *Server) oauthError(w http.ResponseWriter) func(status int, code, desc string, num int) {
	return func(status int, code, desc string, num int) {
		writeJSON(w, status, map[string]any{"error": code, "error_description": desc,
			"error_codes": []int{num}, "timestamp": s.o.Now().UTC().Format("2006-01-02 15:04:05Z"),
			"trace_id": newID(""), "correlation_id": newID("")})
	}
}

// app returns the registered app clientID, or nil.
func (s *Server) app(clientID string) *App {
	for i := range s.o.Apps {
		if s.o.Apps[i].ClientID == clientID {
			return &s.o.Apps[i]
		}
	}
	return nil
}
