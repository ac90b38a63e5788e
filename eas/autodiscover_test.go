package eas

import (
	"bytes"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestAutodiscoverGolden runs testdata/autodiscover/*.xml, which are plain
// XML: each file decodes into AutodiscoverRequest or AutodiscoverResponse
// (by the name's "request"/"response" part), encodes back to the same
// bytes, and a request validates unless its name starts with "invalid-".
func TestAutodiscoverGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/autodiscover/*.xml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files in testdata/autodiscover (%v)", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".xml")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var v any = new(AutodiscoverResponse)
			req := strings.Contains(name, "request")
			if req {
				v = new(AutodiscoverRequest)
			}
			if err := xml.Unmarshal(src, v); err != nil {
				t.Fatalf("xml.Unmarshal(%s) = %v", f, err)
			}
			out, err := xml.MarshalIndent(v, "", "  ")
			if err != nil {
				t.Fatalf("xml.MarshalIndent = %v", err)
			}
			got := append([]byte(`<?xml version="1.0" encoding="utf-8"?>`+"\n"), append(out, '\n')...)
			if !bytes.Equal(got, src) {
				t.Errorf("xml.MarshalIndent(xml.Unmarshal(%s)) =\n%s\nwant\n%s", f, got, src)
			}
			if !req {
				return
			}
			err = v.(*AutodiscoverRequest).Validate()
			if invalid := strings.HasPrefix(name, "invalid-"); invalid != (err != nil) {
				t.Errorf("Validate() of %s = %v, want error %v", name, err, invalid)
			}
		})
	}
}

func TestAutodiscoverValues(t *testing.T) {
	read := func(name string, v any) {
		t.Helper()
		src, err := os.ReadFile("testdata/autodiscover/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if err := xml.Unmarshal(src, v); err != nil {
			t.Fatalf("xml.Unmarshal(%s) = %v", name, err)
		}
	}
	var req AutodiscoverRequest
	read("request.xml", &req)
	if want := NewAutodiscoverRequest("anna@example.org"); !reflect.DeepEqual(&req, want) {
		t.Errorf("request.xml = %+v, want %+v", req, want)
	}
	var outlook AutodiscoverRequest
	read("request-outlook-schema.xml", &outlook)
	tests := []struct {
		name string
		req  *AutodiscoverRequest
		want bool
	}{
		{"mobilesync", &req, true},
		{"outlook", &outlook, false},
	}
	for _, tt := range tests {
		if got := tt.req.WantsMobileSync(); got != tt.want {
			t.Errorf("WantsMobileSync() of %s = %v, want %v", tt.name, got, tt.want)
		}
	}

	var resp AutodiscoverResponse
	read("response-settings.xml", &resp)
	want := AutodiscoverResponseBody{
		Culture: "en:us",
		User:    &AutodiscoverUser{DisplayName: "Anna Berg", EMailAddress: "anna@example.org"},
		Action: &AutodiscoverAction{Settings: &AutodiscoverSettings{Server: []AutodiscoverServer{
			{Type: AutodiscoverMobileSync, URL: "https://mail.example.org/Microsoft-Server-ActiveSync", Name: "https://mail.example.org/Microsoft-Server-ActiveSync"},
			{Type: AutodiscoverCertEnroll, URL: "https://pki.example.org/enroll", ServerData: "MobileUserTemplate"},
		}}},
	}
	if !reflect.DeepEqual(resp.Response, want) {
		t.Errorf("response-settings.xml = %s, want %s", fmtValue(resp.Response), fmtValue(want))
	}
	var e601 AutodiscoverResponse
	read("response-error-601.xml", &e601)
	if e := e601.Response.Error; e == nil || e.ErrorCode != AutodiscoverProviderNotFound || e.ID != "2871302911" {
		t.Errorf("response-error-601.xml Error = %+v, want ErrorCode 601, Id 2871302911", e)
	}
}

func TestParseAutodiscoverRequestRefuses(t *testing.T) {
	valid, err := os.ReadFile("testdata/autodiscover/request.xml")
	if err != nil {
		t.Fatal(err)
	}
	deep := `<Autodiscover xmlns="` + AutodiscoverRequestNS + `">` + strings.Repeat("<a>", 20) + strings.Repeat("</a>", 20) + `</Autodiscover>`
	tests := []struct {
		name string
		doc  string
		max  int64
		want error // nil: any *SchemaError
	}{
		{"external entity", `<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>` + string(valid[39:]), 0, nil},
		{"doctype", `<!DOCTYPE Autodiscover>` + string(valid[39:]), 0, nil},
		{"processing instruction", `<?xml-stylesheet href="x"?>` + string(valid[39:]), 0, nil},
		{"too deep", deep, 0, nil},
		{"two roots", string(valid) + `<Autodiscover/>`, 0, nil},
		{"not xml", `{"EMailAddress":"anna@example.org"}`, 0, nil},
		{"empty", ``, 0, nil},
		{"too large", string(valid), int64(len(valid) - 1), ErrAutodiscoverTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseAutodiscoverRequest(strings.NewReader(tt.doc), tt.max)
			var se *SchemaError
			switch {
			case tt.want != nil && err != tt.want:
				t.Errorf("ParseAutodiscoverRequest = %v, want %v", err, tt.want)
			case tt.want == nil && !errors.As(err, &se):
				t.Errorf("ParseAutodiscoverRequest = %v, want a *SchemaError", err)
			}
		})
	}
	if _, err := ParseAutodiscoverRequest(bytes.NewReader(valid), int64(len(valid))); err != nil {
		t.Errorf("ParseAutodiscoverRequest(request.xml) at its exact size = %v", err)
	}
}

func TestParseAutodiscoverResponse(t *testing.T) {
	src, err := os.ReadFile("testdata/autodiscover/response-settings.xml")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ParseAutodiscoverResponse(bytes.NewReader(src), 0)
	if err != nil {
		t.Fatalf("ParseAutodiscoverResponse(response-settings.xml) = %v", err)
	}
	if got := resp.Response.Action.Settings.Server[0].URL; got != "https://mail.example.org/Microsoft-Server-ActiveSync" {
		t.Errorf("Server[0].URL = %q", got)
	}
	// Outlook's schema puts Response in another namespace: not an answer a
	// phone can use.
	outlook := strings.Replace(string(src), AutodiscoverMobileResponseNS, "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a", 1)
	if _, err := ParseAutodiscoverResponse(strings.NewReader(outlook), 0); err == nil {
		t.Error("ParseAutodiscoverResponse(outlook schema) = nil error")
	}
}

// FuzzParseAutodiscoverRequest checks that any input is refused or parsed
// within the limits, and that what parses encodes and parses back equal.
func FuzzParseAutodiscoverRequest(f *testing.F) {
	files, _ := filepath.Glob("testdata/autodiscover/*request*.xml")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := ParseAutodiscoverRequest(bytes.NewReader(b), 0)
		if err != nil {
			return
		}
		out, err := xml.Marshal(req)
		if err != nil {
			t.Fatalf("xml.Marshal(%+v) = %v", req, err)
		}
		again, err := ParseAutodiscoverRequest(bytes.NewReader(out), 0)
		if err != nil {
			t.Fatalf("ParseAutodiscoverRequest(%s) = %v", out, err)
		}
		if !reflect.DeepEqual(req.Request, again.Request) {
			t.Fatalf("round trip: %+v, want %+v", again.Request, req.Request)
		}
	})
}
