package sources

import (
	"iter"
	"strings"
	"sync"
	"time"
)

// Event.TimeZone holds IANA names; Outlook, Exchange and Windows Mobile
// write Windows names instead, in iCalendar TZIDs and in the StandardName
// of EAS TIMEZONE blobs. windowsZones is the one table between the two:
// CLDR's windowsZones mapping (release 42, as ICU 72 ships it), each
// Windows name with the zone CLDR gives for territory 001 first (written
// under its current tzdata name: Asia/Kolkata, not Asia/Calcutta) and
// then every other zone, old name or link CLDR maps to it. Only names
// Go's time zone database loads are listed (zones_test.go checks).
var windowsZones = []struct {
	windows string
	zone    string   // territory 001
	others  []string // other territories, aliases and links
}{
	{"AUS Central Standard Time", "Australia/Darwin", []string{"Australia/North"}},
	{"AUS Eastern Standard Time", "Australia/Sydney", []string{"Australia/ACT", "Australia/Canberra", "Australia/Melbourne", "Australia/NSW", "Australia/Victoria"}},
	{"Afghanistan Standard Time", "Asia/Kabul", nil},
	{"Alaskan Standard Time", "America/Anchorage", []string{"America/Juneau", "America/Metlakatla", "America/Nome", "America/Sitka", "America/Yakutat", "US/Alaska"}},
	{"Aleutian Standard Time", "America/Adak", []string{"America/Atka", "US/Aleutian"}},
	{"Altai Standard Time", "Asia/Barnaul", nil},
	{"Arab Standard Time", "Asia/Riyadh", []string{"Asia/Aden", "Asia/Bahrain", "Asia/Kuwait", "Asia/Qatar"}},
	{"Arabian Standard Time", "Asia/Dubai", []string{"Asia/Muscat", "Etc/GMT-4"}},
	{"Arabic Standard Time", "Asia/Baghdad", nil},
	{"Argentina Standard Time", "America/Argentina/Buenos_Aires", []string{"America/Argentina/Catamarca", "America/Argentina/ComodRivadavia", "America/Argentina/Cordoba", "America/Argentina/Jujuy", "America/Argentina/La_Rioja", "America/Argentina/Mendoza", "America/Argentina/Rio_Gallegos", "America/Argentina/Salta", "America/Argentina/San_Juan", "America/Argentina/San_Luis", "America/Argentina/Tucuman", "America/Argentina/Ushuaia", "America/Buenos_Aires", "America/Catamarca", "America/Cordoba", "America/Jujuy", "America/Mendoza", "America/Rosario"}},
	{"Astrakhan Standard Time", "Europe/Astrakhan", []string{"Europe/Ulyanovsk"}},
	{"Atlantic Standard Time", "America/Halifax", []string{"America/Glace_Bay", "America/Goose_Bay", "America/Moncton", "America/Thule", "Atlantic/Bermuda", "Canada/Atlantic"}},
	{"Aus Central W. Standard Time", "Australia/Eucla", nil},
	{"Azerbaijan Standard Time", "Asia/Baku", nil},
	{"Azores Standard Time", "Atlantic/Azores", []string{"America/Scoresbysund"}},
	{"Bahia Standard Time", "America/Bahia", nil},
	{"Bangladesh Standard Time", "Asia/Dhaka", []string{"Asia/Dacca", "Asia/Thimbu", "Asia/Thimphu"}},
	{"Belarus Standard Time", "Europe/Minsk", nil},
	{"Bougainville Standard Time", "Pacific/Bougainville", nil},
	{"Canada Central Standard Time", "America/Regina", []string{"America/Swift_Current", "Canada/Saskatchewan"}},
	{"Cape Verde Standard Time", "Atlantic/Cape_Verde", []string{"Etc/GMT+1"}},
	{"Caucasus Standard Time", "Asia/Yerevan", nil},
	{"Cen. Australia Standard Time", "Australia/Adelaide", []string{"Australia/Broken_Hill", "Australia/South", "Australia/Yancowinna"}},
	{"Central America Standard Time", "America/Guatemala", []string{"America/Belize", "America/Costa_Rica", "America/El_Salvador", "America/Managua", "America/Tegucigalpa", "Etc/GMT+6", "Pacific/Galapagos"}},
	{"Central Asia Standard Time", "Asia/Almaty", []string{"Antarctica/Vostok", "Asia/Bishkek", "Asia/Kashgar", "Asia/Qostanay", "Asia/Urumqi", "Etc/GMT-6", "Indian/Chagos"}},
	{"Central Brazilian Standard Time", "America/Cuiaba", []string{"America/Campo_Grande"}},
	{"Central Europe Standard Time", "Europe/Budapest", []string{"Europe/Belgrade", "Europe/Bratislava", "Europe/Ljubljana", "Europe/Podgorica", "Europe/Prague", "Europe/Tirane"}},
	{"Central European Standard Time", "Europe/Warsaw", []string{"Europe/Sarajevo", "Europe/Skopje", "Europe/Zagreb"}},
	{"Central Pacific Standard Time", "Pacific/Guadalcanal", []string{"Antarctica/Casey", "Etc/GMT-11", "Pacific/Efate", "Pacific/Kosrae", "Pacific/Noumea", "Pacific/Pohnpei", "Pacific/Ponape"}},
	{"Central Standard Time", "America/Chicago", []string{"America/Indiana/Knox", "America/Indiana/Tell_City", "America/Knox_IN", "America/Matamoros", "America/Menominee", "America/North_Dakota/Beulah", "America/North_Dakota/Center", "America/North_Dakota/New_Salem", "America/Rainy_River", "America/Rankin_Inlet", "America/Resolute", "America/Winnipeg", "Canada/Central", "US/Central", "US/Indiana-Starke"}},
	{"Central Standard Time (Mexico)", "America/Mexico_City", []string{"America/Bahia_Banderas", "America/Merida", "America/Monterrey", "Mexico/General"}},
	{"Chatham Islands Standard Time", "Pacific/Chatham", nil},
	{"China Standard Time", "Asia/Shanghai", []string{"Asia/Chongqing", "Asia/Chungking", "Asia/Harbin", "Asia/Hong_Kong", "Asia/Macao", "Asia/Macau"}},
	{"Cuba Standard Time", "America/Havana", nil},
	{"Dateline Standard Time", "Etc/GMT+12", nil},
	{"E. Africa Standard Time", "Africa/Nairobi", []string{"Africa/Addis_Ababa", "Africa/Asmara", "Africa/Asmera", "Africa/Dar_es_Salaam", "Africa/Djibouti", "Africa/Kampala", "Africa/Mogadishu", "Antarctica/Syowa", "Etc/GMT-3", "Indian/Antananarivo", "Indian/Comoro", "Indian/Mayotte"}},
	{"E. Australia Standard Time", "Australia/Brisbane", []string{"Australia/Lindeman", "Australia/Queensland"}},
	{"E. Europe Standard Time", "Europe/Chisinau", []string{"Europe/Tiraspol"}},
	{"E. South America Standard Time", "America/Sao_Paulo", []string{"Brazil/East"}},
	{"Easter Island Standard Time", "Pacific/Easter", []string{"Chile/EasterIsland"}},
	{"Eastern Standard Time", "America/New_York", []string{"America/Detroit", "America/Indiana/Petersburg", "America/Indiana/Vincennes", "America/Indiana/Winamac", "America/Iqaluit", "America/Kentucky/Louisville", "America/Kentucky/Monticello", "America/Louisville", "America/Montreal", "America/Nassau", "America/Nipigon", "America/Pangnirtung", "America/Thunder_Bay", "America/Toronto", "Canada/Eastern", "US/Eastern", "US/Michigan"}},
	{"Eastern Standard Time (Mexico)", "America/Cancun", nil},
	{"Egypt Standard Time", "Africa/Cairo", nil},
	{"Ekaterinburg Standard Time", "Asia/Yekaterinburg", nil},
	{"FLE Standard Time", "Europe/Kyiv", []string{"Europe/Helsinki", "Europe/Kiev", "Europe/Mariehamn", "Europe/Riga", "Europe/Sofia", "Europe/Tallinn", "Europe/Uzhgorod", "Europe/Vilnius", "Europe/Zaporozhye"}},
	{"Fiji Standard Time", "Pacific/Fiji", nil},
	{"GMT Standard Time", "Europe/London", []string{"Atlantic/Canary", "Atlantic/Faeroe", "Atlantic/Faroe", "Atlantic/Madeira", "Europe/Belfast", "Europe/Dublin", "Europe/Guernsey", "Europe/Isle_of_Man", "Europe/Jersey", "Europe/Lisbon"}},
	{"GTB Standard Time", "Europe/Bucharest", []string{"Asia/Famagusta", "Asia/Nicosia", "Europe/Athens", "Europe/Nicosia"}},
	{"Georgian Standard Time", "Asia/Tbilisi", nil},
	{"Greenland Standard Time", "America/Nuuk", []string{"America/Godthab"}},
	{"Greenwich Standard Time", "Atlantic/Reykjavik", []string{"Africa/Abidjan", "Africa/Accra", "Africa/Bamako", "Africa/Banjul", "Africa/Bissau", "Africa/Conakry", "Africa/Dakar", "Africa/Freetown", "Africa/Lome", "Africa/Monrovia", "Africa/Nouakchott", "Africa/Ouagadougou", "Africa/Timbuktu", "America/Danmarkshavn", "Atlantic/St_Helena"}},
	{"Haiti Standard Time", "America/Port-au-Prince", nil},
	{"Hawaiian Standard Time", "Pacific/Honolulu", []string{"Etc/GMT+10", "Pacific/Johnston", "Pacific/Rarotonga", "Pacific/Tahiti", "US/Hawaii"}},
	{"India Standard Time", "Asia/Kolkata", []string{"Asia/Calcutta"}},
	{"Iran Standard Time", "Asia/Tehran", nil},
	{"Israel Standard Time", "Asia/Jerusalem", []string{"Asia/Tel_Aviv"}},
	{"Jordan Standard Time", "Asia/Amman", nil},
	{"Kaliningrad Standard Time", "Europe/Kaliningrad", nil},
	{"Korea Standard Time", "Asia/Seoul", nil},
	{"Libya Standard Time", "Africa/Tripoli", nil},
	{"Line Islands Standard Time", "Pacific/Kiritimati", []string{"Etc/GMT-14"}},
	{"Lord Howe Standard Time", "Australia/Lord_Howe", []string{"Australia/LHI"}},
	{"Magadan Standard Time", "Asia/Magadan", nil},
	{"Magallanes Standard Time", "America/Punta_Arenas", nil},
	{"Marquesas Standard Time", "Pacific/Marquesas", nil},
	{"Mauritius Standard Time", "Indian/Mauritius", []string{"Indian/Mahe", "Indian/Reunion"}},
	{"Middle East Standard Time", "Asia/Beirut", nil},
	{"Montevideo Standard Time", "America/Montevideo", nil},
	{"Morocco Standard Time", "Africa/Casablanca", []string{"Africa/El_Aaiun"}},
	{"Mountain Standard Time", "America/Denver", []string{"America/Boise", "America/Cambridge_Bay", "America/Edmonton", "America/Inuvik", "America/Ojinaga", "America/Shiprock", "America/Yellowknife", "Canada/Mountain", "US/Mountain"}},
	{"Mountain Standard Time (Mexico)", "America/Chihuahua", []string{"America/Mazatlan", "Mexico/BajaSur"}},
	{"Myanmar Standard Time", "Asia/Yangon", []string{"Asia/Rangoon", "Indian/Cocos"}},
	{"N. Central Asia Standard Time", "Asia/Novosibirsk", nil},
	{"Namibia Standard Time", "Africa/Windhoek", nil},
	{"Nepal Standard Time", "Asia/Kathmandu", []string{"Asia/Katmandu"}},
	{"New Zealand Standard Time", "Pacific/Auckland", []string{"Antarctica/McMurdo", "Antarctica/South_Pole"}},
	{"Newfoundland Standard Time", "America/St_Johns", []string{"Canada/Newfoundland"}},
	{"Norfolk Standard Time", "Pacific/Norfolk", nil},
	{"North Asia East Standard Time", "Asia/Irkutsk", nil},
	{"North Asia Standard Time", "Asia/Krasnoyarsk", []string{"Asia/Novokuznetsk"}},
	{"North Korea Standard Time", "Asia/Pyongyang", nil},
	{"Omsk Standard Time", "Asia/Omsk", nil},
	{"Pacific SA Standard Time", "America/Santiago", []string{"Chile/Continental"}},
	{"Pacific Standard Time", "America/Los_Angeles", []string{"America/Vancouver", "Canada/Pacific", "US/Pacific"}},
	{"Pacific Standard Time (Mexico)", "America/Tijuana", []string{"America/Ensenada", "America/Santa_Isabel", "Mexico/BajaNorte"}},
	{"Pakistan Standard Time", "Asia/Karachi", nil},
	{"Paraguay Standard Time", "America/Asuncion", nil},
	{"Qyzylorda Standard Time", "Asia/Qyzylorda", nil},
	{"Romance Standard Time", "Europe/Paris", []string{"Africa/Ceuta", "Europe/Brussels", "Europe/Copenhagen", "Europe/Madrid"}},
	{"Russia Time Zone 10", "Asia/Srednekolymsk", nil},
	{"Russia Time Zone 11", "Asia/Kamchatka", []string{"Asia/Anadyr"}},
	{"Russia Time Zone 3", "Europe/Samara", nil},
	{"Russian Standard Time", "Europe/Moscow", []string{"Europe/Kirov", "Europe/Simferopol"}},
	{"SA Eastern Standard Time", "America/Cayenne", []string{"America/Belem", "America/Fortaleza", "America/Maceio", "America/Paramaribo", "America/Recife", "America/Santarem", "Antarctica/Palmer", "Antarctica/Rothera", "Atlantic/Stanley", "Etc/GMT+3"}},
	{"SA Pacific Standard Time", "America/Bogota", []string{"America/Atikokan", "America/Cayman", "America/Coral_Harbour", "America/Eirunepe", "America/Guayaquil", "America/Jamaica", "America/Lima", "America/Panama", "America/Porto_Acre", "America/Rio_Branco", "Brazil/Acre", "Etc/GMT+5"}},
	{"SA Western Standard Time", "America/La_Paz", []string{"America/Anguilla", "America/Antigua", "America/Aruba", "America/Barbados", "America/Blanc-Sablon", "America/Boa_Vista", "America/Curacao", "America/Dominica", "America/Grenada", "America/Guadeloupe", "America/Guyana", "America/Kralendijk", "America/Lower_Princes", "America/Manaus", "America/Marigot", "America/Martinique", "America/Montserrat", "America/Port_of_Spain", "America/Porto_Velho", "America/Puerto_Rico", "America/Santo_Domingo", "America/St_Barthelemy", "America/St_Kitts", "America/St_Lucia", "America/St_Thomas", "America/St_Vincent", "America/Tortola", "America/Virgin", "Brazil/West", "Etc/GMT+4"}},
	{"SE Asia Standard Time", "Asia/Bangkok", []string{"Antarctica/Davis", "Asia/Ho_Chi_Minh", "Asia/Jakarta", "Asia/Phnom_Penh", "Asia/Pontianak", "Asia/Saigon", "Asia/Vientiane", "Etc/GMT-7", "Indian/Christmas"}},
	{"Saint Pierre Standard Time", "America/Miquelon", nil},
	{"Sakhalin Standard Time", "Asia/Sakhalin", nil},
	{"Samoa Standard Time", "Pacific/Apia", nil},
	{"Sao Tome Standard Time", "Africa/Sao_Tome", nil},
	{"Saratov Standard Time", "Europe/Saratov", nil},
	{"Singapore Standard Time", "Asia/Singapore", []string{"Asia/Brunei", "Asia/Kuala_Lumpur", "Asia/Kuching", "Asia/Makassar", "Asia/Manila", "Asia/Ujung_Pandang", "Etc/GMT-8"}},
	{"South Africa Standard Time", "Africa/Johannesburg", []string{"Africa/Blantyre", "Africa/Bujumbura", "Africa/Gaborone", "Africa/Harare", "Africa/Kigali", "Africa/Lubumbashi", "Africa/Lusaka", "Africa/Maputo", "Africa/Maseru", "Africa/Mbabane", "Etc/GMT-2"}},
	{"South Sudan Standard Time", "Africa/Juba", nil},
	{"Sri Lanka Standard Time", "Asia/Colombo", nil},
	{"Sudan Standard Time", "Africa/Khartoum", nil},
	{"Syria Standard Time", "Asia/Damascus", nil},
	{"Taipei Standard Time", "Asia/Taipei", nil},
	{"Tasmania Standard Time", "Australia/Hobart", []string{"Antarctica/Macquarie", "Australia/Currie", "Australia/Tasmania"}},
	{"Tocantins Standard Time", "America/Araguaina", nil},
	{"Tokyo Standard Time", "Asia/Tokyo", []string{"Asia/Dili", "Asia/Jayapura", "Etc/GMT-9", "Pacific/Palau"}},
	{"Tomsk Standard Time", "Asia/Tomsk", nil},
	{"Tonga Standard Time", "Pacific/Tongatapu", nil},
	{"Transbaikal Standard Time", "Asia/Chita", nil},
	{"Turkey Standard Time", "Europe/Istanbul", []string{"Asia/Istanbul"}},
	{"Turks And Caicos Standard Time", "America/Grand_Turk", nil},
	{"US Eastern Standard Time", "America/Indiana/Indianapolis", []string{"America/Fort_Wayne", "America/Indiana/Marengo", "America/Indiana/Vevay", "America/Indianapolis", "US/East-Indiana"}},
	{"US Mountain Standard Time", "America/Phoenix", []string{"America/Creston", "America/Dawson_Creek", "America/Fort_Nelson", "America/Hermosillo", "Etc/GMT+7", "US/Arizona"}},
	{"UTC", "UTC", []string{"Etc/UTC", "Etc/GMT", "Etc/GMT+0", "Etc/GMT-0", "Etc/GMT0", "Etc/Greenwich", "Etc/UCT", "Etc/Universal", "Etc/Zulu"}},
	{"UTC+12", "Etc/GMT-12", []string{"Pacific/Funafuti", "Pacific/Kwajalein", "Pacific/Majuro", "Pacific/Nauru", "Pacific/Tarawa", "Pacific/Wake", "Pacific/Wallis"}},
	{"UTC+13", "Etc/GMT-13", []string{"Pacific/Enderbury", "Pacific/Fakaofo", "Pacific/Kanton"}},
	{"UTC-02", "Etc/GMT+2", []string{"America/Noronha", "Atlantic/South_Georgia", "Brazil/DeNoronha"}},
	{"UTC-08", "Etc/GMT+8", []string{"Pacific/Pitcairn"}},
	{"UTC-09", "Etc/GMT+9", []string{"Pacific/Gambier"}},
	{"UTC-11", "Etc/GMT+11", []string{"Pacific/Midway", "Pacific/Niue", "Pacific/Pago_Pago", "Pacific/Samoa", "US/Samoa"}},
	{"Ulaanbaatar Standard Time", "Asia/Ulaanbaatar", []string{"Asia/Choibalsan", "Asia/Ulan_Bator"}},
	{"Venezuela Standard Time", "America/Caracas", nil},
	{"Vladivostok Standard Time", "Asia/Vladivostok", []string{"Asia/Ust-Nera"}},
	{"Volgograd Standard Time", "Europe/Volgograd", nil},
	{"W. Australia Standard Time", "Australia/Perth", []string{"Australia/West"}},
	{"W. Central Africa Standard Time", "Africa/Lagos", []string{"Africa/Algiers", "Africa/Bangui", "Africa/Brazzaville", "Africa/Douala", "Africa/Kinshasa", "Africa/Libreville", "Africa/Luanda", "Africa/Malabo", "Africa/Ndjamena", "Africa/Niamey", "Africa/Porto-Novo", "Africa/Tunis", "Etc/GMT-1"}},
	{"W. Europe Standard Time", "Europe/Berlin", []string{"Arctic/Longyearbyen", "Atlantic/Jan_Mayen", "Europe/Amsterdam", "Europe/Andorra", "Europe/Busingen", "Europe/Gibraltar", "Europe/Luxembourg", "Europe/Malta", "Europe/Monaco", "Europe/Oslo", "Europe/Rome", "Europe/San_Marino", "Europe/Stockholm", "Europe/Vaduz", "Europe/Vatican", "Europe/Vienna", "Europe/Zurich"}},
	{"W. Mongolia Standard Time", "Asia/Hovd", nil},
	{"West Asia Standard Time", "Asia/Tashkent", []string{"Antarctica/Mawson", "Asia/Aqtau", "Asia/Aqtobe", "Asia/Ashgabat", "Asia/Ashkhabad", "Asia/Atyrau", "Asia/Dushanbe", "Asia/Oral", "Asia/Samarkand", "Etc/GMT-5", "Indian/Kerguelen", "Indian/Maldives"}},
	{"West Bank Standard Time", "Asia/Hebron", []string{"Asia/Gaza"}},
	{"West Pacific Standard Time", "Pacific/Port_Moresby", []string{"Antarctica/DumontDUrville", "Etc/GMT-10", "Pacific/Chuuk", "Pacific/Guam", "Pacific/Saipan", "Pacific/Truk", "Pacific/Yap"}},
	{"Yakutsk Standard Time", "Asia/Yakutsk", []string{"Asia/Khandyga"}},
	{"Yukon Standard Time", "America/Whitehorse", []string{"America/Dawson", "Canada/Yukon"}},
	// Not in CLDR: the display name Windows gives its UTC zone, which
	// is what TIME_ZONE_INFORMATION.StandardName holds on Windows.
	{"Coordinated Universal Time", "UTC", nil},
}

// ZoneForWindows returns the IANA zone for a Windows time-zone name, as
// CLDR maps it for territory 001, or "" for a name it does not know.
func ZoneForWindows(windows string) string {
	return zoneIndex().byWindows[windows]
}

// WindowsName returns the Windows time-zone name for an IANA zone, or ""
// for a zone CLDR maps to none.
func WindowsName(zone string) string {
	return zoneIndex().byZone[zone]
}

// WindowsZone returns the location of a Windows time-zone name, as
// Exchange, Outlook and Microsoft Graph write them ("W. Europe Standard
// Time"); an IANA name is loaded as is. Unknown names give UTC and false.
func WindowsZone(name string) (*time.Location, bool) {
	if name == "" || strings.EqualFold(name, "UTC") {
		return time.UTC, true
	}
	if iana := ZoneForWindows(name); iana != "" {
		name = iana
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC, false
	}
	return loc, true
}

// WindowsZones yields every Windows name with its territory-001 IANA
// zone, in the table's order (by Windows name).
func WindowsZones() iter.Seq2[string, string] {
	return func(yield func(windows, zone string) bool) {
		for _, z := range windowsZones {
			if !yield(z.windows, z.zone) {
				return
			}
		}
	}
}

type zoneMaps struct {
	byWindows map[string]string
	byZone    map[string]string
}

// zoneIndex builds the lookup maps once, on first use.
var zoneIndex = sync.OnceValue(func() zoneMaps {
	m := zoneMaps{byWindows: make(map[string]string, len(windowsZones)), byZone: make(map[string]string, 4*len(windowsZones))}
	for _, z := range windowsZones {
		m.byWindows[z.windows] = z.zone
		if _, ok := m.byZone[z.zone]; !ok {
			m.byZone[z.zone] = z.windows
		}
		for _, o := range z.others {
			if _, ok := m.byZone[o]; !ok {
				m.byZone[o] = z.windows
			}
		}
	}
	return m
})
