package eas

import (
	"strings"
	"time"
)

// SettingsStatus is the Status of the Settings element and of each of its
// sections in a response, MS-ASCMD 2.2.3.177.14.
type SettingsStatus int

// Settings statuses.
const (
	SettingsSuccess             SettingsStatus = 1 // done
	SettingsProtocolError       SettingsStatus = 2 // the request did not follow the schema
	SettingsAccessDenied        SettingsStatus = 3 // the user may not read or change this setting
	SettingsServerUnavailable   SettingsStatus = 4 // the server cannot be reached; retry later
	SettingsInvalidArguments    SettingsStatus = 5 // a value is out of range
	SettingsConflictingArgument SettingsStatus = 6 // values contradict each other (an end before its start)
	SettingsDeniedByPolicy      SettingsStatus = 7 // the server's policy forbids the change
)

// OofState says whether the out-of-office reply is on, MS-ASCMD 2.2.3.118.
type OofState int

// Out-of-office states.
const (
	OofDisabled  OofState = 0
	OofGlobal    OofState = 1 // on until turned off
	OofTimeBased OofState = 2 // on between StartTime and EndTime
)

// Out-of-office body types, MS-ASCMD 2.2.3.19. Clients differ in case (the
// Gmail app sends "TEXT" and "Text", android/gmail-sm-m215f-settings-oof-*),
// so compare with strings.EqualFold.
const (
	OofBodyText = "Text"
	OofBodyHTML = "HTML"
)

// SettingsRequest is the body of a Settings request, MS-ASCMD 2.2.1.18.
type SettingsRequest struct {
	_                           struct{}               `wbxml:"Settings:Settings"`
	Oof                         *OofRequest            `wbxml:"Settings:Oof"`
	DevicePassword              *DevicePasswordRequest `wbxml:"Settings:DevicePassword"`
	DeviceInformation           *DeviceInformation     `wbxml:"Settings:DeviceInformation"` // 12.1 and later
	UserInformation             *SettingsGetRequest    `wbxml:"Settings:UserInformation"`
	RightsManagementInformation *SettingsGetRequest    `wbxml:"Settings:RightsManagementInformation"` // 14.1 and later
}

// OofRequest reads (Get) or changes (Set) the out-of-office settings,
// MS-ASCMD 2.2.3.117.
type OofRequest struct {
	Get *OofGet      `wbxml:"Settings:Get"`
	Set *OofSettings `wbxml:"Settings:Set"`
}

// OofGet asks for the out-of-office settings with messages in BodyType.
type OofGet struct {
	BodyType string `wbxml:"Settings:BodyType"`
}

// OofSettings holds out-of-office settings: sent in a Set request and
// returned in a Get response, MS-ASCMD 2.2.3.76 and 2.2.3.159.
type OofSettings struct {
	OofState   *OofState    `wbxml:"Settings:OofState"`
	StartTime  string       `wbxml:"Settings:StartTime,omitempty"`
	EndTime    string       `wbxml:"Settings:EndTime,omitempty"`
	OofMessage []OofMessage `wbxml:"Settings:OofMessage"`
}

// OofMessage is the reply for one audience, MS-ASCMD 2.2.3.119: exactly one
// of the AppliesTo flags is set.
type OofMessage struct {
	AppliesToInternal        bool    `wbxml:"Settings:AppliesToInternal,empty"`
	AppliesToExternalKnown   bool    `wbxml:"Settings:AppliesToExternalKnown,empty"`
	AppliesToExternalUnknown bool    `wbxml:"Settings:AppliesToExternalUnknown,empty"`
	Enabled                  *bool   `wbxml:"Settings:Enabled"`
	ReplyMessage             *string `wbxml:"Settings:ReplyMessage"`
	BodyType                 string  `wbxml:"Settings:BodyType,omitempty"`
}

// DevicePasswordRequest sends the device's recovery password to the server,
// MS-ASCMD 2.2.3.44.
type DevicePasswordRequest struct {
	Set *DevicePasswordSet `wbxml:"Settings:Set"`
}

// DevicePasswordSet holds the recovery password.
type DevicePasswordSet struct {
	Password string `wbxml:"Settings:Password"`
}

// DeviceInformation describes the client, in a Settings request or, from
// 14.1 on, a Provision request, MS-ASCMD 2.2.3.45.
type DeviceInformation struct {
	Set *DeviceInformationSet `wbxml:"Settings:Set"`
}

// DeviceInformationSet holds the client's description, MS-ASCMD 2.2.3.160.2.
// Every field is optional.
type DeviceInformationSet struct {
	Model             string `wbxml:"Settings:Model,omitempty"`
	IMEI              string `wbxml:"Settings:IMEI,omitempty"`
	FriendlyName      string `wbxml:"Settings:FriendlyName,omitempty"`
	OS                string `wbxml:"Settings:OS,omitempty"`
	OSLanguage        string `wbxml:"Settings:OSLanguage,omitempty"`
	PhoneNumber       string `wbxml:"Settings:PhoneNumber,omitempty"`
	UserAgent         string `wbxml:"Settings:UserAgent,omitempty"`      // 12.1 and later
	EnableOutboundSMS *bool  `wbxml:"Settings:EnableOutboundSMS"`        // 14.0 and later
	MobileOperator    string `wbxml:"Settings:MobileOperator,omitempty"` // 14.0 and later
}

// SettingsGetRequest asks for a read-only section (UserInformation,
// RightsManagementInformation) with an empty Get element.
type SettingsGetRequest struct {
	Get bool `wbxml:"Settings:Get,empty"`
}

// Validate checks r against the Settings request schema of version v.
func (r *SettingsRequest) Validate(v ProtocolVersion) error {
	if v < V120 {
		return schemaErrorf("Settings", "Settings needs protocol 12.0, not %s", v)
	}
	if r.Oof == nil && r.DevicePassword == nil && r.DeviceInformation == nil &&
		r.UserInformation == nil && r.RightsManagementInformation == nil {
		return schemaErrorf("Settings", "no setting named")
	}
	if r.Oof != nil {
		if err := r.Oof.validate(); err != nil {
			return err
		}
	}
	if r.DevicePassword != nil && (r.DevicePassword.Set == nil || r.DevicePassword.Set.Password == "") {
		return schemaErrorf("Settings", "DevicePassword without Set/Password")
	}
	if r.DeviceInformation != nil {
		if v < V121 {
			return schemaErrorf("Settings", "DeviceInformation needs protocol 12.1, not %s", v)
		}
		if err := r.DeviceInformation.validate("Settings", v); err != nil {
			return err
		}
	}
	if r.UserInformation != nil && !r.UserInformation.Get {
		return schemaErrorf("Settings", "UserInformation without Get")
	}
	if r.RightsManagementInformation != nil {
		if v < V141 {
			return schemaErrorf("Settings", "RightsManagementInformation needs protocol 14.1, not %s", v)
		}
		if !r.RightsManagementInformation.Get {
			return schemaErrorf("Settings", "RightsManagementInformation without Get")
		}
	}
	return nil
}

func validOofBodyType(s string) bool {
	return strings.EqualFold(s, OofBodyText) || strings.EqualFold(s, OofBodyHTML)
}

func (o *OofRequest) validate() error {
	if (o.Get == nil) == (o.Set == nil) {
		return schemaErrorf("Settings", "Oof needs exactly one of Get and Set")
	}
	if o.Get != nil {
		if !validOofBodyType(o.Get.BodyType) {
			return schemaErrorf("Settings", "Oof Get BodyType %q is not Text or HTML", o.Get.BodyType)
		}
		return nil
	}
	s := o.Set
	if s.OofState != nil && (*s.OofState < OofDisabled || *s.OofState > OofTimeBased) {
		return schemaErrorf("Settings", "OofState %d is not 0 to 2", *s.OofState)
	}
	// Times may come with any state (the Gmail app sends them with
	// OofState 0); a time-based reply needs both.
	for _, f := range [][2]string{{"StartTime", s.StartTime}, {"EndTime", s.EndTime}} {
		if f[1] == "" {
			if s.OofState != nil && *s.OofState == OofTimeBased {
				return schemaErrorf("Settings", "time-based Oof without %s", f[0])
			}
			continue
		}
		if _, err := time.Parse(time.RFC3339Nano, f[1]); err != nil {
			return schemaErrorf("Settings", "Oof %s %q is not a date and time", f[0], f[1])
		}
	}
	for i, m := range s.OofMessage {
		n := 0
		for _, b := range []bool{m.AppliesToInternal, m.AppliesToExternalKnown, m.AppliesToExternalUnknown} {
			if b {
				n++
			}
		}
		if n != 1 {
			return schemaErrorf("Settings", "OofMessage %d names %d audiences, want 1", i+1, n)
		}
		if m.BodyType != "" && !validOofBodyType(m.BodyType) {
			return schemaErrorf("Settings", "OofMessage %d BodyType %q is not Text or HTML", i+1, m.BodyType)
		}
	}
	return nil
}

// validate checks DeviceInformation sent in command cmd.
func (d *DeviceInformation) validate(cmd string, v ProtocolVersion) error {
	if d.Set == nil {
		return schemaErrorf(cmd, "DeviceInformation without Set")
	}
	s := d.Set
	if s.UserAgent != "" && v < V121 {
		return schemaErrorf(cmd, "UserAgent needs protocol 12.1, not %s", v)
	}
	if (s.EnableOutboundSMS != nil || s.MobileOperator != "") && v < V140 {
		return schemaErrorf(cmd, "EnableOutboundSMS and MobileOperator need protocol 14.0, not %s", v)
	}
	return nil
}

// SettingsResponse is the body of a Settings response, MS-ASCMD 2.2.1.18.
type SettingsResponse struct {
	_                           struct{}                             `wbxml:"Settings:Settings"`
	Status                      SettingsStatus                       `wbxml:"Settings:Status"`
	Oof                         *OofResponse                         `wbxml:"Settings:Oof"`
	DevicePassword              *SettingsResult                      `wbxml:"Settings:DevicePassword"`
	DeviceInformation           *SettingsResult                      `wbxml:"Settings:DeviceInformation"`
	UserInformation             *UserInformationResponse             `wbxml:"Settings:UserInformation"`
	RightsManagementInformation *RightsManagementInformationResponse `wbxml:"Settings:RightsManagementInformation"`
}

// SettingsResult is a section of a response that carries only a Status:
// the answer to a Set, and settings:DeviceInformation in a Provision
// response.
type SettingsResult struct {
	Status SettingsStatus `wbxml:"Settings:Status"`
}

// OofResponse answers an Oof request; Get is present when the request was
// a Get that succeeded.
type OofResponse struct {
	Status SettingsStatus `wbxml:"Settings:Status"`
	Get    *OofSettings   `wbxml:"Settings:Get"`
}

// UserInformationResponse answers UserInformation Get, MS-ASCMD 2.2.3.187.
type UserInformationResponse struct {
	Status SettingsStatus       `wbxml:"Settings:Status"`
	Get    *UserInformationData `wbxml:"Settings:Get"`
}

// UserInformationData lists the user's addresses: directly in
// EmailAddresses before 14.1, per account in Accounts from 14.1 on.
type UserInformationData struct {
	EmailAddresses *SettingsEmailAddresses `wbxml:"Settings:EmailAddresses"`
	Accounts       *SettingsAccounts       `wbxml:"Settings:Accounts"` // 14.1 and later
}

// SettingsEmailAddresses lists SMTP addresses, MS-ASCMD 2.2.3.57.
type SettingsEmailAddresses struct {
	SMTPAddress        []string `wbxml:"Settings:SMTPAddress"`
	PrimarySmtpAddress string   `wbxml:"Settings:PrimarySmtpAddress,omitempty"` // 14.1 and later
}

// SettingsAccounts lists the accounts the user can send from, MS-ASCMD
// 2.2.3.3.
type SettingsAccounts struct {
	Account []SettingsAccount `wbxml:"Settings:Account"`
}

// SettingsAccount is one account, MS-ASCMD 2.2.3.2. AccountID is empty for
// the user's own mailbox.
type SettingsAccount struct {
	AccountID       string                  `wbxml:"Settings:AccountId,omitempty"`
	AccountName     string                  `wbxml:"Settings:AccountName,omitempty"`
	UserDisplayName string                  `wbxml:"Settings:UserDisplayName,omitempty"`
	SendDisabled    *bool                   `wbxml:"Settings:SendDisabled"`
	EmailAddresses  *SettingsEmailAddresses `wbxml:"Settings:EmailAddresses"`
}

// RightsManagementInformationResponse answers RightsManagementInformation
// Get with the rights-management templates the user may apply, MS-ASCMD
// 2.2.3.151 and MS-ASRM 2.2.2.
type RightsManagementInformationResponse struct {
	Status SettingsStatus                   `wbxml:"Settings:Status"`
	Get    *RightsManagementInformationData `wbxml:"Settings:Get"`
}

// RightsManagementInformationData holds the template list.
type RightsManagementInformationData struct {
	Templates *SettingsRightsManagementTemplates `wbxml:"RightsManagement:RightsManagementTemplates"`
}

// SettingsRightsManagementTemplates lists templates, MS-ASRM 2.2.2.18.
type SettingsRightsManagementTemplates struct {
	Template []SettingsRightsManagementTemplate `wbxml:"RightsManagement:RightsManagementTemplate"`
}

// SettingsRightsManagementTemplate is one template, MS-ASRM 2.2.2.17.
type SettingsRightsManagementTemplate struct {
	TemplateID          string `wbxml:"RightsManagement:TemplateID"`
	TemplateName        string `wbxml:"RightsManagement:TemplateName"`
	TemplateDescription string `wbxml:"RightsManagement:TemplateDescription"`
}
