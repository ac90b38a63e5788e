package graph

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/easgate/easgate/sources"
)

func (f *feed) eventRow(r deltaRow, seen map[sources.ItemID]bool) string { return "" }

func (f *feed) checkMasters(ctx context.Context, masters []string) error { return nil }

func (s *Source) pimItem(ctx context.Context, f *feed, id sources.ItemID, body json.RawMessage) (sources.Item, bool, error) {
	return sources.Item{}, false, fmt.Errorf("graph: %w", sources.ErrUnsupported)
}

func (s *Source) pimPut(ctx context.Context, f *feed, it *sources.Item, ifMatch string) (sources.ItemID, string, error) {
	return "", "", fmt.Errorf("graph: %w", sources.ErrUnsupported)
}
