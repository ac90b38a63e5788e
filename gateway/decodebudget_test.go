package gateway

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
)

// TestDecodeBudget holds most of the decode budget with a body that stops
// halfway, checks that another request is refused with 503 and
// Retry-After meanwhile, and that both succeed once the first ends.
func TestDecodeBudget(t *testing.T) {
	const limit = 8 << 10
	s := newTestServer(t, &Options{MaxBodySize: limit, DecodeBudget: limit}, nil)
	install(s, eas.CmdFolderSync, folderSyncOK)
	big := mustMarshal(t, &eas.FolderSyncRequest{SyncKey: strings.Repeat("9", limit-200)})
	small := mustMarshal(t, &eas.FolderSyncRequest{SyncKey: strings.Repeat("7", 300)})

	pr, pw := io.Pipe()
	r := httptest.NewRequest("POST", Path+plainQuery+"FolderSync", pr)
	r.ContentLength = int64(len(big))
	r.SetBasicAuth(testUser, testPassword)
	r.Header.Set("MS-ASProtocolVersion", "14.1")
	slow := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.ServeHTTP(slow, r)
	}()
	sent := len(big) - 100
	if _, err := pw.Write(big[:sent]); err != nil {
		t.Fatal(err)
	}
	// The slow body's bytes are held once its decoder has read them.
	for deadline := time.Now().Add(10 * time.Second); s.budget.used.Load() < int64(sent); {
		if time.Now().After(deadline) {
			t.Fatalf("budget holds %d bytes, want %d", s.budget.used.Load(), sent)
		}
		time.Sleep(time.Millisecond)
	}

	w := post(s, Path+plainQuery+"FolderSync", small)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "5" || w.Header().Get("Connection") != "close" ||
		w.Header().Get("X-MS-ASThrottle") != "OutOfBudgets" {
		t.Errorf("POST over the budget = %d, Retry-After %q, Connection %q, X-MS-ASThrottle %q; want 503, 5, close, OutOfBudgets",
			w.Code, w.Header().Get("Retry-After"), w.Header().Get("Connection"), w.Header().Get("X-MS-ASThrottle"))
	}

	pw.Write(big[sent:])
	pw.Close()
	<-done
	if slow.Code != http.StatusOK {
		t.Errorf("the slow POST = %d, want 200", slow.Code)
	}
	if w := post(s, Path+plainQuery+"FolderSync", small); w.Code != http.StatusOK {
		t.Errorf("POST after the slow one ended = %d, want 200", w.Code)
	}
	if n := s.budget.used.Load(); n != 0 {
		t.Errorf("budget holds %d bytes after all requests, want 0", n)
	}
}

// TestDecodeBudgetParallel checks that the budget is given back by every
// request, whatever its outcome, when many run at once.
func TestDecodeBudgetParallel(t *testing.T) {
	s := newTestServer(t, &Options{MaxBodySize: 4 << 10, DecodeBudget: 16 << 10}, nil)
	install(s, eas.CmdFolderSync, folderSyncOK)
	bodies := [][]byte{
		mustMarshal(t, &eas.FolderSyncRequest{SyncKey: strings.Repeat("9", 3000)}),
		mustMarshal(t, &eas.FolderSyncRequest{SyncKey: "0"}),
		mustMarshal(t, &eas.FolderSyncRequest{SyncKey: strings.Repeat("9", 5000)}), // 413
		{0x03, 0x01, 0x6a, 0x00, 0x45},                                             // truncated
	}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			w := post(s, Path+plainQuery+"FolderSync", bodies[i%len(bodies)])
			switch w.Code {
			case http.StatusOK, http.StatusServiceUnavailable, http.StatusRequestEntityTooLarge, http.StatusBadRequest:
			default:
				t.Errorf("POST %d = %d", i, w.Code)
			}
		})
	}
	wg.Wait()
	if n := s.budget.used.Load(); n != 0 {
		t.Errorf("budget holds %d bytes after all requests, want 0", n)
	}
}

// TestEmptyTagBomb posts issue 9's body shape, a MoveItems of a million
// empty Move tags, each of which would become a struct: it is refused with
// 413 once the decoder's allocation passes MaxAllocPerByte, not decoded.
func TestEmptyTagBomb(t *testing.T) {
	s := newTestServer(t, &Options{}, nil)
	install(s, eas.CmdMoveItems, func(*Server, context.Context, *Session, *eas.MoveItemsRequest) (*eas.MoveItemsResponse, error) {
		t.Error("the MoveItems handler ran")
		return nil, nil
	})
	const moveItems, move = 0x45, 0x06 // Move:MoveItems with content, Move:Move empty (MS-ASWBXML 2.1.2.1.6)
	body := append([]byte{0x03, 0x01, 0x6A, 0x00, 0x00, byte(eas.PageMove), moveItems}, bytes.Repeat([]byte{move}, 1<<20)...)
	body = append(body, 0x01)
	w := post(s, Path+plainQuery+"MoveItems", body)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("POST of a million empty Move tags = %d, want 413", w.Code)
	}
	if n := s.budget.used.Load(); n != 0 {
		t.Errorf("budget holds %d bytes after the request, want 0", n)
	}
}
