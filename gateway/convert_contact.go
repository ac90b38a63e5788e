package gateway

import (
	"encoding/base64"
	"fmt"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

// maxPicture is the largest photo sent to a device: MS-ASCNTC 2.2.2.60
// allows 48 KB. A larger one stays in the store and is not sent.
const maxPicture = 48 * 1024

// contactField pairs a string field of the model with its element.
type contactField struct {
	tag  string
	m, e *string
}

// contactFields lists the fields that map one to one.
func contactFields(m *sources.Contact, c *eas.Contact) []contactField {
	return []contactField{
		{"Contacts:FileAs", &m.FileAs, &c.FileAs},
		{"Contacts:Title", &m.Title, &c.Title},
		{"Contacts:FirstName", &m.FirstName, &c.FirstName},
		{"Contacts:MiddleName", &m.MiddleName, &c.MiddleName},
		{"Contacts:LastName", &m.LastName, &c.LastName},
		{"Contacts:Suffix", &m.Suffix, &c.Suffix},
		{"Contacts2:NickName", &m.Nickname, &c.NickName},
		{"Contacts:YomiFirstName", &m.YomiFirstName, &c.YomiFirstName},
		{"Contacts:YomiLastName", &m.YomiLastName, &c.YomiLastName},
		{"Contacts:YomiCompanyName", &m.YomiCompanyName, &c.YomiCompanyName},
		{"Contacts:HomePhoneNumber", &m.Phones.Home, &c.HomePhoneNumber},
		{"Contacts:Home2PhoneNumber", &m.Phones.Home2, &c.Home2PhoneNumber},
		{"Contacts:BusinessPhoneNumber", &m.Phones.Business, &c.BusinessPhoneNumber},
		{"Contacts:Business2PhoneNumber", &m.Phones.Business2, &c.Business2PhoneNumber},
		{"Contacts:MobilePhoneNumber", &m.Phones.Mobile, &c.MobilePhoneNumber},
		{"Contacts:CarPhoneNumber", &m.Phones.Car, &c.CarPhoneNumber},
		{"Contacts:RadioPhoneNumber", &m.Phones.Radio, &c.RadioPhoneNumber},
		{"Contacts:PagerNumber", &m.Phones.Pager, &c.PagerNumber},
		{"Contacts:HomeFaxNumber", &m.Phones.HomeFax, &c.HomeFaxNumber},
		{"Contacts:BusinessFaxNumber", &m.Phones.BusinessFax, &c.BusinessFaxNumber},
		{"Contacts:AssistantPhoneNumber", &m.Phones.Assistant, &c.AssistantPhoneNumber},
		{"Contacts2:CompanyMainPhone", &m.Phones.CompanyMain, &c.CompanyMainPhone},
		{"Contacts2:MMS", &m.Phones.MMS, &c.MMS},
		{"Contacts:HomeAddressStreet", &m.Home.Street, &c.HomeAddressStreet},
		{"Contacts:HomeAddressCity", &m.Home.City, &c.HomeAddressCity},
		{"Contacts:HomeAddressState", &m.Home.State, &c.HomeAddressState},
		{"Contacts:HomeAddressPostalCode", &m.Home.PostalCode, &c.HomeAddressPostalCode},
		{"Contacts:HomeAddressCountry", &m.Home.Country, &c.HomeAddressCountry},
		{"Contacts:BusinessAddressStreet", &m.Business.Street, &c.BusinessAddressStreet},
		{"Contacts:BusinessAddressCity", &m.Business.City, &c.BusinessAddressCity},
		{"Contacts:BusinessAddressState", &m.Business.State, &c.BusinessAddressState},
		{"Contacts:BusinessAddressPostalCode", &m.Business.PostalCode, &c.BusinessAddressPostalCode},
		{"Contacts:BusinessAddressCountry", &m.Business.Country, &c.BusinessAddressCountry},
		{"Contacts:OtherAddressStreet", &m.Other.Street, &c.OtherAddressStreet},
		{"Contacts:OtherAddressCity", &m.Other.City, &c.OtherAddressCity},
		{"Contacts:OtherAddressState", &m.Other.State, &c.OtherAddressState},
		{"Contacts:OtherAddressPostalCode", &m.Other.PostalCode, &c.OtherAddressPostalCode},
		{"Contacts:OtherAddressCountry", &m.Other.Country, &c.OtherAddressCountry},
		{"Contacts:CompanyName", &m.Company, &c.CompanyName},
		{"Contacts:JobTitle", &m.JobTitle, &c.JobTitle},
		{"Contacts:Department", &m.Department, &c.Department},
		{"Contacts:OfficeLocation", &m.OfficeLocation, &c.OfficeLocation},
		{"Contacts2:ManagerName", &m.ManagerName, &c.ManagerName},
		{"Contacts:AssistantName", &m.AssistantName, &c.AssistantName},
		{"Contacts:Spouse", &m.Spouse, &c.Spouse},
		{"Contacts:WebPage", &m.WebPage, &c.WebPage},
		{"Contacts2:CustomerId", &m.CustomerID, &c.CustomerID},
		{"Contacts2:GovernmentId", &m.GovernmentID, &c.GovernmentID},
		{"Contacts2:AccountName", &m.AccountName, &c.AccountName},
	}
}

// contactToEAS converts a contact. MS-ASCNTC 2.2.2.
func contactToEAS(m *sources.Contact, v eas.ProtocolVersion, p bodyPrefs) *eas.Contact {
	c := &eas.Contact{}
	for _, f := range contactFields(m, c) {
		*f.e = *f.m
	}
	if v >= eas.V140 {
		c.Alias = m.Alias
	}
	for i, e := range []*string{&c.Email1Address, &c.Email2Address, &c.Email3Address} {
		if i < len(m.Emails) {
			*e = m.Emails[i]
		}
	}
	for i, e := range []*string{&c.IMAddress, &c.IMAddress2, &c.IMAddress3} {
		if i < len(m.IMAddresses) {
			*e = m.IMAddresses[i]
		}
	}
	c.Birthday = contactDate(m.Birthday, p.location())
	c.Anniversary = contactDate(m.Anniversary, p.location())
	if len(m.Children) > 0 {
		c.Children = &eas.Children{Child: m.Children}
	}
	if len(m.Categories) > 0 {
		c.Categories = &eas.ContactCategories{Category: m.Categories}
	}
	if len(m.Photo) > 0 && len(m.Photo) <= maxPicture {
		c.Picture = ptr(base64.StdEncoding.EncodeToString(m.Photo))
	}
	if v == eas.V25 {
		c.Body25, c.BodySize25, c.BodyTruncated25 = p.body25(plainBody(m.Notes))
	} else {
		c.Body = p.textBody(m.Notes)
		c.NativeBodyType = ptr(eas.BodyPlainText)
	}
	return c
}

// contactDate sends a date-only value as midnight of that day in the
// user's zone, in UTC, which is how devices write birthdays themselves
// and read them back (z-push-ox issue 6; tine20 issues 3368 and 5667
// show the day lost when a server ignores it).
func contactDate(d time.Time, loc *time.Location) *eas.DateTime {
	if d.IsZero() {
		return nil
	}
	d = d.UTC()
	return dateTime(time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc), eas.DateTimeExtended)
}

// modelContactDate reads a birthday sent as some zone's midnight in UTC:
// the nearest UTC midnight is the date, for every zone within twelve
// hours of Greenwich. MS-ASCNTC 2.2.2.6 says to ignore the time.
func modelContactDate(d *eas.DateTime) time.Time {
	if d == nil {
		return time.Time{}
	}
	t := d.Time.UTC().Add(12*time.Hour - time.Second)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// contactFromEAS applies a client's contact to old (nil for an Add).
func contactFromEAS(c *eas.Contact, sent elements, old *sources.Contact) (*sources.Contact, error) {
	m := &sources.Contact{}
	if old != nil {
		*m = *old
		m.Emails = append([]string(nil), old.Emails...)
		m.IMAddresses = append([]string(nil), old.IMAddresses...)
	}
	for _, f := range contactFields(m, c) {
		if sent.has(f.tag) {
			*f.m = *f.e
		}
	}
	if sent.has("Contacts:Alias") {
		m.Alias = c.Alias
	}
	m.Emails = setSlots(m.Emails, sent, []string{"Contacts:Email1Address", "Contacts:Email2Address", "Contacts:Email3Address"},
		[]string{c.Email1Address, c.Email2Address, c.Email3Address})
	m.IMAddresses = setSlots(m.IMAddresses, sent, []string{"Contacts2:IMAddress", "Contacts2:IMAddress2", "Contacts2:IMAddress3"},
		[]string{c.IMAddress, c.IMAddress2, c.IMAddress3})
	if sent.has("Contacts:Birthday") {
		m.Birthday = modelContactDate(c.Birthday)
	}
	if sent.has("Contacts:Anniversary") {
		m.Anniversary = modelContactDate(c.Anniversary)
	}
	if sent.has("Contacts:Children") {
		m.Children = nil
		if c.Children != nil {
			m.Children = categories(c.Children.Child)
		}
	}
	if sent.has("Contacts:Categories") {
		m.Categories = nil
		if c.Categories != nil {
			m.Categories = categories(c.Categories.Category)
		}
	}
	if sent.has("Contacts:Picture") {
		m.Photo = nil
		if c.Picture != nil && *c.Picture != "" {
			b, err := base64.StdEncoding.DecodeString(*c.Picture)
			if err != nil {
				return nil, fmt.Errorf("gateway: contact picture: %w", err)
			}
			m.Photo = b
		}
	}
	switch {
	case sent.has("AirSyncBase:Body"):
		m.Notes = bodyText(c.Body)
	case sent.has("Contacts:Body"):
		m.Notes = ""
		if c.Body25 != nil {
			m.Notes = *c.Body25
		}
	}
	return m, nil
}

// setSlots applies the numbered slots a device knows (Email1 to Email3)
// to a list that may be longer: slots not sent keep their values, slots
// sent empty are removed, entries past the slots are kept.
func setSlots(list []string, sent elements, tags, vals []string) []string {
	slots := make([]string, len(tags))
	copy(slots, list)
	for i, t := range tags {
		if sent.has(t) {
			slots[i] = vals[i]
		}
	}
	var out []string
	for _, s := range slots {
		if s != "" {
			out = append(out, s)
		}
	}
	if len(list) > len(tags) {
		out = append(out, list[len(tags):]...)
	}
	return out
}
