package eas

// Page is a WBXML code page number as assigned by MS-ASWBXML 2.1.2.1.
type Page uint8

// The code pages of MS-ASWBXML 2.1.2.1. The names are the spec's.
const (
	PageAirSync           Page = 0  // MS-ASWBXML 2.1.2.1.1
	PageContacts          Page = 1  // MS-ASWBXML 2.1.2.1.2
	PageEmail             Page = 2  // MS-ASWBXML 2.1.2.1.3
	PageAirNotify         Page = 3  // MS-ASWBXML 2.1.2.1.4 (2.5 only, never used)
	PageCalendar          Page = 4  // MS-ASWBXML 2.1.2.1.5
	PageMove              Page = 5  // MS-ASWBXML 2.1.2.1.6
	PageGetItemEstimate   Page = 6  // MS-ASWBXML 2.1.2.1.7
	PageFolderHierarchy   Page = 7  // MS-ASWBXML 2.1.2.1.8
	PageMeetingResponse   Page = 8  // MS-ASWBXML 2.1.2.1.9
	PageTasks             Page = 9  // MS-ASWBXML 2.1.2.1.10
	PageResolveRecipients Page = 10 // MS-ASWBXML 2.1.2.1.11
	PageValidateCert      Page = 11 // MS-ASWBXML 2.1.2.1.12
	PageContacts2         Page = 12 // MS-ASWBXML 2.1.2.1.13
	PagePing              Page = 13 // MS-ASWBXML 2.1.2.1.14
	PageProvision         Page = 14 // MS-ASWBXML 2.1.2.1.15
	PageSearch            Page = 15 // MS-ASWBXML 2.1.2.1.16
	PageGAL               Page = 16 // MS-ASWBXML 2.1.2.1.17
	PageAirSyncBase       Page = 17 // MS-ASWBXML 2.1.2.1.18
	PageSettings          Page = 18 // MS-ASWBXML 2.1.2.1.19
	PageDocumentLibrary   Page = 19 // MS-ASWBXML 2.1.2.1.20
	PageItemOperations    Page = 20 // MS-ASWBXML 2.1.2.1.21
	PageComposeMail       Page = 21 // MS-ASWBXML 2.1.2.1.22
	PageEmail2            Page = 22 // MS-ASWBXML 2.1.2.1.23
	PageNotes             Page = 23 // MS-ASWBXML 2.1.2.1.24
	PageRightsManagement  Page = 24 // MS-ASWBXML 2.1.2.1.25
	PageFind              Page = 25 // MS-ASWBXML 2.1.2.1.26

	numPages = 26
)

// tagDef is one row of a code page table: a tag name, its token (0x05–0x3F)
// and the protocol versions it exists in, [since, until]; until 0 means it
// is still defined in the newest version.
type tagDef struct {
	name         string
	token        byte
	since, until ProtocolVersion
}

// codePage is one code page table.
type codePage struct {
	name string
	spec string // MS-ASWBXML section
	tags []tagDef
}

// codePages holds every table, indexed by Page. Filled in below.
var codePages = [numPages]codePage{
	// TABLES GO HERE
}
