package statecache

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestDevices(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	alice := Account{User: "alice@example.org", Device: "ApplF17XXXX"}
	bob := Account{User: "bob@example.org", Device: "ApplF17XXXX"}
	if _, err := s.Device(ctx, alice.Device); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Device before Seen: err = %v, want ErrNotFound", err)
	}
	if err := s.SetDeviceInfo(ctx, alice.Device, DeviceInfo{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetDeviceInfo before Seen: err = %v, want ErrNotFound", err)
	}
	v := Visit{Type: "iPhone", UserAgent: "Apple-iPhone9C1/1402.100", ProtocolVersion: "14.1", At: t0}
	if err := s.Seen(ctx, alice, v); err != nil {
		t.Fatal(err)
	}
	v.At, v.ProtocolVersion = t0.Add(time.Hour), "16.1"
	if err := s.Seen(ctx, bob, v); err != nil {
		t.Fatal(err)
	}
	info := DeviceInfo{Model: "iPhone9C1", IMEI: "35000000000000", FriendlyName: "Alice's iPhone", OS: "iOS 10.3", OSLanguage: "en"}
	if err := s.SetDeviceInfo(ctx, alice.Device, info); err != nil {
		t.Fatal(err)
	}
	got, err := s.Device(ctx, alice.Device)
	if err != nil {
		t.Fatal(err)
	}
	want := &Device{ID: alice.Device, Type: "iPhone", UserAgent: v.UserAgent, ProtocolVersion: "16.1",
		Info: info, FirstSeen: t0, LastSeen: t0.Add(time.Hour)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Device = %+v, want %+v", got, want)
	}
	users, err := s.Users(ctx, alice.Device)
	if err != nil || !reflect.DeepEqual(users, []string{alice.User, bob.User}) {
		t.Errorf("Users = %q, %v, want alice and bob", users, err)
	}
	devs, err := s.Devices(ctx, bob.User)
	if err != nil || !reflect.DeepEqual(devs, []string{bob.Device}) {
		t.Errorf("Devices(bob) = %q, %v", devs, err)
	}
	acct, err := s.Account(ctx, bob)
	if err != nil || !acct.FirstSeen.Equal(t0.Add(time.Hour)) {
		t.Errorf("Account(bob) = %+v, %v", acct, err)
	}

	// Deleting one user keeps the device; deleting the last one drops it.
	if err := s.DeleteAccount(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Device(ctx, alice.Device); err != nil {
		t.Errorf("Device after deleting alice: %v", err)
	}
	if err := s.DeleteAccount(ctx, bob); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Device(ctx, alice.Device); !errors.Is(err, ErrNotFound) {
		t.Errorf("Device after deleting both: err = %v, want ErrNotFound", err)
	}
	if err := s.DeleteAccount(ctx, bob); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteAccount twice: err = %v, want ErrNotFound", err)
	}
}

func TestPolicy(t *testing.T) {
	ctx := context.Background()
	a := Account{User: "u", Device: "d"}
	type step struct {
		name string
		do   func(s *Store, keys map[string]uint32) (bool, error)
		ok   bool
		err  error
	}
	issue := func(name string) func(*Store, map[string]uint32) (bool, error) {
		return func(s *Store, keys map[string]uint32) (bool, error) {
			k, err := s.IssuePolicyKey(ctx, a, t0)
			keys[name] = k
			return k != 0, err
		}
	}
	ack := func(tmp, final string) func(*Store, map[string]uint32) (bool, error) {
		return func(s *Store, keys map[string]uint32) (bool, error) {
			k, err := s.AcknowledgePolicyKey(ctx, a, keys[tmp], t0)
			if prev, ok := keys[final]; ok && k != prev {
				return false, nil
			}
			keys[final] = k
			return k != 0, err
		}
	}
	check := func(name string) func(*Store, map[string]uint32) (bool, error) {
		return func(s *Store, keys map[string]uint32) (bool, error) { return s.CheckPolicyKey(ctx, a, keys[name]) }
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"provision", []step{
			{"check none", check("none"), false, nil},
			{"issue", issue("tmp"), true, nil},
			{"temporary not accepted", check("tmp"), false, nil},
			{"ack", ack("tmp", "final"), true, nil},
			{"final accepted", check("final"), true, nil},
			{"temporary retired by final", check("tmp"), false, nil},
		}},
		{"iOS 4.3 resends the temporary key once", []step{
			{"issue", issue("tmp"), true, nil},
			{"ack", ack("tmp", "final"), true, nil},
			{"temporary once", check("tmp"), true, nil},
			{"temporary twice", check("tmp"), false, nil},
			{"final", check("final"), true, nil},
		}},
		{"ack repeated after a lost response", []step{
			{"issue", issue("tmp"), true, nil},
			{"ack", ack("tmp", "final"), true, nil},
			{"ack again, same final key", ack("tmp", "final"), true, nil},
		}},
		{"ack with a wrong key", []step{
			{"issue", issue("tmp"), true, nil},
			{"ack", ack("bogus", "final"), false, ErrPolicyKeyMismatch},
		}},
		{"reprovision keeps the old final key for one use", []step{
			{"issue", issue("tmp"), true, nil},
			{"ack", ack("tmp", "final"), true, nil},
			{"final", check("final"), true, nil},
			{"issue again", issue("tmp2"), true, nil},
			{"old final once", check("final"), true, nil},
			{"old final twice", check("final"), false, nil},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			if err := s.Seen(ctx, a, Visit{At: t0}); err != nil {
				t.Fatal(err)
			}
			keys := map[string]uint32{}
			for _, st := range tt.steps {
				ok, err := st.do(s, keys)
				if ok != st.ok || !errors.Is(err, st.err) {
					t.Fatalf("%s = %v, %v, want %v, %v", st.name, ok, err, st.ok, st.err)
				}
			}
		})
	}
}

func TestWipe(t *testing.T) {
	ctx := context.Background()
	a := Account{User: "u", Device: "d"}
	tests := []struct {
		name      string
		do        func(s *Store) error
		wantErr   error
		wantKind  WipeKind
		wantAcked bool
	}{
		{"none", func(s *Store) error { return nil }, nil, WipeNone, false},
		{"full", func(s *Store) error { return s.RequestWipe(ctx, a, WipeFull, "admin", t0) }, nil, WipeFull, false},
		{"account only", func(s *Store) error { return s.RequestWipe(ctx, a, WipeAccountOnly, "admin", t0) }, nil, WipeAccountOnly, false},
		{"cancelled", func(s *Store) error {
			if err := s.RequestWipe(ctx, a, WipeFull, "admin", t0); err != nil {
				return err
			}
			return s.CancelWipe(ctx, a)
		}, nil, WipeNone, false},
		{"acknowledged", func(s *Store) error {
			if err := s.RequestWipe(ctx, a, WipeFull, "admin", t0); err != nil {
				return err
			}
			return s.AcknowledgeWipe(ctx, a, t0)
		}, nil, WipeFull, true},
		{"cancel after acknowledgement", func(s *Store) error {
			if err := s.RequestWipe(ctx, a, WipeAccountOnly, "admin", t0); err != nil {
				return err
			}
			if err := s.AcknowledgeWipe(ctx, a, t0); err != nil {
				return err
			}
			return s.CancelWipe(ctx, a)
		}, ErrWipeAcknowledged, WipeAccountOnly, true},
		{"acknowledge without request", func(s *Store) error { return s.AcknowledgeWipe(ctx, a, t0) }, ErrNotFound, WipeNone, false},
		{"unknown account", func(s *Store) error {
			return s.RequestWipe(ctx, Account{User: "x", Device: "y"}, WipeFull, "admin", t0)
		}, ErrNotFound, WipeNone, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			if err := s.Seen(ctx, a, Visit{At: t0}); err != nil {
				t.Fatal(err)
			}
			if err := tt.do(s); !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			got, err := s.Account(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			if got.Wipe.Kind != tt.wantKind || got.Wipe.Acknowledged != tt.wantAcked {
				t.Errorf("Wipe = %+v, want kind %d acknowledged %v", got.Wipe, tt.wantKind, tt.wantAcked)
			}
		})
	}
}

func TestKeysDoNotCollide(t *testing.T) {
	// With separators instead of lengths, ("a/b", "c") and ("a", "b/c")
	// would share a key.
	tests := []struct {
		name string
		a, b []byte
	}{
		{"user/device split", accountKey(Account{User: "a\x01b", Device: "c"}), accountKey(Account{User: "a", Device: "\x01bc"})},
		{"collection prefix", collectionKey(CollectionKey{Account{"u", "d"}, "1"}), collectionKey(CollectionKey{Account{"u", "d"}, "12"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if string(tt.a) == string(tt.b) {
				t.Errorf("keys collide: %q", tt.a)
			}
		})
	}
	if k := deviceKey("x"); k[0] != schemaVersion {
		t.Errorf("deviceKey = %q, want schema prefix %d", k, schemaVersion)
	}
}
