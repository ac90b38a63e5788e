package gateway

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/easgate/easgate/eas"
)

const findSearchID = "0f8fad5b-d9cb-469f-a165-70867728950e"

// findDo posts a Find at 16.1 and returns its Response.
func findDo(t *testing.T, f *ioFixture, es eas.FindExecuteSearch) *eas.FindResponseBody {
	t.Helper()
	r := f.post(t, "Find", "16.1", &eas.FindRequest{SearchID: findSearchID, ExecuteSearch: es})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("HTTP status %d", r.StatusCode)
	}
	var resp eas.FindResponse
	ioDecode(t, ioReadAll(t, r), &resp)
	if resp.Status != eas.FindStatusSuccess || resp.Response == nil || resp.Response.Store != "Mailbox" {
		t.Fatalf("response %+v, want Status 1 with a Mailbox Response", resp)
	}
	return resp.Response
}

func TestFindMailbox(t *testing.T) {
	ctx := context.Background()
	f := galFixture(t, nil)
	for i := range 5 {
		if _, err := f.src.AddMessage(ctx, "inbox", ioMessage(fmt.Sprintf("needle %d", i), nil)); err != nil {
			t.Fatal(err)
		}
	}
	crit := func(text, collection, rng string) eas.FindExecuteSearch {
		return eas.FindExecuteSearch{MailboxSearchCriterion: &eas.FindCriterion{
			Query:   eas.FindQuery{FreeText: text, Class: "Email", CollectionID: collection},
			Options: &eas.FindOptions{Range: rng, DeepTraversal: true},
		}}
	}
	tests := []struct {
		name      string
		es        eas.FindExecuteSearch
		status    eas.FindStatus
		wantTotal int
		wantRange string
		wantN     int
	}{
		{name: "first page", es: crit("needle", f.inbox, "0-2"), status: 1, wantTotal: 5, wantRange: "0-2", wantN: 3},
		{name: "last page", es: crit("needle", "", "3-9"), status: 1, wantTotal: 5, wantRange: "3-4", wantN: 2},
		{name: "no match", es: crit("haystack", "", ""), status: 1},
		{name: "unknown collection", es: crit("needle", "404", ""), status: eas.FindStatusFolderSyncRequired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := findDo(t, f, tc.es)
			if body.Status != tc.status {
				t.Fatalf("Response Status %d, want %d", body.Status, tc.status)
			}
			if tc.status != 1 {
				return
			}
			if body.Total == nil || *body.Total != tc.wantTotal || body.Range != tc.wantRange || len(body.Result) != tc.wantN {
				t.Fatalf("Response = Total %v, Range %q, %d results; want %d, %q, %d",
					body.Total, body.Range, len(body.Result), tc.wantTotal, tc.wantRange, tc.wantN)
			}
			for _, r := range body.Result {
				p := r.Properties
				if r.Class != "Email" || r.CollectionID != f.inbox || r.ServerID == "" || p.Subject == "" ||
					p.DateReceived == "" || p.Read == nil || p.Preview == "" || len(p.Preview) > findPreview {
					t.Errorf("result %+v, want an Email preview with a ServerId of %s", r, f.inbox)
				}
			}
		})
	}
}

func TestFindGAL(t *testing.T) {
	f := galFixture(t, nil)
	crit := func(text, rng string, pic *eas.FindPicture) eas.FindExecuteSearch {
		return eas.FindExecuteSearch{GALSearchCriterion: &eas.FindCriterion{
			Query: eas.FindQuery{FreeText: text}, Options: &eas.FindOptions{Range: rng, Picture: pic}}}
	}
	tests := []struct {
		name      string
		es        eas.FindExecuteSearch
		want      []string
		wantTotal int
		wantRange string
	}{
		{name: "prefix", es: crit("ali", "", nil), want: []string{"alice@example.com", "alicia@example.com", "bob@example.com"}, wantTotal: 3, wantRange: "0-2"},
		{name: "page", es: crit("ali", "1-1", nil), want: []string{"alicia@example.com"}, wantTotal: 3, wantRange: "1-1"},
		{name: "picture", es: crit("alice@", "", &eas.FindPicture{MaxSize: 1024}), want: []string{"alice@example.com"}, wantTotal: 1, wantRange: "0-0"},
		{name: "no match", es: crit("zebra", "", nil), wantTotal: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := findDo(t, f, tc.es)
			var got []string
			for _, r := range body.Result {
				got = append(got, r.Properties.EmailAddress)
			}
			if body.Status != 1 || body.Total == nil || *body.Total != tc.wantTotal || body.Range != tc.wantRange || !slices.Equal(got, tc.want) {
				t.Errorf("Response = Status %d, Total %v, Range %q, %v; want 1, %d, %q, %v",
					body.Status, body.Total, body.Range, got, tc.wantTotal, tc.wantRange, tc.want)
			}
			if tc.es.GALSearchCriterion.Options.Picture != nil {
				p := body.Result[0].Properties
				if p.Picture == nil || p.Picture.Status != 1 || string(p.Picture.Data) != string(galPhoto) || p.DisplayName != "Alice Example" {
					t.Errorf("properties %+v, want Alice Example with her photo", p)
				}
			}
		})
	}
}

// TestFindVersions checks that Find is served at 16.1 alone (MS-ASCMD
// 2.2.1.2).
func TestFindVersions(t *testing.T) {
	f := galFixture(t, nil)
	for _, v := range []string{"12.1", "14.1"} {
		t.Run(v, func(t *testing.T) {
			r := f.post(t, "Find", v, &eas.FindRequest{SearchID: findSearchID, ExecuteSearch: eas.FindExecuteSearch{
				GALSearchCriterion: &eas.FindCriterion{Query: eas.FindQuery{FreeText: "ali"}}}})
			if r.StatusCode != http.StatusBadRequest {
				t.Errorf("HTTP status %d, want 400", r.StatusCode)
			}
		})
	}
}
