package eas

import (
	"reflect"
	"strings"
	"testing"
)

func TestSendMailGolden(t *testing.T) {
	checkGolden(t, "sendmail/request", func(Tag) any { return new(SendMailRequest) })
	checkGolden(t, "sendmail/response", func(Tag) any { return new(SendMailResponse) })
}

// TestSendMailTextMime checks that Mime sent as inline text, as some
// clients do, decodes like opaque Mime.
func TestSendMailTextMime(t *testing.T) {
	const mime = "Subject: hi\r\n\r\nbody\r\n"
	var b strings.Builder
	b.WriteString("\x03\x01\x6a\x00\x00\x15\x45") // header, page ComposeMail, <SendMail>
	b.WriteString("\x51\x03c1\x00\x01")           // <ClientId>c1</ClientId>
	b.WriteString("\x50\x03" + mime + "\x00\x01") // <Mime>text</Mime>
	b.WriteString("\x01")
	var r SendMailRequest
	if err := Unmarshal([]byte(b.String()), &r, nil); err != nil {
		t.Fatal(err)
	}
	want := SendMailRequest{ClientID: "c1", Mime: []byte(mime)}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("Unmarshal = %+v, want %+v", r, want)
	}
	if err := r.Validate(V140); err != nil {
		t.Errorf("Validate(14.0) = %v", err)
	}
}

func TestSendMailValidate(t *testing.T) {
	mime := []byte("Subject: x\r\n\r\n")
	tests := []struct {
		name string
		v    ProtocolVersion
		r    *SendMailRequest
		ok   bool
	}{
		{"minimal", V140, &SendMailRequest{ClientID: "1", Mime: mime}, true},
		{"12.1 sends rfc822", V121, &SendMailRequest{ClientID: "1", Mime: mime}, false},
		{"no mime", V161, &SendMailRequest{ClientID: "1"}, false},
		{"client id 40", V161, &SendMailRequest{ClientID: strings.Repeat("c", 40), Mime: mime}, true},
		{"client id 41", V161, &SendMailRequest{ClientID: strings.Repeat("c", 41), Mime: mime}, false},
		{"account id at 14.0", V140, &SendMailRequest{ClientID: "1", AccountID: "a", Mime: mime}, false},
		{"template at 14.0", V140, &SendMailRequest{ClientID: "1", TemplateID: "t", Mime: mime}, false},
		{"template at 14.1", V141, &SendMailRequest{ClientID: "1", TemplateID: "t", Mime: mime}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkValidate(t, "SendMail", tt.r.Validate(tt.v), tt.ok)
		})
	}
}

func FuzzUnmarshalSendMail(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRemarshal(t, data, func() any { return new(SendMailRequest) })
		fuzzRemarshal(t, data, func() any { return new(SendMailResponse) })
	})
}
