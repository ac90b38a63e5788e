package gateway

import (
	"context"
	"net/http"
	"os"
	"reflect"
	"testing"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/statecache"
)

// settings posts a Settings request at version v and decodes the answer.
func (p *provisionTest) settings(v eas.ProtocolVersion, body any) *eas.SettingsResponse {
	p.t.Helper()
	w := p.do("Settings", v, 0, body)
	if w.Code != http.StatusOK {
		p.t.Fatalf("Settings = HTTP %d, want 200", w.Code)
	}
	var resp eas.SettingsResponse
	if err := eas.Unmarshal(w.Body.Bytes(), &resp, nil); err != nil {
		p.t.Fatalf("decoding Settings response: %v", err)
	}
	if resp.Status != eas.SettingsSuccess {
		p.t.Fatalf("Settings status %d, want 1", resp.Status)
	}
	return &resp
}

func TestSettingsUserInformation(t *testing.T) {
	get := &eas.SettingsRequest{UserInformation: &eas.SettingsGetRequest{Get: true}}
	tests := []struct {
		name, domain string
		v            eas.ProtocolVersion
		want         *eas.UserInformationData
	}{
		{"12.1-domain", "example.org", eas.V121, &eas.UserInformationData{
			EmailAddresses: &eas.SettingsEmailAddresses{SMTPAddress: []string{"alice@example.org"}}}},
		{"12.0-domain", "example.org", eas.V120, &eas.UserInformationData{
			EmailAddresses: &eas.SettingsEmailAddresses{SMTPAddress: []string{"alice@example.org"}}}},
		{"14.0-domain", "example.org", eas.V140, &eas.UserInformationData{
			EmailAddresses: &eas.SettingsEmailAddresses{SMTPAddress: []string{"alice@example.org"}}}},
		{"16.0-accounts", "example.org", eas.V160, &eas.UserInformationData{Accounts: &eas.SettingsAccounts{Account: []eas.SettingsAccount{{
			EmailAddresses: &eas.SettingsEmailAddresses{SMTPAddress: []string{"alice@example.org"}, PrimarySmtpAddress: "alice@example.org"}}}}}},
		{"14.1-accounts", "example.org", eas.V141, &eas.UserInformationData{Accounts: &eas.SettingsAccounts{Account: []eas.SettingsAccount{{
			EmailAddresses: &eas.SettingsEmailAddresses{SMTPAddress: []string{"alice@example.org"}, PrimarySmtpAddress: "alice@example.org"}}}}}},
		{"16.1-no-domain", "", eas.V161, &eas.UserInformationData{Accounts: &eas.SettingsAccounts{Account: []eas.SettingsAccount{{
			EmailAddresses: &eas.SettingsEmailAddresses{SMTPAddress: []string{"alice"}, PrimarySmtpAddress: "alice"}}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := provisionTestServer(t, Options{MailDomain: tt.domain})
			resp := p.settings(tt.v, get)
			want := &eas.UserInformationResponse{Status: eas.SettingsSuccess, Get: tt.want}
			if !reflect.DeepEqual(resp.UserInformation, want) {
				t.Errorf("UserInformation = %+v, want %+v", resp.UserInformation, want)
			}
		})
	}
}

func TestPrimaryAddress(t *testing.T) {
	s := &Server{mailDom: "example.org"}
	for user, want := range map[string]string{
		"alice":             "alice@example.org",
		`CORP\alice`:        "alice@example.org",
		"alice@example.com": "alice@example.com",
	} {
		if got := s.primaryAddress(user); got != want {
			t.Errorf("primaryAddress(%q) = %q, want %q", user, got, want)
		}
	}
}

func TestSettingsSections(t *testing.T) {
	p := provisionTestServer(t, Options{})
	resp := p.settings(eas.V141, &eas.SettingsRequest{
		DevicePassword:              &eas.DevicePasswordRequest{Set: &eas.DevicePasswordSet{Password: "1234"}},
		DeviceInformation:           &eas.DeviceInformation{Set: &eas.DeviceInformationSet{Model: "Pixel", IMEI: "35", FriendlyName: "Phone", OS: "Android 14", OSLanguage: "en", PhoneNumber: "+1", UserAgent: "UA/1", MobileOperator: "Op"}},
		RightsManagementInformation: &eas.SettingsGetRequest{Get: true},
	})
	ok := &eas.SettingsResult{Status: eas.SettingsSuccess}
	if !reflect.DeepEqual(resp.DevicePassword, ok) || !reflect.DeepEqual(resp.DeviceInformation, ok) {
		t.Errorf("DevicePassword %+v, DeviceInformation %+v; want status 1 each", resp.DevicePassword, resp.DeviceInformation)
	}
	rm := &eas.RightsManagementInformationResponse{Status: eas.SettingsSuccess,
		Get: &eas.RightsManagementInformationData{Templates: &eas.SettingsRightsManagementTemplates{}}}
	if !reflect.DeepEqual(resp.RightsManagementInformation, rm) {
		t.Errorf("RightsManagementInformation = %+v, want no templates", resp.RightsManagementInformation)
	}
	d, err := p.state.Device(t.Context(), "dev01")
	if err != nil {
		t.Fatal(err)
	}
	want := statecache.DeviceInfo{Model: "Pixel", IMEI: "35", FriendlyName: "Phone", OS: "Android 14", OSLanguage: "en", PhoneNumber: "+1", MobileOperator: "Op"}
	if d.Info != want {
		t.Errorf("stored %+v, want %+v", d.Info, want)
	}
}

func TestSettingsOof(t *testing.T) {
	p := provisionTestServer(t, Options{})
	state := func(s eas.OofState) *eas.OofState { return &s }
	msg := "Back Monday"
	set := &eas.SettingsRequest{Oof: &eas.OofRequest{Set: &eas.OofSettings{
		OofState: state(eas.OofTimeBased), StartTime: "2024-07-01T08:00:00.000Z", EndTime: "2024-07-08T08:00:00.000Z",
		OofMessage: []eas.OofMessage{{AppliesToInternal: true, Enabled: new(true), ReplyMessage: &msg, BodyType: "TEXT"}},
	}}}
	if resp := p.settings(eas.V141, set); !reflect.DeepEqual(resp.Oof, &eas.OofResponse{Status: eas.SettingsSuccess}) {
		t.Fatalf("Oof Set = %+v", resp.Oof)
	}
	resp := p.settings(eas.V141, &eas.SettingsRequest{Oof: &eas.OofRequest{Get: &eas.OofGet{BodyType: "Text"}}})
	empty := ""
	want := &eas.OofResponse{Status: eas.SettingsSuccess, Get: &eas.OofSettings{
		OofState: state(eas.OofTimeBased), StartTime: "2024-07-01T08:00:00.000Z", EndTime: "2024-07-08T08:00:00.000Z",
		OofMessage: []eas.OofMessage{
			{AppliesToInternal: true, Enabled: new(true), ReplyMessage: &msg, BodyType: eas.OofBodyText},
			{AppliesToExternalKnown: true, Enabled: new(false), ReplyMessage: &empty, BodyType: eas.OofBodyText},
			{AppliesToExternalUnknown: true, Enabled: new(false), ReplyMessage: &empty, BodyType: eas.OofBodyText},
		},
	}}
	if !reflect.DeepEqual(resp.Oof, want) {
		t.Errorf("Oof Get = %+v, want %+v", resp.Oof.Get, want.Get)
	}
	bad := &eas.SettingsRequest{Oof: &eas.OofRequest{Set: &eas.OofSettings{
		OofState: state(eas.OofTimeBased), StartTime: "2024-07-08T08:00:00Z", EndTime: "2024-07-01T08:00:00Z"}}}
	if resp := p.settings(eas.V141, bad); resp.Oof.Status != eas.SettingsConflictingArgument {
		t.Errorf("Oof Set ending before it starts = %+v, want status 6", resp.Oof)
	}
}

// TestSettingsOofBodyType: Oof Get sends every reply in the BodyType it
// asks for (issue 10: the stored form came back whatever was asked).
func TestSettingsOofBodyType(t *testing.T) {
	p := provisionTestServer(t, Options{})
	on := eas.OofGlobal
	htmlMsg, textMsg := "<p>Away &amp; <b>back</b> Monday</p>", "Ask Bob <bob@example.com> & co"
	set := &eas.SettingsRequest{Oof: &eas.OofRequest{Set: &eas.OofSettings{OofState: &on, OofMessage: []eas.OofMessage{
		{AppliesToInternal: true, Enabled: new(true), ReplyMessage: &htmlMsg, BodyType: "HTML"},
		{AppliesToExternalKnown: true, Enabled: new(true), ReplyMessage: &textMsg, BodyType: "Text"},
	}}}}
	if resp := p.settings(eas.V141, set); resp.Oof == nil || resp.Oof.Status != eas.SettingsSuccess {
		t.Fatalf("Oof Set = %+v", resp.Oof)
	}
	for _, c := range []struct {
		bodyType           string
		internal, external string
	}{
		{"Text", "Away & back Monday", textMsg},
		{"TEXT", "Away & back Monday", textMsg},
		{"HTML", htmlMsg, "<html><body><pre>Ask Bob &lt;bob@example.com&gt; &amp; co</pre></body></html>"},
	} {
		resp := p.settings(eas.V141, &eas.SettingsRequest{Oof: &eas.OofRequest{Get: &eas.OofGet{BodyType: c.bodyType}}})
		if resp.Oof == nil || resp.Oof.Get == nil || len(resp.Oof.Get.OofMessage) != 3 {
			t.Fatalf("Oof Get %s = %+v", c.bodyType, resp.Oof)
		}
		wantType := eas.OofBodyText
		if c.bodyType == "HTML" {
			wantType = eas.OofBodyHTML
		}
		for i, want := range []string{c.internal, c.external, ""} {
			m := resp.Oof.Get.OofMessage[i]
			if m.ReplyMessage == nil || *m.ReplyMessage != want || m.BodyType != wantType {
				t.Errorf("Oof Get %s: message %d = %q as %s, want %q as %s", c.bodyType, i, deref(m.ReplyMessage), m.BodyType, want, wantType)
			}
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// noOofSource is a store without automatic replies.
type noOofSource struct{ sources.Source }

type noOofBackend struct{}

func (noOofBackend) Login(context.Context, string, string) (sources.Source, error) {
	return noOofSource{}, nil
}

func TestSettingsOofUnsupported(t *testing.T) {
	p := provisionTestServer(t, Options{})
	p.s.backend = noOofBackend{}
	resp := p.settings(eas.V141, &eas.SettingsRequest{Oof: &eas.OofRequest{Get: &eas.OofGet{BodyType: "Text"}}})
	if !reflect.DeepEqual(resp.Oof, &eas.OofResponse{Status: eas.SettingsAccessDenied}) {
		t.Errorf("Oof on a store without it = %+v, want status 3", resp.Oof)
	}
}

// TestSettingsDeviceCaptures replays the real Settings requests of
// eas/testdata/devices and checks that every section asked for is answered
// with status 1.
func TestSettingsDeviceCaptures(t *testing.T) {
	tests := []struct {
		file      string
		v         eas.ProtocolVersion
		wantModel string
	}{
		{"nokia/nokia-e71-mfe-settings-deviceinformation.wbxml", eas.V121, "NokiaE71"},
		{"windows-mobile/samsung-gt-b7330-settings-deviceinformation-1.wbxml", eas.V121, "GT-B7330"},
		{"windows-mobile/samsung-gt-b7330-settings-deviceinformation-2.wbxml", eas.V121, "GT-B7330"},
		{"unidentified-client/settings-userinformation-get.wbxml", eas.V141, ""},
		{"android/gmail-sm-m215f-settings-oof-set.wbxml", eas.V141, ""},
		{"android/gmail-sm-m215f-settings-oof-get-text.wbxml", eas.V141, ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body, err := os.ReadFile("../eas/testdata/devices/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			var req eas.SettingsRequest
			if err := eas.Unmarshal(body, &req, nil); err != nil {
				t.Fatal(err)
			}
			p := provisionTestServer(t, Options{MailDomain: "example.org"})
			resp := p.settings(tt.v, body)
			for name, sec := range map[string]struct {
				asked bool
				st    *eas.SettingsStatus
			}{
				"DeviceInformation": {req.DeviceInformation != nil, statusOf(resp.DeviceInformation)},
				"UserInformation":   {req.UserInformation != nil, userInfoStatus(resp.UserInformation)},
				"Oof":               {req.Oof != nil, oofStatus(resp.Oof)},
			} {
				switch {
				case sec.asked && (sec.st == nil || *sec.st != eas.SettingsSuccess):
					t.Errorf("%s: answered %v, want status 1", name, sec.st)
				case !sec.asked && sec.st != nil:
					t.Errorf("%s: answered although not asked", name)
				}
			}
			if req.Oof != nil && req.Oof.Get != nil && resp.Oof.Get == nil {
				t.Error("Oof Get answered without settings")
			}
			if tt.wantModel == "" {
				return
			}
			d, err := p.state.Device(t.Context(), "dev01")
			if err != nil || d.Info.Model != tt.wantModel {
				t.Errorf("stored device %+v, %v; want model %s", d, err, tt.wantModel)
			}
		})
	}
}

func statusOf(r *eas.SettingsResult) *eas.SettingsStatus {
	if r == nil {
		return nil
	}
	return &r.Status
}

func userInfoStatus(r *eas.UserInformationResponse) *eas.SettingsStatus {
	if r == nil {
		return nil
	}
	return &r.Status
}

func oofStatus(r *eas.OofResponse) *eas.SettingsStatus {
	if r == nil {
		return nil
	}
	return &r.Status
}
