package eas

import "testing"

func TestResolveRecipientsGolden(t *testing.T) {
	checkGolden(t, "resolverecipients/request", func(Tag) any { return new(ResolveRecipientsRequest) })
	checkGolden(t, "resolverecipients/response", func(Tag) any { return new(ResolveRecipientsResponse) })
}

func TestResolveRecipientsValidate(t *testing.T) {
	many := make([]string, resolveRecipientsMaxTo+1)
	for i := range many {
		many[i] = "x"
	}
	long := string(make([]byte, 257))
	tests := []struct {
		name    string
		req     ResolveRecipientsRequest
		v       ProtocolVersion
		wantErr bool
	}{
		{"one", ResolveRecipientsRequest{To: []string{"anna"}}, V25, false},
		{"hundred and one", ResolveRecipientsRequest{To: many}, V141, true},
		{"empty to", ResolveRecipientsRequest{To: []string{""}}, V141, true},
		{"long to", ResolveRecipientsRequest{To: []string{long}}, V141, true},
		{"max certificates 10000", ResolveRecipientsRequest{To: []string{"a"}, Options: &ResolveRecipientsOptions{MaxCertificates: pInt(10000)}}, V141, true},
		{"max ambiguous -1", ResolveRecipientsRequest{To: []string{"a"}, Options: &ResolveRecipientsOptions{MaxAmbiguousRecipients: pInt(-1)}}, V141, true},
		{"availability start only", ResolveRecipientsRequest{To: []string{"a"}, Options: &ResolveRecipientsOptions{Availability: &ResolveRecipientsAvailabilityRequest{StartTime: "2024-07-02T09:00:00Z"}}}, V140, false},
		{"availability no start", ResolveRecipientsRequest{To: []string{"a"}, Options: &ResolveRecipientsOptions{Availability: &ResolveRecipientsAvailabilityRequest{EndTime: "2024-07-02T09:00:00Z"}}}, V140, true},
		{"availability bad time", ResolveRecipientsRequest{To: []string{"a"}, Options: &ResolveRecipientsOptions{Availability: &ResolveRecipientsAvailabilityRequest{StartTime: "noon"}}}, V140, true},
		{"empty picture", ResolveRecipientsRequest{To: []string{"a"}, Options: &ResolveRecipientsOptions{Picture: &ResolveRecipientsPictureRequest{}}}, V141, false},
		{"negative picture size", ResolveRecipientsRequest{To: []string{"a"}, Options: &ResolveRecipientsOptions{Picture: &ResolveRecipientsPictureRequest{MaxSize: pInt(-1)}}}, V141, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.req.Validate(tt.v); (err != nil) != tt.wantErr {
				t.Errorf("Validate(%v) = %v, want error %v", tt.v, err, tt.wantErr)
			}
		})
	}
}

func FuzzUnmarshalResolveRecipients(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzReencode[ResolveRecipientsRequest](t, data)
		fuzzReencode[ResolveRecipientsResponse](t, data)
	})
}
