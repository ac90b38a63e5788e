package sources

import "errors"

// Errors that adapters return, wrapped with context, and that the gateway
// turns into protocol statuses with errors.Is.
var (
	// ErrNotFound means the folder or item does not exist (any more).
	ErrNotFound = errors.New("sources: not found")

	// ErrStateExpired means a State can no longer be calculated from: a
	// JMAP cannotCalculateChanges, a Graph 410, an invalid DAV sync-token,
	// a changed UIDVALIDITY. The caller starts again from the empty State.
	ErrStateExpired = errors.New("sources: state expired")

	// ErrConflict means a precondition failed: an ETag that no longer
	// matches, or a folder name already taken.
	ErrConflict = errors.New("sources: conflict")

	// ErrUnsupported means the store cannot do this, for this item or
	// folder, although the adapter implements the method.
	ErrUnsupported = errors.New("sources: unsupported")

	// ErrTooLarge means the item or message exceeds a limit of the store.
	ErrTooLarge = errors.New("sources: too large")

	// ErrAuth means the store refused the user's credentials.
	ErrAuth = errors.New("sources: authentication failed")
)

// Temporary reports whether err, or an error it wraps, says it is
// temporary: a store that is down, a timeout, a rate limit. Such failures
// are worth retrying; the gateway tells the device to try again later.
// Errors from MarkTemporary qualify, and so do net errors and
// context.DeadlineExceeded, which say so themselves.
func Temporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// MarkTemporary returns err marked as temporary for Temporary, keeping it
// for errors.Is and errors.As. It returns nil for a nil err.
func MarkTemporary(err error) error {
	if err == nil {
		return nil
	}
	return temporaryError{err}
}

type temporaryError struct{ err error }

func (e temporaryError) Error() string   { return e.err.Error() }
func (e temporaryError) Unwrap() error   { return e.err }
func (e temporaryError) Temporary() bool { return true }
