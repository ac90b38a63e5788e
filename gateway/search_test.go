package gateway

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/easgate/easgate/eas"
)

// searchDo posts a Search and decodes the response.
func searchDo(t *testing.T, f *ioFixture, v string, req *eas.SearchRequest) *eas.SearchStoreResult {
	t.Helper()
	r := f.post(t, "Search", v, req)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("HTTP status %d", r.StatusCode)
	}
	var resp eas.SearchResponse
	ioDecode(t, ioReadAll(t, r), &resp)
	if resp.Status != eas.SearchStatusSuccess || resp.Response == nil {
		t.Fatalf("response %+v, want Status 1 with a Response", resp)
	}
	return &resp.Response.Store
}

func mailboxSearch(text, rng string, collections ...string) *eas.SearchRequest {
	return &eas.SearchRequest{Store: eas.SearchStore{
		Name: "Mailbox",
		Query: &eas.SearchQuery{And: &eas.SearchQuery{
			Class: []string{"Email"}, CollectionID: collections, FreeText: text,
		}},
		Options: &eas.SearchOptions{Range: rng, RebuildResults: true, DeepTraversal: true,
			BodyPreference: []eas.BodyPreference{{Type: int(eas.BodyHTML), TruncationSize: ptr(uint32(10))}}},
	}}
}

func TestSearchMailbox(t *testing.T) {
	ctx := context.Background()
	f := newIOFixture(t, 10)
	for i := range 12 {
		if _, err := f.src.AddMessage(ctx, "inbox", ioMessage(fmt.Sprintf("needle %d", i), nil)); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range ioVersions {
		tests := []struct {
			name      string
			req       *eas.SearchRequest
			wantTotal int
			wantRange string
			wantN     int
			status    eas.SearchStatus
		}{
			{name: "first page", req: mailboxSearch("needle", "0-4", f.inbox), wantTotal: 12, wantRange: "0-4", wantN: 5},
			{name: "last page", req: mailboxSearch("NEEDLE", "10-14"), wantTotal: 12, wantRange: "10-11", wantN: 2},
			{name: "one match", req: mailboxSearch("greetings", ""), wantTotal: 1, wantRange: "0-0", wantN: 1},
			{name: "no match", req: mailboxSearch("haystack", "0-9"), wantTotal: 0},
			{name: "unknown collection", req: mailboxSearch("needle", "0-9", "404"), status: eas.SearchStatusFolderSyncRequired},
			{name: "or of two criteria", req: &eas.SearchRequest{Store: eas.SearchStore{Name: "Mailbox",
				Query: &eas.SearchQuery{Or: &eas.SearchQuery{FreeText: "a", Class: []string{"Email"}}}}},
				status: eas.SearchStatusTooComplex},
		}
		for _, tc := range tests {
			t.Run(v+"/"+tc.name, func(t *testing.T) {
				st := searchDo(t, f, v, tc.req)
				if tc.status != 0 {
					if st.Status != tc.status {
						t.Errorf("Store Status = %d, want %d", st.Status, tc.status)
					}
					return
				}
				n := len(st.Result)
				if tc.wantN == 0 && n == 1 && st.Result[0].LongID == "" {
					n = 0 // the empty Result of no match
				}
				if st.Status != 1 || st.Total == nil || *st.Total != tc.wantTotal || st.Range != tc.wantRange || n != tc.wantN {
					t.Fatalf("Store = Status %d, Total %v, Range %q, %d results; want 1, %d, %q, %d",
						st.Status, st.Total, st.Range, n, tc.wantTotal, tc.wantRange, tc.wantN)
				}
				for _, r := range st.Result[:n] {
					var m eas.Email
					if err := r.Properties.Decode(&m); err != nil {
						t.Fatal(err)
					}
					if r.Class != "Email" || r.CollectionID != f.inbox || r.LongID == "" || m.Subject == "" ||
						m.Body == nil || m.Body.Data == nil || len(*m.Body.Data) > 10 {
						t.Errorf("result %+v with %+v, want an Email of %s with a LongId and a 10-byte body", r, m, f.inbox)
					}
				}
			})
		}
		t.Run(v+"/fetch by LongId", func(t *testing.T) {
			st := searchDo(t, f, v, mailboxSearch("greetings", "0-0"))
			if len(st.Result) != 1 {
				t.Fatalf("%d results, want 1", len(st.Result))
			}
			res := oneFetch(t, f.post(t, "ItemOperations", v, fetchRequest(eas.Fetch{Store: "Mailbox", LongID: st.Result[0].LongID})))
			var m eas.Email
			if err := res.Properties.Decode(&m); err != nil {
				t.Fatal(err)
			}
			if res.Status != 1 || res.LongID != st.Result[0].LongID || m.Subject != "Greetings" {
				t.Errorf("Fetch %+v of %q, want Greetings by its LongId", res, m.Subject)
			}
		})
	}
}

// TestSearchGALAndroid replays Android's GAL searches: until a directory
// exists they are answered validly with no results.
func TestSearchGALAndroid(t *testing.T) {
	files, err := filepath.Glob("../eas/testdata/devices/android/android-search-gal-*.wbxml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures: %v", err)
	}
	f := newIOFixture(t, 10)
	for _, file := range files {
		body, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range ioVersions {
			t.Run(filepath.Base(file)+"/"+v, func(t *testing.T) {
				r := post(f.s, Path+plainQuery+"Search", body, "MS-ASProtocolVersion", v).Result()
				var resp eas.SearchResponse
				ioDecode(t, ioReadAll(t, r), &resp)
				st := resp.Response.Store
				if r.StatusCode != 200 || resp.Status != 1 || st.Status != 1 || st.Total == nil || *st.Total != 0 {
					t.Errorf("HTTP %d, response %+v; want Status 1 and Total 0", r.StatusCode, resp)
				}
			})
		}
	}
}

func TestSearchDocumentLibrary(t *testing.T) {
	f := newIOFixture(t, 10)
	want := map[string]eas.SearchStatus{"12.0": eas.SearchStatusInvalidRequest, "12.1": eas.SearchStatusInvalidRequest,
		"14.0": 137, "14.1": 137, "16.0": 137, "16.1": 137}
	for _, v := range ioVersions {
		t.Run(v, func(t *testing.T) {
			st := searchDo(t, f, v, &eas.SearchRequest{Store: eas.SearchStore{Name: "DocumentLibrary",
				Query: &eas.SearchQuery{EqualTo: &eas.SearchEqualTo{LinkID: "x", Value: `\\server\share`}}}})
			if st.Status != want[v] {
				t.Errorf("Store Status = %d, want %d", st.Status, want[v])
			}
		})
	}
}
