package sources

import (
	"errors"
	"fmt"
	"io"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"
)

func TestParseImportance(t *testing.T) {
	for _, c := range []struct {
		importance, priority string
		want                 Importance
	}{
		{"High", "", ImportanceHigh},
		{" low ", "1", ImportanceLow},
		{"", "1 (Highest)", ImportanceHigh},
		{"", "2", ImportanceHigh},
		{"", "5 (Lowest)", ImportanceLow},
		{"normal", "3", ImportanceNormal},
		{"", "", ImportanceNormal},
	} {
		if got := ParseImportance(c.importance, c.priority); got != c.want {
			t.Errorf("ParseImportance(%q, %q) = %v, want %v", c.importance, c.priority, got, c.want)
		}
	}
}

func TestHeaderAddresses(t *testing.T) {
	h := mail.Header{"To": {`"Doe, Jane" <jane@example.com>, bob@example.com`}, "Cc": {"not an address"}}
	got := HeaderAddresses(h, "To")
	if len(got) != 2 || got[0] != (Address{Name: "Doe, Jane", Email: "jane@example.com"}) || got[1].Email != "bob@example.com" {
		t.Errorf("HeaderAddresses(To) = %+v", got)
	}
	if got := HeaderAddresses(h, "Cc"); got != nil {
		t.Errorf("HeaderAddresses(unparsable Cc) = %+v, want nil", got)
	}
}

func TestTransferDecoder(t *testing.T) {
	for _, c := range []struct{ cte, in, want string }{
		{"base64", "aGVsbG8=", "hello"},
		{" Quoted-Printable", "caf=C3=A9 =\r\nbar", "café bar"},
		{"8bit", "as is", "as is"},
	} {
		b, err := io.ReadAll(TransferDecoder(c.cte, strings.NewReader(c.in)))
		if err != nil || string(b) != c.want {
			t.Errorf("TransferDecoder(%q, %q) = %q, %v; want %q", c.cte, c.in, b, err, c.want)
		}
	}
}

// TestWalkMIME visits the leaves in order, with their types, and refuses
// multiparts nested past the bound instead of recursing without end.
func TestWalkMIME(t *testing.T) {
	msg := "--a\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nplain\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--b--\r\n" +
		"--a\r\nContent-Type: image/png; name=x.png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBO\r\n--a--\r\n"
	var got []string
	err := WalkMIME(textproto.MIMEHeader{"Content-Type": {"multipart/mixed; boundary=a"}}, strings.NewReader(msg),
		func(h textproto.MIMEHeader, typ string, params map[string]string, body io.Reader) error {
			b, _ := io.ReadAll(body)
			got = append(got, typ+"="+string(b)+params["name"])
			return nil
		})
	want := []string{"text/plain=plain", "text/html=<p>html</p>", "image/png=iVBOx.png"}
	if err != nil || strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("WalkMIME = %q, %v; want %q", got, err, want)
	}

	var deep strings.Builder
	for i := range maxMIMEDepth + 2 {
		fmt.Fprintf(&deep, "--b%03d\r\nContent-Type: multipart/mixed; boundary=b%03d\r\n\r\n", i, i+1)
	}
	err = WalkMIME(textproto.MIMEHeader{"Content-Type": {"multipart/mixed; boundary=b000"}}, strings.NewReader(deep.String()),
		func(textproto.MIMEHeader, string, map[string]string, io.Reader) error { return nil })
	if !errors.Is(err, ErrMIMEDepth) {
		t.Errorf("WalkMIME of multiparts nested past the bound = %v, want ErrMIMEDepth", err)
	}
}
