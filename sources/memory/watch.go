package memory

import (
	"context"
	"slices"

	"github.com/easgate/easgate/sources"
)

// waiter is one Watch or Notify call. Folders it watches add themselves to
// changed and signal wake, under the Source's lock; wake has room for one
// signal, so a change never blocks on a slow watcher. A Notify call has fn
// instead of wake, called once.
type waiter struct {
	wake    chan struct{}
	changed []sources.FolderID
	notify  bool
	fn      func()
}

// wake tells f's watchers that f changed.
func (f *folder) wake() {
	for w := range f.waiters {
		if w.notify {
			if fn := w.fn; fn != nil {
				w.fn = nil
				fn()
			}
			continue
		}
		if !slices.Contains(w.changed, f.ID) {
			w.changed = append(w.changed, f.ID)
		}
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// Watch implements sources.Watcher. It costs no goroutine and no polling:
// the change that concerns it signals its channel directly.
func (s *Source) Watch(ctx context.Context, ids []sources.FolderID) ([]sources.FolderID, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := &waiter{wake: make(chan struct{}, 1)}
	fs := make([]*folder, 0, len(ids))
	s.mu.Lock()
	for _, id := range ids {
		f, err := s.folder(id)
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		fs = append(fs, f)
	}
	for _, f := range fs {
		f.waiters[w] = struct{}{}
	}
	s.mu.Unlock()

	select {
	case <-w.wake:
	case <-ctx.Done():
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range fs {
		delete(f.waiters, w)
	}
	if len(w.changed) > 0 {
		return w.changed, nil
	}
	return nil, ctx.Err()
}

// Notify implements sources.Notifier: fn joins the watched folders' waiters
// and costs no goroutine until a change calls it.
func (s *Source) Notify(ids []sources.FolderID, fn func()) (stop func(), err error) {
	w := &waiter{notify: true, fn: fn}
	fs := make([]*folder, 0, len(ids))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		f, err := s.folder(id)
		if err != nil {
			return nil, err
		}
		fs = append(fs, f)
	}
	for _, f := range fs {
		f.waiters[w] = struct{}{}
	}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		w.fn = nil
		for _, f := range fs {
			delete(f.waiters, w)
		}
	}, nil
}
