package statecache

import (
	"bytes"
	"context"
	"testing"
)

func TestJournal(t *testing.T) {
	open := newReopenable(t)
	s := open()
	ctx := context.Background()
	if j, v, err := s.LoadJournal(ctx, "box", "f"); j != nil || v != 0 || err != nil {
		t.Errorf("LoadJournal of nothing = %q, %d, %v; want nil, 0, nil", j, v, err)
	}
	big := bytes.Repeat([]byte("journal "), 20000) // past Badger's value threshold
	for _, w := range []struct{ box, folder string }{{"box", "f"}, {"box", ""}, {"box2", "f"}} {
		if v, ok, err := s.SaveJournal(ctx, w.box, w.folder, append([]byte(w.box+"/"+w.folder), big...), 0); err != nil || !ok || v != 1 {
			t.Fatalf("first SaveJournal(%s, %q) = %d, %v, %v; want 1, true", w.box, w.folder, v, ok, err)
		}
	}
	if v, ok, err := s.SaveJournal(ctx, "box", "f", []byte("second"), 1); err != nil || !ok || v != 2 {
		t.Fatalf("SaveJournal from version 1 = %d, %v, %v; want 2, true", v, ok, err)
	}
	// A writer that loaded version 1 and saves after another one did
	// changes nothing and learns the version.
	if v, ok, err := s.SaveJournal(ctx, "box", "f", []byte("stale"), 1); err != nil || ok || v != 2 {
		t.Fatalf("SaveJournal from a stale version = %d, %v, %v; want 2, false", v, ok, err)
	}
	s.Close()
	s = open()
	defer s.Close()
	for _, w := range []struct {
		box, folder, want string
		version           uint64
	}{{"box", "f", "second", 2}, {"box", "", "box/", 1}, {"box2", "f", "box2/f", 1}} {
		j, v, err := s.LoadJournal(ctx, w.box, w.folder)
		if err != nil || !bytes.HasPrefix(j, []byte(w.want)) || v != w.version {
			t.Errorf("LoadJournal(%s, %q) after reopening = %.20q, %d, %v; want %q…, %d", w.box, w.folder, j, v, err, w.want, w.version)
		}
		if v, err := s.JournalVersion(ctx, w.box, w.folder); err != nil || v != w.version {
			t.Errorf("JournalVersion(%s, %q) = %d, %v; want %d", w.box, w.folder, v, err, w.version)
		}
	}
}
