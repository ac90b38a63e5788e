package sources

import (
	"context"
	"time"
)

// SignIn is a store's own sign-in in progress, through which a user
// proves who they are without giving easgate their store password
// (Microsoft's device code: the user opens URL, enters Code and signs in
// there, with whatever second factor their organisation asks).
type SignIn struct {
	Code     string        // what the user enters at URL
	URL      string        // where the user signs in
	Message  string        // the store's instructions, in its words
	Expires  time.Time     // the sign-in must be finished by then
	Interval time.Duration // poll no more often than this

	// Poll asks the store once whether the user has signed in. done is
	// false while the sign-in is pending; once it is true, user is the
	// login name the sign-in proves. An error means the sign-in failed:
	// declined, expired, or made by someone other than the owner of the
	// login it was started for.
	Poll func(ctx context.Context) (user string, done bool, err error)
}
