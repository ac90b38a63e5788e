package sources

import (
	"context"
	"errors"
	"time"
)

// PollWatcher gives a Source without push the Watch method, by asking the
// Source for changes at an interval. A folder counts as changed when its
// Changes show an item changed or removed, or when Changes says the folder
// is gone (ErrNotFound) or its state expired. A temporary error (the store
// is down) ends the Watch: the caller learns of the outage at once rather
// than when its wait ends.
type PollWatcher struct {
	Source   Source
	Interval time.Duration // between polls; zero means 30 seconds

	// PageSize is the max of the Changes calls that find a folder's
	// current state when Source is not a Stater; zero means 1000.
	PageSize int
}

var _ Watcher = (*PollWatcher)(nil)

// Watch implements Watcher.
func (p *PollWatcher) Watch(ctx context.Context, fs []FolderID) ([]FolderID, error) {
	states := make([]State, len(fs))
	for i, f := range fs {
		st, err := p.current(ctx, f)
		if err != nil {
			return nil, err
		}
		states[i] = st
	}
	interval := p.Interval
	if interval <= 0 {
		interval = 30 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
		var changed []FolderID
		for i, f := range fs {
			// One item is enough to know there is a change.
			d, err := p.Source.Changes(ctx, f, states[i], 1)
			switch {
			case errors.Is(err, ErrNotFound), errors.Is(err, ErrStateExpired):
				changed = append(changed, f)
			case err != nil && ctx.Err() != nil:
				return nil, ctx.Err()
			case err != nil:
				return nil, err
			case len(d.Changed) > 0 || len(d.Removed) > 0:
				changed = append(changed, f)
			default:
				states[i] = d.Next
			}
		}
		if len(changed) > 0 {
			return changed, nil
		}
	}
}

// current returns folder f's state as of now.
func (p *PollWatcher) current(ctx context.Context, f FolderID) (State, error) {
	if s, ok := p.Source.(Stater); ok {
		return s.State(ctx, f)
	}
	size := p.PageSize
	if size <= 0 {
		size = 1000
	}
	var st State
	for {
		d, err := p.Source.Changes(ctx, f, st, size)
		if err != nil {
			return "", err
		}
		st = d.Next
		if !d.More {
			return st, nil
		}
	}
}
