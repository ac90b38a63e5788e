package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/easgate/easgate/sources"
)

// Tenants serves several Entra tenants, one Backend (one app
// registration, one token) each, and logs a user in to the tenant of
// the domain of their UPN: alice@contoso.com to Contoso's, bob@fabrikam.com
// to Fabrikam's. A login whose domain no tenant claims is refused.
type Tenants struct {
	byDomain   map[string]*Backend
	list       []*Backend
	mailDomain string
}

// NewTenants returns the Tenants of domains (login domain → its tenant's
// Backend; several domains may share one). mailDomain completes logins
// without a domain, as Options.MailDomain does.
func NewTenants(domains map[string]*Backend, mailDomain string) (*Tenants, error) {
	if len(domains) == 0 {
		return nil, errors.New("graph: no tenant")
	}
	t := &Tenants{byDomain: make(map[string]*Backend), mailDomain: mailDomain}
	seen := make(map[*Backend]bool)
	for d, b := range domains {
		if d == "" || b == nil {
			return nil, fmt.Errorf("graph: tenant domain %q: empty", d)
		}
		t.byDomain[strings.ToLower(d)] = b
		if !seen[b] {
			seen[b] = true
			t.list = append(t.list, b)
		}
	}
	return t, nil
}

// For returns the Backend of the tenant of login, or nil.
func (t *Tenants) For(login string) *Backend {
	upn := upnOf(login, t.mailDomain)
	_, domain, _ := strings.Cut(upn, "@")
	return t.byDomain[domain]
}

// Login logs user in to their tenant's Backend.
func (t *Tenants) Login(ctx context.Context, user, password string) (sources.Source, error) {
	b := t.For(user)
	if b == nil {
		return nil, fmt.Errorf("graph: user %q: no tenant serves the domain: %w", user, sources.ErrAuth)
	}
	return b.Login(ctx, upnOf(user, t.mailDomain), password)
}

// Close closes every tenant's Backend.
func (t *Tenants) Close() error {
	var errs []error
	for _, b := range t.list {
		errs = append(errs, b.Close())
	}
	return errors.Join(errs...)
}

// NotificationHandler serves the webhook of every tenant at one URL: a
// notification names its subscription and clientState, which only the
// tenant that made the subscription knows.
func (t *Tenants) NotificationHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := r.URL.Query().Get("validationToken"); tok != "" {
			t.list[0].NotificationHandler().ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodPost {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		serveNotifications(w, r, t.list)
	})
}
