package eas

import "testing"

func TestGoldenMoveItems(t *testing.T) {
	t.Run("request", func(t *testing.T) {
		checkGolden(t, "moveitems/request", func(Tag) any { return new(MoveItemsRequest) })
	})
	t.Run("response", func(t *testing.T) {
		checkGolden(t, "moveitems/response", func(Tag) any { return new(MoveItemsResponse) })
	})
}

func TestMoveItemsRequestValidate(t *testing.T) {
	tests := []struct {
		name string
		req  MoveItemsRequest
		ok   bool
	}{
		{"one", MoveItemsRequest{Move: []MoveItem{{"5:1", "5", "9"}}}, true},
		{"none", MoveItemsRequest{}, false},
		{"no item", MoveItemsRequest{Move: []MoveItem{{"", "5", "9"}}}, false},
		{"no source", MoveItemsRequest{Move: []MoveItem{{"5:1", "", "9"}}}, false},
		{"second without destination", MoveItemsRequest{Move: []MoveItem{{"5:1", "5", "9"}, {"5:2", "5", ""}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.req.Validate(V141); (err == nil) != tt.ok {
				t.Errorf("Validate(14.1) = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func FuzzUnmarshalMoveItems(f *testing.F) {
	addFuzzSeeds(f, "moveitems")
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRoundTrip[MoveItemsRequest](t, data)
		checkRoundTrip[MoveItemsResponse](t, data)
	})
}
