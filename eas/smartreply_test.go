package eas

import (
	"strings"
	"testing"
)

func TestSmartReplyGolden(t *testing.T) {
	checkGolden(t, "smartreply/request", func(Tag) any { return new(SmartReplyRequest) })
	checkGolden(t, "smartreply/response", func(Tag) any { return new(SmartReplyResponse) })
}

func TestSmartReplyValidate(t *testing.T) {
	mime := []byte("Subject: Re: x\r\n\r\n")
	reply := func(s *ComposeSource) *SmartReplyRequest {
		return &SmartReplyRequest{ClientID: "1", Source: s, Mime: mime}
	}
	tests := []struct {
		name string
		v    ProtocolVersion
		r    *SmartReplyRequest
		ok   bool
	}{
		{"folder and item", V140, reply(&ComposeSource{FolderID: "7", ItemID: "7:1"}), true},
		{"item alone", V140, reply(&ComposeSource{ItemID: "7:1"}), true},
		{"long id", V140, reply(&ComposeSource{LongID: "RgAA"}), true},
		{"long id and folder", V140, reply(&ComposeSource{LongID: "RgAA", FolderID: "7"}), false},
		{"folder alone", V140, reply(&ComposeSource{FolderID: "7"}), false},
		{"item id 65", V140, reply(&ComposeSource{ItemID: strings.Repeat("i", 65)}), false},
		{"long id 257", V140, reply(&ComposeSource{LongID: strings.Repeat("l", 257)}), false},
		{"no source", V140, &SmartReplyRequest{ClientID: "1", Mime: mime}, false},
		{"12.1 sends rfc822", V121, reply(&ComposeSource{ItemID: "7:1"}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkValidate(t, "SmartReply", tt.r.Validate(tt.v), tt.ok)
		})
	}
}

func FuzzUnmarshalSmartReply(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRemarshal(t, data, func() any { return new(SmartReplyRequest) })
		fuzzRemarshal(t, data, func() any { return new(SmartReplyResponse) })
	})
}
