package gateway

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

func testNote() *sources.Note {
	return &sources.Note{Subject: "Shopping", Body: "milk\neggs", Categories: []string{"Home"},
		Modified: time.Date(2026, 2, 1, 9, 30, 0, 0, time.UTC)}
}

func TestNoteRoundTrip(t *testing.T) {
	for _, v := range testVersions {
		t.Run(v.String(), func(t *testing.T) {
			it := &sources.Item{Note: testNote()}
			if v < eas.V140 {
				if _, err := toEAS(context.Background(), it, v, newBodyPrefs(v, classNotes, nil)); !errors.Is(err, sources.ErrUnsupported) {
					t.Errorf("toEAS(%s) = %v, want ErrUnsupported", v, err)
				}
				return
			}
			out := payload[eas.Note](t, it, v, newBodyPrefs(v, classNotes, nil))
			if out.MessageClass != "IPM.StickyNote" {
				t.Errorf("MessageClass = %q", out.MessageClass)
			}
			got, err := fromEAS(classNotes, wire(t, eas.RawValue(out)), v, nil)
			if err != nil {
				t.Fatal(err)
			}
			sameItem(t, got.Note, testNote())
		})
	}
}

func TestNoteChangeKeepsUnsent(t *testing.T) {
	old := &sources.Item{Note: testNote()}
	html := "<p>bread</p>"
	n := &eas.Note{Body: &eas.Body{Type: eas.BodyHTML, Data: &html}}
	got, err := fromEAS(classNotes, wire(t, eas.RawValue(n)), eas.V161, old)
	if err != nil {
		t.Fatal(err)
	}
	want := testNote()
	want.Body = "bread"
	sameItem(t, got.Note, want)
}
