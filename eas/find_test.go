package eas

import "testing"

func TestFindGolden(t *testing.T) {
	checkGolden(t, "find/request", func(Tag) any { return new(FindRequest) })
	checkGolden(t, "find/response", func(Tag) any { return new(FindResponse) })
}

func TestFindValidate(t *testing.T) {
	const id = "3f2b9c1e-7a44-4d2b-9e1f-0c5a6b7d8e90"
	mailbox := func(q FindQuery, o *FindOptions) *FindRequest {
		return &FindRequest{SearchID: id, ExecuteSearch: FindExecuteSearch{MailboxSearchCriterion: &FindCriterion{Query: q, Options: o}}}
	}
	gal := func(q FindQuery) *FindRequest {
		return &FindRequest{SearchID: id, ExecuteSearch: FindExecuteSearch{GALSearchCriterion: &FindCriterion{Query: q}}}
	}
	tests := []struct {
		name string
		v    ProtocolVersion
		r    *FindRequest
		ok   bool
	}{
		{"mailbox", V161, mailbox(FindQuery{FreeText: "x", Class: "Email"}, &FindOptions{Range: "0-999"}), true},
		{"before 16.1", V160, mailbox(FindQuery{FreeText: "x"}, nil), false},
		{"mailbox without free text", V161, mailbox(FindQuery{Class: "Email"}, nil), false},
		{"range past 999", V161, mailbox(FindQuery{FreeText: "x"}, &FindOptions{Range: "0-1000"}), false},
		{"gal", V161, gal(FindQuery{FreeText: "x"}), true},
		{"gal with class", V161, gal(FindQuery{FreeText: "x", Class: "Contacts"}), false},
		{"no criterion", V161, &FindRequest{SearchID: id}, false},
		{"search id not a guid", V161, &FindRequest{SearchID: "3f2b9c1e-7a44-4d2b-9e1f-0c5a6b7d8e9g",
			ExecuteSearch: FindExecuteSearch{GALSearchCriterion: &FindCriterion{Query: FindQuery{FreeText: "x"}}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkValidate(t, "Find", tt.r.Validate(tt.v), tt.ok)
		})
	}
}

func FuzzUnmarshalFind(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRemarshal(t, data, func() any { return new(FindRequest) })
		fuzzRemarshal(t, data, func() any { return new(FindResponse) })
	})
}
