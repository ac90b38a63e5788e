package gateway

import (
	"context"
	"net/http"

	"github.com/easgate/easgate/eas"
)

// request is what every typed command request of package eas implements.
type request interface {
	Validate(eas.ProtocolVersion) error
}

// handlerFunc answers one request. req is nil when the command allows an
// empty body and the client sent one (Sync and Ping: repeat the last
// request). A nil response is answered with an empty HTTP 200.
type handlerFunc func(s *Server, ctx context.Context, sess *Session, req request) (any, error)

// bodyKind says what a command's HTTP body holds.
type bodyKind uint8

const (
	bodyRequired bodyKind = iota // a WBXML document
	bodyOptional                 // a WBXML document, or nothing
	bodyNone                     // nothing: the request is all in the URI
)

// streamFunc answers one request by writing the response itself: Sync and
// ItemOperations stream large windows, Ping and a hanging Sync wait. It
// must settle the HTTP status before its first byte; an error returned
// before anything was written is answered through statusFor.
type streamFunc func(s *Server, ctx context.Context, sess *Session, req request, w http.ResponseWriter) error

// route is one row of the dispatch table.
type route struct {
	cmd        eas.Command
	body       bodyKind
	newRequest func(*Request) request // a request to decode the body into; bodyNone commands fill it from the URI
	handle     handlerFunc            // the handler of a buffered response
	stream     streamFunc             // or of a streamed one; neither: not routed, not advertised
}

// routed reports whether the command has a handler.
func (rt *route) routed() bool { return rt.handle != nil || rt.stream != nil }

// routes is the one Command → handler table. It fixes the order of the
// MS-ASProtocolCommands header, which lists exactly the rows whose handle is
// set. New copies it, so that tests may install handlers in their own
// Server.
var routes = []route{
	{cmd: eas.CmdSync, body: bodyOptional, newRequest: newRequest[eas.SyncRequest], stream: (*Server).serveSync},
	{cmd: eas.CmdSendMail, newRequest: newRequest[eas.SendMailRequest], handle: handler((*Server).handleSendMail)},
	{cmd: eas.CmdSmartForward, newRequest: newRequest[eas.SmartForwardRequest], handle: handler((*Server).handleSmartForward)},
	{cmd: eas.CmdSmartReply, newRequest: newRequest[eas.SmartReplyRequest], handle: handler((*Server).handleSmartReply)},
	{cmd: eas.CmdGetAttachment, body: bodyNone, newRequest: func(q *Request) request {
		return &eas.GetAttachmentRequest{AttachmentName: q.Params.AttachmentName}
	}, stream: (*Server).streamGetAttachment},
	{cmd: eas.CmdGetHierarchy, body: bodyNone, newRequest: newRequest[eas.GetHierarchyRequest], handle: handler((*Server).handleGetHierarchy)},
	{cmd: eas.CmdFolderSync, newRequest: newRequest[eas.FolderSyncRequest], handle: handler((*Server).handleFolderSync)},
	{cmd: eas.CmdFolderCreate, newRequest: newRequest[eas.FolderCreateRequest], handle: handler((*Server).handleFolderCreate)},
	{cmd: eas.CmdFolderDelete, newRequest: newRequest[eas.FolderDeleteRequest], handle: handler((*Server).handleFolderDelete)},
	{cmd: eas.CmdFolderUpdate, newRequest: newRequest[eas.FolderUpdateRequest], handle: handler((*Server).handleFolderUpdate)},
	{cmd: eas.CmdMoveItems, newRequest: newRequest[eas.MoveItemsRequest], handle: handler((*Server).handleMoveItems)},
	{cmd: eas.CmdGetItemEstimate, newRequest: newRequest[eas.GetItemEstimateRequest], handle: handler((*Server).handleGetItemEstimate)},
	{cmd: eas.CmdMeetingResponse, newRequest: newRequest[eas.MeetingResponseRequest], handle: handler((*Server).handleMeetingResponse)},
	{cmd: eas.CmdSearch, newRequest: newRequest[eas.SearchRequest], handle: handler((*Server).handleSearch)},
	{cmd: eas.CmdSettings, newRequest: newRequest[eas.SettingsRequest], handle: handler((*Server).handleSettings)},
	{cmd: eas.CmdPing, body: bodyOptional, newRequest: newRequest[eas.PingRequest], stream: (*Server).servePing},
	{cmd: eas.CmdItemOperations, newRequest: newRequest[eas.ItemOperationsRequest], stream: (*Server).streamItemOperations},
	{cmd: eas.CmdProvision, newRequest: newRequest[provisionRequest], handle: handler((*Server).handleProvision)},
	{cmd: eas.CmdResolveRecipients, newRequest: newRequest[eas.ResolveRecipientsRequest], handle: handler((*Server).handleResolveRecipients)},
	{cmd: eas.CmdValidateCert, newRequest: newRequest[eas.ValidateCertRequest], handle: handler((*Server).handleValidateCert)},
	{cmd: eas.CmdFind, newRequest: newRequest[eas.FindRequest], handle: handler((*Server).handleFind)},
}

// newRequest returns a new zero *T as a request.
func newRequest[T any, P interface {
	*T
	request
}](*Request) request {
	return P(new(T))
}

// handler adapts a typed handler, such as (*Server).handleFolderSync, to a
// handlerFunc.
func handler[Req request, Resp any](h func(*Server, context.Context, *Session, Req) (Resp, error)) handlerFunc {
	return func(s *Server, ctx context.Context, sess *Session, req request) (any, error) {
		r, _ := req.(Req) // nil for an empty body
		return h(s, ctx, sess, r)
	}
}
