package eas

import (
	"bytes"
	"encoding/xml"
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
