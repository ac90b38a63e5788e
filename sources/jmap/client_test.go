package jmap

import (
	"encoding/json"
	"strings"
	"testing"

	"git.sr.ht/~rockorager/go-jmap/mail/email"
	"git.sr.ht/~rockorager/go-jmap/mail/emailsubmission"

	"github.com/easgate/easgate/sources"
)

// responseCalls are the calls the decoder tests answer: an
// EmailSubmission/set (whose implicit Email/set comes with its id), an
// Email/set and an Email/get.
func responseCalls() ([]*call, *emailsubmission.SetResponse, *email.SetResponse, *wireGetResponse) {
	sub, set, get := new(emailsubmission.SetResponse), new(email.SetResponse), new(wireGetResponse)
	return []*call{
		{args: &emailsubmission.Set{}, resp: sub},
		{args: &email.Set{}, resp: set},
		{args: &email.Get{}, resp: get},
	}, sub, set, get
}

func TestDecodeResponses(t *testing.T) {
	tests := []struct {
		name, body string
		wantErr    bool
		check      func(t *testing.T, calls []*call, sub *emailsubmission.SetResponse, set *email.SetResponse, get *wireGetResponse)
	}{
		{
			name: "in order, with an implicit Email/set before the real one",
			body: `{"sessionState":"s1","methodResponses":[
				["EmailSubmission/set",{"newState":"sub1"},"0"],
				["Email/set",{"newState":"implicit"},"0"],
				["Email/set",{"newState":"mine"},"1"],
				["Email/get",{"state":"e1","list":[{"id":"M1","subject":"hi"}]},"2"]],"extra":{"a":[1]}}`,
			check: func(t *testing.T, calls []*call, sub *emailsubmission.SetResponse, set *email.SetResponse, get *wireGetResponse) {
				if sub.NewState != "sub1" || set.NewState != "mine" || get.State != "e1" || len(get.List) != 1 || get.List[0].Subject != "hi" {
					t.Errorf("got %+v, %+v, %+v", sub, set, get)
				}
			},
		},
		{
			name: "a method error",
			body: `{"methodResponses":[["EmailSubmission/set",{},"0"],["error",{"type":"stateMismatch"},"1"],["Email/get",{"state":"e"},"2"]]}`,
			check: func(t *testing.T, calls []*call, _ *emailsubmission.SetResponse, _ *email.SetResponse, get *wireGetResponse) {
				if calls[1].err == nil || calls[1].err.Type != "stateMismatch" || calls[1].done || !calls[2].done || get.State != "e" {
					t.Errorf("calls %+v %+v %+v", calls[0], calls[1], calls[2])
				}
			},
		},
		{
			name: "a call id not ours is ignored",
			body: `{"methodResponses":[["Email/get",{"state":"x"},"c7"],["EmailSubmission/set",{},"0"],["Email/set",{},"1"],["Email/get",{"state":"e"},"2"]]}`,
			check: func(t *testing.T, _ []*call, _ *emailsubmission.SetResponse, _ *email.SetResponse, get *wireGetResponse) {
				if get.State != "e" {
					t.Errorf("state %q, want e", get.State)
				}
			},
		},
		{
			name:    "out of order",
			body:    `{"methodResponses":[["EmailSubmission/set",{},"1"]]}`,
			wantErr: true,
		},
		{
			name:    "arguments of the wrong shape",
			body:    `{"methodResponses":[["EmailSubmission/set",{"created":7},"0"]]}`,
			wantErr: true,
		},
		{
			name:    "cut short",
			body:    `{"methodResponses":[["EmailSubmission/set",{"newSt`,
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls, sub, set, get := responseCalls()
			_, err := decodeResponses(strings.NewReader(tt.body), calls)
			if (err != nil) != tt.wantErr {
				t.Fatalf("decodeResponses = %v, want error %v", err, tt.wantErr)
			}
			if tt.check != nil {
				tt.check(t, calls, sub, set, get)
			}
		})
	}
	// A broken stream may be the network's fault; a wrong shape is not.
	calls, _, _, _ := responseCalls()
	if _, err := decodeResponses(strings.NewReader(`{"methodResponses":[["EmailSubmission/set",{"x`), calls); !sources.Temporary(err) {
		t.Errorf("cut short: %v, want a temporary error", err)
	}
}

// FuzzDecodeResponses feeds the decoder anything: it must not panic, and
// what it accepts must agree with encoding/json.
func FuzzDecodeResponses(f *testing.F) {
	f.Add(`{"sessionState":"s","methodResponses":[["EmailSubmission/set",{},"0"],["Email/set",{},"0"],["Email/set",{},"1"],["Email/get",{"state":"e","list":[{"id":"M1"}]},"2"]]}`)
	f.Add(`{"methodResponses":[["error",{"type":"serverFail"},"0"]]}`)
	f.Add(`{"methodResponses":[]}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, body string) {
		calls, _, _, _ := responseCalls()
		_, err := decodeResponses(strings.NewReader(body), calls)
		if err == nil && !json.Valid([]byte(body)) {
			// The decoder stops at the end of the first value; what
			// follows is drained, as net/http's body would be.
			var v any
			dec := json.NewDecoder(strings.NewReader(body))
			if dec.Decode(&v) != nil {
				t.Fatalf("accepted %q, which encoding/json refuses", body)
			}
		}
		for i, c := range calls {
			if c.done && c.err != nil {
				t.Fatalf("call %d both answered and failed", i)
			}
		}
	})
}
