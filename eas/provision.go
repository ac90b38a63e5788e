package eas

import (
	"encoding/xml"
	"strconv"
	"strings"
)

// Policy types, MS-ASPROV 2.2.2.43: the format of a Policy's Data.
const (
	// PolicyTypeWAP is the 2.5 format: a wap-provisioningdoc sent as text.
	PolicyTypeWAP = "MS-WAP-Provisioning-XML"
	// PolicyTypeWBXML is the 12.0-and-later format: an EASProvisionDoc.
	PolicyTypeWBXML = "MS-EAS-Provisioning-WBXML"
)

// PolicyTypeFor returns the policy type a client speaking v asks for.
func PolicyTypeFor(v ProtocolVersion) string {
	if v < V120 {
		return PolicyTypeWAP
	}
	return PolicyTypeWBXML
}

// ProvisionStatus is the Status of the Provision element of a response,
// MS-ASPROV 2.2.2.54.2.
type ProvisionStatus int

// Provision statuses.
const (
	ProvisionSuccess       ProvisionStatus = 1 // the request was processed
	ProvisionProtocolError ProvisionStatus = 2 // the request did not follow the schema
	ProvisionServerError   ProvisionStatus = 3 // the server failed; the client retries later
)

// PolicyStatus is the Status of a Policy element in a response,
// MS-ASPROV 2.2.2.54.1.
type PolicyStatus int

// Policy statuses of a response.
const (
	PolicySuccess     PolicyStatus = 1 // the policy follows
	PolicyNotDefined  PolicyStatus = 2 // no policy applies to this client
	PolicyTypeUnknown PolicyStatus = 3 // the requested PolicyType is not supported
	PolicyDataCorrupt PolicyStatus = 4 // the policy data on the server is corrupt
	PolicyKeyMismatch PolicyStatus = 5 // the acknowledged key is not the current one
)

// PolicyAckStatus is the Status a client sends in a Policy when it
// acknowledges a policy, MS-ASPROV 2.2.2.54.1.
type PolicyAckStatus int

// Acknowledgement statuses.
const (
	PolicyAckApplied         PolicyAckStatus = 1 // every setting was applied
	PolicyAckPartial         PolicyAckStatus = 2 // some settings were applied
	PolicyAckNotApplied      PolicyAckStatus = 3 // the policy was not applied
	PolicyAckExternalManaged PolicyAckStatus = 4 // a third party manages the device's policy
)

// RemoteWipeStatus is the Status a client sends in RemoteWipe or
// AccountOnlyRemoteWipe once it has acted on the wipe, MS-ASPROV 2.2.2.54.3.
type RemoteWipeStatus int

// Remote wipe acknowledgement statuses.
const (
	RemoteWipeSucceeded RemoteWipeStatus = 1
	RemoteWipeFailed    RemoteWipeStatus = 2
)

// ProvisionRequest is the body of a Provision request, MS-ASCMD 2.2.1.14 and
// MS-ASPROV 2.2.2.44. The initial request asks for a policy (Policy with
// PolicyType only), the acknowledgement adds the temporary PolicyKey and the
// client's Status, and a wipe acknowledgement carries RemoteWipe or
// AccountOnlyRemoteWipe instead of Policies.
type ProvisionRequest struct {
	_                     struct{}           `wbxml:"Provision:Provision"`
	DeviceInformation     *DeviceInformation `wbxml:"Settings:DeviceInformation"` // 14.1 and later
	Policies              *ProvisionPolicies `wbxml:"Provision:Policies"`
	RemoteWipe            *RemoteWipeAck     `wbxml:"Provision:RemoteWipe"`
	AccountOnlyRemoteWipe *RemoteWipeAck     `wbxml:"Provision:AccountOnlyRemoteWipe"` // 16.1 and later
}

// ProvisionPolicies is the Policies element of a request, MS-ASPROV 2.2.2.40.
type ProvisionPolicies struct {
	Policy *ProvisionPolicy `wbxml:"Provision:Policy"`
}

// ProvisionPolicy is a Policy element of a request, MS-ASPROV 2.2.2.41: in
// the acknowledgement, PolicyKey comes before Status.
type ProvisionPolicy struct {
	PolicyType string          `wbxml:"Provision:PolicyType"`
	PolicyKey  string          `wbxml:"Provision:PolicyKey,omitempty"`
	Status     PolicyAckStatus `wbxml:"Provision:Status,omitempty"`
}

// RemoteWipeAck is the client's answer to a RemoteWipe or
// AccountOnlyRemoteWipe directive, MS-ASPROV 2.2.2.45 and 2.2.2.1.
type RemoteWipeAck struct {
	Status RemoteWipeStatus `wbxml:"Provision:Status"`
}

// Validate checks r against the Provision request schema of version v.
// The PolicyType value itself is left to the handler, which answers an
// unknown one with PolicyTypeUnknown rather than a protocol error.
func (r *ProvisionRequest) Validate(v ProtocolVersion) error {
	if r.DeviceInformation != nil {
		if v < V141 {
			return schemaErrorf("Provision", "DeviceInformation needs protocol 14.1, not %s", v)
		}
		if err := r.DeviceInformation.validate("Provision", v); err != nil {
			return err
		}
	}
	if r.AccountOnlyRemoteWipe != nil && v < V161 {
		return schemaErrorf("Provision", "AccountOnlyRemoteWipe needs protocol 16.1, not %s", v)
	}
	n := 0
	for _, w := range []*RemoteWipeAck{r.RemoteWipe, r.AccountOnlyRemoteWipe} {
		if w == nil {
			continue
		}
		n++
		if w.Status != RemoteWipeSucceeded && w.Status != RemoteWipeFailed {
			return schemaErrorf("Provision", "remote wipe Status %d is not 1 or 2", w.Status)
		}
	}
	if r.Policies == nil {
		if n == 0 {
			return schemaErrorf("Provision", "no Policies and no remote wipe acknowledgement")
		}
		return nil
	}
	p := r.Policies.Policy
	if p == nil {
		return schemaErrorf("Provision", "Policies without a Policy")
	}
	if p.PolicyType == "" {
		return schemaErrorf("Provision", "Policy without a PolicyType")
	}
	if p.Status != 0 {
		if p.PolicyKey == "" {
			return schemaErrorf("Provision", "acknowledgement without a PolicyKey")
		}
		if p.Status < PolicyAckApplied || p.Status > PolicyAckExternalManaged {
			return schemaErrorf("Provision", "Policy Status %d is not 1 to 4", p.Status)
		}
	}
	return nil
}

// IsAcknowledgement reports whether r acknowledges a policy (the second
// phase of provisioning) rather than asking for one.
func (r *ProvisionRequest) IsAcknowledgement() bool {
	return r.Policies != nil && r.Policies.Policy != nil && r.Policies.Policy.Status != 0
}

// ProvisionResponse is the body of a Provision response, MS-ASCMD 2.2.1.14
// and MS-ASPROV 6.3. RemoteWipe and AccountOnlyRemoteWipe, sent as empty
// elements, order the client to wipe itself or the account.
type ProvisionResponse struct {
	_                     struct{}                   `wbxml:"Provision:Provision"`
	DeviceInformation     *SettingsResult            `wbxml:"Settings:DeviceInformation"` // 14.1 and later
	Status                ProvisionStatus            `wbxml:"Provision:Status"`
	Policies              *ProvisionResponsePolicies `wbxml:"Provision:Policies"`
	RemoteWipe            bool                       `wbxml:"Provision:RemoteWipe,empty"`
	AccountOnlyRemoteWipe bool                       `wbxml:"Provision:AccountOnlyRemoteWipe,empty"` // 16.1 and later
}

// ProvisionResponsePolicies is the Policies element of a response,
// MS-ASPROV 2.2.2.40.
type ProvisionResponsePolicies struct {
	Policy *ProvisionResponsePolicy `wbxml:"Provision:Policy"`
}

// ProvisionResponsePolicy is a Policy element of a response, MS-ASPROV
// 2.2.2.41. Data is present in the answer to the initial request only.
type ProvisionResponsePolicy struct {
	PolicyType string         `wbxml:"Provision:PolicyType"`
	Status     PolicyStatus   `wbxml:"Provision:Status"`
	PolicyKey  string         `wbxml:"Provision:PolicyKey,omitempty"`
	Data       *ProvisionData `wbxml:"Provision:Data"`
}

// ProvisionData is a Policy's Data, MS-ASPROV 2.2.2.24: an EASProvisionDoc
// element (12.0 and later) or, in 2.5, the text of a wap-provisioningdoc
// (see WAPProvisioningDoc).
type ProvisionData struct {
	EASProvisionDoc *EASProvisionDoc
	WAPXML          string
}

// MarshalWBXML writes Data with whichever form d holds.
func (d ProvisionData) MarshalWBXML(e *Encoder, start StartTag) error {
	empty := d.EASProvisionDoc == nil && d.WAPXML == ""
	e.EncodeToken(StartTag{Tag: start.Tag, Empty: empty})
	if d.EASProvisionDoc != nil {
		e.EncodeElement(d.EASProvisionDoc, StartTag{Tag: Tag{PageProvision, "EASProvisionDoc"}})
	}
	if d.WAPXML != "" {
		e.EncodeToken(Text(d.WAPXML))
	}
	return e.EncodeToken(EndTag{Tag: start.Tag})
}

// UnmarshalWBXML reads Data: text goes to WAPXML, an EASProvisionDoc child
// to EASProvisionDoc, other children are skipped.
func (d *ProvisionData) UnmarshalWBXML(dec *Decoder, start StartTag) error {
	*d = ProvisionData{}
	var text strings.Builder
	for {
		k, err := dec.next()
		if err != nil {
			return noEOF(err)
		}
		switch k {
		case kindEnd:
			d.WAPXML = text.String()
			return nil
		case kindStart:
			t := StartTag{Tag: dec.tag(), Empty: dec.empty}
			if t.Tag != (Tag{PageProvision, "EASProvisionDoc"}) {
				if err := dec.Skip(); err != nil {
					return err
				}
				continue
			}
			d.EASProvisionDoc = new(EASProvisionDoc)
			if err := dec.DecodeElement(d.EASProvisionDoc, t); err != nil {
				return err
			}
		case kindText, kindOpaque:
			if text.Len()+len(dec.data) > dec.opts.MaxStringSize {
				return dec.limit("MaxStringSize", int64(dec.opts.MaxStringSize))
			}
			text.Write(dec.data)
		}
	}
}

// EASProvisionDoc is the policy of protocol 12.0 and later, MS-ASPROV
// 2.2.2.28. A nil field is a setting the server does not send. Numbers are
// IntOrEmpty because Exchange sends an empty element for a limit the policy
// leaves unset (exchange-2010plus-responses/provision-phase1-*.wbxml).
// Fields follow the order Exchange writes them in: the code page's, but
// for PasswordRecoveryEnabled before RequireStorageCardEncryption.
// Settings from AllowStorageCard on exist in 12.1 and later.
type EASProvisionDoc struct {
	DevicePasswordEnabled                    *bool                           `wbxml:"Provision:DevicePasswordEnabled"`
	AlphanumericDevicePasswordRequired       *bool                           `wbxml:"Provision:AlphanumericDevicePasswordRequired"`
	PasswordRecoveryEnabled                  *bool                           `wbxml:"Provision:PasswordRecoveryEnabled"`
	RequireStorageCardEncryption             *bool                           `wbxml:"Provision:RequireStorageCardEncryption"`
	AttachmentsEnabled                       *bool                           `wbxml:"Provision:AttachmentsEnabled"`
	MinDevicePasswordLength                  *IntOrEmpty                     `wbxml:"Provision:MinDevicePasswordLength"`
	MaxInactivityTimeDeviceLock              *IntOrEmpty                     `wbxml:"Provision:MaxInactivityTimeDeviceLock"` // seconds; 9999 or more: no lock
	MaxDevicePasswordFailedAttempts          *IntOrEmpty                     `wbxml:"Provision:MaxDevicePasswordFailedAttempts"`
	MaxAttachmentSize                        *IntOrEmpty                     `wbxml:"Provision:MaxAttachmentSize"` // bytes
	AllowSimpleDevicePassword                *bool                           `wbxml:"Provision:AllowSimpleDevicePassword"`
	DevicePasswordExpiration                 *IntOrEmpty                     `wbxml:"Provision:DevicePasswordExpiration"` // days
	DevicePasswordHistory                    *IntOrEmpty                     `wbxml:"Provision:DevicePasswordHistory"`
	AllowStorageCard                         *bool                           `wbxml:"Provision:AllowStorageCard"`
	AllowCamera                              *bool                           `wbxml:"Provision:AllowCamera"`
	RequireDeviceEncryption                  *bool                           `wbxml:"Provision:RequireDeviceEncryption"`
	AllowUnsignedApplications                *bool                           `wbxml:"Provision:AllowUnsignedApplications"`
	AllowUnsignedInstallationPackages        *bool                           `wbxml:"Provision:AllowUnsignedInstallationPackages"`
	MinDevicePasswordComplexCharacters       *IntOrEmpty                     `wbxml:"Provision:MinDevicePasswordComplexCharacters"` // 1 to 4
	AllowWiFi                                *bool                           `wbxml:"Provision:AllowWiFi"`
	AllowTextMessaging                       *bool                           `wbxml:"Provision:AllowTextMessaging"`
	AllowPOPIMAPEmail                        *bool                           `wbxml:"Provision:AllowPOPIMAPEmail"`
	AllowBluetooth                           *IntOrEmpty                     `wbxml:"Provision:AllowBluetooth"` // 0 off, 1 hands-free only, 2 on
	AllowIrDA                                *bool                           `wbxml:"Provision:AllowIrDA"`
	RequireManualSyncWhenRoaming             *bool                           `wbxml:"Provision:RequireManualSyncWhenRoaming"`
	AllowDesktopSync                         *bool                           `wbxml:"Provision:AllowDesktopSync"`
	MaxCalendarAgeFilter                     *IntOrEmpty                     `wbxml:"Provision:MaxCalendarAgeFilter"` // a FilterType value; 0 all
	AllowHTMLEmail                           *bool                           `wbxml:"Provision:AllowHTMLEmail"`
	MaxEmailAgeFilter                        *IntOrEmpty                     `wbxml:"Provision:MaxEmailAgeFilter"`              // a FilterType value; 0 all
	MaxEmailBodyTruncationSize               *IntOrEmpty                     `wbxml:"Provision:MaxEmailBodyTruncationSize"`     // bytes; -1 none
	MaxEmailHTMLBodyTruncationSize           *IntOrEmpty                     `wbxml:"Provision:MaxEmailHTMLBodyTruncationSize"` // bytes; -1 none
	RequireSignedSMIMEMessages               *bool                           `wbxml:"Provision:RequireSignedSMIMEMessages"`
	RequireEncryptedSMIMEMessages            *bool                           `wbxml:"Provision:RequireEncryptedSMIMEMessages"`
	RequireSignedSMIMEAlgorithm              *IntOrEmpty                     `wbxml:"Provision:RequireSignedSMIMEAlgorithm"`              // 0 SHA1, 1 MD5
	RequireEncryptionSMIMEAlgorithm          *IntOrEmpty                     `wbxml:"Provision:RequireEncryptionSMIMEAlgorithm"`          // 0 3DES, 1 DES, 2-4 RC2 128/64/40
	AllowSMIMEEncryptionAlgorithmNegotiation *IntOrEmpty                     `wbxml:"Provision:AllowSMIMEEncryptionAlgorithmNegotiation"` // 0 no, 1 strong only, 2 any
	AllowSMIMESoftCerts                      *bool                           `wbxml:"Provision:AllowSMIMESoftCerts"`
	AllowBrowser                             *bool                           `wbxml:"Provision:AllowBrowser"`
	AllowConsumerEmail                       *bool                           `wbxml:"Provision:AllowConsumerEmail"`
	AllowRemoteDesktop                       *bool                           `wbxml:"Provision:AllowRemoteDesktop"`
	AllowInternetSharing                     *bool                           `wbxml:"Provision:AllowInternetSharing"`
	UnapprovedInROMApplicationList           *UnapprovedInROMApplicationList `wbxml:"Provision:UnapprovedInROMApplicationList"`
	ApprovedApplicationList                  *ApprovedApplicationList        `wbxml:"Provision:ApprovedApplicationList"`
}

// UnapprovedInROMApplicationList names the built-in applications the
// client must not run, MS-ASPROV 2.2.2.56. An empty list is sent as an
// empty element.
type UnapprovedInROMApplicationList struct {
	ApplicationName []string `wbxml:"Provision:ApplicationName"`
}

// ApprovedApplicationList holds the SHA-1 hashes (hex) of the applications
// the client may install and run, MS-ASPROV 2.2.2.22.
type ApprovedApplicationList struct {
	Hash []string `wbxml:"Provision:Hash"`
}

// IntOrEmpty is a numeric policy setting that may be sent as an empty
// element: MS-ASPROV's unsignedIntOrEmpty and unsignedByteOrEmpty
// (2.2.3.2, 2.2.3.3), where empty means the policy sets no limit. Use a
// nil *IntOrEmpty for a setting that is absent.
type IntOrEmpty struct {
	Value int64
	Empty bool // sent as an empty element; Value is then 0
}

// PolicyInt returns a setting holding n.
func PolicyInt(n int64) *IntOrEmpty { return &IntOrEmpty{Value: n} }

// PolicyEmpty returns a setting sent as an empty element.
func PolicyEmpty() *IntOrEmpty { return &IntOrEmpty{Empty: true} }

// MarshalWBXML writes the number, or an empty element.
func (n IntOrEmpty) MarshalWBXML(e *Encoder, start StartTag) error {
	if n.Empty {
		e.EncodeToken(StartTag{Tag: start.Tag, Empty: true})
		return e.EncodeToken(EndTag{Tag: start.Tag})
	}
	e.EncodeToken(StartTag{Tag: start.Tag})
	e.writeInt(n.Value)
	return e.EncodeToken(EndTag{Tag: start.Tag})
}

// UnmarshalWBXML reads a decimal number; no text (or only spaces) is Empty.
func (n *IntOrEmpty) UnmarshalWBXML(d *Decoder, start StartTag) error {
	text, err := d.readText()
	if err != nil {
		return err
	}
	s := strings.TrimSpace(string(text))
	if s == "" {
		*n = IntOrEmpty{Empty: true}
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return schemaErrorf("Provision", "%s: %q is not a number", start.Tag, text)
	}
	*n = IntOrEmpty{Value: v}
	return nil
}

// WAPProvisioningDoc is the policy document of protocol 2.5, carried as text
// in Data with PolicyType MS-WAP-Provisioning-XML, MS-ASPROV 2.2.2.24.2: a
// SecurityPolicy characteristic and a Registry characteristic holding
// registry branches, each with parm name/value pairs. Use WAPPolicy for the
// settings themselves.
type WAPProvisioningDoc struct {
	XMLName         xml.Name            `xml:"wap-provisioningdoc"`
	Characteristics []WAPCharacteristic `xml:"characteristic"`
}

// WAPCharacteristic is a characteristic element: a configuration service
// provider or a registry branch.
type WAPCharacteristic struct {
	Type            string              `xml:"type,attr"`
	Parms           []WAPParm           `xml:"parm"`
	Characteristics []WAPCharacteristic `xml:"characteristic"`
}

// WAPParm is a parm element, one setting.
type WAPParm struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// The characteristic types of the 2.5 policy document.
const (
	wapSecurityPolicy = "SecurityPolicy"
	wapRegistry       = "Registry"
	wapInactivityKey  = `HKLM\Comm\Security\Policy\LASSD\AE\{50C13377-C66D-400C-889E-C316FC4AB374}`
	wapLASSDKey       = `HKLM\Comm\Security\Policy\LASSD`
	wapPasswordKey    = `HKLM\Comm\Security\Policy\LASSD\LAP\lap_pw`
)

// WAPPolicy holds the settings MS-ASPROV 2.2.2.24.2 defines for the 2.5
// document. A nil field is not sent.
type WAPPolicy struct {
	// SecurityPolicy 4131: 0 requires a device password, 1 does not.
	PasswordPolicy *int
	// SecurityPolicy 4133. Exchange sends 0 when a password with a
	// failed-attempt limit is required and 1 otherwise.
	Policy4133 *int
	// AEFrequencyType: 1 locks the device after AEFrequencyValue minutes
	// of inactivity, 0 sets no inactivity lock.
	AEFrequencyType  *int
	AEFrequencyValue *int
	// DeviceWipeThreshold: failed password attempts before the device
	// wipes itself.
	DeviceWipeThreshold *int
	// CodewordFrequency: failed attempts before the device asks the user
	// to type a code word, proving a person is at the keyboard.
	CodewordFrequency *int
	// MinimumPasswordLength in characters.
	MinimumPasswordLength *int
	// PasswordComplexity: 0 requires an alphanumeric password, 2 allows a
	// PIN.
	PasswordComplexity *int
}

// Doc returns the document carrying p, in the layout MS-ASPROV shows:
// the registry parms each in a characteristic of their own.
func (p WAPPolicy) Doc() *WAPProvisioningDoc {
	parm := func(name string, v *int) []WAPParm {
		if v == nil {
			return nil
		}
		return []WAPParm{{Name: name, Value: strconv.Itoa(*v)}}
	}
	doc := &WAPProvisioningDoc{}
	sec := WAPCharacteristic{Type: wapSecurityPolicy}
	sec.Parms = append(parm("4131", p.PasswordPolicy), parm("4133", p.Policy4133)...)
	if len(sec.Parms) > 0 {
		doc.Characteristics = append(doc.Characteristics, sec)
	}
	reg := WAPCharacteristic{Type: wapRegistry}
	add := func(key string, parms ...[]WAPParm) {
		var all []WAPParm
		for _, ps := range parms {
			all = append(all, ps...)
		}
		if len(all) > 0 {
			reg.Characteristics = append(reg.Characteristics, WAPCharacteristic{Type: key, Parms: all})
		}
	}
	add(wapInactivityKey, parm("AEFrequencyType", p.AEFrequencyType), parm("AEFrequencyValue", p.AEFrequencyValue))
	add(wapLASSDKey, parm("DeviceWipeThreshold", p.DeviceWipeThreshold))
	add(wapLASSDKey, parm("CodewordFrequency", p.CodewordFrequency))
	add(wapPasswordKey, parm("MinimumPasswordLength", p.MinimumPasswordLength))
	add(wapPasswordKey, parm("PasswordComplexity", p.PasswordComplexity))
	if len(reg.Characteristics) > 0 {
		doc.Characteristics = append(doc.Characteristics, reg)
	}
	return doc
}

// Policy reads the settings of d. Unknown characteristics and parms are
// ignored; a value that is not a number is an error.
func (d *WAPProvisioningDoc) Policy() (WAPPolicy, error) {
	var p WAPPolicy
	set := func(dst **int, c WAPParm) error {
		n, err := strconv.Atoi(strings.TrimSpace(c.Value))
		if err != nil {
			return schemaErrorf("Provision", "wap-provisioningdoc parm %s: %q is not a number", c.Name, c.Value)
		}
		*dst = &n
		return nil
	}
	targets := map[string]map[string]**int{
		wapSecurityPolicy: {"4131": &p.PasswordPolicy, "4133": &p.Policy4133},
		wapInactivityKey:  {"AEFrequencyType": &p.AEFrequencyType, "AEFrequencyValue": &p.AEFrequencyValue},
		wapLASSDKey:       {"DeviceWipeThreshold": &p.DeviceWipeThreshold, "CodewordFrequency": &p.CodewordFrequency},
		wapPasswordKey:    {"MinimumPasswordLength": &p.MinimumPasswordLength, "PasswordComplexity": &p.PasswordComplexity},
	}
	var walk func(cs []WAPCharacteristic) error
	walk = func(cs []WAPCharacteristic) error {
		for _, c := range cs {
			for _, pm := range c.Parms {
				if dst, ok := targets[c.Type][pm.Name]; ok {
					if err := set(dst, pm); err != nil {
						return err
					}
				}
			}
			if err := walk(c.Characteristics); err != nil {
				return err
			}
		}
		return nil
	}
	return p, walk(d.Characteristics)
}

// Text returns d as the text that goes into Data's WAPXML.
func (d *WAPProvisioningDoc) Text() (string, error) {
	b, err := xml.Marshal(d)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// ParseWAPProvisioningDoc parses the text of a 2.5 Data element.
func ParseWAPProvisioningDoc(s string) (*WAPProvisioningDoc, error) {
	d := new(WAPProvisioningDoc)
	if err := xml.Unmarshal([]byte(s), d); err != nil {
		return nil, schemaErrorf("Provision", "wap-provisioningdoc: %v", err)
	}
	return d, nil
}
