package graphemu

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// serveToken is the client-credentials token endpoint (§1.1, [D]
// graph/auth-v2-service): a client secret or a client assertion signed
// with the app's certificate. Errors are flat OAuth JSON, not Graph's
// envelope (observed).
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, tenant string) {
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
	f := r.PostForm
	if f.Get("grant_type") == "urn:ietf:params:oauth:grant-type:device_code" {
		s.deviceToken(w, r)
		return
	}
	if f.Get("grant_type") != "client_credentials" {
		oauthErr(400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.", 70003)
		return
	}
	if f.Get("scope") != "https://graph.microsoft.com/.default" {
		oauthErr(400, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid; client credentials need <resource>/.default.", 1002012)
		return
	}
	clientID := f.Get("client_id")
	var app *App
	for i := range s.o.Apps {
		if s.o.Apps[i].ClientID == clientID {
			app = &s.o.Apps[i]
		}
	}
	if assertion := f.Get("client_assertion"); assertion != "" {
		if f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			oauthErr(400, "invalid_request", "AADSTS50027: Invalid client_assertion_type.", 50027)
			return
		}
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		aud := scheme + "://" + r.Host + r.URL.Path
		sub, err := s.verifyAssertion(assertion, aud)
		if err != "" {
			oauthErr(401, "invalid_client", "AADSTS700027: Client assertion failed signature validation. "+err, 700027)
			return
		}
		if clientID == "" {
			clientID = sub
			for i := range s.o.Apps {
				if s.o.Apps[i].ClientID == clientID {
					app = &s.o.Apps[i]
				}
			}
		}
		if app == nil || app.ClientID != sub {
			oauthErr(400, "unauthorized_client", "AADSTS700016: Application not found in the directory.", 700016)
			return
		}
	} else {
		if app == nil {
			oauthErr(400, "unauthorized_client", "AADSTS700016: Application with identifier '"+clientID+"' was not found in the directory.", 700016)
			return
		}
		if app.Secret == "" || subtle.ConstantTimeCompare([]byte(app.Secret), []byte(f.Get("client_secret"))) != 1 {
			oauthErr(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.", 7000215)
			return
		}
	}
	tok := "eyJ0eXAiOiJKV1QiLCJlbXUiOnRydWV9." + newID("")
	s.mu.Lock()
	s.tokens[tok] = issuedToken{app: app, expires: s.o.Now().Add(s.o.TokenTTL)}
	s.mu.Unlock()
	secs := int(s.o.TokenTTL / time.Second)
	writeJSON(w, 200, map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": tok})
}

// verifyAssertion checks a client assertion JWT (RS256) against the
// certificates of the registered apps and returns its subject, or a
// reason it failed.
func (s *Server) verifyAssertion(jwt, aud string) (sub string, reason string) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "", "not a JWT"
	}
	var head struct {
		Alg string `json:"alg"`
	}
	var claims struct {
		Aud string `json:"aud"`
		Iss string `json:"iss"`
		Sub string `json:"sub"`
		Exp int64  `json:"exp"`
		Nbf int64  `json:"nbf"`
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &head) != nil || json.Unmarshal(cb, &claims) != nil {
		return "", "malformed JWT"
	}
	if head.Alg != "RS256" {
		return "", "alg must be RS256"
	}
	var app *App
	for i := range s.o.Apps {
		if s.o.Apps[i].ClientID == claims.Sub {
			app = &s.o.Apps[i]
		}
	}
	if app == nil || app.Certificate == nil {
		return "", "no certificate registered for the subject"
	}
	pub, ok := app.Certificate.PublicKey.(*rsa.PublicKey)
	if !ok {
		return "", "the certificate's key is not RSA"
	}
	h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig) != nil {
		return "", "bad signature"
	}
	now := s.o.Now().Unix()
	switch {
	case claims.Iss != claims.Sub:
		return "", "iss and sub differ"
	case claims.Aud != aud:
		return "", "aud is not the token endpoint"
	case claims.Exp <= now:
		return "", "expired"
	case claims.Nbf > now+300:
		return "", "not yet valid"
	}
	return claims.Sub, ""
}
