package gateway

import (
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

func testContact() *sources.Contact {
	return &sources.Contact{
		FileAs: "Example, Ann", Title: "Dr.", FirstName: "Ann", MiddleName: "B.", LastName: "Example", Suffix: "Jr.",
		Nickname: "Annie", Alias: "ann", YomiFirstName: "アン", YomiLastName: "エグザンプル", YomiCompanyName: "エー",
		Emails:      []string{"ann@example.org", "ann@home.example", "a@x.example", "fourth@example.org"},
		IMAddresses: []string{"xmpp:ann@example.org"},
		Phones: sources.Phones{Home: "1", Home2: "2", Business: "3", Business2: "4", Mobile: "5", Car: "6", Radio: "7",
			Pager: "8", HomeFax: "9", BusinessFax: "10", Assistant: "11", CompanyMain: "12", MMS: "13"},
		Home:     sources.PostalAddress{Street: "1 Main St", City: "Berlin", State: "BE", PostalCode: "10115", Country: "DE"},
		Business: sources.PostalAddress{Street: "2 Work Rd", City: "Paris", Country: "FR"},
		Other:    sources.PostalAddress{City: "Rome"},
		Company:  "Example Ltd", JobTitle: "CTO", Department: "R&D", OfficeLocation: "B2", ManagerName: "Max",
		AssistantName: "Sam", Spouse: "Pat", Children: []string{"Kim", "Lee"}, WebPage: "https://example.org",
		Birthday:    time.Date(1980, 6, 2, 0, 0, 0, 0, time.UTC),
		Anniversary: time.Date(2005, 9, 10, 0, 0, 0, 0, time.UTC),
		CustomerID:  "C1", GovernmentID: "G1", AccountName: "acc",
		Notes: "met at the fair", Categories: []string{"Friends"}, Photo: []byte{0xff, 0xd8, 0xff, 0xe0, 1, 2, 3},
	}
}

func TestContactRoundTrip(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	for _, v := range testVersions {
		t.Run(v.String(), func(t *testing.T) {
			c := testContact()
			p := newBodyPrefs(v, classContacts, nil)
			p.zone = berlin
			out := payload[eas.Contact](t, &sources.Item{ID: "c1", Contact: c}, v, p)
			// A birthday is the user's midnight, in UTC.
			if want := time.Date(1980, 6, 1, 22, 0, 0, 0, time.UTC); !out.Birthday.Time.Equal(want) {
				t.Errorf("Birthday = %v, want %v", out.Birthday, want)
			}
			got, err := fromEAS(classContacts, wire(t, eas.RawValue(out)), v, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := testContact()
			want.Emails = want.Emails[:3] // a new contact has what the device sent
			if v < eas.V140 {
				want.Alias = ""
			}
			sameItem(t, got.Contact, want)
		})
	}
}

func TestContactDates(t *testing.T) {
	want := time.Date(1980, 6, 2, 0, 0, 0, 0, time.UTC)
	for _, sent := range []time.Time{
		time.Date(1980, 6, 1, 22, 0, 0, 0, time.UTC), // a Berlin device
		time.Date(1980, 6, 2, 4, 0, 0, 0, time.UTC),  // a New York device
		time.Date(1980, 6, 2, 0, 0, 0, 0, time.UTC),  // a device writing UTC dates
		time.Date(1980, 6, 1, 14, 0, 0, 0, time.UTC), // Tokyo, daylight-free +9
	} {
		if got := modelContactDate(dateTime(sent, eas.DateTimeExtended)); !got.Equal(want) {
			t.Errorf("modelContactDate(%v) = %v, want %v", sent, got, want)
		}
	}
}

func TestContactChangeKeepsUnsent(t *testing.T) {
	old := &sources.Item{ID: "c1", Contact: testContact()}
	c := &eas.Contact{MobilePhoneNumber: "99", Email2Address: "new@example.org"}
	raw := wire(t, eas.RawValue(c))
	got, err := fromEAS(classContacts, raw, eas.V141, old)
	if err != nil {
		t.Fatal(err)
	}
	want := testContact()
	want.Phones.Mobile = "99"
	want.Emails[1] = "new@example.org"
	sameItem(t, got.Contact, want)

	// An empty Picture removes the photo (Windows Mobile 6.1 sends one).
	got, err = fromEAS(classContacts, wire(t, eas.RawValue(&eas.Contact{Picture: ptr("")})), eas.V141, old)
	if err != nil {
		t.Fatal(err)
	}
	if got.Contact.Photo != nil || got.Contact.FirstName != "Ann" {
		t.Errorf("Photo %v, FirstName %q", got.Contact.Photo, got.Contact.FirstName)
	}
}

func TestContactPictureLimit(t *testing.T) {
	c := testContact()
	c.Photo = make([]byte, maxPicture+1)
	out := payload[eas.Contact](t, &sources.Item{Contact: c}, eas.V141, newBodyPrefs(eas.V141, classContacts, nil))
	if out.Picture != nil {
		t.Errorf("a %d-byte photo was sent", len(c.Photo))
	}
}
