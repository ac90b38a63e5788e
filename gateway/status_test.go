package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/statecache"
)

type tempError struct{}

func (tempError) Error() string   { return "store busy" }
func (tempError) Temporary() bool { return true }

func TestStatusFor(t *testing.T) {
	limit := &eas.SyntaxError{Offset: 9, Msg: "too deep", Err: &eas.LimitError{Limit: "MaxDepth", Value: 64}}
	tests := []struct {
		name     string
		cmd      eas.Command
		scope    eas.Scope
		err      error
		wantSt   eas.Status
		wantCode int
	}{
		{"status-error", eas.CmdFolderSync, eas.ScopeCommand, &eas.StatusError{Status: 9}, 9, 200},
		{"status-error-wrapped", eas.CmdFolderSync, eas.ScopeCommand, fmt.Errorf("x: %w", &eas.StatusError{Status: eas.StatusSyncStateNotFound}), 132, 200},
		{"status-error-no-element", eas.CmdGetAttachment, eas.ScopeCommand, &eas.StatusError{Status: eas.StatusAccessDenied}, 130, 403},
		{"status-error-provision", eas.CmdMoveItems, eas.ScopeCommand, &eas.StatusError{Status: eas.StatusDeviceNotProvisioned}, 142, 449},
		{"status-error-not-found", eas.CmdGetAttachment, eas.ScopeCommand, &eas.StatusError{Status: eas.StatusItemNotFound}, 150, 404},
		{"status-error-not-supported", eas.CmdGetHierarchy, eas.ScopeCommand, &eas.StatusError{Status: eas.StatusCommandNotSupported}, 137, 501},
		{"syntax", eas.CmdSync, eas.ScopeCommand, &eas.SyntaxError{Msg: "bad token"}, 102, 200},
		{"syntax-no-element", eas.CmdMeetingResponse, eas.ScopeCommand, &eas.SyntaxError{Msg: "bad token"}, 102, 400},
		{"limit", eas.CmdSync, eas.ScopeCommand, limit, 102, 413},
		{"limit-no-element", eas.CmdMoveItems, eas.ScopeCommand, limit, 102, 413},
		{"body-too-large", eas.CmdSendMail, eas.ScopeCommand, fmt.Errorf("eas: reading wbxml: %w", &http.MaxBytesError{Limit: 10}), 102, 413},
		{"schema", eas.CmdProvision, eas.ScopeCommand, &eas.SchemaError{Command: "Provision", Msg: "no Policies"}, 103, 200},
		{"schema-no-element", eas.CmdGetHierarchy, eas.ScopeCommand, &eas.SchemaError{Command: "GetHierarchy", Msg: "x"}, 103, 400},
		{"deadline", eas.CmdPing, eas.ScopeCommand, fmt.Errorf("waiting: %w", context.DeadlineExceeded), 8, 200},
		{"deadline-common", eas.CmdSettings, eas.ScopeCommand, fmt.Errorf("waiting: %w", context.DeadlineExceeded), 111, 200},
		{"store-expired-sync", eas.CmdSync, eas.ScopeCollection, fmt.Errorf("jmap: %w", sources.ErrStateExpired), 3, 200},
		{"store-expired-foldersync", eas.CmdFolderSync, eas.ScopeCommand, fmt.Errorf("jmap: %w", sources.ErrStateExpired), 9, 200},
		{"store-expired-estimate", eas.CmdGetItemEstimate, eas.ScopeCollection, sources.ErrStateExpired, 4, 200},
		{"sync-key-mismatch-foldersync", eas.CmdFolderSync, eas.ScopeCommand, fmt.Errorf("x: %w", statecache.ErrSyncKeyMismatch), 9, 200},
		{"sync-key-mismatch-foldercreate", eas.CmdFolderCreate, eas.ScopeCommand, statecache.ErrSyncKeyMismatch, 9, 200},
		{"sync-key-mismatch-folderupdate", eas.CmdFolderUpdate, eas.ScopeCommand, statecache.ErrSyncKeyMismatch, 9, 200},
		{"sync-key-mismatch-folderdelete", eas.CmdFolderDelete, eas.ScopeCommand, statecache.ErrSyncKeyMismatch, 9, 200},
		{"sync-key-mismatch-estimate", eas.CmdGetItemEstimate, eas.ScopeCollection, statecache.ErrSyncKeyMismatch, 4, 200},
		{"store-not-found-sync-item", eas.CmdSync, eas.ScopeItem, sources.ErrNotFound, 8, 200},
		{"store-not-found-sync-collection", eas.CmdSync, eas.ScopeCollection, sources.ErrNotFound, 12, 200},
		{"store-not-found-ping", eas.CmdPing, eas.ScopeCommand, sources.ErrNotFound, 7, 200},
		{"store-not-found-default", eas.CmdGetAttachment, eas.ScopeCommand, sources.ErrNotFound, 150, 404},
		{"store-conflict-sync", eas.CmdSync, eas.ScopeItem, sources.ErrConflict, 7, 200},
		{"store-conflict-foldercreate", eas.CmdFolderCreate, eas.ScopeCommand, sources.ErrConflict, 2, 200},
		{"store-unsupported-folderdelete", eas.CmdFolderDelete, eas.ScopeCommand, sources.ErrUnsupported, 3, 200},
		{"store-unsupported-default", eas.CmdSearch, eas.ScopeCommand, sources.ErrUnsupported, 137, 200},
		{"store-too-large-itemops", eas.CmdItemOperations, eas.ScopeItem, sources.ErrTooLarge, 11, 200},
		{"store-too-large-sendmail", eas.CmdSendMail, eas.ScopeCommand, fmt.Errorf("smtp: %w", sources.ErrTooLarge), 122, 200},
		{"store-too-large-smartforward", eas.CmdSmartForward, eas.ScopeCommand, sources.ErrTooLarge, 122, 200},
		{"store-conflict-smartreply", eas.CmdSmartReply, eas.ScopeCommand, sources.ErrConflict, 118, 200},
		{"store-not-found-smartreply", eas.CmdSmartReply, eas.ScopeCommand, sources.ErrNotFound, 150, 200},
		{"store-temporary-sendmail", eas.CmdSendMail, eas.ScopeCommand, sources.MarkTemporary(errors.New("down")), 111, 200},
		{"store-auth", eas.CmdSettings, eas.ScopeCommand, sources.ErrAuth, 130, 200},
		{"store-temporary-sync", eas.CmdSync, eas.ScopeCollection, sources.MarkTemporary(errors.New("down")), 5, 200},
		{"store-temporary-foldersync", eas.CmdFolderSync, eas.ScopeCommand, sources.MarkTemporary(errors.New("down")), 6, 200},
		{"canceled-no-element", eas.CmdGetAttachment, eas.ScopeCommand, context.Canceled, 111, 503},
		{"temporary", eas.CmdSettings, eas.ScopeCommand, fmt.Errorf("jmap: %w", tempError{}), 111, 200},
		{"other", eas.CmdFind, eas.ScopeCommand, errors.New("boom"), 110, 200},
		{"other-no-element", eas.CmdGetAttachment, eas.ScopeCommand, errors.New("boom"), 110, 500},
		{"collection-scope", eas.CmdMoveItems, eas.ScopeCollection, errors.New("boom"), 110, 200},
		{"item-scope", eas.CmdMeetingResponse, eas.ScopeItem, &eas.SchemaError{}, 103, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, code := statusFor(tt.cmd, tt.scope, tt.err)
			if st != tt.wantSt || code != tt.wantCode {
				t.Errorf("statusFor(%s, %s, %v) = %d, %d; want %d, %d", tt.cmd, tt.scope, tt.err, st, code, tt.wantSt, tt.wantCode)
			}
		})
	}
}

// TestStatusPageTags checks that every command given a status body has the
// <Page:Command> and <Page:Status> elements in the code pages.
func TestStatusPageTags(t *testing.T) {
	for cmd, page := range statusPage {
		for _, tag := range []eas.Tag{{Page: page, Name: cmd.String()}, {Page: page, Name: "Status"}} {
			if !eas.KnownTag(tag) {
				t.Errorf("statusPage[%s]: %s is not a known tag", cmd, tag)
			}
		}
	}
}
