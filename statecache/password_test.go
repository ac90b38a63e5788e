package statecache

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestUserPassword(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if ok, err := s.CheckUserPassword(ctx, "alice@example.com", "x"); ok || err != nil {
		t.Errorf("CheckUserPassword without a password = %v, %v; want false, nil", ok, err)
	}
	if _, err := s.PasswordIssued(ctx, "alice@example.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("PasswordIssued without a password = %v, want ErrNotFound", err)
	}
	pw := NewPassword()
	if len(pw) != 24 {
		t.Errorf("NewPassword() = %q, want 24 characters", pw)
	}
	now := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	if err := s.SetUserPassword(ctx, "Alice@Example.com", pw, now); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user, pw string
		want     bool
	}{
		{"alice@example.com", pw, true},
		{"ALICE@example.com", pw, true},
		{"alice@example.com", pw + "x", false},
		{"alice@example.com", "", false},
		{"bob@example.com", pw, false},
	}
	for _, tt := range tests {
		if ok, err := s.CheckUserPassword(ctx, tt.user, tt.pw); ok != tt.want || err != nil {
			t.Errorf("CheckUserPassword(%q, %q) = %v, %v; want %v", tt.user, tt.pw, ok, err, tt.want)
		}
	}
	if at, err := s.PasswordIssued(ctx, "alice@example.com"); err != nil || !at.Equal(now) {
		t.Errorf("PasswordIssued = %v, %v; want %v", at, err, now)
	}
	if err := s.SetUserPassword(ctx, "alice@example.com", "second", now); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.CheckUserPassword(ctx, "alice@example.com", pw); ok {
		t.Error("the replaced password still checks")
	}
	if err := s.DeleteUserPassword(ctx, "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.CheckUserPassword(ctx, "alice@example.com", "second"); ok {
		t.Error("a deleted password still checks")
	}
	if err := s.SetUserPassword(ctx, "", "x", now); err == nil {
		t.Error("SetUserPassword with an empty user succeeded")
	}
}

func BenchmarkCheckUserPassword(b *testing.B) {
	s, err := Open("", &Options{InMemory: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	s.SetUserPassword(ctx, "alice", "pw", time.Now())
	b.ReportAllocs()
	for b.Loop() {
		s.CheckUserPassword(ctx, "alice", "pw")
	}
}

// TestUserPasswordBesidePrefs checks that a user's console preferences and
// device password live under different keys: saving one must not destroy
// the other.
func TestUserPasswordBesidePrefs(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	const user = "alice@example.com"
	if err := s.SetUserPassword(ctx, user, "pw", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUserPrefs(ctx, user, UserPrefs{Hidden: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.CheckUserPassword(ctx, user, "pw"); !ok || err != nil {
		t.Errorf("CheckUserPassword after SetUserPrefs = %v, %v; want true", ok, err)
	}
	if err := s.SetUserPassword(ctx, user, "pw2", time.Now()); err != nil {
		t.Fatal(err)
	}
	if p, err := s.UserPrefs(ctx, user); err != nil || len(p.Hidden) != 1 {
		t.Errorf("UserPrefs after SetUserPassword = %+v, %v; want Hidden [x]", p, err)
	}
}
