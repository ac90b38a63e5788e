package memory_test

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/memory"
)

// TestNotify checks sources.Notifier on the memory store: the callback
// runs once, at the first change of a watched folder or its deletion, not
// for other folders, and never after stop.
func TestNotify(t *testing.T) {
	ctx := t.Context()
	tests := []struct {
		name   string
		change func(src *memory.Source, f sources.FolderID) error
		stop   bool
		want   int32
	}{
		{"change", func(src *memory.Source, f sources.FolderID) error {
			_, err := src.AddMessage(ctx, f, message(1, ""))
			return err
		}, false, 1},
		{"two changes, one call", func(src *memory.Source, f sources.FolderID) error {
			if _, err := src.AddMessage(ctx, f, message(1, "")); err != nil {
				return err
			}
			_, err := src.AddMessage(ctx, f, message(2, ""))
			return err
		}, false, 1},
		{"other folder", func(src *memory.Source, _ sources.FolderID) error {
			_, err := src.AddMessage(ctx, "inbox", message(1, ""))
			return err
		}, false, 0},
		{"deleted", func(src *memory.Source, f sources.FolderID) error { return src.DeleteFolder(ctx, f) }, false, 1},
		{"stopped", func(src *memory.Source, f sources.FolderID) error {
			_, err := src.AddMessage(ctx, f, message(1, ""))
			return err
		}, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := memory.New(nil).User("alice")
			f, err := src.CreateFolder(ctx, "", "Watched", sources.KindUserMail)
			if err != nil {
				t.Fatal(err)
			}
			var calls atomic.Int32
			stop, err := src.Notify([]sources.FolderID{f}, func() { calls.Add(1) })
			if err != nil {
				t.Fatal(err)
			}
			if tt.stop {
				stop()
			}
			if err := tt.change(src, f); err != nil {
				t.Fatal(err)
			}
			stop()
			stop()
			if got := calls.Load(); got != tt.want {
				t.Errorf("callback ran %d times, want %d", got, tt.want)
			}
		})
	}
	if _, err := memory.New(nil).User("bob").Notify([]sources.FolderID{"nope"}, func() {}); !errors.Is(err, sources.ErrNotFound) {
		t.Errorf("Notify of an unknown folder: %v, want ErrNotFound", err)
	}
}
