package eas

import "testing"

func TestGoldenGetItemEstimate(t *testing.T) {
	t.Run("request", func(t *testing.T) {
		checkGolden(t, "getitemestimate/request", func(Tag) any { return new(GetItemEstimateRequest) })
	})
	t.Run("response", func(t *testing.T) {
		checkGolden(t, "getitemestimate/response", func(Tag) any { return new(GetItemEstimateResponse) })
	})
}

const getItemEstimateCapture = "thunderbird-tbsync/tbsync-14.0-getitemestimate-contacts.wbxml"

func TestGetItemEstimateCapture(t *testing.T) {
	for _, v := range []ProtocolVersion{V140, V141} {
		t.Run(v.String(), func(t *testing.T) {
			var r GetItemEstimateRequest
			checkCapture(t, getItemEstimateCapture, v, &r)
			c := r.Collections.Collection[0]
			if c.SyncKey != "1070194280" || c.CollectionID != "16" || len(c.Options) != 1 || c.Options[0].Class != "Contacts" {
				t.Errorf("Unmarshal(%s) = %+v", getItemEstimateCapture, c)
			}
		})
	}
	var r GetItemEstimateRequest
	decodeCapture(t, getItemEstimateCapture, &r)
	if err := r.Validate(V121); err == nil {
		t.Errorf("Validate(12.1) of the 14.x layout = nil, want an error")
	}
}

func TestGetItemEstimateRequestValidate(t *testing.T) {
	one := func(c GetItemEstimateCollection) GetItemEstimateRequest {
		c.SyncKey, c.CollectionID = "3", "inbox"
		return GetItemEstimateRequest{Collections: &GetItemEstimateCollections{Collection: []GetItemEstimateCollection{c}}}
	}
	yes := true
	tests := []struct {
		name string
		req  GetItemEstimateRequest
		v    ProtocolVersion
		ok   bool
	}{
		{"12.x layout", one(GetItemEstimateCollection{Class: "Email", FilterType: FilterOneWeek}), V121, true},
		{"12.x layout at 2.5", one(GetItemEstimateCollection{Class: "Email", FilterType: FilterOneWeek}), V25, true},
		{"filter in collection at 14.0", one(GetItemEstimateCollection{FilterType: FilterOneWeek}), V140, false},
		{"14.x layout", one(GetItemEstimateCollection{Options: []GetItemEstimateOptions{{FilterType: FilterOneWeek}}}), V141, true},
		{"conversation mode at 12.1", one(GetItemEstimateCollection{ConversationMode: &yes}), V121, false},
		{"filter 9 in options", one(GetItemEstimateCollection{Options: []GetItemEstimateOptions{{FilterType: 9}}}), V141, false},
		{"filter 9 in collection", one(GetItemEstimateCollection{FilterType: 9}), V121, false},
		{"two options of one class", one(GetItemEstimateCollection{Options: []GetItemEstimateOptions{{}, {}}}), V141, false},
		{"no collections", GetItemEstimateRequest{}, V141, false},
		{"no collection id", GetItemEstimateRequest{Collections: &GetItemEstimateCollections{Collection: []GetItemEstimateCollection{{SyncKey: "1"}}}}, V141, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.req.Validate(tt.v); (err == nil) != tt.ok {
				t.Errorf("Validate(%v) = %v, want ok %v", tt.v, err, tt.ok)
			}
		})
	}
}

func FuzzUnmarshalGetItemEstimate(f *testing.F) {
	addFuzzSeeds(f, "getitemestimate", getItemEstimateCapture)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRoundTrip[GetItemEstimateRequest](t, data)
		checkRoundTrip[GetItemEstimateResponse](t, data)
	})
}
