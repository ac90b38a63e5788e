package statecache

import "context"

// Store journals: an adapter that keeps its own change journal per
// mailbox and folder (Microsoft Graph, whose delta links cannot serve
// several phones) stores it here, so that the States it handed to phones
// survive a restart. The value is the adapter's, opaque here:
//
//	j mailbox folder → journal

// tJournal is the table of store journals.
const tJournal byte = 'j'

func journalKey(mailbox, folder string) []byte { return newKey(tJournal).str(mailbox).str(folder) }

// LoadJournal returns the journal of folder in mailbox last saved, or nil
// when there is none.
func (s *Store) LoadJournal(ctx context.Context, mailbox, folder string) ([]byte, error) {
	var out []byte
	err := s.view(ctx, func(txn kvTxn) error {
		v, ok, err := txn.get(journalKey(mailbox, folder))
		if ok {
			out = v
		}
		return err
	})
	return out, err
}

// SaveJournal replaces the journal of folder in mailbox.
func (s *Store) SaveJournal(ctx context.Context, mailbox, folder string, journal []byte) error {
	return s.update(ctx, func(txn kvTxn) error {
		return txn.set(journalKey(mailbox, folder), journal)
	})
}
