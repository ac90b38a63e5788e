package main

import (
	"strings"
	"testing"
)

func TestConfigAutodiscover(t *testing.T) {
	tests := []struct {
		name, text, wantErr string
	}{
		{"ok", "[server]\nexternal_url = \"https://mail.example.org\"\n[autodiscover]\ndomains = [\"example.org\"]\nredirect = { \"example.net\" = \"example.org\" }\n", ""},
		{"external url with a query", "[server]\nexternal_url = \"https://mail.example.org/?a=b\"\n", "config: server.external_url: "},
		{"external url without scheme", "[server]\nexternal_url = \"mail.example.org\"\n", "config: server.external_url: "},
		{"redirect to a url", "[autodiscover]\nredirect = { \"example.net\" = \"https://x.example\" }\n", "config: autodiscover: "},
		{"bad domain", "[autodiscover]\ndomains = [\"a b\"]\n", "config: autodiscover: "},
		{"negative size", "[autodiscover]\nmax_body_size = -1\n", "config: autodiscover.max_body_size: -1 is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(writeConfig(t, baseConfig+tt.text), nil)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("loadConfig = %v", err)
			case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
				t.Errorf("loadConfig = %v, want %q…", err, tt.wantErr)
			}
		})
	}
}
