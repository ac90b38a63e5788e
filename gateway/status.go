package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/statecache"
)

// This file is the one place where an error becomes an EAS status or an
// HTTP status. Handlers return errors (a sentinel of sources or
// statecache, one of the gateway sentinels below, an *eas.StatusError for
// an outcome they decide themselves) and ask statusFor, through
// (*Server).statusOf, which status answers it; none maps errors itself.

// Conditions that handlers find themselves and that each command answers
// with its own code.
var (
	// errHierarchyChanged: the request names a folder the device's
	// hierarchy does not hold any more; it must FolderSync first.
	errHierarchyChanged = errors.New("gateway: folder hierarchy changed")
	// errBadDestination: a move names a destination folder the device
	// cannot name.
	errBadDestination = errors.New("gateway: unknown destination folder")
	// errBadRequest: the request follows the schema but asks for
	// something that cannot be (a malformed date, a range past the end).
	errBadRequest = errors.New("gateway: invalid request")
	// errTooComplex: a query the store model cannot express.
	errTooComplex = errors.New("gateway: query too complex")
	// errBadFileReference: a FileReference or AttName we did not make.
	errBadFileReference = errors.New("gateway: bad attachment reference")
	// errSubmission: the store refused a message for a reason it did not
	// name with a sentinel.
	errSubmission = errors.New("gateway: mail submission failed")
)

// fault is what went wrong, whatever the command: the key of the status
// table's rows.
type fault uint8

// The faults, in the order faultOf tests them.
const (
	faultOther            fault = iota // no rule names it: a server error, logged
	faultBodyTooLarge                  // a body past MaxBodySize or a decoder limit
	faultSyntax                        // *eas.SyntaxError: not WBXML
	faultSchema                        // *eas.SchemaError: WBXML, not the command's schema
	faultSyncKey                       // statecache.ErrSyncKeyMismatch: a key the server does not hold
	faultStateExpired                  // sources.ErrStateExpired: the store cannot go on from a state
	faultUnknownID                     // statecache.ErrNotFound: a CollectionId or ServerId the device was never given
	faultNotFound                      // sources.ErrNotFound: the folder or item is gone from the store
	faultConflict                      // sources.ErrConflict
	faultUnsupported                   // sources.ErrUnsupported
	faultTooLarge                      // sources.ErrTooLarge
	faultAuth                          // sources.ErrAuth
	faultTemporary                     // sources.Temporary, statecache.ErrBusy or ErrClosed, a deadline, a cancellation
	faultHierarchyChanged              // errHierarchyChanged
	faultBadDestination                // errBadDestination
	faultBadRequest                    // errBadRequest
	faultTooComplex                    // errTooComplex
	faultBadReference                  // errBadFileReference
	faultSubmission                    // errSubmission
	numFaults
)

var faultNames = [numFaults]string{"other", "body-too-large", "syntax", "schema", "sync-key", "state-expired",
	"unknown-id", "not-found", "conflict", "unsupported", "too-large", "auth", "temporary", "hierarchy-changed",
	"bad-destination", "bad-request", "too-complex", "bad-reference", "submission"}

func (f fault) String() string { return faultNames[f] }

// sentinel ties an error that errors.Is finds to its fault.
type sentinel struct {
	err   error
	fault fault
}

// storeFaults are the sentinels of sources and statecache, tested before
// temporariness: a store error may be both, and what it is says more than
// that it may pass.
var storeFaults = []sentinel{
	{statecache.ErrSyncKeyMismatch, faultSyncKey},
	{sources.ErrStateExpired, faultStateExpired},
	{statecache.ErrNotFound, faultUnknownID},
	{sources.ErrNotFound, faultNotFound},
	{sources.ErrConflict, faultConflict},
	{sources.ErrUnsupported, faultUnsupported},
	{sources.ErrTooLarge, faultTooLarge},
	{sources.ErrAuth, faultAuth},
	{statecache.ErrBusy, faultTemporary},   // documented as worth a retry
	{statecache.ErrClosed, faultTemporary}, // shutting down: a retry finds the next process
	{context.DeadlineExceeded, faultTemporary},
	{context.Canceled, faultTemporary},
}

// gatewayFaults are the gateway's own sentinels, tested after
// temporariness: a submission that failed because the store is down is
// worth a retry.
var gatewayFaults = []sentinel{
	{errHierarchyChanged, faultHierarchyChanged},
	{errBadDestination, faultBadDestination},
	{errBadRequest, faultBadRequest},
	{errTooComplex, faultTooComplex},
	{errBadFileReference, faultBadReference},
	{errSubmission, faultSubmission},
}

// temporary is implemented by errors that a retry may cure, as net.Error
// and sources.MarkTemporary's do.
type temporary interface{ Temporary() bool }

// faultOf classifies err. An *eas.StatusError is not a fault: statusFor
// passes it through.
func faultOf(err error) fault {
	var (
		syn *eas.SyntaxError
		sch *eas.SchemaError
		lim *eas.LimitError
		mb  *http.MaxBytesError
		tmp temporary
	)
	switch {
	case errors.As(err, &mb), errors.As(err, &lim):
		return faultBodyTooLarge
	case errors.As(err, &syn):
		return faultSyntax
	case errors.As(err, &sch):
		return faultSchema
	}
	for _, sf := range storeFaults {
		if errors.Is(err, sf.err) {
			return sf.fault
		}
	}
	if errors.As(err, &tmp) && tmp.Temporary() {
		return faultTemporary
	}
	for _, sf := range gatewayFaults {
		if errors.Is(err, sf.err) {
			return sf.fault
		}
	}
	return faultOther
}

// scopes is a set of eas.Scope.
type scopes uint8

func scopeSet(ss ...eas.Scope) scopes {
	var s scopes
	for _, sc := range ss {
		s |= 1 << sc
	}
	return s
}

func (s scopes) has(sc eas.Scope) bool { return s&(1<<sc) != 0 }

// commandStatuses is one command's row of the status table.
type commandStatuses struct {
	// top says the response has a top-level Status element (MS-ASCMD
	// 2.2.3.177), on code page page: a failed request is answered HTTP 200
	// with <Page:Command><Page:Status>N</Page:Status></Page:Command>.
	// Otherwise the command reports a failed request with an HTTP status
	// only.
	top  bool
	page eas.Page
	// pageSince is the first version whose response has that element
	// (SendMail, SmartReply and SmartForward answer nothing before 14.0).
	pageSince eas.ProtocolVersion
	// codes are the command's own codes for faults, at every scope;
	// collection and item override them at that scope.
	codes, collection, item map[fault]eas.Status
	// common is where the command's Status elements take the common codes
	// of MS-ASCMD 2.2.2 (101 and up), from 14.0 on. Elsewhere, and before
	// 14.0, which has no common codes, a common code becomes one of the
	// command's own: request for 101 to 109 and 137 (the request asked
	// for what cannot be served), missing for 150, server for the rest.
	// Zero stand-ins mean the scope cannot carry the failure: statusFor
	// answers 0 and the caller fails the whole command.
	common                   scopes
	request, missing, server eas.Status
}

var (
	atCommand            = scopeSet(eas.ScopeCommand)
	atCommandAndElements = scopeSet(eas.ScopeCommand, eas.ScopeCollection, eas.ScopeItem)
)

// statusTable is the status table: per command, the status of each fault
// (MS-ASCMD 2.2.3.177 for the command's codes, 2.2.2 for the common ones).
// A fault a row does not name takes its common code from commonStatus.
var statusTable = map[eas.Command]*commandStatuses{
	// MS-ASCMD 2.2.3.177.17. A missing collection means the hierarchy
	// changed (12), a missing item 8; a client item we cannot read is a
	// conversion error (6).
	eas.CmdSync: {
		top: true, page: eas.PageAirSync,
		codes: map[fault]eas.Status{
			faultSyncKey:          eas.Status(eas.SyncStatusInvalidSyncKey),
			faultStateExpired:     eas.Status(eas.SyncStatusInvalidSyncKey),
			faultNotFound:         eas.Status(eas.SyncStatusObjectNotFound),
			faultUnknownID:        eas.Status(eas.SyncStatusObjectNotFound),
			faultConflict:         eas.Status(eas.SyncStatusConflict),
			faultUnsupported:      eas.Status(eas.SyncStatusProtocolError),
			faultTooLarge:         eas.Status(eas.SyncStatusCannotComplete),
			faultTemporary:        eas.Status(eas.SyncStatusServerError),
			faultHierarchyChanged: eas.Status(eas.SyncStatusFolderHierarchyChanged),
		},
		collection: map[fault]eas.Status{
			faultNotFound:  eas.Status(eas.SyncStatusFolderHierarchyChanged),
			faultUnknownID: eas.Status(eas.SyncStatusFolderHierarchyChanged),
		},
		item:    map[fault]eas.Status{faultSchema: eas.Status(eas.SyncStatusConversionError)},
		common:  atCommand,
		request: eas.Status(eas.SyncStatusProtocolError), missing: eas.Status(eas.SyncStatusObjectNotFound),
		server: eas.Status(eas.SyncStatusServerError),
	},
	// MS-ASCMD 2.2.3.177.4, .3, .6, .5.
	eas.CmdFolderSync: {
		top: true, page: eas.PageFolderHierarchy,
		codes: map[fault]eas.Status{
			faultSyncKey:      eas.Status(eas.FolderSyncStatusInvalidSyncKey),
			faultStateExpired: eas.Status(eas.FolderSyncStatusInvalidSyncKey),
			faultTemporary:    eas.Status(eas.FolderSyncStatusServerError),
		},
		common: atCommand,
	},
	eas.CmdFolderCreate: {
		top: true, page: eas.PageFolderHierarchy,
		codes: map[fault]eas.Status{
			faultSyncKey:     eas.Status(eas.FolderCreateStatusInvalidSyncKey),
			faultConflict:    eas.Status(eas.FolderCreateStatusExists),
			faultNotFound:    eas.Status(eas.FolderCreateStatusParentNotFound),
			faultUnknownID:   eas.Status(eas.FolderCreateStatusParentNotFound),
			faultUnsupported: eas.Status(eas.FolderCreateStatusSpecialFolder),
			faultTemporary:   eas.Status(eas.FolderCreateStatusServerError),
		},
		common: atCommand,
	},
	eas.CmdFolderUpdate: {
		top: true, page: eas.PageFolderHierarchy,
		codes: map[fault]eas.Status{
			faultSyncKey:     eas.Status(eas.FolderUpdateStatusInvalidSyncKey),
			faultConflict:    eas.Status(eas.FolderUpdateStatusExists),
			faultNotFound:    eas.Status(eas.FolderUpdateStatusNotFound),
			faultUnknownID:   eas.Status(eas.FolderUpdateStatusNotFound),
			faultUnsupported: eas.Status(eas.FolderUpdateStatusRecipientInfo),
			faultTemporary:   eas.Status(eas.FolderUpdateStatusServerError),
		},
		common: atCommand,
	},
	eas.CmdFolderDelete: {
		top: true, page: eas.PageFolderHierarchy,
		codes: map[fault]eas.Status{
			faultSyncKey:     eas.Status(eas.FolderDeleteStatusInvalidSyncKey),
			faultNotFound:    eas.Status(eas.FolderDeleteStatusNotFound),
			faultUnknownID:   eas.Status(eas.FolderDeleteStatusNotFound),
			faultUnsupported: eas.Status(eas.FolderDeleteStatusSpecialFolder),
			faultTemporary:   eas.Status(eas.FolderDeleteStatusServerError),
		},
		common: atCommand,
	},
	// MS-ASCMD 2.2.3.177.7: a collection's Status has 1 to 4 only, so
	// any other failure fails the command.
	eas.CmdGetItemEstimate: {
		top: true, page: eas.PageGetItemEstimate,
		codes: map[fault]eas.Status{
			faultSyncKey:          eas.Status(eas.GetItemEstimateStatusInvalidSyncKey),
			faultStateExpired:     eas.Status(eas.GetItemEstimateStatusInvalidSyncKey),
			faultNotFound:         eas.Status(eas.GetItemEstimateStatusInvalidCollection),
			faultUnknownID:        eas.Status(eas.GetItemEstimateStatusInvalidCollection),
			faultHierarchyChanged: eas.Status(eas.GetItemEstimateStatusInvalidCollection),
		},
		common: atCommand,
	},
	// MS-ASCMD 2.2.3.177.11: a folder gone asks for a FolderSync (7); a
	// store that fails is a server error the device retries (8).
	eas.CmdPing: {
		top: true, page: eas.PagePing,
		codes: map[fault]eas.Status{
			faultNotFound:         eas.Status(eas.PingStatusFolderHierarchyChanged),
			faultUnknownID:        eas.Status(eas.PingStatusFolderHierarchyChanged),
			faultStateExpired:     eas.Status(eas.PingStatusFolderHierarchyChanged),
			faultHierarchyChanged: eas.Status(eas.PingStatusFolderHierarchyChanged),
			faultTemporary:        eas.Status(eas.PingStatusServerError),
		},
		common: atCommand,
	},
	// MS-ASCMD 2.2.3.177.8, per operation.
	eas.CmdItemOperations: {
		top: true, page: eas.PageItemOperations,
		codes: map[fault]eas.Status{
			faultNotFound:         eas.Status(eas.ItemOperationsStatusNotFound),
			faultUnknownID:        eas.Status(eas.ItemOperationsStatusNotFound),
			faultHierarchyChanged: eas.Status(eas.ItemOperationsStatusNotFound),
			faultTooLarge:         eas.Status(eas.ItemOperationsStatusTooLarge),
			faultUnsupported:      eas.Status(eas.ItemOperationsStatusProtocolError),
			faultTemporary:        eas.Status(eas.ItemOperationsStatusServerError),
			faultBadRequest:       eas.Status(eas.ItemOperationsStatusProtocolError),
			faultBadReference:     eas.Status(eas.ItemOperationsStatusInvalidAttachment),
			faultBadDestination:   eas.StatusMoveCommandInvalidDestinationFolder,
		},
		common:  atCommandAndElements,
		request: eas.Status(eas.ItemOperationsStatusProtocolError), missing: eas.Status(eas.ItemOperationsStatusNotFound),
		server: eas.Status(eas.ItemOperationsStatusServerError),
	},
	// MS-ASCMD 2.2.3.177.16: the Store's Status carries the outcome of
	// the search.
	eas.CmdSearch: {
		top: true, page: eas.PageSearch,
		codes: map[fault]eas.Status{
			faultUnknownID:        eas.Status(eas.SearchStatusFolderSyncRequired),
			faultHierarchyChanged: eas.Status(eas.SearchStatusFolderSyncRequired),
			faultBadRequest:       eas.Status(eas.SearchStatusInvalidRequest),
			faultTooComplex:       eas.Status(eas.SearchStatusTooComplex),
		},
		common:  atCommandAndElements,
		request: eas.Status(eas.SearchStatusInvalidRequest), missing: eas.Status(eas.SearchStatusNotFound),
		server: eas.Status(eas.SearchStatusServerError),
	},
	// MS-ASCMD 2.2.3.177.2: Find (16.1) has three codes of its own and
	// the common ones; what Search calls too complex is an invalid Find.
	eas.CmdFind: {
		top: true, page: eas.PageFind,
		codes: map[fault]eas.Status{
			faultUnknownID:        eas.Status(eas.FindStatusFolderSyncRequired),
			faultHierarchyChanged: eas.Status(eas.FindStatusFolderSyncRequired),
			faultBadRequest:       eas.Status(eas.FindStatusInvalidRequest),
			faultTooComplex:       eas.Status(eas.FindStatusInvalidRequest),
		},
		common: atCommandAndElements,
	},
	// MS-ASCMD 2.2.3.177.10: per item; MoveItems has no top-level Status.
	eas.CmdMoveItems: {
		codes: map[fault]eas.Status{
			faultNotFound:       eas.Status(eas.MoveItemsStatusInvalidSource),
			faultUnknownID:      eas.Status(eas.MoveItemsStatusInvalidSource),
			faultBadDestination: eas.Status(eas.MoveItemsStatusInvalidDestination),
			faultConflict:       eas.Status(eas.MoveItemsStatusLocked),
		},
		request: eas.Status(eas.MoveItemsStatusFailure), missing: eas.Status(eas.MoveItemsStatusInvalidSource),
		server: eas.Status(eas.MoveItemsStatusFailure),
	},
	// MS-ASCMD 2.2.2: the ComposeMail commands have only the common codes.
	eas.CmdSendMail:     composeStatuses,
	eas.CmdSmartReply:   composeStatuses,
	eas.CmdSmartForward: composeStatuses,
	// MS-ASCMD 2.2.3.177.14.
	eas.CmdSettings: {
		top: true, page: eas.PageSettings,
		codes: map[fault]eas.Status{
			faultBadRequest: eas.Status(eas.SettingsInvalidArguments),
		},
		common:  atCommandAndElements,
		request: eas.Status(eas.SettingsProtocolError), server: eas.Status(eas.SettingsServerUnavailable),
	},
	// MS-ASPROV 2.2.2.54.2.
	eas.CmdProvision: {top: true, page: eas.PageProvision, common: atCommand},
	// MS-ASCMD 2.2.3.177.12 and .20: failures at command scope only.
	eas.CmdResolveRecipients: {top: true, page: eas.PageResolveRecipients, common: atCommand},
	eas.CmdValidateCert:      {top: true, page: eas.PageValidateCert, common: atCommand},
	// No Status element: failures are HTTP statuses.
	eas.CmdGetAttachment: {},
	eas.CmdGetHierarchy:  {},
	// MS-ASCMD 2.2.3.177.9: per request item. What is no invitation to
	// the user is 2; a store that cannot write its calendar or send the
	// answer is 3, an error of the mailbox.
	eas.CmdMeetingResponse: {
		item: map[fault]eas.Status{
			faultNotFound:    eas.Status(eas.MeetingResponseStatusInvalidRequest),
			faultUnknownID:   eas.Status(eas.MeetingResponseStatusInvalidRequest),
			faultTooLarge:    eas.Status(eas.MeetingResponseStatusInvalidRequest),
			faultUnsupported: eas.Status(eas.MeetingResponseStatusMailboxError),
			faultConflict:    eas.Status(eas.MeetingResponseStatusServerError),
		},
		request: eas.Status(eas.MeetingResponseStatusInvalidRequest), server: eas.Status(eas.MeetingResponseStatusServerError),
	},
}

// composeStatuses answer the ComposeMail commands (MS-ASCMD 2.2.2): a
// message over the store's size limit is one whose attachments are too
// large, a conflict is a message the store has already submitted, and a
// submission the store refuses without saying why 120.
var composeStatuses = &commandStatuses{
	top: true, page: eas.PageComposeMail, pageSince: eas.V140,
	codes: map[fault]eas.Status{
		faultTooLarge:   eas.StatusAttachmentIsTooLarge,
		faultConflict:   eas.StatusMessagePreviouslySent,
		faultSubmission: eas.StatusMailSubmissionFailed,
	},
	common: atCommand,
}

// commonStatus is the common code (MS-ASCMD 2.2.2) of each fault a row does
// not name.
var commonStatus = [numFaults]eas.Status{
	faultOther:            eas.StatusServerError,
	faultBodyTooLarge:     eas.StatusInvalidWBXML,
	faultSyntax:           eas.StatusInvalidWBXML,
	faultSchema:           eas.StatusInvalidXML,
	faultSyncKey:          eas.StatusSyncStateNotFound,
	faultStateExpired:     eas.StatusSyncStateNotFound,
	faultUnknownID:        eas.StatusItemNotFound,
	faultNotFound:         eas.StatusItemNotFound,
	faultConflict:         eas.StatusServerError,
	faultUnsupported:      eas.StatusCommandNotSupported,
	faultTooLarge:         eas.StatusMailboxQuotaExceeded,
	faultAuth:             eas.StatusAccessDenied,
	faultTemporary:        eas.StatusServerErrorRetryLater,
	faultHierarchyChanged: eas.StatusItemNotFound,
	faultBadDestination:   eas.StatusMoveCommandInvalidDestinationFolder,
	faultBadRequest:       eas.StatusInvalidContent,
	faultTooComplex:       eas.StatusInvalidContent,
	faultBadReference:     eas.StatusInvalidIDs,
	faultSubmission:       eas.StatusMailSubmissionFailed,
}

// statusFor maps err to the EAS status and the HTTP status that answer it,
// for command cmd of protocol version v when reported at scope:
//
//   - an *eas.StatusError passes through: its Status, unchanged;
//   - any other error is a fault (faultOf), whose status is the command's
//     own code at that scope, or its common code;
//   - a common code where the command's Status cannot take one (before
//     14.0, or in a collection or item element that has none) becomes one
//     of the command's own codes; at command scope it becomes an HTTP
//     status instead, the EAS status staying for the access log.
//
// The HTTP status is 200 when the status travels in an element, except
// for a body past a size limit (413); otherwise it is the HTTP status
// MS-ASHTTP 3.2.5.1 gives the condition. A 0 status means the scope cannot
// carry the failure; the caller fails the whole command with it.
func statusFor(cmd eas.Command, scope eas.Scope, v eas.ProtocolVersion, err error) (eas.Status, int) {
	st, code, _ := lookupStatus(cmd, scope, v, err)
	return st, code
}

// lookupStatus is statusFor, also returning the fault.
func lookupStatus(cmd eas.Command, scope eas.Scope, v eas.ProtocolVersion, err error) (eas.Status, int, fault) {
	row := statusTable[cmd]
	if row == nil {
		row = &commandStatuses{}
	}
	var (
		st eas.Status
		f  fault
		se *eas.StatusError
	)
	if errors.As(err, &se) {
		st = se.Status
	} else {
		f = faultOf(err)
		st = row.status(scope, f)
	}
	element := row.top && v >= row.pageSince
	if st >= eas.StatusInvalidContent && (v < eas.V140 || !row.common.has(scope)) {
		if scope != eas.ScopeCommand {
			st = row.standIn(st)
		} else {
			element = false
		}
	}
	switch {
	case f == faultBodyTooLarge && scope == eas.ScopeCommand:
		return st, http.StatusRequestEntityTooLarge, f
	case scope != eas.ScopeCommand || element:
		return st, http.StatusOK, f
	}
	return st, httpStatus(st), f
}

// status is the row's status for f at scope.
func (r *commandStatuses) status(scope eas.Scope, f fault) eas.Status {
	over := r.collection
	if scope == eas.ScopeItem {
		over = r.item
	}
	if st, ok := over[f]; ok && scope != eas.ScopeCommand {
		return st
	}
	if st, ok := r.codes[f]; ok {
		return st
	}
	return commonStatus[f]
}

// standIn is the command's own code for the common code st.
func (r *commandStatuses) standIn(st eas.Status) eas.Status {
	switch {
	case st < eas.StatusServerError || st == eas.StatusCommandNotSupported:
		return r.request
	case st == eas.StatusItemNotFound && r.missing != 0:
		return r.missing
	}
	return r.server
}

// httpStatus is the HTTP status that stands for st where no Status element
// can carry it: commands without one, and protocol versions before 14.0,
// which know no common status codes (MS-ASCMD 2.2.2).
func httpStatus(st eas.Status) int {
	switch st {
	case eas.StatusServerErrorRetryLater, eas.StatusMailboxServerOffline:
		return http.StatusServiceUnavailable
	case eas.StatusUserDisabledForSync, eas.StatusDeviceIsBlockedForThisUser,
		eas.StatusAccessDenied, eas.StatusAccountDisabled, eas.StatusMaximumDevicesReached,
		eas.StatusActiveDirectoryAccessDenied, eas.StatusDeviceNotFullyProvisionable,
		eas.StatusExternallyManagedDevicesNotAllowed:
		return http.StatusForbidden
	case eas.StatusDeviceNotProvisioned, eas.StatusPolicyRefresh, eas.StatusInvalidPolicyKey:
		return 449 // MS-ASHTTP 3.2.5.1: retry after sending a Provision command
	case eas.StatusCommandNotSupported:
		return http.StatusNotImplemented
	case eas.StatusItemNotFound:
		return http.StatusNotFound
	}
	if st < eas.StatusServerError || st == eas.StatusVersionNotSupported {
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// loginStatus is the HTTP status that refuses a failed login: 503 when the
// store could not be asked (a retry may succeed), so that a store that is
// down does not make the device ask for a new password; 401 otherwise.
func loginStatus(err error) int {
	if faultOf(err) == faultTemporary {
		return http.StatusServiceUnavailable
	}
	return http.StatusUnauthorized
}

// statusOf is statusFor for a request of sess. It logs, with the request's
// user and device, the failures no rule names (and a submission the store
// refused without saying why): the one place they are logged.
func (s *Server) statusOf(ctx context.Context, sess *Session, scope eas.Scope, err error) eas.Status {
	st, _ := s.answerFor(ctx, sess.Request, sess.User, scope, err)
	return st
}

// answerFor is statusOf for a request not yet in a Session.
func (s *Server) answerFor(ctx context.Context, q *Request, user string, scope eas.Scope, err error) (eas.Status, int) {
	st, code, f := lookupStatus(q.Command, scope, q.Version, err)
	if f == faultOther || f == faultSubmission {
		s.log.LogAttrs(ctx, slog.LevelError, "request failed", slog.String("cmd", q.Command.String()),
			slog.String("scope", scope.String()), slog.String("user", user),
			slog.String("device_id", q.DeviceID), slog.Any("err", err))
	}
	return st, code
}

// writeStatus answers a command-scope failure: the minimal
// <Command><Status>N</Status></Command> document when code is 200, an
// empty HTTP error otherwise.
func writeStatus(w http.ResponseWriter, cmd eas.Command, st eas.Status, code int) error {
	if code != http.StatusOK {
		w.WriteHeader(code)
		return nil
	}
	page := statusTable[cmd].page
	root := eas.Tag{Page: page, Name: cmd.String()}
	status := eas.Tag{Page: page, Name: "Status"}
	w.Header().Set("Content-Type", wbxmlType)
	e := eas.NewEncoder(w)
	for _, t := range []eas.Token{
		eas.StartTag{Tag: root}, eas.StartTag{Tag: status}, eas.Text(strconv.AppendInt(nil, int64(st), 10)),
		eas.EndTag{Tag: status}, eas.EndTag{Tag: root},
	} {
		e.EncodeToken(t)
	}
	return e.Flush()
}
