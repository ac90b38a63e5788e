package statecache

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
)

// Device passwords: stores whose own credentials easgate does not hold
// for the user (Microsoft Graph with app-only access) check the phone's
// Basic password against a password easgate issued, kept here as an
// argon2id hash (RFC 9106) under its own table:
//
//	k user → passwordRec

// tPassword is the table of issued device passwords. It is not 'p',
// which holds the users' console preferences under the same user key.
const tPassword byte = 'k'

func passwordKey(user string) []byte { return newKey(tPassword).str(user) }

// argon2id parameters: RFC 9106's second recommended option (64 MiB, 3
// passes) would cost 64 MiB per concurrent login; phones log in on every
// request, so easgate takes 19 MiB, 2 passes, 1 lane, OWASP's minimum for
// argon2id, and checks take about 30 ms on one core.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
)

type passwordRec struct {
	Hash   []byte    `json:"h"`
	Salt   []byte    `json:"s"`
	Time   uint32    `json:"t"`
	Memory uint32    `json:"m"`
	Issued time.Time `json:"i"`
}

// SetUserPassword stores password as user's device password, replacing
// any earlier one. user is compared without case.
func (s *Store) SetUserPassword(ctx context.Context, user, password string, now time.Time) error {
	if user == "" || password == "" {
		return errors.New("statecache: user and password must not be empty")
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	rec := passwordRec{Hash: argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen),
		Salt: salt, Time: argonTime, Memory: argonMemory, Issued: now}
	return s.update(ctx, func(txn kvTxn) error {
		return setJSON(txn, passwordKey(strings.ToLower(user)), &rec)
	})
}

// CheckUserPassword reports whether password is user's device password.
// A user without one is refused, not an error.
func (s *Store) CheckUserPassword(ctx context.Context, user, password string) (bool, error) {
	var rec passwordRec
	var found bool
	err := s.view(ctx, func(txn kvTxn) error {
		var err error
		found, err = getJSON(txn, passwordKey(strings.ToLower(user)), &rec)
		return err
	})
	if err != nil || !found {
		return false, err
	}
	h := argon2.IDKey([]byte(password), rec.Salt, rec.Time, rec.Memory, argonThreads, uint32(len(rec.Hash)))
	return subtle.ConstantTimeCompare(h, rec.Hash) == 1, nil
}

// DeleteUserPassword removes user's device password; the user can no
// longer log in until a new one is issued.
func (s *Store) DeleteUserPassword(ctx context.Context, user string) error {
	return s.update(ctx, func(txn kvTxn) error {
		return txn.del(passwordKey(strings.ToLower(user)))
	})
}

// NewPassword returns a random device password of 24 characters from an
// alphabet without look-alikes, about 138 bits.
func NewPassword() string {
	b := make([]byte, 18)
	rand.Read(b)
	p := base64.RawURLEncoding.EncodeToString(b)
	return strings.NewReplacer("-", "x", "_", "y").Replace(p)
}

// PasswordIssued returns when user's device password was issued, or
// ErrNotFound.
func (s *Store) PasswordIssued(ctx context.Context, user string) (time.Time, error) {
	var rec passwordRec
	var found bool
	err := s.view(ctx, func(txn kvTxn) error {
		var err error
		found, err = getJSON(txn, passwordKey(strings.ToLower(user)), &rec)
		return err
	})
	if err != nil {
		return time.Time{}, err
	}
	if !found {
		return time.Time{}, fmt.Errorf("statecache: no device password for %q: %w", user, ErrNotFound)
	}
	return rec.Issued, nil
}
