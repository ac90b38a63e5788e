package eas

import (
	"reflect"
	"testing"
)

func TestSettingsGolden(t *testing.T) {
	checkGolden(t, "settings/request", func(Tag) any { return new(SettingsRequest) })
	checkGolden(t, "settings/response", func(Tag) any { return new(SettingsResponse) })
}

func pString(s string) *string { return &s }

// TestSettingsDeviceRequests decodes every Settings request capture: each
// must survive a round trip, validate at 14.1 and carry the values below.
func TestSettingsDeviceRequests(t *testing.T) {
	oofSet := &OofSettings{
		OofState:  new(OofState),
		StartTime: "2020-12-26T10:00:49.370Z",
		EndTime:   "2021-01-01T22:00:00.334Z",
		OofMessage: []OofMessage{
			{AppliesToInternal: true, Enabled: pBool(false)},
			{AppliesToExternalKnown: true, Enabled: pBool(true), ReplyMessage: pString(""), BodyType: "TEXT"},
			{AppliesToExternalUnknown: true, Enabled: pBool(true), ReplyMessage: pString(""), BodyType: "TEXT"},
		},
	}
	b7330 := func(imei, phone string) *DeviceInformation {
		return &DeviceInformation{Set: &DeviceInformationSet{
			Model: "GT-B7330", IMEI: imei, FriendlyName: "GT-B7330", OS: "Windows CE 5.2.21856",
			OSLanguage: "French", PhoneNumber: phone, UserAgent: "MSFT-SPhone/5.2.5065",
		}}
	}
	userInfo := &SettingsGetRequest{Get: true}
	tests := []struct {
		file string
		want *SettingsRequest
	}{
		{"android/gmail-sm-m215f-settings-oof-set.wbxml", &SettingsRequest{Oof: &OofRequest{Set: oofSet}}},
		{"android/gmail-sm-m215f-settings-oof-get-text.wbxml", &SettingsRequest{Oof: &OofRequest{Get: &OofGet{BodyType: "Text"}}}},
		{"unidentified-client/settings-userinformation-get.wbxml", &SettingsRequest{UserInformation: userInfo}},
		{"windows-mobile/samsung-gt-b7330-settings-deviceinformation-1.wbxml", &SettingsRequest{DeviceInformation: b7330("35397003013732401", "87189060"), UserInformation: userInfo}},
		{"windows-mobile/samsung-gt-b7330-settings-deviceinformation-2.wbxml", &SettingsRequest{DeviceInformation: b7330("35397003036764001", "0463797816"), UserInformation: userInfo}},
		{"nokia/nokia-e71-mfe-settings-deviceinformation.wbxml", &SettingsRequest{DeviceInformation: &DeviceInformation{Set: &DeviceInformationSet{
			Model: "NokiaE71", IMEI: "IMEI351940035621459", FriendlyName: "Nokia/Mail For Exchange", OS: "00.21.118",
		}}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r := decodeReencode[SettingsRequest](t, tt.file, captureBytes(t, tt.file))
			if err := r.Validate(V141); err != nil {
				t.Errorf("Validate(14.1) = %v", err)
			}
			if !reflect.DeepEqual(r, tt.want) {
				t.Errorf("Unmarshal(%s) =\n%s\nwant\n%s", tt.file, fmtValue(r), fmtValue(tt.want))
			}
		})
	}
}

func TestSettingsValidate(t *testing.T) {
	state := func(s OofState) *OofState { return &s }
	tests := []struct {
		name    string
		req     SettingsRequest
		v       ProtocolVersion
		wantErr bool
	}{
		{"empty", SettingsRequest{}, V141, true},
		{"oof get html lower case", SettingsRequest{Oof: &OofRequest{Get: &OofGet{BodyType: "html"}}}, V120, false},
		{"oof get and set", SettingsRequest{Oof: &OofRequest{Get: &OofGet{BodyType: "Text"}, Set: &OofSettings{}}}, V141, true},
		{"oof neither", SettingsRequest{Oof: &OofRequest{}}, V141, true},
		{"oof state 3", SettingsRequest{Oof: &OofRequest{Set: &OofSettings{OofState: state(3)}}}, V141, true},
		{"oof bad start time", SettingsRequest{Oof: &OofRequest{Set: &OofSettings{OofState: state(OofGlobal), StartTime: "yesterday"}}}, V141, true},
		{"oof message body type", SettingsRequest{Oof: &OofRequest{Set: &OofSettings{OofMessage: []OofMessage{{AppliesToInternal: true, BodyType: "RTF"}}}}}, V141, true},
		{"oof message no audience", SettingsRequest{Oof: &OofRequest{Set: &OofSettings{OofMessage: []OofMessage{{Enabled: pBool(true)}}}}}, V141, true},
		{"device password empty", SettingsRequest{DevicePassword: &DevicePasswordRequest{Set: &DevicePasswordSet{}}}, V141, true},
		{"device information 12.0", SettingsRequest{DeviceInformation: &DeviceInformation{Set: &DeviceInformationSet{Model: "x"}}}, V120, true},
		{"user agent 12.1", SettingsRequest{DeviceInformation: &DeviceInformation{Set: &DeviceInformationSet{UserAgent: "x"}}}, V121, false},
		{"outbound sms 12.1", SettingsRequest{DeviceInformation: &DeviceInformation{Set: &DeviceInformationSet{EnableOutboundSMS: pBool(true)}}}, V121, true},
		{"user information without get", SettingsRequest{UserInformation: &SettingsGetRequest{}}, V141, true},
		{"rights management without get", SettingsRequest{RightsManagementInformation: &SettingsGetRequest{}}, V141, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.req.Validate(tt.v); (err != nil) != tt.wantErr {
				t.Errorf("Validate(%v) = %v, want error %v", tt.v, err, tt.wantErr)
			}
		})
	}
}

func FuzzUnmarshalSettings(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzReencode[SettingsRequest](t, data)
		fuzzReencode[SettingsResponse](t, data)
	})
}
