package pim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	gojmap "git.sr.ht/~rockorager/go-jmap"

	"github.com/easgate/easgate/sources"
)

// go-jmap knows no contact or calendar methods, and it fails a whole
// response on a method name it has no factory for; so every name this
// package calls is registered here, with one generic answer type per verb
// (RFC 8620 section 5), the objects staying JSON until a dialect reads them.
func init() {
	for _, t := range []string{"Contact", "ContactCard", "AddressBook", "Calendar", "CalendarEvent"} {
		gojmap.RegisterMethod(t+"/get", func() gojmap.MethodResponse { return &getResponse{} })
		gojmap.RegisterMethod(t+"/changes", func() gojmap.MethodResponse { return &changesResponse{} })
		gojmap.RegisterMethod(t+"/set", func() gojmap.MethodResponse { return &setResponse{} })
		gojmap.RegisterMethod(t+"/query", func() gojmap.MethodResponse { return &queryResponse{} })
	}
}

// obj is a JMAP object as the server sent it, or a patch to one.
type obj = map[string]any

// call is one method call; its arguments marshal as the call itself.
type call struct {
	name  string
	using []gojmap.URI
	args  map[string]any
}

func (c *call) Name() string                 { return c.name }
func (c *call) Requires() []gojmap.URI       { return c.using }
func (c *call) MarshalJSON() ([]byte, error) { return json.Marshal(c.args) }

// ref is a result reference (RFC 8620 section 3.7) to call number i.
func ref(i int, name, path string) gojmap.ResultReference {
	return gojmap.ResultReference{ResultOf: fmt.Sprintf("%x", i), Name: name, Path: path}
}

type getResponse struct {
	State    string   `json:"state"`
	List     []obj    `json:"list"`
	NotFound []string `json:"notFound"`
}

type changesResponse struct {
	OldState       string   `json:"oldState"`
	NewState       string   `json:"newState"`
	HasMoreChanges bool     `json:"hasMoreChanges"`
	Created        []string `json:"created"`
	Updated        []string `json:"updated"`
	Destroyed      []string `json:"destroyed"`
}

type setResponse struct {
	NewState     string                      `json:"newState"`
	Created      map[string]obj              `json:"created"`
	Updated      map[string]obj              `json:"updated"`
	Destroyed    []string                    `json:"destroyed"`
	NotCreated   map[string]*gojmap.SetError `json:"notCreated"`
	NotUpdated   map[string]*gojmap.SetError `json:"notUpdated"`
	NotDestroyed map[string]*gojmap.SetError `json:"notDestroyed"`
}

type queryResponse struct {
	Position int      `json:"position"`
	Total    *int     `json:"total"`
	IDs      []string `json:"ids"`
}

// do sends calls in one request and returns their answers in order. A
// method error comes back as an error naming the method, wrapping a
// *gojmap.MethodError; a failed request as a temporary error.
func (s *Store) do(ctx context.Context, calls ...*call) ([]any, error) {
	req := &gojmap.Request{Context: ctx}
	for _, c := range calls {
		req.Invoke(c)
	}
	resp, err := s.c.Do(req)
	if err != nil {
		var re *gojmap.RequestError
		if errors.As(err, &re) && re.Status >= 400 && re.Status < 500 && re.Status != 429 {
			return nil, fmt.Errorf("jmap: %s: %w", names(calls), err)
		}
		return nil, sources.MarkTemporary(fmt.Errorf("jmap: %s: %w", names(calls), err))
	}
	out := make([]any, len(calls))
	for _, inv := range resp.Responses {
		var i int
		if _, err := fmt.Sscanf(inv.CallID, "%x", &i); err != nil || i < 0 || i >= len(calls) {
			continue
		}
		if me, ok := inv.Args.(*gojmap.MethodError); ok {
			return nil, fmt.Errorf("jmap: %s: %w", calls[i].name, me)
		}
		out[i] = inv.Args
	}
	for i, o := range out {
		if o == nil {
			return nil, fmt.Errorf("jmap: %s: no answer", calls[i].name)
		}
	}
	return out, nil
}

func names(calls []*call) string {
	n := make([]string, len(calls))
	for i, c := range calls {
		n[i] = c.name
	}
	return strings.Join(n, ",")
}

// methodError reports whether err is a JMAP method error of one of types.
func methodError(err error, types ...string) bool {
	var me *gojmap.MethodError
	if !errors.As(err, &me) {
		return false
	}
	for _, t := range types {
		if me.Type == t {
			return true
		}
	}
	return false
}

// setError turns a SetError into an error for sources' callers.
func setError(what string, e *gojmap.SetError) error {
	msg := e.Type
	if e.Description != nil {
		msg += ": " + *e.Description
	}
	if e.Properties != nil {
		msg += fmt.Sprintf(" %v", *e.Properties)
	}
	switch e.Type {
	case "notFound":
		return fmt.Errorf("jmap: %s: %s: %w", what, msg, sources.ErrNotFound)
	case "tooLarge", "overQuota":
		return fmt.Errorf("jmap: %s: %s: %w", what, msg, sources.ErrTooLarge)
	case "forbidden":
		return fmt.Errorf("jmap: %s: %s: %w", what, msg, sources.ErrUnsupported)
	}
	return fmt.Errorf("jmap: %s: %s", what, msg)
}
