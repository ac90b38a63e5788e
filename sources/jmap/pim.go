package jmap

import (
	"context"

	gojmap "git.sr.ht/~rockorager/go-jmap"

	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/jmap/pim"
)

// pimStore is what the Source needs of package pim, which serves the
// "pim:" folders: contacts and calendars in whichever dialect the
// server's capabilities offer.
type pimStore interface {
	Folders(ctx context.Context) ([]sources.Folder, error)
	Changes(ctx context.Context, f sources.FolderID, since sources.State, max int) (sources.Delta, error)
	Get(ctx context.Context, f sources.FolderID, ids []sources.ItemID, o *sources.GetOptions) ([]sources.Item, error)
	Put(ctx context.Context, f sources.FolderID, it *sources.Item, ifMatch string) (sources.ItemID, string, error)
	Delete(ctx context.Context, f sources.FolderID, id sources.ItemID) error
	DataTypes() []string
}

// newPIM returns the pim store of c's session, or nil when the server
// offers neither contacts nor calendars.
func newPIM(c *conn, account gojmap.ID) pimStore {
	c.mu.Lock()
	caps := c.session.RawCapabilities
	cl := c.client
	c.mu.Unlock()
	p := pim.New(cl, account, caps)
	if p == nil {
		return nil
	}
	return p
}
