package dav

import (
	"crypto/x509"
	"encoding/base64"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-vcard"

	"github.com/easgate/easgate/sources"
)

// The vCard mapping (RFC 2426 for 3.0, RFC 6350 for 4.0). Fields the model
// has without a standard property use the X- names that Apple, Evolution
// and Outlook exports share.
const (
	xSpouse       = "X-SPOUSE"
	xManager      = "X-MANAGER"
	xAssistant    = "X-ASSISTANT"
	xChild        = "X-CHILD"
	xOffice       = "X-OFFICE-LOCATION"
	xCustomerID   = "X-CUSTOMER-ID"
	xGovernmentID = "X-GOVERNMENT-ID"
	xAccount      = "X-ACCOUNT"
	xAlias        = "X-ALIAS"
	xFileAs       = "X-EVOLUTION-FILE-AS"
	xYomiFirst    = "X-PHONETIC-FIRST-NAME"
	xYomiLast     = "X-PHONETIC-LAST-NAME"
	xYomiOrg      = "X-PHONETIC-ORG"
	xAnniversary  = "X-ANNIVERSARY"
)

// fieldTypes returns f's TYPE values, lower case, with comma lists split.
func fieldTypes(f *vcard.Field) []string {
	var ts []string
	for _, t := range f.Params[vcard.ParamType] {
		for _, x := range strings.Split(t, ",") {
			ts = append(ts, strings.ToLower(strings.TrimSpace(x)))
		}
	}
	return ts
}

// phoneSlot says which Phones field a TEL belongs to; "" when the model
// has no place for it.
func phoneSlot(f *vcard.Field) string {
	ts := fieldTypes(f)
	has := func(t string) bool { return slices.Contains(ts, t) }
	switch {
	case has("fax") && has("work"):
		return "businessfax"
	case has("fax"):
		return "homefax"
	case has("cell"):
		return "mobile"
	case has("car"):
		return "car"
	case has("pager"):
		return "pager"
	case has("x-radio"), has("radio"):
		return "radio"
	case has("x-assistant"), has("assistant"):
		return "assistant"
	case has("x-company-main"), has("main"):
		return "companymain"
	case has("x-mms"), has("mms"):
		return "mms"
	case has("work"):
		return "business"
	case has("home"):
		return "home"
	case len(ts) == 0, has("voice"):
		return "home"
	}
	return ""
}

// phoneFields lists the Phones fields in vCard order, with the TYPE each
// one is written with.
func phoneFields(p *sources.Phones) []struct {
	slot  string
	types []string
	v     *string
} {
	return []struct {
		slot  string
		types []string
		v     *string
	}{
		{"home", []string{"home", "voice"}, &p.Home},
		{"home", []string{"home", "voice"}, &p.Home2},
		{"business", []string{"work", "voice"}, &p.Business},
		{"business", []string{"work", "voice"}, &p.Business2},
		{"mobile", []string{"cell"}, &p.Mobile},
		{"car", []string{"car"}, &p.Car},
		{"radio", []string{"x-radio"}, &p.Radio},
		{"pager", []string{"pager"}, &p.Pager},
		{"homefax", []string{"home", "fax"}, &p.HomeFax},
		{"businessfax", []string{"work", "fax"}, &p.BusinessFax},
		{"assistant", []string{"x-assistant"}, &p.Assistant},
		{"companymain", []string{"x-company-main"}, &p.CompanyMain},
		{"mms", []string{"x-mms"}, &p.MMS},
	}
}

func addrSlot(f *vcard.Field) string {
	ts := fieldTypes(f)
	switch {
	case slices.Contains(ts, "work"):
		return "work"
	case slices.Contains(ts, "home"):
		return "home"
	}
	return "other"
}

// contactFromVCard reads a vCard 3.0 or 4.0 into the model.
func contactFromVCard(card vcard.Card) *sources.Contact {
	c := &sources.Contact{
		UID:             card.Value(vcard.FieldUID),
		Nickname:        card.Value(vcard.FieldNickname),
		JobTitle:        card.Value(vcard.FieldTitle),
		WebPage:         card.Value(vcard.FieldURL),
		Notes:           card.Value(vcard.FieldNote),
		Spouse:          card.Value(xSpouse),
		ManagerName:     card.Value(xManager),
		AssistantName:   card.Value(xAssistant),
		Children:        card.Values(xChild),
		OfficeLocation:  card.Value(xOffice),
		CustomerID:      card.Value(xCustomerID),
		GovernmentID:    card.Value(xGovernmentID),
		AccountName:     card.Value(xAccount),
		Alias:           card.Value(xAlias),
		YomiFirstName:   card.Value(xYomiFirst),
		YomiLastName:    card.Value(xYomiLast),
		YomiCompanyName: card.Value(xYomiOrg),
		Categories:      card.Categories(),
	}
	c.FileAs = card.Value(xFileAs)
	if c.FileAs == "" {
		c.FileAs = card.Value(vcard.FieldFormattedName)
	}
	if n := card.Name(); n != nil {
		c.LastName, c.FirstName, c.MiddleName = n.FamilyName, n.GivenName, n.AdditionalName
		c.Title, c.Suffix = n.HonorificPrefix, n.HonorificSuffix
	}
	if org := card.Value(vcard.FieldOrganization); org != "" {
		parts := strings.SplitN(org, ";", 2)
		c.Company = parts[0]
		if len(parts) > 1 {
			c.Department = parts[1]
		}
	}
	c.Birthday = vcardDate(card.Value(vcard.FieldBirthday))
	c.Anniversary = vcardDate(card.Value(vcard.FieldAnniversary))
	if c.Anniversary.IsZero() {
		c.Anniversary = vcardDate(card.Value(xAnniversary))
	}

	emails := slices.Clone(card[vcard.FieldEmail])
	slices.SortStableFunc(emails, func(a, b *vcard.Field) int { return pref(a) - pref(b) })
	for _, f := range emails {
		c.Emails = append(c.Emails, f.Value)
	}
	for _, f := range card[vcard.FieldIMPP] {
		c.IMAddresses = append(c.IMAddresses, f.Value)
	}
	slots := phoneFields(&c.Phones)
	for _, f := range card[vcard.FieldTelephone] {
		slot := phoneSlot(f)
		v := strings.TrimPrefix(f.Value, "tel:")
		for _, p := range slots {
			if p.slot == slot && *p.v == "" {
				*p.v = v
				break
			}
		}
	}
	for _, f := range card[vcard.FieldAddress] {
		a := (&vcard.Card{vcard.FieldAddress: {f}}).Address()
		if a == nil {
			continue
		}
		pa := sources.PostalAddress{Street: a.StreetAddress, City: a.Locality, State: a.Region, PostalCode: a.PostalCode, Country: a.Country}
		switch addrSlot(f) {
		case "work":
			if c.Business == (sources.PostalAddress{}) {
				c.Business = pa
			}
		case "home":
			if c.Home == (sources.PostalAddress{}) {
				c.Home = pa
			}
		default:
			if c.Other == (sources.PostalAddress{}) {
				c.Other = pa
			}
		}
	}
	if f := card.Preferred(vcard.FieldPhoto); f != nil {
		c.Photo = photoBytes(f)
	}
	// KEY holds certificates as base64 (3.0) or a data: URI (4.0), both of
	// which photoBytes reads; a URI or a PGP key is not a certificate.
	for _, f := range card[vcard.FieldKey] {
		if b := photoBytes(f); b != nil && x509Like(b) {
			c.Certificates = append(c.Certificates, b)
		}
	}
	return c
}

// x509Like reports DER that parses as a certificate.
func x509Like(b []byte) bool {
	_, err := x509.ParseCertificate(b)
	return err == nil
}

// pref orders fields by PREF (4.0) or TYPE=pref (3.0); lower first.
func pref(f *vcard.Field) int {
	if p := f.Params.Get(vcard.ParamPreferred); p != "" {
		n := 0
		for _, r := range p {
			if r >= '0' && r <= '9' {
				n = n*10 + int(r-'0')
			}
		}
		return n
	}
	if slices.Contains(fieldTypes(f), "pref") {
		return 1
	}
	return 101
}

// photoBytes decodes an inline photo: 3.0 ENCODING=b or a 4.0 data: URI.
// A photo by reference (http:) gives nil; it stays in the card on Put.
func photoBytes(f *vcard.Field) []byte {
	v := strings.TrimSpace(f.Value)
	if rest, ok := strings.CutPrefix(v, "data:"); ok {
		i := strings.Index(rest, ",")
		if i < 0 || !strings.Contains(rest[:i], "base64") {
			return nil
		}
		v = rest[i+1:]
	} else if e := strings.ToLower(f.Params.Get("ENCODING")); e != "b" && e != "base64" {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(v), ""))
	if err != nil {
		return nil
	}
	return b
}

// vcardDate reads BDAY and ANNIVERSARY: 19700101, 1970-01-01, a date-time,
// or --0101 without a year (read as year 1604, as Apple does).
func vcardDate(v string) time.Time {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "--") {
		v = "1604" + strings.ReplaceAll(v[2:], "-", "")
	}
	if len(v) >= 10 && v[4] == '-' {
		v = v[:4] + v[5:7] + v[8:10]
	}
	if len(v) < 8 {
		return time.Time{}
	}
	t, err := time.Parse("20060102", v[:8])
	if err != nil {
		return time.Time{}
	}
	return t
}

// patchVCard writes the model's fields into card, leaving every property
// the model has no place for as it is: TEL and ADR entries of types it
// does not know, X- properties of other clients, group labels, and the
// parameters of values that survive the edit.
func patchVCard(card vcard.Card, c *sources.Contact) {
	v4 := card.Value(vcard.FieldVersion) == "4.0"
	if card.Value(vcard.FieldVersion) == "" {
		card.SetValue(vcard.FieldVersion, "3.0")
	}
	set := func(k, v string) {
		if v == "" {
			delete(card, k)
			return
		}
		if f := card.Get(k); f != nil {
			f.Value = v
			card[k] = []*vcard.Field{f}
			return
		}
		card.SetValue(k, v)
	}
	if c.UID != "" || card.Value(vcard.FieldUID) == "" {
		uid := c.UID
		if uid == "" {
			uid = newUID()
		}
		set(vcard.FieldUID, uid)
	}
	n := &vcard.Name{FamilyName: c.LastName, GivenName: c.FirstName, AdditionalName: c.MiddleName, HonorificPrefix: c.Title, HonorificSuffix: c.Suffix}
	if old := card.Get(vcard.FieldName); old != nil {
		card[vcard.FieldName] = []*vcard.Field{{Value: n.FamilyName + ";" + n.GivenName + ";" + n.AdditionalName + ";" + n.HonorificPrefix + ";" + n.HonorificSuffix, Params: old.Params, Group: old.Group}}
	} else {
		card.SetName(n)
	}
	fn := strings.Join(slices.DeleteFunc([]string{c.Title, c.FirstName, c.MiddleName, c.LastName, c.Suffix}, func(s string) bool { return s == "" }), " ")
	if fn == "" {
		fn = c.Company
	}
	if fn == "" && len(c.Emails) > 0 {
		fn = c.Emails[0]
	}
	set(vcard.FieldFormattedName, fn) // FN is required
	if card.Value(vcard.FieldFormattedName) == "" {
		card.SetValue(vcard.FieldFormattedName, " ")
	}
	if c.FileAs != fn {
		set(xFileAs, c.FileAs)
	} else {
		delete(card, xFileAs)
	}
	set(vcard.FieldNickname, c.Nickname)
	set(vcard.FieldTitle, c.JobTitle)
	set(vcard.FieldURL, c.WebPage)
	set(vcard.FieldNote, c.Notes)
	set(xSpouse, c.Spouse)
	set(xManager, c.ManagerName)
	set(xAssistant, c.AssistantName)
	set(xOffice, c.OfficeLocation)
	set(xCustomerID, c.CustomerID)
	set(xGovernmentID, c.GovernmentID)
	set(xAccount, c.AccountName)
	set(xAlias, c.Alias)
	set(xYomiFirst, c.YomiFirstName)
	set(xYomiLast, c.YomiLastName)
	set(xYomiOrg, c.YomiCompanyName)
	delete(card, xChild)
	for _, ch := range c.Children {
		card.AddValue(xChild, ch)
	}
	org := c.Company
	if c.Department != "" {
		org += ";" + c.Department
	}
	set(vcard.FieldOrganization, org)
	if len(c.Categories) > 0 {
		card.SetCategories(c.Categories)
	} else {
		delete(card, vcard.FieldCategories)
	}
	date := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		if v4 {
			return t.UTC().Format("20060102")
		}
		return t.UTC().Format("2006-01-02")
	}
	set(vcard.FieldBirthday, date(c.Birthday))
	if v4 {
		set(vcard.FieldAnniversary, date(c.Anniversary))
	} else {
		set(xAnniversary, date(c.Anniversary))
	}

	// Multi-valued fields: keep the parameters of values that stay.
	params := func(fs []*vcard.Field) map[string]*vcard.Field {
		m := map[string]*vcard.Field{}
		for _, f := range fs {
			m[f.Value] = f
		}
		return m
	}
	oldEmails := params(card[vcard.FieldEmail])
	delete(card, vcard.FieldEmail)
	for i, e := range c.Emails {
		f := &vcard.Field{Value: e, Params: vcard.Params{}}
		if o := oldEmails[e]; o != nil {
			f = o
		} else {
			f.Params.Add(vcard.ParamType, "internet")
		}
		if i == 0 && v4 {
			f.Params.Set(vcard.ParamPreferred, "1")
		}
		card.Add(vcard.FieldEmail, f)
	}
	oldIM := params(card[vcard.FieldIMPP])
	delete(card, vcard.FieldIMPP)
	for _, im := range c.IMAddresses {
		f := oldIM[im]
		if f == nil {
			f = &vcard.Field{Value: im}
		}
		card.Add(vcard.FieldIMPP, f)
	}

	var keepTel []*vcard.Field
	oldTel := map[string]*vcard.Field{}
	for _, f := range card[vcard.FieldTelephone] {
		if phoneSlot(f) == "" {
			keepTel = append(keepTel, f)
		} else {
			oldTel[phoneSlot(f)+"\x00"+f.Value] = f
		}
	}
	card[vcard.FieldTelephone] = keepTel
	for _, p := range phoneFields(&c.Phones) {
		if *p.v == "" {
			continue
		}
		f := oldTel[p.slot+"\x00"+*p.v]
		if f == nil {
			f = &vcard.Field{Value: *p.v, Params: vcard.Params{vcard.ParamType: p.types}}
		}
		card.Add(vcard.FieldTelephone, f)
	}
	if len(card[vcard.FieldTelephone]) == 0 {
		delete(card, vcard.FieldTelephone)
	}

	oldAdr := map[string]*vcard.Field{}
	for _, f := range card[vcard.FieldAddress] {
		if _, ok := oldAdr[addrSlot(f)]; !ok {
			oldAdr[addrSlot(f)] = f
		}
	}
	delete(card, vcard.FieldAddress)
	for _, a := range []struct {
		slot string
		pa   sources.PostalAddress
	}{{"home", c.Home}, {"work", c.Business}, {"other", c.Other}} {
		if a.pa == (sources.PostalAddress{}) {
			continue
		}
		f := &vcard.Field{Params: vcard.Params{}}
		if o := oldAdr[a.slot]; o != nil {
			f.Params, f.Group = o.Params, o.Group
		} else if a.slot != "other" {
			f.Params.Set(vcard.ParamType, a.slot)
		}
		f.Value = strings.Join([]string{"", "", a.pa.Street, a.pa.City, a.pa.State, a.pa.PostalCode, a.pa.Country}, ";")
		if o := oldAdr[a.slot]; o != nil {
			// keep the post office box and extended address
			old := strings.Split(o.Value, ";")
			if len(old) >= 2 {
				f.Value = old[0] + ";" + old[1] + f.Value[2:]
			}
		}
		card.Add(vcard.FieldAddress, f)
	}

	switch old := card.Get(vcard.FieldPhoto); {
	case c.Photo != nil:
		ct := "JPEG"
		if len(c.Photo) > 4 && string(c.Photo[1:4]) == "PNG" {
			ct = "PNG"
		}
		enc := base64.StdEncoding.EncodeToString(c.Photo)
		if v4 {
			card.Set(vcard.FieldPhoto, &vcard.Field{Value: "data:image/" + strings.ToLower(ct) + ";base64," + enc})
		} else {
			card.Set(vcard.FieldPhoto, &vcard.Field{Value: enc, Params: vcard.Params{"ENCODING": {"b"}, vcard.ParamType: {ct}}})
		}
	case old != nil && photoBytes(old) != nil:
		delete(card, vcard.FieldPhoto) // the device removed it
	}
	delete(card, vcard.FieldRevision)
	card.SetRevision(time.Now().UTC())
}
