package sources_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/memory"
)

// plain hides every ability of a Source but the three methods of Source,
// as a store without push or Stater would have.
type plain struct{ sources.Source }

func TestPollWatcher(t *testing.T) {
	tests := []struct {
		name string
		wrap func(*memory.Source) sources.Source
	}{
		{"stater", func(s *memory.Source) sources.Source { return s }},
		{"paging", func(s *memory.Source) sources.Source { return plain{s} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			src := memory.New(nil).User("alice")
			for range 5 {
				if _, _, err := src.Put(ctx, "notes", &sources.Item{Note: &sources.Note{}}, ""); err != nil {
					t.Fatal(err)
				}
			}
			p := &sources.PollWatcher{Source: tt.wrap(src), Interval: 5 * time.Millisecond, PageSize: 2}

			short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
			defer cancel()
			if fs, err := p.Watch(short, []sources.FolderID{"notes", "inbox"}); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Watch without changes = %v, %v; want context.DeadlineExceeded", fs, err)
			}

			done := make(chan []sources.FolderID, 1)
			go func() {
				fs, err := p.Watch(ctx, []sources.FolderID{"notes", "inbox"})
				if err != nil {
					t.Error(err)
				}
				done <- fs
			}()
			timeout := time.After(5 * time.Second)
			for {
				if _, _, err := src.Put(ctx, "inbox", &sources.Item{Note: &sources.Note{}}, ""); err != nil {
					t.Fatal(err)
				}
				select {
				case fs := <-done:
					if !slices.Equal(fs, []sources.FolderID{"inbox"}) {
						t.Errorf("Watch = %v, want [inbox]", fs)
					}
					return
				case <-time.After(50 * time.Millisecond):
				case <-timeout:
					t.Fatal("Watch did not see a change in 5s")
				}
			}
		})
	}
}
