package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/statecache"
)

// statusPage names the code page of the commands whose response has a
// top-level Status element (MS-ASCMD 2.2.3.177): their root element is
// <Page:Command> and a failed request is answered HTTP 200 with
// <Page:Command><Page:Status>N</Page:Status></Page:Command>. The other
// commands (GetAttachment, GetHierarchy, MoveItems, MeetingResponse) report
// a failed request with an HTTP status only.
var statusPage = map[eas.Command]eas.Page{
	eas.CmdSync:              eas.PageAirSync,
	eas.CmdSendMail:          eas.PageComposeMail, // 14.0 and later
	eas.CmdSmartForward:      eas.PageComposeMail,
	eas.CmdSmartReply:        eas.PageComposeMail,
	eas.CmdFolderSync:        eas.PageFolderHierarchy,
	eas.CmdFolderCreate:      eas.PageFolderHierarchy,
	eas.CmdFolderDelete:      eas.PageFolderHierarchy,
	eas.CmdFolderUpdate:      eas.PageFolderHierarchy,
	eas.CmdGetItemEstimate:   eas.PageGetItemEstimate,
	eas.CmdSearch:            eas.PageSearch,
	eas.CmdSettings:          eas.PageSettings,
	eas.CmdPing:              eas.PagePing,
	eas.CmdItemOperations:    eas.PageItemOperations,
	eas.CmdProvision:         eas.PageProvision,
	eas.CmdResolveRecipients: eas.PageResolveRecipients,
	eas.CmdValidateCert:      eas.PageValidateCert,
	eas.CmdFind:              eas.PageFind,
}

// temporary is implemented by errors that a retry may cure, as net.Error
// does; sources.Temporary will mark store errors the same way.
type temporary interface{ Temporary() bool }

// statusFor maps an error to the EAS status and the HTTP status that answer
// it, for command cmd when reported at scope. It is the one place where
// errors become wire statuses:
//
//   - *eas.StatusError: its Status, unchanged;
//   - a sources sentinel (ErrStateExpired, ErrNotFound, ErrConflict,
//     ErrUnsupported, ErrTooLarge, ErrAuth) or a temporary store error:
//     the command's own status for it, from storeStatuses;
//   - a body past MaxBodySize, or an *eas.SyntaxError caused by an
//     *eas.LimitError: 102 InvalidWBXML with HTTP 413;
//   - *eas.SyntaxError: 102 InvalidWBXML; *eas.SchemaError: 103 InvalidXML;
//   - a deadline, a cancellation or a temporary error: 111
//     ServerErrorRetryLater;
//   - anything else: 110 ServerError, which the caller logs.
//
// The HTTP status is 200 when the status travels in an element: at
// collection or item scope, or at command scope for a command with a
// top-level Status element. Otherwise it is the HTTP status MS-ASHTTP 3.2.5.1
// gives the condition.
func statusFor(cmd eas.Command, scope eas.Scope, err error) (eas.Status, int) {
	var (
		se  *eas.StatusError
		syn *eas.SyntaxError
		sch *eas.SchemaError
		lim *eas.LimitError
		mb  *http.MaxBytesError
		tmp temporary
	)
	var st eas.Status
	if ss, ok := storeStatus(cmd, scope, err); ok {
		st = ss
		if _, ok := statusPage[cmd]; ok || scope != eas.ScopeCommand {
			return st, http.StatusOK
		}
		return st, httpStatus(st)
	}
	switch {
	case errors.As(err, &se):
		st = se.Status
	case errors.As(err, &mb), errors.As(err, &lim):
		return eas.StatusInvalidWBXML, http.StatusRequestEntityTooLarge
	case errors.As(err, &syn):
		st = eas.StatusInvalidWBXML
	case errors.As(err, &sch):
		st = eas.StatusInvalidXML
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.As(err, &tmp) && tmp.Temporary():
		st = eas.StatusServerErrorRetryLater
	default:
		st = eas.StatusServerError
	}
	if _, ok := statusPage[cmd]; ok || scope != eas.ScopeCommand {
		return st, http.StatusOK
	}
	return st, httpStatus(st)
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
		eas.StatusActiveDirectoryAccessDenied:
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

// writeStatus answers a command-scope failure: the minimal
// <Command><Status>N</Status></Command> document when code is 200, an
// empty HTTP error otherwise.
func writeStatus(w http.ResponseWriter, cmd eas.Command, st eas.Status, code int) error {
	if code != http.StatusOK {
		w.WriteHeader(code)
		return nil
	}
	page := statusPage[cmd]
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

// errTemporary stands for a temporary store error in storeStatuses.
var errTemporary = errors.New("temporary")

// storeStatuses gives, per command, the status that reports a store
// sentinel or a sync key the statecache does not know
// (statecache.ErrSyncKeyMismatch). Scope matters for Sync only: a missing
// item (8) differs from a missing collection, which means the folder
// hierarchy changed (12).
var storeStatuses = map[eas.Command]map[error]eas.Status{
	eas.CmdSync: {
		sources.ErrStateExpired: eas.Status(eas.SyncStatusInvalidSyncKey),
		sources.ErrNotFound:     eas.Status(eas.SyncStatusObjectNotFound),
		sources.ErrConflict:     eas.Status(eas.SyncStatusConflict),
		sources.ErrUnsupported:  eas.Status(eas.SyncStatusProtocolError),
		sources.ErrTooLarge:     eas.Status(eas.SyncStatusCannotComplete),
		errTemporary:            eas.Status(eas.SyncStatusServerError),
	},
	eas.CmdFolderSync: {
		statecache.ErrSyncKeyMismatch: eas.Status(eas.FolderSyncStatusInvalidSyncKey),
		sources.ErrStateExpired:       eas.Status(eas.FolderSyncStatusInvalidSyncKey),
		errTemporary:                  eas.Status(eas.FolderSyncStatusServerError),
	},
	eas.CmdFolderCreate: {
		statecache.ErrSyncKeyMismatch: eas.Status(eas.FolderCreateStatusInvalidSyncKey),
		sources.ErrConflict:           eas.Status(eas.FolderCreateStatusExists),
		sources.ErrNotFound:           eas.Status(eas.FolderCreateStatusParentNotFound),
		sources.ErrUnsupported:        eas.Status(eas.FolderCreateStatusSpecialFolder),
		errTemporary:                  eas.Status(eas.FolderCreateStatusServerError),
	},
	eas.CmdFolderUpdate: {
		statecache.ErrSyncKeyMismatch: eas.Status(eas.FolderUpdateStatusInvalidSyncKey),
		sources.ErrConflict:           eas.Status(eas.FolderUpdateStatusExists),
		sources.ErrNotFound:           eas.Status(eas.FolderUpdateStatusNotFound),
		sources.ErrUnsupported:        eas.Status(eas.FolderUpdateStatusRecipientInfo),
		errTemporary:                  eas.Status(eas.FolderUpdateStatusServerError),
	},
	eas.CmdFolderDelete: {
		statecache.ErrSyncKeyMismatch: eas.Status(eas.FolderDeleteStatusInvalidSyncKey),
		sources.ErrNotFound:           eas.Status(eas.FolderDeleteStatusNotFound),
		sources.ErrUnsupported:        eas.Status(eas.FolderDeleteStatusSpecialFolder),
		errTemporary:                  eas.Status(eas.FolderDeleteStatusServerError),
	},
	eas.CmdGetItemEstimate: {
		statecache.ErrSyncKeyMismatch: eas.Status(eas.GetItemEstimateStatusInvalidSyncKey),
		sources.ErrStateExpired:       eas.Status(eas.GetItemEstimateStatusInvalidSyncKey),
		sources.ErrNotFound:           eas.Status(eas.GetItemEstimateStatusInvalidCollection),
	},
	eas.CmdPing: {
		sources.ErrNotFound:     eas.Status(eas.PingStatusFolderHierarchyChanged),
		sources.ErrStateExpired: eas.Status(eas.PingStatusFolderHierarchyChanged),
		errTemporary:            eas.Status(eas.PingStatusServerError),
	},
	eas.CmdItemOperations: {
		sources.ErrNotFound:    eas.Status(eas.ItemOperationsStatusNotFound),
		sources.ErrTooLarge:    eas.Status(eas.ItemOperationsStatusTooLarge),
		sources.ErrUnsupported: eas.Status(eas.ItemOperationsStatusProtocolError),
		errTemporary:           eas.Status(eas.ItemOperationsStatusServerError),
	},
	eas.CmdSendMail:     composeStatuses,
	eas.CmdSmartReply:   composeStatuses,
	eas.CmdSmartForward: composeStatuses,
	eas.CmdMoveItems: {
		sources.ErrNotFound: eas.Status(eas.MoveItemsStatusInvalidSource),
		sources.ErrConflict: eas.Status(eas.MoveItemsStatusLocked),
	},
}

// composeStatuses answer the ComposeMail commands (MS-ASCMD 2.2.2): a
// message over the store's size limit is one whose attachments are too
// large, and a conflict is a message the store has already submitted.
var composeStatuses = map[error]eas.Status{
	sources.ErrTooLarge: eas.StatusAttachmentIsTooLarge,
	sources.ErrConflict: eas.StatusMessagePreviouslySent,
}

// storeStatusDefault answers sentinels a command has no status of its own
// for, in the common codes of MS-ASCMD 2.2.2.
var storeStatusDefault = map[error]eas.Status{
	sources.ErrNotFound:    eas.StatusItemNotFound,
	sources.ErrUnsupported: eas.StatusCommandNotSupported,
	sources.ErrTooLarge:    eas.StatusMailboxQuotaExceeded,
	sources.ErrAuth:        eas.StatusAccessDenied,
	errTemporary:           eas.StatusServerErrorRetryLater,
}

// storeStatus maps a store error through storeStatuses.
func storeStatus(cmd eas.Command, scope eas.Scope, err error) (eas.Status, bool) {
	var key error
	for _, k := range []error{statecache.ErrSyncKeyMismatch, sources.ErrStateExpired, sources.ErrNotFound, sources.ErrConflict,
		sources.ErrUnsupported, sources.ErrTooLarge, sources.ErrAuth} {
		if errors.Is(err, k) {
			key = k
			break
		}
	}
	if key == nil {
		if !sources.Temporary(err) {
			return 0, false
		}
		key = errTemporary
	}
	if cmd == eas.CmdSync && key == sources.ErrNotFound && scope == eas.ScopeCollection {
		return eas.Status(eas.SyncStatusFolderHierarchyChanged), true
	}
	if st, ok := storeStatuses[cmd][key]; ok {
		return st, true
	}
	st, ok := storeStatusDefault[key]
	return st, ok
}
