package pim

import (
	"fmt"
	"slices"
	"strings"
	"time"

	gojmap "git.sr.ht/~rockorager/go-jmap"

	"github.com/easgate/easgate/sources"
)

// maxEmails is how many addresses the model carries; devices show three.
// Further addresses of a contact stay on the server untouched.
const maxEmails = 3

// cyrusContacts is Cyrus 3.6's legacy Contact object (its JMAP contacts
// extension, before JSContact): flat name fields, typed lists, one
// address book named "Default".
var cyrusContacts = &kind{
	name:          "Contact",
	using:         []gojmap.URI{CyrusContacts},
	content:       sources.ContentContacts,
	folderPrefix:  Prefix,
	defaultFolder: "Default",
	folderProp:    "addressbookId",
	read:          readCyrusContact,
	write:         writeCyrusContact,
}

func cyrusType(e obj) string {
	if t := str(e, "type"); t == "other" && str(e, "label") != "" {
		return "other:" + strings.ToLower(str(e, "label"))
	} else {
		return t
	}
}

func cyrusPhoneSlots(p *sources.Phones) []slot {
	typ := func(t, label string) obj {
		if label != "" {
			return obj{"type": t, "label": label}
		}
		return obj{"type": t}
	}
	return []slot{
		strSlot("home#0", &p.Home, "value", typ("home", "")),
		strSlot("home#1", &p.Home2, "value", typ("home", "")),
		strSlot("work#0", &p.Business, "value", typ("work", "")),
		strSlot("work#1", &p.Business2, "value", typ("work", "")),
		strSlot("mobile#0", &p.Mobile, "value", typ("mobile", "")),
		strSlot("fax#0", &p.BusinessFax, "value", typ("fax", "")),
		strSlot("fax#1", &p.HomeFax, "value", typ("fax", "")),
		strSlot("pager#0", &p.Pager, "value", typ("pager", "")),
		strSlot("other:car#0", &p.Car, "value", typ("other", "car")),
		strSlot("other:radio#0", &p.Radio, "value", typ("other", "radio")),
		strSlot("other:assistant#0", &p.Assistant, "value", typ("other", "assistant")),
		strSlot("other:company#0", &p.CompanyMain, "value", typ("other", "company")),
		strSlot("other:mms#0", &p.MMS, "value", typ("other", "mms")),
	}
}

var cyrusAddressFields = [...]struct {
	p string
	f func(a *sources.PostalAddress) *string
}{
	{"street", func(a *sources.PostalAddress) *string { return &a.Street }},
	{"locality", func(a *sources.PostalAddress) *string { return &a.City }},
	{"region", func(a *sources.PostalAddress) *string { return &a.State }},
	{"postcode", func(a *sources.PostalAddress) *string { return &a.PostalCode }},
	{"country", func(a *sources.PostalAddress) *string { return &a.Country }},
}

func cyrusAddressSlot(key, typ string, a *sources.PostalAddress) slot {
	return slot{
		key:   key,
		empty: func() bool { return *a == sources.PostalAddress{} },
		read: func(e obj) {
			for _, f := range cyrusAddressFields {
				*f.f(a) = str(e, f.p)
			}
		},
		write: func(e obj) {
			for _, f := range cyrusAddressFields {
				e[f.p] = *f.f(a)
			}
		},
		init: func() obj { return obj{"type": typ} },
	}
}

func cyrusContactSlots(c *sources.Contact) (emails, phones, addrs, online []slot) {
	emails = listSlots("", &c.Emails, maxEmails, "value", obj{"type": "personal"})
	phones = cyrusPhoneSlots(&c.Phones)
	addrs = []slot{
		cyrusAddressSlot("home#0", "home", &c.Home),
		cyrusAddressSlot("work#0", "work", &c.Business),
		cyrusAddressSlot("other#0", "other", &c.Other),
	}
	online = append([]slot{strSlot("uri#0", &c.WebPage, "value", obj{"type": "uri"})},
		listSlots("username", &c.IMAddresses, 3, "value", obj{"type": "username"})...)
	return
}

var cyrusContactStrings = [...]struct {
	p string
	f func(c *sources.Contact) *string
}{
	{"firstName", func(c *sources.Contact) *string { return &c.FirstName }},
	{"lastName", func(c *sources.Contact) *string { return &c.LastName }},
	{"prefix", func(c *sources.Contact) *string { return &c.Title }},
	{"suffix", func(c *sources.Contact) *string { return &c.Suffix }},
	{"nickname", func(c *sources.Contact) *string { return &c.Nickname }},
	{"company", func(c *sources.Contact) *string { return &c.Company }},
	{"department", func(c *sources.Contact) *string { return &c.Department }},
	{"jobTitle", func(c *sources.Contact) *string { return &c.JobTitle }},
	{"notes", func(c *sources.Contact) *string { return &c.Notes }},
}

func readCyrusContact(o obj, it *sources.Item) error {
	c := &sources.Contact{UID: str(o, "uid")}
	for _, f := range cyrusContactStrings {
		*f.f(c) = str(o, f.p)
	}
	c.Birthday = parseDate(str(o, "birthday"))
	c.Anniversary = parseDate(str(o, "anniversary"))
	emails, phones, addrs, online := cyrusContactSlots(c)
	none := func(obj) string { return "" }
	readSlots(o, "emails", none, emails)
	readSlots(o, "phones", cyrusType, phones)
	readSlots(o, "addresses", cyrusType, addrs)
	readSlots(o, "online", cyrusType, online)
	it.Contact = c
	return nil
}

func writeCyrusContact(it *sources.Item, base obj) (obj, error) {
	c := it.Contact
	if c == nil {
		return nil, fmt.Errorf("jmap: Contact: item %q is not a contact: %w", it.ID, sources.ErrUnsupported)
	}
	c = clone(c)
	if base == nil {
		base = obj{}
	}
	out := obj{}
	for _, f := range cyrusContactStrings {
		setStr(out, base, f.p, *f.f(c))
	}
	setStr(out, base, "birthday", formatDate(c.Birthday))
	setStr(out, base, "anniversary", formatDate(c.Anniversary))
	emails, phones, addrs, online := cyrusContactSlots(c)
	none := func(obj) string { return "" }
	for _, l := range []struct {
		p     string
		kind  func(obj) string
		slots []slot
	}{{"emails", none, emails}, {"phones", cyrusType, phones}, {"addresses", cyrusType, addrs}, {"online", cyrusType, online}} {
		if v := writeSlots(base, l.p, false, l.kind, l.slots); v != nil {
			out[l.p] = v
		}
	}
	if es := listOf(out, "emails"); len(es) > 0 && base["emails"] == nil {
		es[0]["isDefault"] = true
	}
	if base["uid"] == nil && c.UID != "" {
		out["uid"] = c.UID
	}
	return out, nil
}

// parseDate reads a "YYYY-MM-DD" date; Cyrus writes "0000-00-00" for none.
func parseDate(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// formatDate writes a date; zero is empty, and setStr then leaves an
// absent property absent (Cyrus's "0000-00-00" reads as zero, so an unset
// date is never rewritten).
func formatDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}

// ietfContacts is RFC 9610's ContactCard, a JSContact Card (RFC 9553),
// in address books.
var ietfContacts = &kind{
	name:         "ContactCard",
	using:        []gojmap.URI{Contacts},
	content:      sources.ContentContacts,
	folderType:   "AddressBook",
	folderPrefix: Prefix + "book:",
	folderProp:   "addressBookIds",
	folderSet:    true,
	queryFilter:  "", // RFC 9610's inAddressBook takes one id; membership is checked on the results
	newObject:    obj{"@type": "Card", "version": "1.0"},
	read:         readCard,
	write:        writeCard,
	maps:         []string{"emails", "phones", "addresses", "nicknames", "organizations", "titles", "anniversaries", "notes", "links", "onlineServices"},
}

// contexts returns "work" or "private" (RFC 9553 section 1.4.1), or "".
func contexts(e obj) string {
	c := objOf(e, "contexts")
	switch {
	case c["work"] == true:
		return "work"
	case c["private"] == true:
		return "private"
	}
	return ""
}

func cardPhoneKind(e obj) string {
	f := objOf(e, "features")
	switch {
	case f["mobile"] == true:
		return "mobile"
	case f["pager"] == true:
		return "pager"
	case f["fax"] == true:
		return "fax-" + contexts(e)
	case f["car"] == true: // not in RFC 9553's registry, but written by us
		return "car"
	}
	return "voice-" + contexts(e)
}

func cardPhoneSlots(p *sources.Phones) []slot {
	ph := func(feature, ctx string) obj {
		o := obj{"@type": "Phone", "features": map[string]any{feature: true}}
		if ctx != "" {
			o["contexts"] = map[string]any{ctx: true}
		}
		return o
	}
	return []slot{
		strSlot("voice-private#0", &p.Home, "number", ph("voice", "private")),
		strSlot("voice-private#1", &p.Home2, "number", ph("voice", "private")),
		strSlot("voice-work#0", &p.Business, "number", ph("voice", "work")),
		strSlot("voice-work#1", &p.Business2, "number", ph("voice", "work")),
		strSlot("mobile#0", &p.Mobile, "number", ph("mobile", "")),
		strSlot("fax-work#0", &p.BusinessFax, "number", ph("fax", "work")),
		strSlot("fax-private#0", &p.HomeFax, "number", ph("fax", "private")),
		strSlot("pager#0", &p.Pager, "number", ph("pager", "")),
		strSlot("car#0", &p.Car, "number", ph("car", "")),
		strSlot("voice-#0", &p.CompanyMain, "number", ph("voice", "")),
	}
}

// Address components (RFC 9553 section 2.5.1.3) the model has a field for.
var cardAddressKinds = [...]struct {
	kind string
	f    func(a *sources.PostalAddress) *string
}{
	{"name", func(a *sources.PostalAddress) *string { return &a.Street }},
	{"locality", func(a *sources.PostalAddress) *string { return &a.City }},
	{"region", func(a *sources.PostalAddress) *string { return &a.State }},
	{"postcode", func(a *sources.PostalAddress) *string { return &a.PostalCode }},
	{"country", func(a *sources.PostalAddress) *string { return &a.Country }},
}

func cardAddressSlot(key, ctx string, a *sources.PostalAddress) slot {
	return slot{
		key:   key,
		empty: func() bool { return *a == sources.PostalAddress{} },
		read: func(e obj) {
			for _, c := range listOf(e, "components") {
				for _, k := range cardAddressKinds {
					if str(c, "kind") == k.kind {
						*k.f(a) = strings.TrimSpace(*k.f(a) + " " + str(c, "value"))
					}
				}
			}
			// A street number belongs to the street.
			for _, c := range listOf(e, "components") {
				if str(c, "kind") == "number" {
					a.Street = strings.TrimSpace(a.Street + " " + str(c, "value"))
				}
			}
		},
		write: func(e obj) {
			var comps []any
			for _, c := range listOf(e, "components") {
				if !slices.ContainsFunc(cardAddressKinds[:], func(k struct {
					kind string
					f    func(a *sources.PostalAddress) *string
				}) bool {
					return k.kind == str(c, "kind")
				}) && str(c, "kind") != "number" {
					comps = append(comps, c)
				}
			}
			for _, k := range cardAddressKinds {
				if v := *k.f(a); v != "" {
					comps = append(comps, map[string]any{"kind": k.kind, "value": v})
				}
			}
			e["components"] = comps
			delete(e, "full") // would contradict the new components
		},
		init: func() obj {
			o := obj{"@type": "Address"}
			if ctx != "" {
				o["contexts"] = map[string]any{ctx: true}
			}
			return o
		},
	}
}

var cardNameKinds = [...]struct {
	kind string
	f    func(c *sources.Contact) *string
}{
	{"title", func(c *sources.Contact) *string { return &c.Title }},
	{"given", func(c *sources.Contact) *string { return &c.FirstName }},
	{"given2", func(c *sources.Contact) *string { return &c.MiddleName }},
	{"surname", func(c *sources.Contact) *string { return &c.LastName }},
	{"generation", func(c *sources.Contact) *string { return &c.Suffix }},
}

func cardSlots(c *sources.Contact) map[string][]slot {
	return map[string][]slot{
		"emails": listSlots("", &c.Emails, maxEmails, "address", obj{"@type": "EmailAddress"}),
		"phones": cardPhoneSlots(&c.Phones),
		"addresses": {
			cardAddressSlot("private#0", "private", &c.Home),
			cardAddressSlot("work#0", "work", &c.Business),
			cardAddressSlot("#0", "", &c.Other),
		},
		"nicknames":      {strSlot("#0", &c.Nickname, "name", obj{"@type": "Nickname"})},
		"notes":          {strSlot("#0", &c.Notes, "note", obj{"@type": "Note"})},
		"links":          {strSlot("#0", &c.WebPage, "uri", obj{"@type": "Link"})},
		"onlineServices": listSlots("", &c.IMAddresses, 3, "user", obj{"@type": "OnlineService"}),
		"titles":         {strSlot("title#0", &c.JobTitle, "name", obj{"@type": "Title", "kind": "title"})},
		"organizations": {{
			key:   "#0",
			empty: func() bool { return c.Company == "" && c.Department == "" },
			read: func(e obj) {
				c.Company = str(e, "name")
				if u := listOf(e, "units"); len(u) > 0 {
					c.Department = str(u[0], "name")
				}
			},
			write: func(e obj) {
				setStr(e, e, "name", c.Company)
				u := listOf(e, "units")
				switch {
				case c.Department == "" && len(u) > 0:
					e["units"] = anyList(u[1:])
				case c.Department != "" && len(u) > 0:
					u[0]["name"] = c.Department
					e["units"] = anyList(u)
				case c.Department != "":
					e["units"] = []any{map[string]any{"@type": "OrgUnit", "name": c.Department}}
				}
			},
			init: func() obj { return obj{"@type": "Organization"} },
		}},
		"anniversaries": {dateSlot("birth#0", &c.Birthday), dateSlot("wedding#0", &c.Anniversary)},
	}
}

func anyList(l []obj) []any {
	out := make([]any, len(l))
	for i, o := range l {
		out[i] = o
	}
	return out
}

func cardKind(p string) func(e obj) string {
	switch p {
	case "phones":
		return cardPhoneKind
	case "addresses":
		return contexts
	case "titles", "anniversaries":
		return func(e obj) string { return str(e, "kind") }
	}
	return func(obj) string { return "" }
}

// dateSlot maps an Anniversary whose date is a PartialDate or Timestamp.
func dateSlot(key string, t *time.Time) slot {
	return slot{
		key:   key,
		empty: func() bool { return t.IsZero() },
		read: func(e obj) {
			d := objOf(e, "date")
			if str(d, "@type") == "Timestamp" {
				*t, _ = time.Parse(time.RFC3339, str(d, "utc"))
				return
			}
			y, _ := d["year"].(float64)
			m, _ := d["month"].(float64)
			day, _ := d["day"].(float64)
			if m > 0 && day > 0 {
				*t = time.Date(int(y), time.Month(m), int(day), 0, 0, 0, 0, time.UTC)
			}
		},
		write: func(e obj) {
			u := t.UTC()
			e["date"] = map[string]any{"@type": "PartialDate", "year": u.Year(), "month": int(u.Month()), "day": u.Day()}
		},
		init: func() obj {
			k, _, _ := strings.Cut(key, "#")
			return obj{"@type": "Anniversary", "kind": k}
		},
	}
}

func readCard(o obj, it *sources.Item) error {
	// FileAs is the name a contact is listed under: RFC 9553's full name,
	// which vCard's FN becomes (RFC 9555), as the DAV adapter reads FN.
	c := &sources.Contact{UID: str(o, "uid"), FileAs: str(objOf(o, "name"), "full")}
	for _, comp := range listOf(objOf(o, "name"), "components") {
		for _, k := range cardNameKinds {
			if str(comp, "kind") == k.kind && *k.f(c) == "" {
				*k.f(c) = str(comp, "value")
			}
		}
	}
	for p, slots := range cardSlots(c) {
		readSlots(o, p, cardKind(p), slots)
	}
	for kw, v := range objOf(o, "keywords") {
		if v == true {
			c.Categories = append(c.Categories, kw)
		}
	}
	slices.Sort(c.Categories)
	it.Contact = c
	return nil
}

func writeCard(it *sources.Item, base obj) (obj, error) {
	c := it.Contact
	if c == nil {
		return nil, fmt.Errorf("jmap: ContactCard: item %q is not a contact: %w", it.ID, sources.ErrUnsupported)
	}
	c = clone(c)
	if base == nil {
		base = obj{}
	}
	out := obj{}
	name := clone(objOf(base, "name"))
	if name == nil {
		name = obj{"@type": "Name"}
	}
	var comps []any
	for _, comp := range listOf(name, "components") {
		if !slices.ContainsFunc(cardNameKinds[:], func(k struct {
			kind string
			f    func(c *sources.Contact) *string
		}) bool {
			return k.kind == str(comp, "kind")
		}) {
			comps = append(comps, comp)
		}
	}
	for _, k := range cardNameKinds {
		if v := *k.f(c); v != "" {
			comps = append(comps, map[string]any{"kind": k.kind, "value": v})
		}
	}
	name["components"] = comps
	if c.FileAs != "" {
		name["full"] = c.FileAs
	} else {
		delete(name, "full") // would contradict the new components
	}
	out["name"] = name
	for p, slots := range cardSlots(c) {
		if v := writeSlots(base, p, true, cardKind(p), slots); v != nil {
			out[p] = v
		}
	}
	if len(c.Categories) > 0 || base["keywords"] != nil {
		kw := make(map[string]any)
		for _, k := range c.Categories {
			kw[k] = true
		}
		out["keywords"] = kw
	}
	if base["uid"] == nil && c.UID != "" {
		out["uid"] = c.UID
	}
	return out, nil
}
