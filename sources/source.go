// Package sources is the store side of easgate: folders, items and their
// change feeds, independent of any protocol. A store adapter implements
// Source and whichever optional abilities (Writer, Mover, Watcher, ...) its
// store has; callers find those by type assertion, so a missing ability is
// a missing method, not a runtime error.
package sources

import (
	"context"
	"io"
	"time"
)

// State is an opaque position in a change feed: a JMAP state, an IMAP
// "uidvalidity/modseq" pair, a DAV sync-token, a Graph delta link. The
// empty State means "before anything": changes since it list every item.
type State string

// FolderID identifies a folder within one user's store.
type FolderID string

// ItemID identifies an item within its folder. Adapters whose store keeps
// ids across folders may still return a new id from Move.
type ItemID string

// Source is what every store adapter provides: the folder hierarchy, a
// per-folder change feed and item retrieval. Implementations serve one
// authenticated user and are safe for concurrent use.
type Source interface {
	// Folders reports the folders created, renamed or moved, and those
	// removed, after since; the empty State lists every folder.
	Folders(ctx context.Context, since State) (FolderDelta, error)

	// Changes reports at most max items of folder f changed or removed
	// after since (max <= 0 means no limit). When more remain, the Delta
	// has More set and Next continues where it stopped, so a caller can
	// page through any backlog, including the first listing from the
	// empty State, without starting over. A since the store can no longer
	// calculate from yields ErrStateExpired; an unknown folder ErrNotFound.
	Changes(ctx context.Context, f FolderID, since State, max int) (Delta, error)

	// Get returns the items of folder f named by ids, in that order, with
	// the parts o asks for; a nil o means &GetOptions{}. Ids that no longer
	// exist are left out rather than failing the call, since an item may
	// vanish between Changes and Get.
	Get(ctx context.Context, f FolderID, ids []ItemID, o *GetOptions) ([]Item, error)
}

// FolderDelta is the answer to Source.Folders. Folder lists are short, so
// it is never paged.
type FolderDelta struct {
	Changed []Folder   // created, renamed or moved
	Removed []FolderID // deleted
	Next    State      // pass to the next Folders call

	// Partial says that part of the hierarchy (one store of several, a
	// calendar server that is down) could not be listed: Changed holds
	// what could be, with the last known folders of the missing part if
	// the adapter has them. A folder missing from a Partial listing is
	// not gone, and Next may not cover the missing part.
	Partial bool
}

// Delta is one page of a folder's change feed. An id appears at most once
// in Changed and Removed together. Removed may name items the caller never
// saw (created and deleted between two calls); callers ignore those.
type Delta struct {
	Changed []ItemID
	Removed []ItemID
	Next    State // the state after this page
	More    bool  // another page follows from Next
}

// GetOptions says which parts of an item Get should fetch. Only mail has
// parts that are expensive enough to leave out; other kinds come whole.
type GetOptions struct {
	Text bool // fill Message.Text
	HTML bool // fill Message.HTML

	// BodyLimit truncates each body to at most this many bytes, at a
	// character boundary, and sets Body.Truncated. Zero means no limit.
	BodyLimit int64

	// MIME sets Message.MIME, for callers that stream the raw message.
	MIME bool
}

// ItemRef names an item anywhere in the store.
type ItemRef struct {
	Folder FolderID
	ID     ItemID
}

// Writer is a Source that can create, replace and delete items.
type Writer interface {
	// Put stores it in folder f: as a new item when it.ID is empty,
	// otherwise replacing item it.ID. A non-empty ifMatch must equal the
	// item's current ETag, or Put fails with ErrConflict. Put returns the
	// item's id, which may differ from it.ID, and its new ETag.
	Put(ctx context.Context, f FolderID, it *Item, ifMatch string) (id ItemID, etag string, err error)

	// Delete removes item id from folder f; ErrNotFound if it is not there.
	Delete(ctx context.Context, f FolderID, id ItemID) error
}

// Mover is a Source that can move items between folders.
type Mover interface {
	// Move moves ids from one folder to another and returns each moved
	// item's id in the destination. Ids missing from the map were not
	// moved because they no longer exist in from.
	Move(ctx context.Context, from, to FolderID, ids []ItemID) (map[ItemID]ItemID, error)
}

// Flagger is a Source that can change a message's flags without rewriting
// the message, which is what most mail edits from a device amount to and
// what IMAP STORE and a JMAP patch do cheaply.
type Flagger interface {
	UpdateFlags(ctx context.Context, f FolderID, id ItemID, u FlagUpdate) error
}

// FlagUpdate lists the flag changes of one UpdateFlags call; nil fields
// are left as they are.
type FlagUpdate struct {
	Read, Flagged, Answered, Forwarded *bool

	// FollowUp replaces the follow-up flag when SetFollowUp is true; a nil
	// FollowUp then clears it.
	FollowUp    *FollowUp
	SetFollowUp bool

	// Categories replace the message's categories when SetCategories is
	// true.
	Categories    []string
	SetCategories bool
}

// FolderWriter is a Source whose folder hierarchy can be changed.
type FolderWriter interface {
	// CreateFolder creates a folder named name under parent (empty for the
	// top level); ErrConflict if the parent already has one of that name.
	CreateFolder(ctx context.Context, parent FolderID, name string, kind FolderKind) (FolderID, error)

	// RenameFolder renames folder id and moves it under parent.
	RenameFolder(ctx context.Context, id, parent FolderID, name string) error

	// DeleteFolder deletes folder id with its items and subfolders.
	DeleteFolder(ctx context.Context, id FolderID) error
}

// Watcher is a Source that can push: Watch blocks until an item in one of
// fs changes, or a folder in fs is deleted, after the call began, and
// returns those folders. When ctx ends first it returns ctx.Err(). Changes
// made between a caller's last Changes call and Watch are not reported, so
// callers compare states again after Watch returns. PollWatcher provides
// Watch for stores without push.
type Watcher interface {
	Watch(ctx context.Context, fs []FolderID) (changed []FolderID, err error)
}

// Notifier is a Watcher that can call back instead of blocking, so that a
// waiting phone costs its caller no goroutine (thousands of phones wait at
// once, each in a Ping). Notify arranges for fn to be called once, from
// any goroutine, at the first change to an item in one of fs, or deletion
// of one of them, after Notify began, or when the store can no longer tell
// (a lost connection): the caller then compares states as after Watch.
// fn may be called with the store's locks held: it must return at once and
// must not call back into the Source. stop cancels the registration; it
// may be called any number of times, also after fn ran. An error (such as
// ErrNotFound for an unknown folder) means nothing was registered.
type Notifier interface {
	Notify(fs []FolderID, fn func()) (stop func(), err error)
}

// Sender is a Source that can submit mail.
type Sender interface {
	// Send submits the raw RFC 5322 message msg to the recipients in its
	// headers and, if saveInSent, files a copy in the sent folder.
	Send(ctx context.Context, msg io.Reader, saveInSent bool) error
}

// Replier is a Sender whose store writes replies and forwards around the
// original itself: it quotes the original, threads the reply and keeps a
// forward's attachments (Microsoft Graph's createReply and
// createForward), so the caller neither fetches nor rebuilds it.
type Replier interface {
	// Reply sends msg, the client's new message (its recipients, subject,
	// text and own attachments), as a reply to the mail orig or, with
	// Forward, as a forward of it. ErrUnsupported means the caller must
	// compose the message itself (orig is not mail, say).
	Reply(ctx context.Context, orig ItemRef, msg []byte, o ReplyOptions) error
}

// ReplyOptions qualify a Replier.Reply.
type ReplyOptions struct {
	Forward    bool // forward orig rather than reply to it
	SaveInSent bool // file a copy in the sent folder
}

// Searcher is a Source that can search mail.
type Searcher interface {
	Search(ctx context.Context, q SearchQuery) (SearchResult, error)
}

// SearchQuery selects mail. Zero fields do not restrict the search.
type SearchQuery struct {
	Text    string     // words found in the subject, addresses or body
	Folders []FolderID // folders to search; all mail folders if empty
	Since   time.Time  // received at or after
	Before  time.Time  // received before

	Offset int // skip this many results
	Limit  int // return at most this many; zero means no limit
}

// SearchResult is one page of matches, newest first.
type SearchResult struct {
	Hits  []ItemRef
	Total int // matches in all pages
}

// Attachments is a Source that streams attachments on their own, without
// the message around them.
type Attachments interface {
	// OpenAttachment returns the attachment's description and its decoded
	// content; the caller closes the reader.
	OpenAttachment(ctx context.Context, ref AttachmentRef) (Attachment, io.ReadCloser, error)
}

// AttachmentRef names one attachment of one message.
type AttachmentRef struct {
	Folder FolderID
	Item   ItemID
	ID     string // Attachment.ID
}

// Responder is a Source that answers meeting invitations itself, as
// Microsoft Graph does (event accept, tentativelyAccept and decline).
// Without it, a gateway answers from the other abilities: it reads the
// invitation (Message.Meeting or its text/calendar part, package itip),
// sets the attendee's status on the calendar event with Writer.Put, and
// mails the organizer an iTIP REPLY with Sender.
type Responder interface {
	// Respond answers the invitation at ref: a meeting request message or
	// a calendar event the user is invited to. It records a.Status on the
	// user's calendar (creating the event from an invitation the calendar
	// does not hold yet; an event declined may be removed) and returns the
	// calendar event's ref, or the zero ItemRef when declined. A meeting
	// request answered goes to Deleted Items, as Exchange moves it and as
	// the gateway does on the other route. A ref that is no invitation to
	// the user yields ErrNotFound. ErrUnsupported says the store does not
	// answer this one itself (package mux, for a store behind it that
	// cannot): the caller answers from the other abilities.
	Respond(ctx context.Context, ref ItemRef, a MeetingAnswer) (ItemRef, error)
}

// MeetingAnswer is an attendee's answer to an invitation.
type MeetingAnswer struct {
	Status AttendeeStatus // StatusAccepted, StatusTentative or StatusDeclined

	// Occurrence is the original start of the one occurrence answered;
	// zero answers the whole meeting.
	Occurrence time.Time

	// Send mails the answer to the organizer, with Comment as its text
	// and, when tentative or declining, a new time proposed.
	Send                       bool
	Comment                    string
	ProposedStart, ProposedEnd time.Time
}

// Stater is a Source that can tell a folder's current State without
// listing its items. PollWatcher uses it to take its starting point;
// without it, PollWatcher pages through the whole folder once.
type Stater interface {
	State(ctx context.Context, f FolderID) (State, error)
}
