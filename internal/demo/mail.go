package demo

import (
	"fmt"
	"html"
	"strings"
	"time"

	"github.com/easgate/easgate/sources"
)

// Mail folders, by the names mails are generated with; Populate maps the
// ones it creates to their ids.
const (
	inbox    = "inbox"
	drafts   = "drafts"
	sent     = "sent"
	trash    = "trash"
	junk     = "junk"
	archive  = "archive"
	projects = "projects"
	relaunch = "relaunch"
)

// mails returns the mailbox's messages in no particular order.
func (g *gen) mails() []*message {
	var ms []*message
	for range 26 {
		ms = append(ms, g.thread()...)
	}
	for range 90 {
		ms = append(ms, g.single(g.past(90)))
	}
	for range 36 {
		ms = append(ms, g.newsletter(g.past(90)))
	}
	for range 28 {
		ms = append(ms, g.notice(g.past(90)))
	}
	for range 14 {
		ms = append(ms, g.receipt(g.past(90)))
	}
	for range 8 {
		ms = append(ms, g.chartMail(g.past(90)))
	}
	for i := range 10 {
		ms = append(ms, g.junk(i))
	}
	for _, d := range draftTexts {
		m := g.fromOwner(g.past(10), d.subject, d.text)
		m.folder = drafts
		ms = append(ms, m)
	}
	for _, s := range sentTexts {
		ms = append(ms, g.fromOwner(g.past(80), s.subject, s.text))
	}
	ms = append(ms, g.invitation())

	// A few mails from people wait for an answer.
	flagged := 0
	for _, i := range g.r.Perm(len(ms)) {
		m := ms[i]
		if flagged < 7 && m.list == "" && m.from != g.owner && (m.folder == inbox || m.folder == projects || m.folder == relaunch) {
			m.flagged = true
			flagged++
		}
	}
	return ms
}

// thread returns a conversation between a person and the user, each mail
// answering the previous one, the user's in Sent.
func (g *gen) thread() []*message {
	r := g.r
	tp := g.topic()
	p := g.sender(tp.lang)
	t := g.past(88)
	folder := g.place(tp, t)
	userFirst := r.IntN(4) == 0
	var cc []sources.Address
	if r.IntN(3) == 0 {
		cc = []sources.Address{g.colleague(p)}
	}
	var ms []*message
	for k := range 2 + r.IntN(4) {
		if !t.Before(g.now) {
			break
		}
		m := &message{date: t, subject: tp.subject, cc: cc, folder: folder, read: true}
		fromUser := (k%2 == 0) == userFirst
		if fromUser {
			m.from, m.to, m.folder = g.owner, []sources.Address{p.address()}, sent
		} else {
			m.from, m.to = p.address(), []sources.Address{g.owner}
		}
		paras := tp.paras
		if k > 0 {
			m.subject = "Re: " + tp.subject
			rs := replies[tp.lang]
			paras = []string{rs[r.IntN(len(rs))]}
		}
		m.text = g.body(tp.lang, m.from, m.to[0], paras)
		if k > 0 {
			prev := ms[k-1]
			m.inReplyTo = prev.id
			m.references = append(append([]string(nil), prev.references...), prev.id)
			m.text += quote(prev)
			if fromUser {
				prev.answered = true
			}
		}
		m.id = g.messageID(m.from, t)
		if !fromUser && g.now.Sub(t) < 36*time.Hour && r.IntN(2) == 0 {
			m.read = false
		}
		ms = append(ms, m)
		t = t.Add(time.Duration(20+r.IntN(30*60)) * time.Minute)
	}
	return ms
}

// single returns a mail from a person that starts no thread.
func (g *gen) single(t time.Time) *message {
	r := g.r
	tp := g.topic()
	p := g.sender(tp.lang)
	m := &message{
		from:      p.address(),
		to:        []sources.Address{g.owner},
		subject:   tp.subject,
		date:      t,
		id:        g.messageID(p.address(), t),
		important: r.IntN(12) == 0,
		folder:    g.place(tp, t),
	}
	if r.IntN(4) == 0 {
		m.cc = []sources.Address{g.colleague(p)}
	}
	m.text = g.body(tp.lang, m.from, g.owner, tp.paras)
	if r.IntN(3) == 0 {
		m.html = toHTML(m.text)
	}
	m.read = g.isRead(t)
	return m
}

// topic picks a topic, English ones twice as often as others.
func (g *gen) topic() *topic {
	for {
		tp := &topics[g.r.IntN(len(topics))]
		if tp.lang == "en" || g.r.IntN(2) == 0 {
			return tp
		}
	}
}

// place picks the folder of a mail from a person about tp received at t.
func (g *gen) place(tp *topic, t time.Time) string {
	age := g.now.Sub(t)
	switch {
	case tp.project && age > 3*24*time.Hour && g.r.IntN(3) == 0:
		return projects
	case tp.project && age > 3*24*time.Hour:
		return relaunch
	case age > 40*24*time.Hour && g.r.IntN(5) < 3:
		return archive
	}
	return inbox
}

// isRead reports whether the user has read a mail received at t: the
// newest half of the last day's mail is unread, and a few older ones.
func (g *gen) isRead(t time.Time) bool {
	if g.now.Sub(t) < 30*time.Hour {
		return g.r.IntN(5) < 2
	}
	return g.r.IntN(25) != 0
}

func (g *gen) newsletter(t time.Time) *message {
	r := g.r
	n := &newsletters[r.IntN(len(newsletters))]
	t = time.Date(t.Year(), t.Month(), t.Day(), 6, 30, 0, 0, t.Location())
	if !t.Before(g.now) {
		t = t.AddDate(0, 0, -1)
	}
	from := sources.Address{Name: n.from, Email: n.email}
	issue := 100 + int(t.Sub(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)).Hours()/24/7)
	m := &message{
		from:    from,
		to:      []sources.Address{g.owner},
		subject: fmt.Sprintf("%s #%d: %s", n.title, issue, n.items[r.IntN(len(n.items))][0]),
		date:    t,
		id:      g.messageID(from, t),
		list:    n.list,
		folder:  inbox,
		read:    g.isRead(t),
	}
	if g.now.Sub(t) > 14*24*time.Hour && r.IntN(2) == 0 {
		m.folder = trash
	}
	var text, h strings.Builder
	fmt.Fprintf(&text, "%s, issue %d\n\n", n.title, issue)
	fmt.Fprintf(&h, `<!DOCTYPE html><html><body style="margin:0;background:#f3f3f3;font-family:Helvetica,Arial,sans-serif">`+
		`<table width="100%%" cellpadding="0" cellspacing="0"><tr><td align="center"><table width="600" style="background:#fff">`+
		`<tr><td style="background:#1f4e79;color:#fff;padding:24px;font-size:24px">%s <span style="font-size:14px">#%d</span></td></tr>`, html.EscapeString(n.title), issue)
	for _, i := range r.Perm(len(n.items)) {
		it := n.items[i]
		fmt.Fprintf(&text, "%s\n%s\n\n", it[0], it[1])
		fmt.Fprintf(&h, `<tr><td style="padding:16px 24px"><h2 style="margin:0 0 8px;font-size:18px">%s</h2><p style="margin:0;color:#444">%s</p></td></tr>`,
			html.EscapeString(it[0]), html.EscapeString(it[1]))
	}
	text.WriteString("You receive this because you subscribed. Unsubscribe: https://" + n.email[strings.IndexByte(n.email, '@')+1:] + "/unsubscribe\n")
	h.WriteString(`<tr><td style="padding:24px;font-size:12px;color:#888">You receive this because you subscribed. <a href="https://example.com/unsubscribe">Unsubscribe</a></td></tr></table></td></tr></table></body></html>`)
	m.text, m.html = text.String(), h.String()
	return m
}

func (g *gen) notice(t time.Time) *message {
	r := g.r
	n := &notices[r.IntN(len(notices))]
	from := sources.Address{Name: n.from, Email: n.email}
	subject := n.subject
	if strings.Contains(subject, "%d") {
		subject = fmt.Sprintf(subject, 1000+r.IntN(9000))
	}
	m := &message{
		from:    from,
		to:      []sources.Address{g.owner},
		subject: subject,
		date:    t,
		id:      g.messageID(from, t),
		text:    n.text + "\n",
		folder:  inbox,
		read:    g.isRead(t),
	}
	if r.IntN(2) == 0 {
		m.html = toHTML(m.text)
	}
	if g.now.Sub(t) > 30*24*time.Hour && r.IntN(2) == 0 {
		m.folder = trash
	}
	return m
}

// receipt returns a mail with a PDF attached.
func (g *gen) receipt(t time.Time) *message {
	r := g.r
	rc := &receipts[r.IntN(len(receipts))]
	from := sources.Address{Name: rc.from, Email: rc.email}
	no := 20000 + r.IntN(80000)
	amount := float64(1500+r.IntN(90000)) / 100
	m := &message{
		from:    from,
		to:      []sources.Address{g.owner},
		subject: fmt.Sprintf(rc.subject, no),
		date:    t,
		id:      g.messageID(from, t),
		text:    rc.text + "\n",
		folder:  inbox,
		read:    g.isRead(t),
		atts: []attachment{{
			name:  fmt.Sprintf(rc.file, no),
			ctype: "application/pdf",
			data: pdf([]string{
				ascii(rc.from),
				fmt.Sprintf("Document %d", no),
				"Date: " + t.Format("2006-01-02"),
				"Billed to: " + ascii(g.owner.Name),
				fmt.Sprintf("Total: EUR %.2f", amount),
			}),
		}},
	}
	if g.now.Sub(t) > 20*24*time.Hour {
		m.folder = archive
	}
	return m
}

// chartMail returns a mail from a person with a PNG chart attached.
func (g *gen) chartMail(t time.Time) *message {
	r := g.r
	subjects := [][3]string{
		{"en", "Signups per week (chart)", "signups.png"},
		{"en", "Load test results", "latency-p99.png"},
		{"de", "Auslastung Lager – Grafik", "Auslastung_Lager.png"},
		{"ja", "評価結果のグラフ", "評価結果.png"},
	}
	s := subjects[r.IntN(len(subjects))]
	p := g.sender(s[0])
	values := make([]int, 7)
	for i := range values {
		values[i] = 20 + r.IntN(80)
	}
	m := &message{
		from:    p.address(),
		to:      []sources.Address{g.owner},
		subject: s[1],
		date:    t,
		id:      g.messageID(p.address(), t),
		folder:  inbox,
		read:    g.isRead(t),
		atts:    []attachment{{name: s[2], ctype: "image/png", data: chart(values, palette[r.IntN(len(palette))])}},
	}
	m.text = g.body(s[0], m.from, g.owner, []string{map[string]string{
		"en": "Here's the chart you asked for. The last bar is a partial week.",
		"de": "anbei die Grafik. Der letzte Balken ist noch nicht vollständig.",
		"ja": "グラフを添付します。最後の週はまだ途中のデータです。",
	}[s[0]]})
	if g.now.Sub(t) > 40*24*time.Hour {
		m.folder = archive
	}
	return m
}

func (g *gen) junk(i int) *message {
	s := spam[i%len(spam)]
	from := sources.Address{Name: s[0], Email: s[1]}
	t := g.past(30)
	return &message{
		from:    from,
		to:      []sources.Address{g.owner},
		subject: s[2],
		date:    t,
		id:      g.messageID(from, t),
		text:    spamText + "\n",
		html:    `<html><body><h1 style="color:red">` + html.EscapeString(s[2]) + `</h1><p><a href="https://claim.example/now">CLAIM NOW</a></p></body></html>`,
		folder:  junk,
		read:    g.r.IntN(3) == 0,
	}
}

// fromOwner returns a mail the user sent to one to three people.
func (g *gen) fromOwner(t time.Time, subject, text string) *message {
	m := &message{from: g.owner, subject: subject, date: t, text: text + "\n", folder: sent, read: true}
	for range 1 + g.r.IntN(3) {
		m.to = append(m.to, people[g.r.IntN(len(people))].address())
	}
	m.id = g.messageID(g.owner, t)
	return m
}

// body writes a mail's text: greeting, paragraphs, closing and signature.
func (g *gen) body(lang string, from, to sources.Address, paras []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, greetings[lang], g.callName(lang, to))
	b.WriteString("\n\n")
	for _, p := range paras {
		b.WriteString(wrap(p, 72) + "\n\n")
	}
	cs := closings[lang]
	b.WriteString(cs[g.r.IntN(len(cs))] + "\n" + g.callName(lang, from) + "\n")
	if p := g.person(from); p != nil && companies[p.company].name != "" {
		c := &companies[p.company]
		fmt.Fprintf(&b, "\n-- \n%s\n%s, %s\nhttps://www.%s/\n", p.name(), p.job, c.name, c.domain)
	}
	return b.String()
}

// callName is how a mail addresses a: the first name, or the family name
// in Japanese.
func (g *gen) callName(lang string, a sources.Address) string {
	p := g.person(a)
	switch {
	case p == nil:
		first, _, _ := strings.Cut(a.Name, " ")
		return first
	case lang == "ja" && p.last != "":
		return p.last
	}
	return p.first
}

func (g *gen) person(a sources.Address) *person {
	for i := range people {
		if people[i].address() == a {
			return &people[i]
		}
	}
	return nil
}

// quote returns prev's text as a reply quotes it.
func quote(prev *message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nOn %s, %s wrote:\n", prev.date.Format("Mon, 2 Jan 2006 at 15:04"), prev.from.Name)
	for l := range strings.Lines(prev.text) {
		if strings.HasPrefix(l, ">") {
			b.WriteString(">" + l)
		} else {
			b.WriteString("> " + l)
		}
	}
	return b.String()
}

// toHTML renders text as simple HTML, quoted lines as a blockquote.
func toHTML(text string) string {
	var b strings.Builder
	b.WriteString(`<html><body style="font-family:Helvetica,Arial,sans-serif;font-size:14px">`)
	inQuote := false
	for l := range strings.Lines(text) {
		l = strings.TrimRight(l, "\n")
		q := strings.HasPrefix(l, ">")
		if q != inQuote {
			if q {
				b.WriteString(`<blockquote style="border-left:2px solid #ccc;margin:0;padding-left:8px;color:#555">`)
			} else {
				b.WriteString("</blockquote>")
			}
			inQuote = q
		}
		l = strings.TrimPrefix(strings.TrimPrefix(l, ">"), " ")
		b.WriteString(html.EscapeString(l) + "<br>\n")
	}
	if inQuote {
		b.WriteString("</blockquote>")
	}
	b.WriteString("</body></html>")
	return b.String()
}

// wrap breaks s into lines of at most n bytes at spaces.
func wrap(s string, n int) string {
	var b strings.Builder
	col := 0
	for i, w := range strings.Fields(s) {
		if i > 0 {
			if col+1+len(w) > n {
				b.WriteString("\n")
				col = 0
			} else {
				b.WriteString(" ")
				col++
			}
		}
		b.WriteString(w)
		col += len(w)
	}
	return b.String()
}

var transliterate = strings.NewReplacer("ä", "ae", "ö", "oe", "ü", "ue", "ß", "ss", "é", "e", "è", "e", "ô", "o", "à", "a")

// ascii transliterates or drops what the PDF's standard font cannot show.
func ascii(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, transliterate.Replace(s))
}
