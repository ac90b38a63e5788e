package eas

import (
	"strings"
	"testing"
)

func TestGetAttachmentValidate(t *testing.T) {
	tests := []struct {
		name string
		v    ProtocolVersion
		in   string
		ok   bool
	}{
		{"file reference", V121, "7%3a311%3a0", true},
		{"2.5 attachment name", V25, `Inbox\msg42.eml\report.pdf`, true},
		{"gone in 14.0", V140, "7%3a311%3a0", false},
		{"empty", V121, "", false},
		{"too long", V121, strings.Repeat("a", maxAttachmentName+1), false},
		{"control character", V121, "7:311\n0", false},
		{"not utf-8", V121, "7:311:\xff", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := GetAttachmentRequest{AttachmentName: tt.in}
			checkValidate(t, "GetAttachment", r.Validate(tt.v), tt.ok)
		})
	}
}
