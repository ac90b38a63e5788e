package graph

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/easgate/easgate/sources"
)

// Journals keeps the feeds' journals across restarts of easgate, and
// shares them between the nodes of a cluster, so that the States phones
// hold stay valid whichever node they reach: without it a restart makes
// every phone sync its Graph folders again from scratch. A journal is one
// opaque value per mailbox (object id) and folder ("" for the folder
// hierarchy), written whole, with a version that each save counts up;
// easgate's state store implements it.
type Journals interface {
	// LoadJournal returns the journal last saved and its version, or nil
	// and 0 when there is none.
	LoadJournal(ctx context.Context, mailbox, folder string) ([]byte, uint64, error)
	// JournalVersion returns the version of the journal last saved.
	JournalVersion(ctx context.Context, mailbox, folder string) (uint64, error)
	// SaveJournal replaces the journal if its version is still prev and
	// returns the new version; if another node saved since, it changes
	// nothing and returns false.
	SaveJournal(ctx context.Context, mailbox, folder string, journal []byte, prev uint64) (uint64, bool, error)
}

// errJournalMoved says that another node saved the journal since this
// one read it. The journal has been read again; what this node had
// added since it last saved was never handed to a phone, and the next
// delta round finds it again.
var errJournalMoved = sources.MarkTemporary(errors.New("graph: the journal was saved by another node meanwhile"))

// maxJournal bounds a stored journal when it is read back: about 60 bytes
// an item compressed, so room for a folder of a million items.
const maxJournal = 64 << 20

// storedJournal is a journal as Journals keep it, gzipped JSON. Entries
// are parallel lists, which compress well: Graph ids of one mailbox share
// long prefixes.
type storedJournal struct {
	V        int               `json:"v"`
	Epoch    string            `json:"e"`
	Link     string            `json:"l"`
	Seq      uint64            `json:"s"`
	IDs      []string          `json:"i"`
	Seqs     []uint64          `json:"q"`
	Tags     []string          `json:"t"`
	Removed  []int             `json:"r,omitempty"` // indexes into IDs
	Masters  map[string]string `json:"m,omitempty"`
	InstTags map[string]string `json:"it,omitempty"`
}

const journalVersion = 1

// lock takes f.mu and, the first time, reads the stored journal. A
// journal that cannot be read is an error (the phone tries again), not
// an empty journal: starting afresh would expire every phone's State.
//
// Later, with Journals, it checks the stored version (one small read) and
// reads the journal again when another node has saved it since: the
// States that node handed out point past what this one holds.
func (f *feed) lock(ctx context.Context) error {
	f.mu.Lock()
	j := f.s.b.o.Journals
	if f.loaded && j != nil {
		v, err := j.JournalVersion(ctx, f.s.id, string(f.folder))
		if err != nil {
			f.mu.Unlock()
			return sources.MarkTemporary(fmt.Errorf("graph: reading the journal version of %s: %w", f.folder, err))
		}
		f.loaded = v == f.version
	}
	if f.loaded {
		return nil
	}
	if err := f.load(ctx); err != nil {
		f.mu.Unlock()
		return err
	}
	f.loaded = true
	return nil
}

func (f *feed) load(ctx context.Context) error {
	j := f.s.b.o.Journals
	if j == nil {
		return nil
	}
	raw, version, err := j.LoadJournal(ctx, f.s.id, string(f.folder))
	if err != nil {
		return sources.MarkTemporary(fmt.Errorf("graph: reading the journal of %s: %w", f.folder, err))
	}
	f.version = version
	if raw == nil {
		return nil
	}
	sj, err := decodeJournal(raw)
	if err != nil {
		// A journal of another version or a damaged one: start afresh;
		// the phones' States of it expire.
		f.s.b.log.Warn("graph: dropping an unreadable journal", "mailbox", f.s.upn, "folder", f.folder, "err", err)
		return nil
	}
	f.epoch, f.link, f.seq, f.saved = sj.Epoch, sj.Link, sj.Seq, sj.Seq
	f.masters, f.instTags = make(map[string]string), make(map[string]string)
	f.entries = make(map[sources.ItemID]*jentry, len(sj.IDs))
	for i, id := range sj.IDs {
		f.entries[sources.ItemID(id)] = &jentry{seq: sj.Seqs[i], tag: sj.Tags[i]}
	}
	for _, i := range sj.Removed {
		f.entries[sources.ItemID(sj.IDs[i])].removed = true
	}
	if sj.Masters != nil {
		f.masters = sj.Masters
	}
	if sj.InstTags != nil {
		f.instTags = sj.InstTags
	}
	return nil
}

// save stores the journal when it changed since it was last stored. It
// runs before any State past the stored journal is handed out, so a State
// a phone holds always points into a journal that survives a restart.
// The delta link alone is not worth a write: after a restart an older
// link replays what the journal already has (which changes nothing), or
// has expired and is re-baselined against the journal. f.mu is held.
func (f *feed) save(ctx context.Context) error {
	j := f.s.b.o.Journals
	if j == nil || f.seq == f.saved {
		return nil
	}
	version, ok, err := j.SaveJournal(ctx, f.s.id, string(f.folder), f.encode(), f.version)
	if err != nil {
		return sources.MarkTemporary(fmt.Errorf("graph: storing the journal of %s: %w", f.folder, err))
	}
	if !ok {
		if err := f.load(ctx); err != nil {
			f.loaded = false
			return err
		}
		return errJournalMoved
	}
	f.version, f.saved = version, f.seq
	return nil
}

func (f *feed) encode() []byte {
	sj := storedJournal{V: journalVersion, Epoch: f.epoch, Link: f.link, Seq: f.seq,
		IDs: make([]string, 0, len(f.entries)), Seqs: make([]uint64, 0, len(f.entries)), Tags: make([]string, 0, len(f.entries))}
	for id, e := range f.entries {
		if e.removed {
			sj.Removed = append(sj.Removed, len(sj.IDs))
		}
		sj.IDs = append(sj.IDs, string(id))
		sj.Seqs = append(sj.Seqs, e.seq)
		sj.Tags = append(sj.Tags, e.tag)
	}
	if len(f.masters) > 0 {
		sj.Masters = f.masters
	}
	if len(f.instTags) > 0 {
		sj.InstTags = f.instTags
	}
	var b bytes.Buffer
	z := gzip.NewWriter(&b)
	json.NewEncoder(z).Encode(&sj)
	z.Close()
	return b.Bytes()
}

func decodeJournal(raw []byte) (*storedJournal, error) {
	z, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	var sj storedJournal
	if err := json.NewDecoder(io.LimitReader(z, maxJournal)).Decode(&sj); err != nil {
		return nil, err
	}
	switch {
	case sj.V != journalVersion:
		return nil, fmt.Errorf("version %d", sj.V)
	case sj.Epoch == "":
		return nil, fmt.Errorf("no epoch")
	case len(sj.Seqs) != len(sj.IDs) || len(sj.Tags) != len(sj.IDs):
		return nil, fmt.Errorf("%d ids, %d seqs, %d tags", len(sj.IDs), len(sj.Seqs), len(sj.Tags))
	}
	for i, q := range sj.Seqs {
		if q > sj.Seq {
			return nil, fmt.Errorf("entry %q at %d past the end %d", sj.IDs[i], q, sj.Seq)
		}
	}
	for _, i := range sj.Removed {
		if i < 0 || i >= len(sj.IDs) {
			return nil, fmt.Errorf("removed index %d of %d", i, len(sj.IDs))
		}
	}
	return &sj, nil
}
