package eas

import "testing"

func TestSmartForwardGolden(t *testing.T) {
	checkGolden(t, "smartforward/request", func(Tag) any { return new(SmartForwardRequest) })
	checkGolden(t, "smartforward/response", func(Tag) any { return new(SmartForwardResponse) })
}

func TestSmartForwardValidate(t *testing.T) {
	mime := []byte("Subject: Fw: x\r\n\r\n")
	src := &ComposeSource{FolderID: "2", ItemID: "2:58"}
	to := &Forwardees{Forwardee: []Forwardee{{Name: "Ops", Email: "ops@example.net"}}}
	tests := []struct {
		name string
		v    ProtocolVersion
		r    *SmartForwardRequest
		ok   bool
	}{
		{"plain forward", V140, &SmartForwardRequest{ClientID: "1", Source: src, Mime: mime}, true},
		{"forwardees at 16.0", V160, &SmartForwardRequest{ClientID: "1", Source: src, Mime: mime, Forwardees: to}, true},
		{"forwardees without mime", V160, &SmartForwardRequest{ClientID: "1", Source: src, Forwardees: to}, true},
		{"forwardees at 14.1", V141, &SmartForwardRequest{ClientID: "1", Source: src, Mime: mime, Forwardees: to}, false},
		{"empty forwardees", V161, &SmartForwardRequest{ClientID: "1", Source: src, Mime: mime, Forwardees: &Forwardees{}}, false},
		{"forwardee without email", V161, &SmartForwardRequest{ClientID: "1", Source: src, Mime: mime,
			Forwardees: &Forwardees{Forwardee: []Forwardee{{Name: "Ops"}}}}, false},
		{"no mime", V161, &SmartForwardRequest{ClientID: "1", Source: src}, false},
		{"no client id", V161, &SmartForwardRequest{Source: src, Mime: mime}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkValidate(t, "SmartForward", tt.r.Validate(tt.v), tt.ok)
		})
	}
}

func FuzzUnmarshalSmartForward(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRemarshal(t, data, func() any { return new(SmartForwardRequest) })
		fuzzRemarshal(t, data, func() any { return new(SmartForwardResponse) })
	})
}
