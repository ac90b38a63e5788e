package mux

import (
	"context"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/easgate/easgate/sources"
)

// Login opens a user's Source in one store: an adapter Backend's Login.
type Login func(ctx context.Context, user, password string) (sources.Source, error)

// BackendRoute names the store of some content types by its Login.
type BackendRoute struct {
	Login    Login
	Contents []sources.Content
}

// maxUsers bounds the Sources a Backend keeps; past it one is dropped,
// and rebuilt at the user's next request.
const maxUsers = 10000

// Backend logs users in to every store of its routes and serves each a
// Source over them. It keeps a user's Source while the stores hand back
// the same Sources, which they cache per user, so that the folder map is
// not rebuilt on every request.
type Backend struct {
	routes []BackendRoute
	poll   time.Duration

	mu    sync.Mutex
	users map[string]*cached
}

type cached struct {
	parts []sources.Source
	src   *Source
}

// NewBackend returns a Backend over routes; poll is as for New.
func NewBackend(routes []BackendRoute, poll time.Duration) *Backend {
	return &Backend{routes: routes, poll: poll, users: make(map[string]*cached)}
}

// Login logs user in to every store, in route order; the first failure
// is the answer, so a wrong password fails as the first store says.
func (b *Backend) Login(ctx context.Context, user, password string) (sources.Source, error) {
	parts := make([]sources.Source, len(b.routes))
	for i, r := range b.routes {
		src, err := r.Login(ctx, user, password)
		if err != nil {
			return nil, err
		}
		parts[i] = src
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if c := b.users[user]; c != nil && slices.EqualFunc(c.parts, parts, same) {
		return c.src, nil
	}
	routes := make([]Route, len(parts))
	for i, p := range parts {
		routes[i] = Route{Source: p, Contents: b.routes[i].Contents}
	}
	if len(b.users) >= maxUsers {
		for u := range b.users {
			delete(b.users, u)
			break
		}
	}
	c := &cached{parts: parts, src: New(routes, b.poll)}
	b.users[user] = c
	return c.src, nil
}

// same reports whether a and b are the same Source; a Source of a type
// that cannot be compared is never the same.
func same(a, b sources.Source) bool {
	ta := reflect.TypeOf(a)
	return ta == reflect.TypeOf(b) && ta != nil && ta.Comparable() && a == b
}
