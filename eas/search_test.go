package eas

import (
	"reflect"
	"strings"
	"testing"
)

func TestSearchGolden(t *testing.T) {
	checkGolden(t, "search/request", func(Tag) any { return new(SearchRequest) })
	checkGolden(t, "search/response", func(Tag) any { return new(SearchResponse) })
}

// TestSearchAndroidGAL decodes the GAL searches Android's Gmail client sent
// while the user typed a recipient: no Options but Range, the query as
// text. They must validate at 14.1, the version that client spoke.
func TestSearchAndroidGAL(t *testing.T) {
	tests := []struct {
		file, query, rng string
	}{
		{"android-search-gal-range-0-9.wbxml", "io", "0-9"},
		{"android-search-gal-range-0-14-partial.wbxml", "mihai@", "0-14"},
		{"android-search-gal-range-0-14-full-address.wbxml", "mihai@badici.ro", "0-14"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var r SearchRequest
			if err := Unmarshal(readGolden(t, "devices/android/"+tt.file), &r, nil); err != nil {
				t.Fatalf("Unmarshal = %v", err)
			}
			want := SearchStore{Name: SearchStoreGAL, Query: &SearchQuery{Text: tt.query}, Options: &SearchOptions{Range: tt.rng}}
			if !reflect.DeepEqual(r.Store, want) {
				t.Errorf("Store = %+v, want %+v", r.Store, want)
			}
			if err := r.Validate(V141); err != nil {
				t.Errorf("Validate(14.1) = %v", err)
			}
		})
	}
}

// TestGALProperties checks that GAL results decode from Raw and that a
// response built with RawValue encodes as the golden file.
func TestGALProperties(t *testing.T) {
	golden := readGolden(t, "search/response/gal-picture.wbxml")
	var resp SearchResponse
	if err := Unmarshal(golden, &resp, nil); err != nil {
		t.Fatal(err)
	}
	var got []GALProperties
	for _, res := range resp.Response.Store.Result {
		var p GALProperties
		if err := res.Properties.Decode(&p); err != nil {
			t.Fatal(err)
		}
		got = append(got, p)
	}
	photo := []byte{0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0xff, 0xdb, 0, 0x43, 0, 0xff, 0xff, 0xd9}
	want := []GALProperties{
		{DisplayName: "Ines Duarte", EmailAddress: "ines.duarte@example.net", Picture: &GALPicture{Status: 1, Data: photo}},
		{DisplayName: "Ines Ferreira", EmailAddress: "ines.ferreira@example.net", Picture: &GALPicture{Status: StatusNoPicture}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Decode(Properties) = %+v, want %+v", got, want)
	}

	total := 2
	built := SearchResponse{Status: SearchStatusSuccess, Response: &SearchResponseBody{Store: SearchStoreResult{
		Status: SearchStatusSuccess,
		Result: []SearchResult{{Properties: RawValue(&want[0])}, {Properties: RawValue(&want[1])}},
		Range:  "0-1",
		Total:  &total,
	}}}
	b, err := Marshal(&built)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(b, golden) {
		t.Errorf("Marshal = % x, want % x", b, golden)
	}
}

// TestSearchQueryText checks the mixed content of Query: text and criteria
// in one element, as the schema allows.
func TestSearchQueryText(t *testing.T) {
	q := SearchQuery{Text: "abc", And: &SearchQuery{FreeText: "x", Class: []string{"Email", "Calendar"}}, ConversationID: []byte{}}
	r := SearchRequest{Store: SearchStore{Name: "Mailbox", Query: &q}}
	b, err := Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	var got SearchRequest
	if err := Unmarshal(b, &got, nil); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Store.Query, &q) {
		t.Errorf("Query round trip = %+v, want %+v", got.Store.Query, &q)
	}
}

func TestSearchValidate(t *testing.T) {
	gal := func(o *SearchOptions) *SearchRequest {
		return &SearchRequest{Store: SearchStore{Name: "GAL", Query: &SearchQuery{Text: "ab"}, Options: o}}
	}
	mailbox := func(q *SearchQuery, o *SearchOptions) *SearchRequest {
		return &SearchRequest{Store: SearchStore{Name: "Mailbox", Query: q, Options: o}}
	}
	deep := &SearchQuery{FreeText: "x"}
	for range maxQueryDepth + 1 {
		deep = &SearchQuery{And: deep}
	}
	tests := []struct {
		name string
		v    ProtocolVersion
		r    *SearchRequest
		ok   bool
	}{
		{"gal at 2.5", V25, gal(&SearchOptions{Range: "0-99"}), true},
		{"gal name lower case", V141, &SearchRequest{Store: SearchStore{Name: "gal", Query: &SearchQuery{Text: "x"}}}, true},
		{"gal blank query", V141, &SearchRequest{Store: SearchStore{Name: "GAL", Query: &SearchQuery{Text: "  "}}}, false},
		{"no name", V141, &SearchRequest{Store: SearchStore{Query: &SearchQuery{Text: "x"}}}, false},
		{"no query", V141, &SearchRequest{Store: SearchStore{Name: "GAL"}}, false},
		{"range 3 digits", V141, gal(&SearchOptions{Range: "100-999"}), true},
		{"range 4 digits", V141, gal(&SearchOptions{Range: "0-1000"}), false},
		{"range one number", V141, gal(&SearchOptions{Range: "10"}), false},
		{"range signed", V141, gal(&SearchOptions{Range: "+1-5"}), false},
		{"picture at 14.1", V141, gal(&SearchOptions{Picture: &SearchPicture{}}), true},
		{"picture at 14.0", V140, gal(&SearchOptions{Picture: &SearchPicture{}}), false},
		{"picture in mailbox", V141, mailbox(&SearchQuery{FreeText: "x"}, &SearchOptions{Picture: &SearchPicture{}}), false},
		{"user name at 12.0", V120, gal(&SearchOptions{UserName: "u"}), false},
		{"user name at 12.1", V121, gal(&SearchOptions{UserName: "u"}), true},
		{"password too long", V141, gal(&SearchOptions{Password: strings.Repeat("p", 101)}), false},
		{"deep traversal at 2.5", V25, gal(&SearchOptions{DeepTraversal: true}), false},
		{"body part at 14.0", V140, mailbox(&SearchQuery{FreeText: "x"}, &SearchOptions{BodyPartPreference: []BodyPartPreference{{Type: 2}}}), false},
		{"body type 0", V141, mailbox(&SearchQuery{FreeText: "x"}, &SearchOptions{BodyPreference: []BodyPreference{{Type: 0}}}), false},
		{"mime support 3", V141, mailbox(&SearchQuery{FreeText: "x"}, &SearchOptions{MIMESupport: 3}), false},
		{"mailbox at 12.0", V120, mailbox(&SearchQuery{And: &SearchQuery{FreeText: "x"}}, nil), true},
		{"mailbox at 2.5", V25, mailbox(&SearchQuery{FreeText: "x"}, nil), false},
		{"mailbox text query", V141, mailbox(&SearchQuery{Text: "x"}, nil), false},
		{"mailbox empty query", V141, mailbox(&SearchQuery{}, nil), false},
		{"mailbox empty and", V141, mailbox(&SearchQuery{And: &SearchQuery{}}, nil), false},
		{"nested or", V141, mailbox(&SearchQuery{And: &SearchQuery{Class: []string{"Email"}, Or: &SearchQuery{FreeText: "a"}}}, nil), true},
		{"too deep", V141, mailbox(deep, nil), false},
		{"conversation at 14.0", V140, mailbox(&SearchQuery{ConversationID: []byte{1}}, nil), true},
		{"conversation at 12.1", V121, mailbox(&SearchQuery{ConversationID: []byte{1}}, nil), false},
		{"date bound", V141, mailbox(&SearchQuery{LessThan: &SearchComparison{DateReceived: true, Value: "2024-01-01T00:00:00.000Z"}}, nil), true},
		{"date bound without property", V141, mailbox(&SearchQuery{GreaterThan: &SearchComparison{Value: "2024-01-01T00:00:00.000Z"}}, nil), false},
		{"equal to in mailbox", V141, mailbox(&SearchQuery{EqualTo: &SearchEqualTo{LinkID: "l", Value: "l"}}, nil), false},
		{"document library without value", V141, &SearchRequest{Store: SearchStore{Name: "DocumentLibrary", Query: &SearchQuery{EqualTo: &SearchEqualTo{LinkID: "l"}}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkValidate(t, "Search", tt.r.Validate(tt.v), tt.ok)
		})
	}
}

func TestParseRangeMN(t *testing.T) {
	tests := []struct {
		in     string
		digits int
		m, n   int
		ok     bool
	}{
		{"0-9", 3, 0, 9, true},
		{"0-0", 3, 0, 0, true},
		{"10-999", 3, 10, 999, true},
		{"0-1000", 3, 0, 0, false},
		{"0-1000", 9, 0, 1000, true},
		{"9-0", 3, 0, 0, false},
		{"-9", 3, 0, 0, false},
		{"0-", 3, 0, 0, false},
		{"0--9", 3, 0, 0, false},
		{"a-b", 3, 0, 0, false},
		{"", 3, 0, 0, false},
	}
	for _, tt := range tests {
		m, n, ok := parseRangeMN(tt.in, tt.digits)
		if ok != tt.ok || ok && (m != tt.m || n != tt.n) {
			t.Errorf("parseRangeMN(%q, %d) = %d, %d, %v, want %d, %d, %v", tt.in, tt.digits, m, n, ok, tt.m, tt.n, tt.ok)
		}
	}
}

func FuzzUnmarshalSearch(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRemarshal(t, data, func() any { return new(SearchRequest) })
		fuzzRemarshal(t, data, func() any { return new(SearchResponse) })
	})
}
