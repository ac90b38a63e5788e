package gateway

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

// galPhoto is the photo of galContacts' Alice.
var galPhoto = []byte("\x89PNG fake photo")

// galContacts is the directory of the GAL tests.
var galContacts = []sources.Contact{
	{FirstName: "Alice", LastName: "Example", Emails: []string{"alice@example.com", "a.example@example.org"},
		JobTitle: "Engineer", Company: "Example Ltd", OfficeLocation: "B2", Alias: "alice",
		Phones: sources.Phones{Business: "+44 20 7946 0001", Mobile: "07700 900123"}, Photo: galPhoto},
	{FirstName: "Alicia", LastName: "Keys", Emails: []string{"alicia@example.com"}},
	{FirstName: "Bob", LastName: "Malice", Emails: []string{"bob@example.com"}},
	{FirstName: "Ioana", LastName: "Mihai", Emails: []string{"mihai@badici.ro"}},
	{FirstName: "Carol", LastName: "Example", Emails: []string{"carol@example.com"}},
	{FileAs: "No Address"},
}

// galFixture is an ioFixture whose contacts folder holds galContacts,
// served with directory options o.
func galFixture(t *testing.T, o *Options) *ioFixture {
	t.Helper()
	f := newIOFixture(t, 10)
	galAdd(t, f, "contacts", galContacts...)
	if o != nil {
		o.Backend, o.State = ioBackend{f.src}, f.state
		f.s = newTestServer(t, o, nil)
	}
	return f
}

func galAdd(t *testing.T, f *ioFixture, folder sources.FolderID, cs ...sources.Contact) {
	t.Helper()
	for i := range cs {
		if _, _, err := f.src.Put(context.Background(), folder, &sources.Item{Contact: &cs[i]}, ""); err != nil {
			t.Fatal(err)
		}
	}
}

func galSearch(text, rng string, pic *eas.SearchPicture) *eas.SearchRequest {
	req := &eas.SearchRequest{Store: eas.SearchStore{Name: "GAL", Query: &eas.SearchQuery{Text: text}}}
	if rng != "" || pic != nil {
		req.Store.Options = &eas.SearchOptions{Range: rng, Picture: pic}
	}
	return req
}

// galResults decodes the GAL entries of a Search response; nil for the
// empty Result of no match.
func galResults(t *testing.T, st *eas.SearchStoreResult) []eas.GALProperties {
	t.Helper()
	var out []eas.GALProperties
	for _, r := range st.Result {
		if r.Properties.IsZero() {
			continue
		}
		var p eas.GALProperties
		if err := r.Properties.Decode(&p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func galEmails(ps []eas.GALProperties) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.EmailAddress)
	}
	return out
}

func TestSearchGAL(t *testing.T) {
	f := galFixture(t, nil)
	for _, v := range ioVersions {
		tests := []struct {
			name      string
			query     string
			rng       string
			want      []string
			wantTotal int
			wantRange string
		}{
			{name: "name prefix", query: "ali", want: []string{"alice@example.com", "alicia@example.com", "bob@example.com"},
				wantTotal: 3, wantRange: "0-2"}, // Malice last: a substring
			{name: "last name", query: "EXAMPLE", want: []string{"alice@example.com", "carol@example.com"}, wantTotal: 2, wantRange: "0-1"},
			{name: "address prefix", query: "alice@", want: []string{"alice@example.com"}, wantTotal: 1, wantRange: "0-0"},
			{name: "second address", query: "a.example@example.org", want: []string{"alice@example.com"}, wantTotal: 1, wantRange: "0-0"},
			{name: "two words", query: "alice ex", want: []string{"alice@example.com"}, wantTotal: 1, wantRange: "0-0"},
			{name: "phone", query: "07700 900", want: []string{"alice@example.com"}, wantTotal: 1, wantRange: "0-0"},
			{name: "substring", query: "lic", want: []string{"alice@example.com", "alicia@example.com", "bob@example.com"}, wantTotal: 3, wantRange: "0-2"},
			{name: "first page", query: "ali", rng: "0-1", want: []string{"alice@example.com", "alicia@example.com"}, wantTotal: 3, wantRange: "0-1"},
			{name: "second page", query: "ali", rng: "2-3", want: []string{"bob@example.com"}, wantTotal: 3, wantRange: "2-2"},
			{name: "past the end", query: "ali", rng: "5-9", wantTotal: 3},
			{name: "no match", query: "zebra", wantTotal: 0},
		}
		for _, tc := range tests {
			t.Run(v+"/"+tc.name, func(t *testing.T) {
				st := searchDo(t, f, v, galSearch(tc.query, tc.rng, nil))
				got := galEmails(galResults(t, st))
				if st.Status != 1 || st.Total == nil || *st.Total != tc.wantTotal || st.Range != tc.wantRange || !slices.Equal(got, tc.want) {
					t.Errorf("Store = Status %d, Total %v, Range %q, %v; want 1, %d, %q, %v",
						st.Status, st.Total, st.Range, got, tc.wantTotal, tc.wantRange, tc.want)
				}
			})
		}
	}
	t.Run("properties", func(t *testing.T) {
		got := galResults(t, searchDo(t, f, "14.1", galSearch("alice@example.com", "", nil)))
		want := []eas.GALProperties{{DisplayName: "Alice Example", Phone: "+44 20 7946 0001", Office: "B2",
			Title: "Engineer", Company: "Example Ltd", Alias: "alice", FirstName: "Alice", LastName: "Example",
			MobilePhone: "07700 900123", EmailAddress: "alice@example.com"}}
		if !slices.EqualFunc(got, want, func(a, b eas.GALProperties) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) {
			t.Errorf("properties %+v, want %+v", got, want)
		}
	})
}

func TestSearchGALPicture(t *testing.T) {
	f := galFixture(t, nil)
	tests := []struct {
		name string
		pic  eas.SearchPicture
		want []eas.Status // per result of "ali"
	}{
		{name: "no limits", want: []eas.Status{1, eas.StatusNoPicture, eas.StatusNoPicture}},
		{name: "too large", pic: eas.SearchPicture{MaxSize: 4}, want: []eas.Status{eas.StatusPictureTooLarge, eas.StatusNoPicture, eas.StatusNoPicture}},
		{name: "limit reached", pic: eas.SearchPicture{MaxPictures: 1}, want: []eas.Status{1, eas.StatusNoPicture, eas.StatusNoPicture}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := galResults(t, searchDo(t, f, "14.1", galSearch("ali", "", &tc.pic)))
			var sts []eas.Status
			for _, p := range got {
				if p.Picture == nil {
					t.Fatalf("%s without Picture", p.EmailAddress)
				}
				sts = append(sts, p.Picture.Status)
				if (p.Picture.Status == 1) != (string(p.Picture.Data) == string(galPhoto)) {
					t.Errorf("%s: Picture %+v", p.EmailAddress, p.Picture)
				}
			}
			if !slices.Equal(sts, tc.want) {
				t.Errorf("Picture statuses %v, want %v", sts, tc.want)
			}
		})
	}
	t.Run("limit over pictures", func(t *testing.T) {
		p := &pictures{maxPictures: 1}
		e := &galEntry{photo: galPhoto}
		if st, _ := p.take(e); st != 1 {
			t.Fatalf("first take = %d", st)
		}
		if st, data := p.take(e); st != eas.StatusPictureLimitReached || data != nil {
			t.Errorf("second take = %d, %q; want %d and no data", st, data, eas.StatusPictureLimitReached)
		}
	})
}

// TestSearchGALAndroidDirectory replays Android's GAL searches against a
// directory that holds the contact they look for.
func TestSearchGALAndroidDirectory(t *testing.T) {
	files, err := filepath.Glob("../eas/testdata/devices/android/android-search-gal-*.wbxml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures: %v", err)
	}
	f := galFixture(t, nil)
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
				if resp.Response == nil {
					t.Fatalf("HTTP %d, response %+v without Response", r.StatusCode, resp)
				}
				got := galEmails(galResults(t, &resp.Response.Store))
				if r.StatusCode != 200 || resp.Status != 1 || !slices.Contains(got, "mihai@badici.ro") {
					t.Errorf("HTTP %d, Status %d, results %v; want mihai@badici.ro", r.StatusCode, resp.Status, got)
				}
			})
		}
	}
}

func TestDirectoryFolderOption(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		folder func(id sources.FolderID) string
	}{
		{name: "by name", folder: func(sources.FolderID) string { return "staff" }},
		{name: "by id", folder: func(id sources.FolderID) string { return string(id) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := galFixture(t, nil)
			id, err := f.src.CreateFolder(ctx, "", "Staff", sources.KindUserContacts)
			if err != nil {
				t.Fatal(err)
			}
			galAdd(t, f, id, sources.Contact{FirstName: "Dora", LastName: "Staff", Emails: []string{"dora@example.com"}})
			f.s = newTestServer(t, &Options{Backend: ioBackend{f.src}, State: f.state, Directory: DirectoryOptions{Folder: tc.folder(id)}}, nil)
			if got := galEmails(galResults(t, searchDo(t, f, "14.1", galSearch("a", "", nil)))); !slices.Equal(got, []string{"dora@example.com"}) {
				t.Errorf("directory %v, want only the Staff folder's dora@example.com", got)
			}
		})
	}
	t.Run("missing folder", func(t *testing.T) {
		f := galFixture(t, &Options{Directory: DirectoryOptions{Folder: "Nowhere"}})
		if st := searchDo(t, f, "14.1", galSearch("alice", "", nil)); st.Status != eas.SearchStatusServerError && st.Status != eas.SearchStatus(eas.StatusServerError) {
			t.Errorf("Store Status %d, want a server error", st.Status)
		}
	})
}

func TestDirectoryCache(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	f := galFixture(t, nil)
	sess := &Session{User: "alice", Source: f.src}
	d := newDirectory(DirectoryOptions{TTL: time.Minute, MaxUsers: 1}, clock, nil)
	count := func() int {
		t.Helper()
		es, _, err := d.lookup(ctx, sess)
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}
	n := count()
	galAdd(t, f, "contacts", sources.Contact{FirstName: "Eve", Emails: []string{"eve@example.com"}})
	if got := count(); got != n {
		t.Errorf("within the TTL: %d entries, want the cached %d", got, n)
	}
	now = now.Add(2 * time.Minute)
	if got := count(); got != n+1 {
		t.Errorf("past the TTL: %d entries, want %d", got, n+1)
	}
	d.lookup(ctx, &Session{User: "bob", Source: f.src})
	if _, ok := d.books["alice"]; ok || len(d.books) != 1 {
		t.Errorf("books %v: want alice's dropped for bob's, MaxUsers 1", d.books)
	}

	small := newDirectory(DirectoryOptions{MaxEntries: 2}, clock, nil)
	if es, _, err := small.lookup(ctx, sess); err != nil || len(es) != 2 {
		t.Errorf("MaxEntries 2: %d entries, %v", len(es), err)
	}
}
