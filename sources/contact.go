package sources

import "time"

// Contact is an address-book entry.
type Contact struct {
	UID string // vCard UID, when the store has one

	FileAs     string
	Title      string // honorific prefix: "Dr."
	FirstName  string
	MiddleName string
	LastName   string
	Suffix     string
	Nickname   string
	Alias      string

	// Phonetic spellings, for names written in Japanese.
	YomiFirstName, YomiLastName, YomiCompanyName string

	// Emails are in order of preference; devices show the first three.
	Emails      []string
	IMAddresses []string
	Phones      Phones

	Home, Business, Other PostalAddress

	Company        string
	JobTitle       string
	Department     string
	OfficeLocation string
	ManagerName    string
	AssistantName  string
	Spouse         string
	Children       []string
	WebPage        string

	// Birthday and Anniversary are dates; only the year, month and day
	// count, read in UTC.
	Birthday, Anniversary time.Time

	CustomerID   string
	GovernmentID string
	AccountName  string

	Notes      string
	Categories []string
	Photo      []byte // JPEG or PNG as stored

	// Certificates are the contact's X.509 certificates, DER, for S/MIME
	// (vCard KEY). Stores keep them read-only: a device edit leaves them.
	Certificates [][]byte
}

// Phones holds a contact's telephone numbers, one field per kind that
// address books and devices tell apart.
type Phones struct {
	Home, Home2         string
	Business, Business2 string
	Mobile              string
	Car                 string
	Radio               string
	Pager               string
	HomeFax             string
	BusinessFax         string
	Assistant           string
	CompanyMain         string
	MMS                 string
}

// PostalAddress is a street address.
type PostalAddress struct {
	Street     string
	City       string
	State      string
	PostalCode string
	Country    string
}
