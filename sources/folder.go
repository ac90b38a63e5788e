package sources

// Folder is one folder of a user's store.
type Folder struct {
	ID       FolderID
	ParentID FolderID // empty at the top level
	Name     string
	Kind     FolderKind

	// Role is the store's own name for a special folder, such as a JMAP
	// role or an IMAP SPECIAL-USE attribute without its backslash
	// ("inbox", "sent", "trash"); empty for ordinary folders.
	Role string
}

// FolderKind says what a folder holds and, for the default folders, which
// one it is. A store has at most one default folder of each kind; the
// others are ordinary folders of their content type.
type FolderKind int

// Folder kinds. The zero value is an ordinary mail folder, the most common
// kind and the safe guess for a store that does not say.
const (
	KindUserMail FolderKind = iota
	KindInbox
	KindDrafts
	KindDeleted
	KindSent
	KindOutbox
	KindTasks
	KindCalendar
	KindContacts
	KindNotes
	KindJournal
	KindUserCalendar
	KindUserContacts
	KindUserTasks
	KindUserNotes
	KindUserJournal
)

var kindNames = [...]string{
	KindUserMail:     "mail",
	KindInbox:        "inbox",
	KindDrafts:       "drafts",
	KindDeleted:      "deleted",
	KindSent:         "sent",
	KindOutbox:       "outbox",
	KindTasks:        "tasks",
	KindCalendar:     "calendar",
	KindContacts:     "contacts",
	KindNotes:        "notes",
	KindJournal:      "journal",
	KindUserCalendar: "user calendar",
	KindUserContacts: "user contacts",
	KindUserTasks:    "user tasks",
	KindUserNotes:    "user notes",
	KindUserJournal:  "user journal",
}

// String returns a lowercase name such as "inbox" or "user calendar".
func (k FolderKind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Content is the kind of item a folder holds.
type Content int

// Folder contents.
const (
	ContentMail Content = iota
	ContentCalendar
	ContentContacts
	ContentTasks
	ContentNotes
	ContentJournal
)

// Content returns the kind of item a folder of kind k holds.
func (k FolderKind) Content() Content {
	switch k {
	case KindCalendar, KindUserCalendar:
		return ContentCalendar
	case KindContacts, KindUserContacts:
		return ContentContacts
	case KindTasks, KindUserTasks:
		return ContentTasks
	case KindNotes, KindUserNotes:
		return ContentNotes
	case KindJournal, KindUserJournal:
		return ContentJournal
	}
	return ContentMail
}
