package graphemu

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// wellKnownMail are the default mail folders and their display names
// (§4.4, [D] resources/mailfolder).
var wellKnownMail = []struct{ name, display string }{
	{"inbox", "Inbox"}, {"drafts", "Drafts"}, {"sentitems", "Sent Items"}, {"deleteditems", "Deleted Items"},
	{"junkemail", "Junk Email"}, {"outbox", "Outbox"}, {"archive", "Archive"},
}

// AddUser creates a mailbox with the default mail folders, a Contacts
// folder, a Calendar and a To Do "Tasks" list, and returns its object id.
// upn is also its mail address.
func (s *Server) AddUser(upn, displayName string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := &mailbox{id: newGUID(), upn: upn, mail: upn, name: displayName,
		objects: make(map[string]*object), rest: make(map[string]*object),
		containers: make(map[string]*container), wellKnown: make(map[string]string),
		syncStates: make(map[string]*syncState)}
	root := &object{id: "F" + newID(""), kind: kindMailFolder, props: map[string]any{"displayName": "Top of Information Store"}}
	m.insert(root, "", "hier:root") // not listed by mailFolders delta
	m.wellKnown["msgfolderroot"] = root.id
	for _, w := range wellKnownMail {
		f := &object{id: "F" + newID(""), kind: kindMailFolder, props: map[string]any{"displayName": w.display}}
		m.insert(f, root.id, hierMail)
		m.wellKnown[w.name] = f.id
	}
	cf := &object{id: "C" + newID(""), kind: kindContactF, props: map[string]any{"displayName": "Contacts"}}
	m.insert(cf, "", hierContacts)
	m.wellKnown["contacts"] = cf.id
	cal := &object{id: "K" + newID(""), kind: kindCalendar, props: map[string]any{"name": "Calendar", "isDefaultCalendar": true}}
	m.insert(cal, "", "hier:calendars")
	m.wellKnown["calendar"] = cal.id
	tl := &object{id: "L" + newID(""), kind: kindTaskList, props: map[string]any{"displayName": "Tasks", "wellknownListName": "defaultList", "isOwner": true, "isShared": false}}
	m.insert(tl, "", hierTodo)
	m.wellKnown["tasks"] = tl.id
	m.oof = map[string]any{"status": "disabled", "externalAudience": "all",
		"internalReplyMessage": "", "externalReplyMessage": "",
		"scheduledStartDateTime": map[string]any{"dateTime": "2026-01-01T00:00:00.0000000", "timeZone": "UTC"},
		"scheduledEndDateTime":   map[string]any{"dateTime": "2026-01-02T00:00:00.0000000", "timeZone": "UTC"}}
	s.boxes[m.id] = m
	s.byName[strings.ToLower(upn)] = m
	s.order = append(s.order, m)
	return m.id
}

func newGUID() string {
	h := newID("")
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + newID("")[:12]
}

// UserInfo is a seeded mailbox, as the emulator command prints it.
type UserInfo struct{ ID, UPN, Name string }

// Users lists the mailboxes in the order they were added.
func (s *Server) Users() []UserInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]UserInfo, len(s.order))
	for i, m := range s.order {
		out[i] = UserInfo{m.id, m.upn, m.name}
	}
	return out
}

func userJSON(m *mailbox) map[string]any {
	given, sur, _ := strings.Cut(m.name, " ")
	return map[string]any{"id": m.id, "userPrincipalName": m.upn, "mail": m.mail, "displayName": m.name,
		"givenName": given, "surname": sur, "businessPhones": []string{}, "jobTitle": nil,
		"officeLocation": nil, "mobilePhone": nil}
}

// serveUsers answers /users and everything under /users/{id}.
func (s *Server) serveUsers(c *call) *graphError {
	if len(c.segs) == 1 {
		if c.r.Method != http.MethodGet {
			return notImplemented(c.r)
		}
		return s.listUsers(c)
	}
	s.mu.Lock()
	m := s.findLocked(c.segs[1])
	s.mu.Unlock()
	if m == nil {
		return errf(404, "Request_ResourceNotFound", "Resource '%s' does not exist or one of its queried reference-property objects are not present.", c.segs[1])
	}
	c.mb = m
	done, gerr := s.admit(c.app, m)
	if gerr != nil {
		return gerr
	}
	defer done()
	rest := c.segs[2:]
	if len(rest) == 0 {
		if c.r.Method != http.MethodGet {
			return notImplemented(c.r)
		}
		if !hasRole(c.app, "User.Read.All") {
			return errf(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
		}
		s.mu.Lock()
		u := selectProps(userJSON(m), c.q.Get("$select"))
		s.mu.Unlock()
		writeJSON(c.w, 200, u)
		return nil
	}
	switch strings.ToLower(rest[0]) {
	case "mailfolders", "messages", "sendmail", "mailboxsettings":
		if strings.EqualFold(rest[0], "sendmail") {
			if !hasRole(c.app, "Mail.Send") {
				return errf(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
			}
		} else if strings.EqualFold(rest[0], "mailboxsettings") {
			if !hasRole(c.app, "MailboxSettings.ReadWrite") {
				return errf(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
			}
		} else if !hasRole(c.app, "Mail.ReadWrite") {
			return errf(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
		}
		return s.serveMail(c, rest)
	case "contactfolders", "contacts":
		if !hasRole(c.app, "Contacts.ReadWrite") {
			return errf(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
		}
		return s.serveContacts(c, rest)
	case "calendars", "calendar", "calendarview", "events":
		if !hasRole(c.app, "Calendars.ReadWrite") {
			return errf(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
		}
		return s.serveCalendar(c, rest)
	case "todo":
		// [D] todotask-delta-permissions: the application permission is
		// Tasks.ReadWrite.All (§7 row 7).
		if !hasRole(c.app, "Tasks.ReadWrite.All") {
			return errf(403, "Forbidden", "Missing scope permissions on the request. API requires one of 'Tasks.ReadWrite.All'.")
		}
		return s.serveTodo(c, rest)
	}
	return notImplemented(c.r)
}

// listUsers answers GET /users with $filter (startswith on displayName,
// givenName, surname, mail or userPrincipalName; eq on mail or
// userPrincipalName) and $top, for the GAL (§1.2).
func (s *Server) listUsers(c *call) *graphError {
	if !hasRole(c.app, "User.Read.All") {
		return errf(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
	}
	s.mu.Lock()
	s.requests++
	match, gerr := userFilter(c.q.Get("$filter"))
	var out []map[string]any
	if gerr == nil {
		for _, m := range s.order {
			if match(userJSON(m)) {
				out = append(out, selectProps(userJSON(m), c.q.Get("$select")))
			}
		}
	}
	s.mu.Unlock()
	if gerr != nil {
		return gerr
	}
	if n := atoiDefault(c.q.Get("$top"), 100); len(out) > n {
		out = out[:n]
	}
	writeJSON(c.w, 200, map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users", "value": nonNil(out)})
	return nil
}

// userFilter parses the few $filter forms the GAL uses: clauses
// "startswith(prop,'v')" or "prop eq 'v'" joined by " or ".
func userFilter(f string) (func(map[string]any) bool, *graphError) {
	if f == "" {
		return func(map[string]any) bool { return true }, nil
	}
	type clause struct {
		prop, val string
		prefix    bool
	}
	var cs []clause
	for part := range strings.SplitSeq(f, " or ") {
		part = strings.TrimSpace(part)
		if inner, ok := strings.CutPrefix(part, "startswith("); ok && strings.HasSuffix(inner, ")") {
			p, v, ok := strings.Cut(strings.TrimSuffix(inner, ")"), ",")
			if !ok {
				return nil, badRequest("Invalid filter clause %q", part)
			}
			cs = append(cs, clause{strings.TrimSpace(p), unquote(v), true})
			continue
		}
		if p, v, ok := strings.Cut(part, " eq "); ok {
			cs = append(cs, clause{strings.TrimSpace(p), unquote(v), false})
			continue
		}
		return nil, badRequest("Unsupported filter clause %q", part)
	}
	return func(u map[string]any) bool {
		for _, c := range cs {
			v, _ := u[c.prop].(string)
			if c.prefix && strings.HasPrefix(strings.ToLower(v), strings.ToLower(c.val)) ||
				!c.prefix && strings.EqualFold(v, c.val) {
				return true
			}
		}
		return false
	}, nil
}

func unquote(v string) string {
	v = strings.TrimSpace(v)
	v = strings.TrimPrefix(strings.TrimSuffix(v, "'"), "'")
	return strings.ReplaceAll(v, "''", "'")
}

// selectProps keeps the properties a $select names, id always
// included (§2.3).
func selectProps(p map[string]any, sel string) map[string]any {
	if sel == "" {
		return p
	}
	keep := strings.Split(sel, ",")
	out := make(map[string]any)
	for k, v := range p {
		if k == "id" || strings.HasPrefix(k, "@") || slices.ContainsFunc(keep, func(s string) bool { return strings.EqualFold(strings.TrimSpace(s), k) }) {
			out[k] = v
		}
	}
	return out
}

func atoiDefault(s string, d int) int {
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil || n <= 0 {
		return d
	}
	return n
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
