package graph

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/easgate/easgate/internal/graphemu"
	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
)

// memJournals keeps journals in a map, as statecache does on disk.
type memJournals struct {
	mu       sync.Mutex
	m        map[string][]byte
	versions map[string]uint64
	saves    int
}

func (j *memJournals) LoadJournal(_ context.Context, mailbox, folder string) ([]byte, uint64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.m[mailbox+"/"+folder], j.versions[mailbox+"/"+folder], nil
}

func (j *memJournals) JournalVersion(_ context.Context, mailbox, folder string) (uint64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.versions[mailbox+"/"+folder], nil
}

func (j *memJournals) SaveJournal(_ context.Context, mailbox, folder string, b []byte, prev uint64) (uint64, bool, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.m == nil {
		j.m, j.versions = make(map[string][]byte), make(map[string]uint64)
	}
	k := mailbox + "/" + folder
	if j.versions[k] != prev {
		return j.versions[k], false, nil
	}
	j.m[k] = append([]byte(nil), b...)
	j.versions[k]++
	j.saves++
	return j.versions[k], true, nil
}

func (j *memJournals) clear() {
	j.mu.Lock()
	j.m, j.versions = nil, nil
	j.mu.Unlock()
}

// TestJournalsRestart: with Journals, a new Backend (easgate restarted)
// goes on from the States the old one handed out, the folder hierarchy's
// and a mail folder's: no ErrStateExpired, and exactly the changes made
// while it was down, even when the delta link died meanwhile.
func TestJournalsRestart(t *testing.T) {
	for _, expire := range []bool{false, true} {
		name := "link alive"
		if expire {
			name = "link expired"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			j := &memJournals{}
			g, b1 := newBackend(t, graphemu.Options{}, Options{PageSize: 5, Journals: j})
			user := "alice@" + testserver.GraphDomain
			fid, err := g.Emu.CreateMailFolder(user, "", "Journal")
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for i := range 12 {
				id, err := g.Emu.DeliverMail(user, fid, mail(i))
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			src1 := login(t, b1, "alice")
			fd, err := src1.Folders(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			var got []sources.ItemID
			var st sources.State
			for since, more := sources.State(""), true; more; {
				d, err := src1.Changes(ctx, sources.FolderID(fid), since, 5)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, d.Changed...)
				since, more, st = d.Next, d.More, d.Next
			}
			if len(got) != len(ids) {
				t.Fatalf("first listing has %d mails, want %d", len(got), len(ids))
			}
			b1.Close()

			// Meanwhile: one mail added, one changed, one deleted.
			added, err := g.Emu.DeliverMail(user, fid, mail(99))
			if err != nil {
				t.Fatal(err)
			}
			if err := g.Emu.UpdateItem(user, ids[3], map[string]any{"isRead": true}); err != nil {
				t.Fatal(err)
			}
			if err := g.Emu.DeleteItem(user, ids[5]); err != nil {
				t.Fatal(err)
			}
			if expire {
				g.Emu.ExpireTokens()
			}

			saves := j.saves
			b2, err := NewBackend(b1.o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b2.Close() })
			src2 := login(t, b2, "alice")
			d, err := src2.Changes(ctx, sources.FolderID(fid), st, 0)
			if err != nil {
				t.Fatalf("Changes(%q) after the restart = %v, want the changes made meanwhile", st, err)
			}
			slices.Sort(d.Changed)
			want := []sources.ItemID{sources.ItemID(ids[3]), sources.ItemID(added)}
			slices.Sort(want)
			if !slices.Equal(d.Changed, want) || !slices.Equal(d.Removed, []sources.ItemID{sources.ItemID(ids[5])}) {
				t.Errorf("Changes after the restart = changed %v removed %v; want changed %v removed [%s]", d.Changed, d.Removed, want, ids[5])
			}
			if j.saves == saves {
				t.Error("the journal was not stored again after it changed")
			}
			fd2, err := src2.Folders(ctx, fd.Next)
			if err != nil {
				t.Fatalf("Folders(%q) after the restart = %v", fd.Next, err)
			}
			if len(fd2.Changed) != 0 || len(fd2.Removed) != 0 {
				t.Errorf("Folders after the restart = %+v, want no change", fd2)
			}

			// Without the stored journals a State from before is expired.
			j.clear()
			src2.restart()
			if _, err := src2.Changes(ctx, sources.FolderID(fid), d.Next, 0); !errors.Is(err, sources.ErrStateExpired) {
				t.Errorf("Changes without the journal = %v, want ErrStateExpired", err)
			}
		})
	}
}

// TestJournalDecode: a damaged or foreign journal is refused, never a
// panic or a journal whose positions lie past its end.
func TestJournalDecode(t *testing.T) {
	s := &Source{b: &Backend{}}
	f := newFeed(s, "x", contentMail)
	f.record("a", "1")
	f.record("b", "1")
	f.drop("a")
	f.link = "https://graph.example/delta?$deltatoken=x"
	sj, err := decodeJournal(f.encode())
	if err != nil || sj.Seq != 3 || len(sj.IDs) != 2 || len(sj.Removed) != 1 || sj.Link != f.link {
		t.Fatalf("decodeJournal(encode()) = %+v, %v", sj, err)
	}
	for _, raw := range [][]byte{nil, []byte("x"), f.encode()[:20]} {
		if _, err := decodeJournal(raw); err == nil {
			t.Errorf("decodeJournal(%q) = nil error", raw)
		}
	}
}

// TestJournalsTwoNodes: two Backends (nodes of a cluster) on one shared
// Journals serve a mailbox's phones by turns, and at once: each phone
// gets every mail exactly once, and no State a node handed out expires
// on the other.
func TestJournalsTwoNodes(t *testing.T) {
	ctx := context.Background()
	j := &memJournals{}
	g, b1 := newBackend(t, graphemu.Options{}, Options{PageSize: 5, Journals: j})
	b2, err := NewBackend(b1.o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b2.Close() })
	user := "alice@" + testserver.GraphDomain
	fid, err := g.Emu.CreateMailFolder(user, "", "Cluster")
	if err != nil {
		t.Fatal(err)
	}
	nodes := []*Source{login(t, b1, "alice"), login(t, b2, "alice")}
	for _, n := range nodes {
		if _, err := n.Folders(ctx, ""); err != nil {
			t.Fatal(err)
		}
	}
	// A phone: its State and the mails it has, each counted.
	type phone struct {
		st  sources.State
		got map[sources.ItemID]int
	}
	syncOn := func(p *phone, n *Source) error {
		for more := true; more; {
			d, err := n.Changes(ctx, sources.FolderID(fid), p.st, 5)
			if err != nil {
				return err
			}
			for _, id := range d.Changed {
				p.got[id]++
			}
			p.st, more = d.Next, d.More
		}
		return nil
	}
	phones := []*phone{{got: map[sources.ItemID]int{}}, {got: map[sources.ItemID]int{}}}
	var want []string
	deliver := func(i int) {
		id, err := g.Emu.DeliverMail(user, fid, mail(i))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}

	// One phone, two requests on one node, then two on the other: the
	// second node must take up the journal the first one moved on.
	for round := range 6 {
		deliver(200 + round)
		if err := syncOn(phones[0], nodes[round/2%2]); err != nil {
			t.Fatalf("phone 1, request %d on node %d: %v", round, round/2%2+1, err)
		}
	}
	// By turns: each phone alternates nodes.
	for round := range 6 {
		deliver(round)
		for i, p := range phones {
			if err := syncOn(p, nodes[(round+i)%2]); err != nil {
				t.Fatalf("round %d: phone %d on node %d: %v", round, i, (round+i)%2+1, err)
			}
		}
	}
	// At once: both phones sync on different nodes while mail arrives.
	for round := range 10 {
		deliver(100 + round)
		errs := make(chan error, 2)
		for i, p := range phones {
			go func() { errs <- syncOn(p, nodes[(round+i)%2]) }()
		}
		for range 2 {
			if err := <-errs; err != nil && !sources.Temporary(err) {
				t.Fatalf("concurrent round %d: %v", round, err)
			}
		}
	}
	for i, p := range phones {
		if err := syncOn(p, nodes[i]); err != nil {
			t.Fatal(err)
		}
		for _, id := range want {
			if n := p.got[sources.ItemID(id)]; n != 1 {
				t.Errorf("phone %d got mail %s %d times, want once", i, id, n)
			}
		}
		if len(p.got) != len(want) {
			t.Errorf("phone %d got %d mails, want %d", i, len(p.got), len(want))
		}
	}
}
