package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/easgate/easgate/sources"
)

// signInScope is what the device-code sign-in asks for: enough to read
// the signed-in user's own /me, nothing of their mailbox.
const signInScope = "User.Read openid profile"

// StartSignIn starts a device-code sign-in (§1.1, §1.3) for login: the
// user signs in with Microsoft, and Poll reports the login once the
// signed-in user's object id is that of login's mailbox. The app
// registration must allow public client flows and have the delegated
// User.Read permission. No token of the user is kept.
func (b *Backend) StartSignIn(ctx context.Context, login string) (*sources.SignIn, error) {
	upn := b.UPN(login)
	form := url.Values{"client_id": {b.o.ClientID}, "scope": {signInScope}}
	var dc struct {
		DeviceCode      string `json:"device_code"`
		UserCode        string `json:"user_code"`
		VerificationURI string `json:"verification_uri"`
		ExpiresIn       int    `json:"expires_in"`
		Interval        int    `json:"interval"`
		Message         string `json:"message"`
	}
	if err := b.oauthPost(ctx, "devicecode", form, &dc); err != nil {
		return nil, fmt.Errorf("graph: device code: %w", err)
	}
	if dc.DeviceCode == "" || dc.UserCode == "" {
		return nil, errors.New("graph: device code: an answer without a code")
	}
	interval := max(time.Duration(dc.Interval)*time.Second, time.Second)
	si := &sources.SignIn{Code: dc.UserCode, URL: dc.VerificationURI, Message: dc.Message,
		Expires: time.Now().Add(time.Duration(dc.ExpiresIn) * time.Second), Interval: interval}
	si.Poll = func(ctx context.Context) (string, bool, error) {
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		err := b.oauthPost(ctx, "token", url.Values{"client_id": {b.o.ClientID},
			"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {dc.DeviceCode}}, &tok)
		var oe *oauthError
		if errors.As(err, &oe) && (oe.Code == "authorization_pending" || oe.Code == "slow_down") {
			return "", false, nil
		}
		if err != nil {
			return "", false, fmt.Errorf("graph: sign-in: %w", err)
		}
		me, err := b.me(ctx, tok.AccessToken)
		if err != nil {
			return "", false, err
		}
		want, err := b.resolve(ctx, upn)
		if err != nil {
			return "", false, err
		}
		if me.ID != want {
			return "", false, fmt.Errorf("graph: signed in as %s, who is not the owner of %s: %w", me.UPN, upn, sources.ErrAuth)
		}
		return upn, true, nil
	}
	return si, nil
}

// oauthError is an error answer of the identity platform (flat JSON).
type oauthError struct {
	Status      int
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *oauthError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Description)
}

// oauthPost posts form to the tenant's endpoint (token, devicecode) and
// decodes the answer.
func (b *Backend) oauthPost(ctx context.Context, endpoint string, form url.Values, out any) error {
	u := strings.TrimSuffix(b.o.AuthorityURL, "/") + "/" + url.PathEscape(b.o.Tenant) + "/oauth2/v2.0/" + endpoint
	req, err := http.NewRequestWithContext(ctx, "POST", u, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.o.HTTPClient.Do(req)
	if err != nil {
		return sources.MarkTemporary(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != 200 {
		e := &oauthError{Status: resp.StatusCode}
		json.Unmarshal(body, e)
		return e
	}
	return json.Unmarshal(body, out)
}

type meAnswer struct {
	ID  string `json:"id"`
	UPN string `json:"userPrincipalName"`
}

// me reads the signed-in user with their delegated token.
func (b *Backend) me(ctx context.Context, token string) (meAnswer, error) {
	var me meAnswer
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimSuffix(b.o.GraphURL, "/")+"/v1.0/me?$select=id,userPrincipalName", nil)
	if err != nil {
		return me, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := b.o.HTTPClient.Do(req)
	if err != nil {
		return me, sources.MarkTemporary(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != 200 {
		return me, fmt.Errorf("graph: /me: %w", decodeError(resp.StatusCode, resp.Header, body))
	}
	if err := json.Unmarshal(body, &me); err != nil || me.ID == "" {
		return me, fmt.Errorf("graph: /me: no id in the answer")
	}
	return me, nil
}

// StartSignIn starts the device-code sign-in in the tenant of login.
func (t *Tenants) StartSignIn(ctx context.Context, login string) (*sources.SignIn, error) {
	b := t.For(login)
	if b == nil {
		return nil, fmt.Errorf("graph: user %q: no tenant serves the domain: %w", login, sources.ErrAuth)
	}
	return b.StartSignIn(ctx, upnOf(login, t.mailDomain))
}
