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
	if j, err := s.LoadJournal(ctx, "box", "f"); j != nil || err != nil {
		t.Errorf("LoadJournal of nothing = %q, %v; want nil, nil", j, err)
	}
	big := bytes.Repeat([]byte("journal "), 20000) // past Badger's value threshold
	for _, w := range []struct{ box, folder string }{{"box", "f"}, {"box", ""}, {"box2", "f"}} {
		if err := s.SaveJournal(ctx, w.box, w.folder, append([]byte(w.box+"/"+w.folder), big...)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SaveJournal(ctx, "box", "f", []byte("second")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open()
	defer s.Close()
	for _, w := range []struct{ box, folder, want string }{{"box", "f", "second"}, {"box", "", "box/"}, {"box2", "f", "box2/f"}} {
		j, err := s.LoadJournal(ctx, w.box, w.folder)
		if err != nil || !bytes.HasPrefix(j, []byte(w.want)) {
			t.Errorf("LoadJournal(%s, %q) after reopening = %.20q, %v; want %q…", w.box, w.folder, j, err, w.want)
		}
	}
}
