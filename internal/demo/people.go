package demo

import (
	"fmt"
	"image/color"
	"math/rand/v2"
	"time"

	"github.com/easgate/easgate/sources"
)

// company is an employer of the demo's people. The names and domains are
// invented; every domain is under the reserved .example TLD.
type company struct {
	name, domain string
	addr         sources.PostalAddress
	dial         string // country and area code: "+49 30"
	streets      []string
}

var companies = []company{
	{"Northwind Analytics GmbH", "northwind.example", sources.PostalAddress{Street: "Friedrichstraße 68", City: "Berlin", PostalCode: "10117", Country: "Germany"}, "+49 30", []string{"Kastanienallee", "Bergmannstraße", "Oderberger Straße"}},
	{"Lumière Conseil", "lumiere.example", sources.PostalAddress{Street: "12 rue des Archives", City: "Paris", PostalCode: "75004", Country: "France"}, "+33 1", []string{"rue de Charonne", "boulevard Voltaire", "rue Oberkampf"}},
	{"Bluewater Logistics", "bluewater.example", sources.PostalAddress{Street: "Am Sandtorkai 41", City: "Hamburg", PostalCode: "20457", Country: "Germany"}, "+49 40", []string{"Eppendorfer Weg", "Schanzenstraße", "Mühlenkamp"}},
	{"Kestrel Software Inc.", "kestrel.example", sources.PostalAddress{Street: "118 Hudson Street", City: "New York", State: "NY", PostalCode: "10013", Country: "United States"}, "+1 212", []string{"West 87th Street", "Bedford Avenue", "Court Street"}},
	{"Sakura Robotics K.K.", "sakura-robotics.example", sources.PostalAddress{Street: "2-11-3 Meguro", City: "Tokyo", PostalCode: "153-0063", Country: "Japan"}, "+81 3", []string{"Kichijoji Honcho", "Nakameguro", "Shimokitazawa"}},
	{"Iberia Verde S.L.", "iberiaverde.example", sources.PostalAddress{Street: "Calle de Alcalá 93", City: "Madrid", PostalCode: "28009", Country: "Spain"}, "+34 91", []string{"Calle de Fuencarral", "Calle del Pez", "Paseo de la Castellana"}},
	{"Nordlys Design AB", "nordlys.example", sources.PostalAddress{Street: "Götgatan 22", City: "Stockholm", PostalCode: "118 46", Country: "Sweden"}, "+46 8", []string{"Hornsgatan", "Sankt Eriksgatan", "Folkungagatan"}},
	{"Harbor & Pine LLP", "harborpine.example", sources.PostalAddress{Street: "75 State Street", City: "Boston", State: "MA", PostalCode: "02109", Country: "United States"}, "+1 617", []string{"Beacon Street", "Tremont Street", "Commonwealth Avenue"}},
	{"Vistula Labs", "vistula.example", sources.PostalAddress{Street: "ul. Marszałkowska 104", City: "Warszawa", PostalCode: "00-017", Country: "Poland"}, "+48 22", []string{"ul. Hoża", "ul. Mokotowska", "ul. Złota"}},
	// Friends and family write from private addresses.
	{"", "mail.example", sources.PostalAddress{City: "Berlin", PostalCode: "10437", Country: "Germany"}, "+49 30", []string{"Stargarder Straße", "Dunckerstraße", "Lychener Straße"}},
}

// person is a correspondent, and later a contact. Eastern names are shown
// family name first.
type person struct {
	first, last string
	local       string // ASCII mailbox name
	yomiFirst   string // phonetic spelling, for Japanese names
	yomiLast    string
	company     int
	lang        string // language the person writes in: en, de, fr, es, ja
	job         string
	eastern     bool
}

var people = []person{
	{first: "Jürgen", last: "Weiß", local: "juergen.weiss", company: 0, lang: "de", job: "Head of Data"},
	{first: "Lena", last: "Hoffmann", local: "lena.hoffmann", company: 0, lang: "de", job: "Product Manager"},
	{first: "Felix", last: "Wagner", local: "felix.wagner", company: 0, lang: "de", job: "Backend Engineer"},
	{first: "Clara", last: "Schmidt", local: "clara.schmidt", company: 0, lang: "en", job: "UX Designer"},
	{first: "Amélie", last: "Laurent", local: "amelie.laurent", company: 1, lang: "fr", job: "Associée"},
	{first: "Chloé", last: "Dubois", local: "chloe.dubois", company: 1, lang: "fr", job: "Consultante senior"},
	{first: "Isabelle", last: "Moreau", local: "isabelle.moreau", company: 1, lang: "en", job: "Office Manager"},
	{first: "Søren", last: "Mikkelsen", local: "soren.mikkelsen", company: 2, lang: "en", job: "Operations Lead"},
	{first: "Zoë", last: "Fischer", local: "zoe.fischer", company: 2, lang: "de", job: "Einkauf"},
	{first: "Daniel", last: "Cohen", local: "daniel.cohen", company: 3, lang: "en", job: "VP Engineering"},
	{first: "Rachel", last: "Kim", local: "rachel.kim", company: 3, lang: "en", job: "Engineering Manager"},
	{first: "Emily", last: "Carter", local: "emily.carter", company: 3, lang: "en", job: "Recruiter"},
	{first: "Marcus", last: "Johnson", local: "marcus.johnson", company: 3, lang: "en", job: "Site Reliability Engineer"},
	{first: "花子", last: "山田", local: "hanako.yamada", yomiFirst: "はなこ", yomiLast: "やまだ", company: 4, lang: "ja", job: "プロジェクトマネージャー", eastern: true},
	{first: "博", last: "田中", local: "hiroshi.tanaka", yomiFirst: "ひろし", yomiLast: "たなか", company: 4, lang: "ja", job: "Hardware Engineer", eastern: true},
	{first: "María José", last: "García", local: "mariajose.garcia", company: 5, lang: "es", job: "Directora financiera"},
	{first: "Ana Lucía", last: "Pérez", local: "analucia.perez", company: 5, lang: "es", job: "Analista"},
	{first: "Mateo", last: "Rossi", local: "mateo.rossi", company: 5, lang: "en", job: "Sales"},
	{first: "Ingrid", last: "Bergström", local: "ingrid.bergstrom", company: 6, lang: "en", job: "Creative Director"},
	{first: "Björn", last: "Lindqvist", local: "bjorn.lindqvist", company: 6, lang: "en", job: "Illustrator"},
	{first: "Olivia", last: "Brown", local: "olivia.brown", company: 7, lang: "en", job: "Partner"},
	{first: "Noah", last: "Williams", local: "noah.williams", company: 7, lang: "en", job: "Paralegal"},
	{first: "Łukasz", last: "Nowak", local: "lukasz.nowak", company: 8, lang: "en", job: "CTO"},
	{first: "Tomás", last: "Novák", local: "tomas.novak", company: 8, lang: "en", job: "Frontend Engineer"},
	{first: "Pavel", last: "Dvořák", local: "pavel.dvorak", company: 8, lang: "en", job: "QA Engineer"},
	{first: "Олег", last: "Смирнов", local: "oleg.smirnov", company: 8, lang: "en", job: "Data Scientist"},
	{first: "Αλέξης", last: "Παπαδόπουλος", local: "alexis.papadopoulos", company: 2, lang: "en", job: "Customs Broker"},
	{first: "Priya", last: "Raman", local: "priya.raman", company: 3, lang: "en", job: "Staff Engineer"},
	{first: "伟", last: "张", local: "wei.zhang", company: 4, lang: "en", job: "Supply Chain", eastern: true},
	{first: "지우", last: "박", local: "jiwoo.park", company: 3, lang: "en", job: "Designer", eastern: true},
	{first: "Lan", last: "Nguyễn Thị", local: "lan.nguyen", company: 6, lang: "en", job: "Producer", eastern: true},
	{first: "Siobhán", last: "O'Connor", local: "siobhan.oconnor", company: 7, lang: "en", job: "Associate"},
	{first: "Emre", last: "Yılmaz", local: "emre.yilmaz", company: 2, lang: "en", job: "Fleet Planner"},
	{first: "João", last: "Silva", local: "joao.silva", company: 5, lang: "es", job: "Ingeniero"},
	{first: "Kwame", last: "Mensah", local: "kwame.mensah", company: 3, lang: "en", job: "Developer Advocate"},
	{first: "Anneke", last: "de Vries", local: "anneke.devries", company: 9, lang: "en"},
	{first: "Gabriel", last: "Costa", local: "gabriel.costa", company: 9, lang: "en"},
	{first: "Ayşe", last: "Demir", local: "ayse.demir", company: 9, lang: "de"},
	{first: "Fatima", last: "Al-Sayed", local: "fatima.alsayed", company: 9, lang: "en"},
	{first: "Mama", last: "", local: "mama", company: 9, lang: "de"},
}

// name returns the display name, in the person's own order.
func (p *person) name() string {
	switch {
	case p.last == "":
		return p.first
	case p.eastern:
		return p.last + " " + p.first
	}
	return p.first + " " + p.last
}

func (p *person) address() sources.Address {
	return sources.Address{Name: p.name(), Email: p.local + "@" + companies[p.company].domain}
}

// phone returns a made-up number in the person's area. North American
// numbers use the 555-01xx range reserved for fiction.
func phone(r *rand.Rand, c *company) string {
	if c.dial[:2] == "+1" {
		return fmt.Sprintf("%s 555 %04d", c.dial, 100+r.IntN(100))
	}
	return fmt.Sprintf("%s %d %04d", c.dial, 100+r.IntN(900), r.IntN(10000))
}

var palette = []color.RGBA{
	{0x1f, 0x77, 0xb4, 255}, {0xd6, 0x27, 0x28, 255}, {0x2c, 0xa0, 0x2c, 255},
	{0x94, 0x67, 0xbd, 255}, {0xff, 0x7f, 0x0e, 255}, {0x17, 0xbe, 0xcf, 255},
}

// contact turns people[i] into an address-book entry.
func (g *gen) contact(i int) *sources.Contact {
	p := &people[i]
	c := &companies[p.company]
	r := g.r
	ct := &sources.Contact{
		UID:           g.uid("contact"),
		FirstName:     p.first,
		LastName:      p.last,
		YomiFirstName: p.yomiFirst,
		YomiLastName:  p.yomiLast,
		Emails:        []string{p.address().Email},
		Company:       c.name,
		JobTitle:      p.job,
		Phones:        sources.Phones{Mobile: phone(r, c)},
		Categories:    []string{"Work"},
	}
	ct.FileAs = p.name()
	if p.last != "" && !p.eastern {
		ct.FileAs = p.last + ", " + p.first
	}
	if c.name == "" {
		ct.Categories = []string{"Friends"}
		ct.Home = sources.PostalAddress{
			Street:     fmt.Sprintf("%s %d", c.streets[r.IntN(len(c.streets))], 1+r.IntN(120)),
			City:       c.addr.City,
			PostalCode: c.addr.PostalCode,
			Country:    c.addr.Country,
		}
		ct.Phones.Home = phone(r, c)
	} else {
		ct.Business = c.addr
		ct.Phones.Business = phone(r, c)
		if r.IntN(3) == 0 {
			ct.Phones.CompanyMain = phone(r, c)
		}
		if r.IntN(2) == 0 {
			ct.Home = sources.PostalAddress{
				Street:     fmt.Sprintf("%s %d", c.streets[r.IntN(len(c.streets))], 1+r.IntN(200)),
				City:       c.addr.City,
				State:      c.addr.State,
				PostalCode: c.addr.PostalCode,
				Country:    c.addr.Country,
			}
		}
		if r.IntN(4) == 0 {
			ct.Emails = append(ct.Emails, p.local+"@mail.example")
		}
		ct.WebPage = "https://www." + c.domain + "/"
	}
	if r.IntN(10) < 7 {
		ct.Birthday = time.Date(1962+r.IntN(38), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC)
	}
	switch i {
	case 0, 9, 13:
		ct.Categories = append(ct.Categories, "VIP")
	case 35:
		ct.Spouse = "Gabriel Costa"
		ct.Anniversary = time.Date(2016, time.June, 18, 0, 0, 0, 0, time.UTC)
		ct.Children = []string{"Noor", "Milan"}
	case 39:
		ct.Categories = []string{"Family"}
		ct.FileAs = "Mama"
		ct.Notes = "Allergic to cats. Prefers calls after 18:00."
	}
	if p.lang == "ja" {
		ct.Notes = "日本語でのメールが好ましい。"
	}
	if i%8 == 3 {
		ct.Photo = avatar(palette[i%len(palette)])
	}
	return ct
}
