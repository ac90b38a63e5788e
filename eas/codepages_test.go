package eas

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestCodePages(t *testing.T) {
	// The page names of MS-ASWBXML 2.1.2.1, by page number.
	wantNames := [numPages]string{
		"AirSync", "Contacts", "Email", "AirNotify", "Calendar", "Move",
		"GetItemEstimate", "FolderHierarchy", "MeetingResponse", "Tasks",
		"ResolveRecipients", "ValidateCert", "Contacts2", "Ping", "Provision",
		"Search", "GAL", "AirSyncBase", "Settings", "DocumentLibrary",
		"ItemOperations", "ComposeMail", "Email2", "Notes", "RightsManagement",
		"Find",
	}
	for p := range Page(numPages) {
		cp := codePages[p]
		t.Run(fmt.Sprintf("%02d-%s", p, wantNames[p]), func(t *testing.T) {
			if cp.name != wantNames[p] {
				t.Errorf("codePages[%d].name = %q, want %q", p, cp.name, wantNames[p])
			}
			// Page N is defined in section 2.1.2.1.(N+1).
			if want := fmt.Sprintf("MS-ASWBXML 2.1.2.1.%d", p+1); cp.spec != want {
				t.Errorf("codePages[%d].spec = %q, want %q", p, cp.spec, want)
			}
			if len(cp.tags) == 0 {
				t.Fatalf("codePages[%d] has no tags", p)
			}
			tokens := make(map[byte]string)
			names := make(map[string]byte)
			for _, d := range cp.tags {
				if d.name == "" {
					t.Errorf("token 0x%02X has no name", d.token)
				}
				if d.token < 0x05 || d.token > 0x3F {
					t.Errorf("%s: token 0x%02X outside 0x05–0x3F", d.name, d.token)
				}
				if other, dup := tokens[d.token]; dup {
					t.Errorf("%s: token 0x%02X already used by %s", d.name, d.token, other)
				}
				tokens[d.token] = d.name
				if other, dup := names[d.name]; dup {
					t.Errorf("%s: name already used by token 0x%02X", d.name, other)
				}
				names[d.name] = d.token
				if !d.since.Known() {
					t.Errorf("%s: since = %d, not a known version", d.name, d.since)
				}
				if d.until != 0 && (!d.until.Known() || d.until < d.since) {
					t.Errorf("%s: until = %d, want 0 or a known version >= since %s", d.name, d.until, d.since)
				}
			}
		})
	}
}

// libwbxmlKey names one token of one page.
type libwbxmlKey struct {
	page  Page
	token byte
}

// libwbxmlDiffs lists where Debian's libwbxml 0.11.8 (wbxml2xml -l
// ACTIVESYNC) disagrees with our MS-ASWBXML tables: the name it prints for
// the token, "unknown" where it has none. Every entry was checked against
// MS-ASWBXML (and, for element names, the MS-AS* element sections); ours is
// the spec's spelling. libwbxml mostly keeps the names of the EAS 2.5 era
// (the POOM* schemas) and stops before 16.0.
var libwbxmlDiffs = map[libwbxmlKey]string{
	// Contacts: the spec spells addresses "…AddressCity" etc. and the
	// phone "AssistantPhoneNumber" (MS-ASCNTC 2.2.2).
	{PageContacts, 0x07}: "AssistantTelephoneNumber",
	{PageContacts, 0x0D}: "BusinessCity",
	{PageContacts, 0x0E}: "BusinessCountry",
	{PageContacts, 0x0F}: "BusinessPostalCode",
	{PageContacts, 0x10}: "BusinessState",
	{PageContacts, 0x11}: "BusinessStreet",
	{PageContacts, 0x21}: "HomeCity",
	{PageContacts, 0x22}: "HomeCountry",
	{PageContacts, 0x23}: "HomePostalCode",
	{PageContacts, 0x24}: "HomeState",
	{PageContacts, 0x25}: "HomeStreet",
	{PageContacts, 0x2D}: "OtherCity",
	{PageContacts, 0x2E}: "OtherCountry",
	{PageContacts, 0x2F}: "OtherPostalCode",
	{PageContacts, 0x30}: "OtherState",
	{PageContacts, 0x31}: "OtherStreet",

	// Email: the spec's "Att0Id" has a zero; the flag status is
	// Email:Status (MS-ASEMAIL 2.2.2.74); "ReplyTo" has no hyphen;
	// libwbxml writes the 2.5 recurrence children with a "Recurrence_"
	// prefix and "DTStamp" in capitals.
	{PageEmail, 0x09}: "AttOId",
	{PageEmail, 0x19}: "Reply-To",
	{PageEmail, 0x1D}: "DTStamp",
	{PageEmail, 0x29}: "Recurrence_Type",
	{PageEmail, 0x2A}: "Recurrence_Until",
	{PageEmail, 0x2B}: "Recurrence_Occurrences",
	{PageEmail, 0x2C}: "Recurrence_Interval",
	{PageEmail, 0x2D}: "Recurrence_DayOfWeek",
	{PageEmail, 0x2E}: "Recurrence_DayOfMonth",
	{PageEmail, 0x2F}: "Recurrence_WeekOfMonth",
	{PageEmail, 0x30}: "Recurrence_MonthOfYear",
	{PageEmail, 0x3B}: "FlagStatus",

	// AirNotify: the spec spells it "Lifetime".
	{PageAirNotify, 0x08}: "LifeTime",

	// Calendar: MS-ASCAL names (Timezone, Email, Name, DtStamp, Deleted,
	// ExceptionStartTime, OrganizerEmail, Type…, AttendeeStatus), where
	// libwbxml prefixes many with their parent's name.
	{PageCalendar, 0x05}: "TimeZone",
	{PageCalendar, 0x09}: "Attendee_Email",
	{PageCalendar, 0x0A}: "Attendee_Name",
	{PageCalendar, 0x10}: "Compressed_RTF",
	{PageCalendar, 0x11}: "DTStamp",
	{PageCalendar, 0x15}: "Exception_Deleted",
	{PageCalendar, 0x16}: "Exception_StartTime",
	{PageCalendar, 0x19}: "Organizer_Email",
	{PageCalendar, 0x1A}: "Organizer_Name",
	{PageCalendar, 0x1C}: "Recurrence_Type",
	{PageCalendar, 0x1D}: "Recurrence_Until",
	{PageCalendar, 0x1E}: "Recurrence_Occurrences",
	{PageCalendar, 0x1F}: "Recurrence_Interval",
	{PageCalendar, 0x20}: "Recurrence_DayOfWeek",
	{PageCalendar, 0x21}: "Recurrence_DayOfMonth",
	{PageCalendar, 0x22}: "Recurrence_WeekOfMonth",
	{PageCalendar, 0x23}: "Recurrence_MonthOfYear",
	{PageCalendar, 0x29}: "Attendee_Status",
	{PageCalendar, 0x2A}: "Attendee_Type",

	// FolderHierarchy 0x18 "Version" is an EAS 2.0 token that MS-ASWBXML
	// does not assign.
	{PageFolderHierarchy, 0x18}: "Version",

	// MeetingResponse: 0x0D "Version" (EAS 2.0) is not in MS-ASWBXML;
	// ProposedStartTime/ProposedEndTime came with 16.1, after libwbxml.
	{PageMeetingResponse, 0x0D}: "Version",
	{PageMeetingResponse, 0x10}: "unknown",
	{PageMeetingResponse, 0x11}: "unknown",

	// Tasks: MS-ASTASK names (UtcDueDate, Type, Start…, UtcStartDate).
	{PageTasks, 0x0D}: "UTCDueDate",
	{PageTasks, 0x10}: "Recurrence_Type",
	{PageTasks, 0x11}: "Recurrence_Start",
	{PageTasks, 0x12}: "Recurrence_Until",
	{PageTasks, 0x13}: "Recurrence_Occurrences",
	{PageTasks, 0x14}: "Recurrence_Interval",
	{PageTasks, 0x15}: "Recurrence_DayOfMonth",
	{PageTasks, 0x16}: "Recurrence_DayOfWeek",
	{PageTasks, 0x17}: "Recurrence_WeekOfMonth",
	{PageTasks, 0x18}: "Recurrence_MonthOfYear",
	{PageTasks, 0x19}: "Recurrence_Regenerate",
	{PageTasks, 0x1A}: "Recurrence_DeadOccur",
	{PageTasks, 0x1F}: "UTCStartDate",

	// Provision: 0x10 is RequireStorageCardEncryption (MS-ASPROV); 16.1's
	// AccountOnlyRemoteWipe is newer than libwbxml.
	{PageProvision, 0x10}: "DeviceEncryptionEnabled",
	{PageProvision, 0x3B}: "unknown",

	// Search 0x06 and 0x16 are unassigned in both; libwbxml agrees.

	// Settings: the spec writes "SMTPAddress"; libwbxml garbles 0x2B
	// (RightsManagementInformation).
	{PageSettings, 0x1F}: "SmtpAddress",
	{PageSettings, 0x2B}: "ihsManagementInformation",

	// ComposeMail: "Mime" (MS-ASCMD 2.2.3.109); 0x0A Type is assigned but
	// unused; Forwardee's children are ComposeMail:Name and
	// ComposeMail:Email (MS-ASCMD 2.2.3.120.3, 2.2.3.53).
	{PageComposeMail, 0x0A}: "unknown",
	{PageComposeMail, 0x10}: "MIME",
	{PageComposeMail, 0x17}: "ForwardeeName",
	{PageComposeMail, 0x18}: "ForwardeeEmail",

	// RightsManagement: MS-ASRM names Owner and
	// RemoveRightsManagementProtection.
	{PageRightsManagement, 0x12}: "RMOwner",
	{PageRightsManagement, 0x18}: "RemoveRightsManagementDistribution",
}

// libwbxmlPageNames lists the code pages libwbxml names differently in
// its namespace; "" means it does not know the page at all and prints
// every token as "unknown" (Find came with 16.1, after libwbxml).
var libwbxmlPageNames = map[Page]string{
	PageGAL:  "Gal",
	PageFind: "",
}

// TestCodePagesLibwbxml decodes, for every page, a document that holds every
// token 0x05–0x3F as an empty tag with Debian's wbxml2xml, an independent
// decoder, and compares the names it prints with our tables.
func TestCodePagesLibwbxml(t *testing.T) {
	bin, err := exec.LookPath("wbxml2xml")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("wbxml2xml (Debian package libwbxml2-utils) is required in CI: %v", err)
		}
		t.Skip("wbxml2xml not installed (Debian package libwbxml2-utils)")
	}
	dir := t.TempDir()
	for p := range Page(numPages) {
		cp := codePages[p]
		t.Run(fmt.Sprintf("%02d-%s", p, cp.name), func(t *testing.T) {
			ours := make(map[byte]string)
			root := byte(0x3F)
			for _, d := range cp.tags {
				ours[d.token] = d.name
				root = min(root, d.token)
			}
			wantNS, renamed := libwbxmlPageNames[p]
			if !renamed {
				wantNS = cp.name
			}
			want := func(tok byte) string {
				if wantNS == "" {
					return "unknown"
				}
				if n, ok := libwbxmlDiffs[libwbxmlKey{p, tok}]; ok {
					return n
				}
				if n, ok := ours[tok]; ok {
					return n
				}
				return "unknown"
			}

			// Header, SWITCH_PAGE, the root with the content bit, every
			// token without it, END.
			doc := []byte{0x03, 0x01, 0x6A, 0x00, 0x00, byte(p), root | 0x40}
			for tok := byte(0x05); tok <= 0x3F; tok++ {
				doc = append(doc, tok)
			}
			doc = append(doc, 0x01)

			in := filepath.Join(dir, fmt.Sprintf("page%02d.wbxml", p))
			out := filepath.Join(dir, fmt.Sprintf("page%02d.xml", p))
			if err := os.WriteFile(in, doc, 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "-l", "ACTIVESYNC", "-m", "0", "-o", out, in)
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("wbxml2xml: %v\n%s", err, msg)
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			got, err := elements(data)
			if err != nil {
				t.Fatalf("parse wbxml2xml output: %v\n%s", err, data)
			}
			if len(got) != 1+0x3F-0x05+1 {
				t.Fatalf("wbxml2xml printed %d elements, want %d\n%s", len(got), 1+0x3F-0x05+1, data)
			}

			if wantNS != "" && got[0].Space != wantNS+":" {
				t.Errorf("wbxml2xml namespace = %q, want %q", got[0].Space, wantNS+":")
			}
			if w := want(root); got[0].Local != w {
				t.Errorf("wbxml2xml root 0x%02X = %q, want %q", root, got[0].Local, w)
			}
			for i, name := range got[1:] {
				tok := byte(0x05 + i)
				if w := want(tok); name.Local != w {
					t.Errorf("wbxml2xml %s 0x%02X = %q, want %q (ours %q)", cp.name, tok, name.Local, w, ours[tok])
				}
			}
		})
	}
}

// TestLibwbxmlDiffsDiffer keeps libwbxmlDiffs honest: an entry that matches
// our own name is not a difference.
func TestLibwbxmlDiffsDiffer(t *testing.T) {
	for k, lib := range libwbxmlDiffs {
		for _, d := range codePages[k.page].tags {
			if d.token == k.token && d.name == lib {
				t.Errorf("libwbxmlDiffs[%s 0x%02X] = %q, same as our table", k.page, k.token, lib)
			}
		}
	}
}

// elements returns the names of all elements in an XML document, in
// document order.
func elements(data []byte) ([]xml.Name, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	var names []xml.Name
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return names, nil
		}
		if err != nil {
			return nil, err
		}
		if se, ok := tok.(xml.StartElement); ok {
			names = append(names, se.Name)
		}
	}
}
