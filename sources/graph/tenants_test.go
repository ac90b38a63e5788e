package graph

import (
	"context"
	"errors"
	"testing"

	"github.com/easgate/easgate/internal/graphemu"
	"github.com/easgate/easgate/sources"
)

// TestTenants: two tenants, each its own Graph (app, token, users); a
// login goes to the tenant of its domain, and one no tenant claims is
// refused.
func TestTenants(t *testing.T) {
	g1, b1 := newBackend(t, graphemu.Options{}, Options{})
	g2, b2 := newBackend(t, graphemu.Options{}, Options{})
	carol := "carol@fabrikam.example"
	g2.Emu.AddUser(carol, "Carol")
	id, err := g2.Emu.DeliverMail(carol, "inbox", mail(1))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := NewTenants(map[string]*Backend{"example.com": b1, "Fabrikam.example": b2}, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	src, err := ts.Login(ctx, carol, "pw-carol")
	if err != nil {
		t.Fatalf("Login(%s) = %v", carol, err)
	}
	if src.(*Source).b != b2 {
		t.Errorf("carol logged in to the wrong tenant")
	}
	fd, err := src.Folders(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range fd.Changed {
		if f.Kind == sources.KindInbox {
			d, err := src.Changes(ctx, f.ID, "", 0)
			found = err == nil && len(d.Changed) == 1 && d.Changed[0] == sources.ItemID(id)
		}
	}
	if !found {
		t.Error("carol's inbox does not hold the mail delivered in her tenant")
	}
	for _, login := range []string{"alice", `EXAMPLE\alice`, "alice@example.com"} {
		src, err := ts.Login(ctx, login, "pw-alice")
		if err != nil || src.(*Source).b != b1 {
			t.Errorf("Login(%s) = %v, want the first tenant", login, err)
		}
	}
	for _, login := range []string{"carol", "dave@unknown.example"} {
		if _, err := ts.Login(ctx, login, "pw-"+login); !errors.Is(err, sources.ErrAuth) {
			t.Errorf("Login(%s) = %v, want ErrAuth", login, err)
		}
	}
	if g1.Emu.Requests() == 0 || g2.Emu.Requests() == 0 {
		t.Errorf("requests: %d to the first tenant, %d to the second; want both used", g1.Emu.Requests(), g2.Emu.Requests())
	}
}

// TestSignIn: the device-code sign-in (§1.1) proves a login when the
// user who signs in owns its mailbox: pending until they do, refused
// when someone else signs in or the user declines.
func TestSignIn(t *testing.T) {
	g, b := newBackend(t, graphemu.Options{}, Options{})
	ctx := context.Background()
	for _, c := range []struct {
		signer  string
		decline bool
		ok      bool
	}{{"alice@example.com", false, true}, {"bob@example.com", false, false}, {"", true, false}} {
		si, err := b.StartSignIn(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if si.Code == "" || si.URL == "" || si.Interval <= 0 {
			t.Fatalf("StartSignIn = %+v", si)
		}
		if _, done, err := si.Poll(ctx); done || err != nil {
			t.Errorf("Poll before the sign-in = %v, %v; want pending", done, err)
		}
		if err := g.Emu.CompleteDeviceCode(si.Code, c.signer, c.decline); err != nil {
			t.Fatal(err)
		}
		user, done, err := si.Poll(ctx)
		switch {
		case c.ok && (!done || err != nil || user != "alice@example.com"):
			t.Errorf("Poll after alice signed in = %q, %v, %v; want alice@example.com", user, done, err)
		case !c.ok && (done || err == nil):
			t.Errorf("Poll after %q signed in (decline %v) = %q, %v, %v; want an error", c.signer, c.decline, user, done, err)
		}
	}
}
