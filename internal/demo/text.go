package demo

// topic is the start of a work conversation: a subject and what the first
// mail says, in the language of whoever writes it.
type topic struct {
	lang    string
	subject string
	paras   []string
	project bool // belongs in the Website Relaunch folder
}

var topics = []topic{
	{"en", "Q3 numbers for the board deck", []string{
		"Could you send me the final Q3 revenue and churn figures by Thursday? The board deck goes out on Friday morning and I'd like a day to review.",
		"If the churn number is still provisional, mark it as such and we'll footnote it.",
	}, false},
	{"en", "Website relaunch: homepage wireframes", []string{
		"The second round of homepage wireframes is in the shared folder. The main change is a shorter hero section and the pricing table moved up.",
		"Let me know which of the two navigation variants you prefer before Wednesday's review.",
	}, true},
	{"en", "Website relaunch: copy deadline", []string{
		"Quick reminder that all page copy needs to be in the CMS by the end of next week so the translators can start.",
		"The German and Japanese versions will take about five working days each.",
	}, true},
	{"en", "Staging is down again", []string{
		"Staging has been returning 502s since about 9:40. It looks like the database migration from last night never finished.",
		"I've paused the deploy pipeline until we know more. Can someone with database access have a look?",
	}, true},
	{"en", "Offsite in Lisbon — hotel options", []string{
		"I've shortlisted three hotels within walking distance of the venue. Two have meeting rooms we could use for the breakout sessions.",
		"Prices are per night including breakfast. We need to confirm by the 15th to keep the group rate.",
	}, false},
	{"en", "Interview feedback: senior backend candidate", []string{
		"Thanks for joining the panel yesterday. Please add your written feedback to the candidate's profile by tomorrow noon.",
		"Overall impression so far is positive; the system design round raised a few questions about operational experience.",
	}, false},
	{"en", "Contract renewal with Harbor & Pine", []string{
		"Our current agreement ends at the end of next month. I've attached nothing yet, but I'd like to agree on the main points before legal drafts anything.",
		"The main open items are the liability cap and the notice period.",
	}, false},
	{"en", "Lunch on Friday?", []string{
		"It's been ages! Are you free for lunch on Friday? There's a new ramen place near the office that's supposed to be great.",
	}, false},
	{"en", "Customs paperwork for the Rotterdam shipment", []string{
		"The shipment is held at customs because the commercial invoice lists the wrong tariff code for the sensor modules.",
		"I can file a correction today if you confirm the code from the supplier's datasheet.",
	}, false},
	{"en", "API rate limits for the mobile app", []string{
		"We're seeing bursts of 429s from the mobile clients after the last release. It looks like the background refresh retries without backoff.",
		"Proposal: raise the per-device limit temporarily and ship a fix with exponential backoff in the next build.",
	}, true},
	{"en", "Design review notes 🎨", []string{
		"Notes from today's design review are below. Biggest takeaway: the onboarding flow needs one step fewer.",
		"Action items are assigned in the tracker; shout if I've put your name on something by mistake.",
	}, true},
	{"en", "Your travel reimbursement", []string{
		"Your expense report for the Hamburg trip has been approved. The amount will be paid out with the next salary run.",
	}, false},
	{"de", "Überprüfung der Angebote für das Lager", []string{
		"anbei wie besprochen die Zusammenfassung der drei Angebote für die Lagerfläche in Billbrook. Das günstigste Angebot hat leider eine Mindestlaufzeit von fünf Jahren.",
		"Können wir am Donnerstag kurz darüber sprechen? Ich würde gern bis Monatsende eine Entscheidung treffen.",
	}, false},
	{"de", "Termin für das Quartalsgespräch", []string{
		"für unser Quartalsgespräch hätte ich folgende Vorschläge: Dienstag um 14 Uhr oder Mittwoch um 10 Uhr.",
		"Bitte gib mir kurz Bescheid, was dir besser passt.",
	}, false},
	{"de", "Relaunch: Übersetzungen für die Startseite", []string{
		"die Übersetzungen für die Startseite sind fertig. Bei zwei Begriffen bin ich mir nicht sicher, ob wir sie übersetzen oder auf Englisch lassen.",
		"Ich habe sie im Dokument gelb markiert.",
	}, true},
	{"de", "Grillen am Samstag? ☀️", []string{
		"wir wollen am Samstag ab 16 Uhr im Garten grillen. Kommst du? Bring gern jemanden mit, Salat haben wir genug.",
	}, false},
	{"fr", "Réunion de lancement du projet", []string{
		"je vous propose de fixer la réunion de lancement mardi prochain à 10 h. L'ordre du jour suit ci-dessous.",
		"N'hésitez pas à me dire si vous souhaitez ajouter un point.",
	}, false},
	{"fr", "Compte rendu de l'atelier de jeudi", []string{
		"voici le compte rendu de l'atelier. Nous avons validé les trois priorités et le calendrier prévisionnel.",
		"Les prochaines étapes sont détaillées en fin de document.",
	}, false},
	{"es", "¿Revisamos el presupuesto del próximo año?", []string{
		"te escribo para ver si podemos revisar juntos el presupuesto del próximo año. Hay algunas partidas que han cambiado bastante.",
		"¿Te viene bien el jueves por la tarde?",
	}, false},
	{"es", "Facturación pendiente de octubre", []string{
		"he revisado la facturación y nos faltan dos facturas de octubre. ¿Podrías reenviármelas cuando tengas un momento?",
	}, false},
	{"ja", "来週の打ち合わせについて", []string{
		"お疲れ様です。来週の打ち合わせですが、火曜日の午後はいかがでしょうか。",
		"議題は試作機の評価結果と量産スケジュールの二点を予定しています。",
	}, false},
	{"ja", "試作機の評価結果", []string{
		"試作機の評価結果をまとめましたので共有します。センサー部の精度は目標値を満たしました。",
		"詳細は添付の資料をご確認ください。",
	}, false},
}

var greetings = map[string]string{"en": "Hi %s,", "de": "Hallo %s,", "fr": "Bonjour %s,", "es": "Hola %s:", "ja": "%sさん"}

var closings = map[string][]string{
	"en": {"Best,", "Thanks,", "Cheers,", "Best regards,"},
	"de": {"Viele Grüße", "Beste Grüße", "Danke und Gruß"},
	"fr": {"Bien à vous,", "Cordialement,", "Merci d'avance,"},
	"es": {"Un saludo,", "Gracias,", "Saludos,"},
	"ja": {"よろしくお願いいたします。"},
}

// replies are answers in a thread, by language.
var replies = map[string][]string{
	"en": {
		"Sounds good to me, let's go with that.",
		"Thanks! I'll take a look this afternoon and get back to you.",
		"Could you send me the latest version? The one I have is from last week.",
		"Agreed. I've added it to the agenda for Monday.",
		"Done. Let me know if anything else is missing.",
		"I'm not sure about the second point. Can we discuss it briefly tomorrow?",
	},
	"de": {
		"Danke, das passt für mich.",
		"Ich schaue mir das morgen früh an und melde mich.",
		"Donnerstag klappt, 11 Uhr wäre ideal.",
		"Erledigt. Sag Bescheid, falls noch etwas fehlt.",
	},
	"fr": {
		"Merci, c'est parfait pour moi.",
		"Je regarde cela demain matin et je reviens vers vous.",
		"Mardi me convient très bien.",
	},
	"es": {
		"¡Perfecto, gracias!",
		"Lo reviso mañana y te digo algo.",
		"El jueves me va genial, ¿a las cinco?",
	},
	"ja": {
		"ありがとうございます。内容を確認します。",
		"承知しました。火曜日の15時でお願いします。",
	},
}

// newsletter is a list the user is subscribed to.
type newsletter struct {
	from  string
	email string
	list  string
	title string
	items [][2]string // headline, blurb
}

var newsletters = []newsletter{
	{"Berlin Tech Weekly", "news@techweekly.example", "<weekly.techweekly.example>", "Berlin Tech Weekly", [][2]string{
		{"Meetup: Go in production", "Three talks on running Go services at scale, followed by drinks. Free, registration required."},
		{"Startup of the week", "A team building open-source tooling for energy grids raises its seed round."},
		{"Job board", "Forty new roles this week, from junior frontend to principal SRE."},
		{"Reading list", "Why most caches are too big, and how to measure whether yours is."},
	}},
	{"Gärtnerei Grünfink", "hallo@gruenfink.example", "<newsletter.gruenfink.example>", "Grünfink Gartenpost", [][2]string{
		{"Jetzt pflanzen: Herbstzwiebeln", "Tulpen, Narzissen und Krokusse sind eingetroffen. Jetzt setzen, im Frühling staunen."},
		{"Workshop: Kräuter auf dem Balkon", "Samstag um 11 Uhr in unserem Gewächshaus. Teilnahme kostenlos."},
		{"Rezept der Woche", "Kürbissuppe mit geröstetem Ingwer und Kürbiskernöl."},
	}},
	{"The Long Read", "digest@longread.example", "<digest.longread.example>", "The Long Read — weekend digest", [][2]string{
		{"The quiet return of the night train", "How sleeper services came back across Europe, and who rides them."},
		{"Inside a seed vault", "A visit to the place that keeps a backup of the world's crops."},
		{"The mathematics of queues", "Why the line next to yours always seems faster."},
	}},
}

// notice is an automated message: alerts, shipping, builds.
type notice struct {
	from, email string
	subject     string // may hold one %d
	text        string
}

var notices = []notice{
	{"Kestrel CI", "ci@kestrel.example", "Build #%d passed on main", "All 1,284 tests passed in 6m 12s.\n\nCommit: Bump dependencies and regenerate mocks\nTriggered by: push"},
	{"Kestrel CI", "ci@kestrel.example", "Build #%d failed on main", "2 of 1,284 tests failed.\n\nFAIL sync/pager_test: timeout after 30s\nFAIL api/ratelimit_test: want 429, got 200"},
	{"Parcel Tracking", "noreply@parcels.example", "Your parcel %d is out for delivery", "Good news! Your parcel is out for delivery today between 10:00 and 14:00.\n\nIf nobody is home, it will be left with a neighbour."},
	{"Account Security", "security@accounts.example", "New sign-in from Firefox on Linux", "We noticed a new sign-in to your account.\n\nDevice: Firefox on Linux\nLocation: Berlin, Germany\n\nIf this was you, you can ignore this message."},
	{"Calendar", "calendar@kestrel.example", "Reminder: design review in 30 minutes", "Design review starts in 30 minutes in room Spree (3rd floor)."},
	{"Tracker", "tracker@northwind.example", "[NW-%d] Export fails for reports over 10,000 rows", "Felix Wagner changed the status to In Progress.\n\nComment: Reproduced locally; the CSV writer buffers everything in memory."},
	{"Städtische Bibliothek", "ausleihe@bibliothek.example", "Erinnerung: Leihfrist endet in 3 Tagen", "Die Leihfrist für folgende Medien endet in drei Tagen:\n\n- Die Vermessung der Welt\n- Kochen für Freunde\n\nSie können die Medien online verlängern."},
}

// receipt is a mail with a PDF document attached.
type receipt struct {
	from, email string
	subject     string // one %d
	file        string // one %d
	text        string
}

var receipts = []receipt{
	{"Euro Rail Tickets", "tickets@rail.example", "Your ticket %d: Berlin Hbf → Hamburg Hbf", "ticket-%d.pdf", "Thank you for travelling with us. Your ticket is attached; please show it on your phone or printed."},
	{"Northwind Analytics GmbH", "billing@northwind.example", "Rechnung Nr. %d", "Rechnung_%d_März.pdf", "Sehr geehrte Damen und Herren,\n\nanbei erhalten Sie unsere Rechnung. Zahlbar innerhalb von 14 Tagen ohne Abzug."},
	{"CloudHost Billing", "billing@cloudhost.example", "Invoice %d for your subscription", "invoice-%d.pdf", "Your monthly invoice is attached. The amount will be charged to your card ending in 4242."},
	{"Hôtel des Arts", "reservation@hoteldesarts.example", "Confirmation de réservation n° %d", "confirmation-%d.pdf", "Merci pour votre réservation. Vous trouverez la confirmation en pièce jointe."},
}

// spam goes to Junk.
var spam = [][3]string{
	{"Prize Department", "winner@lucky-draw.example", "Congratulations!!! You have been selected for a €500 voucher"},
	{"Ｓｐｅｃｉａｌ Ｏｆｆｅｒ", "deals@cheap-watches.example", "Ｌｕｘｕｒｙ ｗａｔｃｈｅｓ ⌚ 90% OFF today only"},
	{"Kundenservice", "service@bank-sicherheit.example", "Ihr Konto wurde vorübergehend gesperrt"},
	{"Dr. Fortune", "fortune@crypto-yield.example", "Double your crypto in 7 days 🚀🚀🚀"},
	{"Pharmacy Online", "rx@pills.example", "Re: your order is waiting"},
	{"Reisebüro Sonnenschein", "info@sonnenschein-reisen.example", "Last Minute: Malediven ab 299 € ✈️"},
}

var spamText = "Dear customer,\n\nClick the link below within 24 hours to claim your reward. This offer is valid only today.\n\nhttps://claim.example/now\n\nUnsubscribe: reply STOP"

// drafts are mails the user started and did not send.
var draftTexts = []struct{ subject, text string }{
	{"Feedback on the offsite agenda", "Hi all,\n\nA few thoughts on the agenda before we lock it:\n\n1. The Friday afternoon slot is too long\n2. "},
	{"Re: Contract renewal with Harbor & Pine", "Olivia,\n\nthanks for the draft. On the liability cap, we"},
	{"Bewerbung – Rückfrage", "Hallo Frau Fischer,\n\nvielen Dank für Ihre Nachricht. Zu Ihrer Frage nach dem Starttermin: "},
	{"Packing list for Lisbon", "- passport\n- adapter\n- laptop charger\n- "},
}

// status updates the user sends on their own.
var sentTexts = []struct{ subject, text string }{
	{"Weekly status", "Hi team,\n\nquick status for this week:\n\n- Sync pager is merged\n- Rate limiting fix ships Thursday\n- Onboarding redesign: waiting for copy\n\nHave a good weekend!"},
	{"Slides from today", "Hi,\n\nhere are the slides from today's session as promised. Let me know if the link doesn't work."},
	{"Out of office next week", "Hi all,\n\nI'm out of office from Monday to Wednesday next week. Lena is covering anything urgent."},
	{"Kurze Frage zum Angebot", "Hallo,\n\nist das Angebot vom letzten Monat noch gültig? Wir würden gern im nächsten Quartal starten.\n\nViele Grüße"},
	{"Merci !", "Bonjour,\n\nmerci encore pour l'accueil la semaine dernière, c'était un vrai plaisir.\n\nÀ bientôt"},
}
