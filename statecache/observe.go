package statecache

import "time"

// Observe has fn called after every transaction with its kind, "read" or
// "write", and its duration including conflict retries; nil stops it. The
// gateway feeds its metrics through it.
func (s *Store) Observe(fn func(op string, d time.Duration)) {
	if fn == nil {
		s.observe.Store(nil)
		return
	}
	s.observe.Store(&fn)
}

func (s *Store) observed(op string, start time.Time) {
	if fn := s.observe.Load(); fn != nil {
		(*fn)(op, time.Since(start))
	}
}
