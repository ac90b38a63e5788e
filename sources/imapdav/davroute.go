package imapdav

import (
	"context"
	"fmt"

	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/imapdav/dav"
)

// pimStore is what the Source asks of package dav for folders with the
// "dav:" prefix; an interface so that tests of the mail half need no DAV
// server.
type pimStore interface {
	Folders(ctx context.Context) ([]sources.Folder, error)
	Changes(ctx context.Context, f sources.FolderID, since sources.State, max int) (sources.Delta, error)
	Get(ctx context.Context, f sources.FolderID, ids []sources.ItemID, o *sources.GetOptions) ([]sources.Item, error)
	Put(ctx context.Context, f sources.FolderID, it *sources.Item, ifMatch string) (sources.ItemID, string, error)
	Delete(ctx context.Context, f sources.FolderID, id sources.ItemID) error
	Watch(ctx context.Context, fs []sources.FolderID) ([]sources.FolderID, error)
}

var _ pimStore = (*dav.Store)(nil)

// openDAV opens the user's DAV store when the Backend has one.
func (b *Backend) openDAV(ctx context.Context, s *Source, user, password string) error {
	if b.opts.DAV == nil {
		return nil
	}
	d, err := dav.Open(ctx, b.opts.DAV, user, password)
	if err != nil {
		return fmt.Errorf("imapdav: open DAV store: %w", err)
	}
	s.dav = d
	return nil
}
