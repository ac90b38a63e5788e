package memory_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/memory"
)

// TestEpochSurvivesRebuild checks that a store rebuilt identically under
// the same Options.Epoch takes the States of the one before, and that any
// other store refuses them.
func TestEpochSurvivesRebuild(t *testing.T) {
	ctx := context.Background()
	build := func(epoch string) *memory.Source {
		src := memory.New(&memory.Options{Epoch: epoch}).User("alice")
		for i := range 5 {
			raw := fmt.Sprintf("From: bob@example.net\r\nSubject: Message %d\r\n\r\nBody %d.\r\n", i, i)
			if _, err := src.AddMessage(ctx, "inbox", []byte(raw)); err != nil {
				t.Fatal(err)
			}
		}
		return src
	}
	before := build("test-epoch")
	// A paged state, in the middle of a first listing, and the state after it.
	page, err := before.Changes(ctx, "inbox", "", 2)
	if err != nil || !page.More {
		t.Fatalf("first page = %+v, %v; want more", page, err)
	}
	rest, err := before.Changes(ctx, "inbox", page.Next, 0)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		epoch string
		valid bool
	}{
		{"same-epoch", "test-epoch", true},
		{"other-epoch", "other-epoch", false},
		{"default-epoch", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			after := build(tt.epoch)
			got, err := after.Changes(ctx, "inbox", page.Next, 0)
			if !tt.valid {
				if !errors.Is(err, sources.ErrStateExpired) {
					t.Fatalf("Changes(%q) = %+v, %v; want ErrStateExpired", page.Next, got, err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, rest) {
				t.Fatalf("Changes(%q) after the rebuild = %+v, %v; want %+v", page.Next, got, err, rest)
			}
			none, err := after.Changes(ctx, "inbox", rest.Next, 0)
			if err != nil || len(none.Changed)+len(none.Removed) != 0 {
				t.Errorf("Changes(%q) after the rebuild = %+v, %v; want nothing new", rest.Next, none, err)
			}
		})
	}
}
