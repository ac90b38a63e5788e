package memory

import (
	"context"
	"sync"

	"github.com/easgate/easgate/sources"
)

// oofs holds each Source's automatic-reply setting. It lives beside the
// Source rather than in it so that this ability stays in its own file; a
// Source's entry lives as long as the process, as Sources do.
var oofs sync.Map // *Source → sources.Oof

// Oof returns the user's automatic-reply setting; a new user's is off.
func (s *Source) Oof(context.Context) (sources.Oof, error) {
	o, _ := oofs.Load(s)
	v, _ := o.(sources.Oof)
	return v, nil
}

// SetOof replaces the user's automatic-reply setting.
func (s *Source) SetOof(_ context.Context, o sources.Oof) error {
	oofs.Store(s, o)
	return nil
}
