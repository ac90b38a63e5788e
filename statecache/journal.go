package statecache

import (
	"context"
	"encoding/binary"
	"fmt"
)

// Store journals: an adapter that keeps its own change journal per
// mailbox and folder (Microsoft Graph, whose delta links cannot serve
// several phones) stores it here, so that the States it handed to phones
// survive a restart and hold on every node. The value is the adapter's,
// opaque here; each journal has a version, counted up by every save, so
// that a node sees when another one saved and two nodes cannot overwrite
// each other's work:
//
//	j mailbox folder → journal
//	J mailbox folder → version (8 bytes, big-endian)

// tJournal is the table of store journals, tJournalVersion of their
// versions (a key of its own, so that checking one is a small read).
const (
	tJournal        byte = 'j'
	tJournalVersion byte = 'J'
)

func journalKey(mailbox, folder string) []byte { return newKey(tJournal).str(mailbox).str(folder) }
func journalVersionKey(mailbox, folder string) []byte {
	return newKey(tJournalVersion).str(mailbox).str(folder)
}

func readJournalVersion(txn kvTxn, mailbox, folder string) (uint64, error) {
	v, ok, err := txn.get(journalVersionKey(mailbox, folder))
	if err != nil || !ok {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("statecache: journal version of %s/%s is %d bytes, not 8", mailbox, folder, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// LoadJournal returns the journal of folder in mailbox last saved and its
// version, or nil and 0 when there is none.
func (s *Store) LoadJournal(ctx context.Context, mailbox, folder string) ([]byte, uint64, error) {
	var out []byte
	var version uint64
	err := s.view(ctx, func(txn kvTxn) error {
		v, ok, err := txn.get(journalKey(mailbox, folder))
		if err != nil {
			return err
		}
		if ok {
			out = v
		}
		version, err = readJournalVersion(txn, mailbox, folder)
		return err
	})
	return out, version, err
}

// JournalVersion returns the version of folder's journal in mailbox, 0
// when there is none.
func (s *Store) JournalVersion(ctx context.Context, mailbox, folder string) (uint64, error) {
	var version uint64
	err := s.view(ctx, func(txn kvTxn) (err error) {
		version, err = readJournalVersion(txn, mailbox, folder)
		return err
	})
	return version, err
}

// SaveJournal replaces the journal of folder in mailbox if its version
// is still prev, and returns the new version and true; if another writer
// saved since, it changes nothing and returns the current version and
// false.
func (s *Store) SaveJournal(ctx context.Context, mailbox, folder string, journal []byte, prev uint64) (uint64, bool, error) {
	var version uint64
	var saved bool
	err := s.update(ctx, func(txn kvTxn) error {
		cur, err := readJournalVersion(txn, mailbox, folder)
		if err != nil {
			return err
		}
		if version, saved = cur, cur == prev; !saved {
			return nil
		}
		version = cur + 1
		if err := txn.set(journalKey(mailbox, folder), journal); err != nil {
			return err
		}
		return txn.set(journalVersionKey(mailbox, folder), binary.BigEndian.AppendUint64(nil, version))
	})
	if err != nil {
		return 0, false, err
	}
	return version, saved, nil
}
