package eas

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// validator is a request type with a Validate method.
type validator interface {
	Validate(ProtocolVersion) error
}

// checkCapture decodes the device capture testdata/devices/<path> into req
// and validates it at version v.
func checkCapture(t *testing.T, path string, v ProtocolVersion, req validator) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "devices", path))
	if err != nil {
		t.Fatal(err)
	}
	if err := Unmarshal(data, req, nil); err != nil {
		t.Fatalf("Unmarshal(%s) = %v", path, err)
	}
	if err := req.Validate(v); err != nil {
		t.Errorf("Validate(%v) of %s = %v", v, path, err)
	}
}

// decodeCapture decodes the capture testdata/devices/<path> into v.
func decodeCapture(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "devices", path))
	if err != nil {
		t.Fatal(err)
	}
	if err := Unmarshal(data, v, nil); err != nil {
		t.Fatalf("Unmarshal(%s) = %v", path, err)
	}
}

// addFuzzSeeds seeds f with the golden documents of testdata/<dir> and the
// named device captures.
func addFuzzSeeds(f *testing.F, dir string, captures ...string) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*", "*.wbxml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range captures {
		files = append(files, filepath.Join("testdata", "devices", c))
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// checkRoundTrip unmarshals data into a new T and, if that succeeds,
// requires that marshaling and unmarshaling again gives an equal value,
// as encoding/json's FuzzUnmarshalJSON does.
func checkRoundTrip[T any](t *testing.T, data []byte) {
	v1 := new(T)
	if err := Unmarshal(data, v1, roundTripOptions); err != nil {
		return
	}
	b, err := Marshal(v1)
	if err != nil {
		if hasNUL(reflect.ValueOf(v1)) {
			// A NUL reaches a string through ENTITY 0 or OPAQUE; STR_I
			// cannot carry it, so the Encoder refuses it.
			return
		}
		t.Fatalf("Marshal(%+v) = %v", v1, err)
	}
	v2 := new(T)
	if err := Unmarshal(b, v2, roundTripOptions); err != nil {
		t.Fatalf("Unmarshal(Marshal(%+v)) = %v", v1, err)
	}
	if !reflect.DeepEqual(v1, v2) {
		t.Fatalf("Unmarshal(Marshal(v)) = %+v, want %+v", v2, v1)
	}
}

// roundTripOptions decode both sides of a round trip, which checks the
// codec and not its limits (alloc_test.go does): what Marshal writes may
// be shorter than the input that gave the same value, and so be refused by
// MaxAllocPerByte where the input was not. A Raw keeps the allowance it
// was decoded under, so both sides use the same.
var roundTripOptions = &DecoderOptions{MaxAllocPerByte: 1 << 10}

// hasNUL reports whether a string or []byte within v holds a NUL byte.
func hasNUL(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String:
		return strings.IndexByte(v.String(), 0) >= 0
	case reflect.Pointer:
		return !v.IsNil() && hasNUL(v.Elem())
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return bytes.IndexByte(v.Bytes(), 0) >= 0
		}
		for i := 0; i < v.Len(); i++ {
			if hasNUL(v.Index(i)) {
				return true
			}
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[Raw]() {
			for _, tok := range v.Interface().(Raw).Tokens() {
				if t, ok := tok.(Text); ok && bytes.IndexByte(t, 0) >= 0 {
					return true
				}
			}
			return false
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() && hasNUL(v.Field(i)) {
				return true
			}
		}
	}
	return false
}

func TestGoldenSync(t *testing.T) {
	t.Run("request", func(t *testing.T) {
		checkGolden(t, "sync/request", func(Tag) any { return new(SyncRequest) })
	})
	t.Run("response", func(t *testing.T) {
		checkGolden(t, "sync/response", func(Tag) any { return new(SyncResponse) })
	})
}

var syncRequestCaptures = []struct {
	path string
	v    ProtocolVersion
}{
	{"ios/iphone-sync-email-synckey0.wbxml", V141},
	{"ios/iphone-sync-email-getchanges.wbxml", V141},
	{"ios/iphone-sync-email-getchanges-uuidkey.wbxml", V141},
	{"ios/ios-16x-sync-calendar-client-add-empty-reminder-recurrence.wbxml", V161},
	{"windows-mobile/wm61-sync-email-getchanges.wbxml", V141},
	{"windows-mobile/wm61-sync-contacts-client-adds.wbxml", V141},
	{"unidentified-client/sync-contacts-client-add.wbxml", V141},
}

var syncResponseCaptures = []string{
	"exchange-2010plus-responses/sync-synckey0-calendar.wbxml",
	"exchange-2010plus-responses/sync-synckey0-contacts.wbxml",
	"exchange-2010plus-responses/sync-synckey0-inbox-a.wbxml",
	"exchange-2010plus-responses/sync-synckey0-inbox-b.wbxml",
	"exchange-2010plus-responses/sync-synckey0-recipientinfo.wbxml",
}

func TestSyncCaptures(t *testing.T) {
	for _, c := range syncRequestCaptures {
		t.Run(c.path, func(t *testing.T) {
			checkCapture(t, c.path, c.v, new(SyncRequest))
		})
	}
	for _, path := range syncResponseCaptures {
		t.Run(path, func(t *testing.T) {
			var r SyncResponse
			decodeCapture(t, path, &r)
			if r.Collections == nil || len(r.Collections.Collection) != 1 {
				t.Fatalf("Unmarshal(%s) = %+v, want one collection", path, r)
			}
			c := r.Collections.Collection[0]
			if c.Status != SyncStatusSuccess || c.SyncKey == "" || c.SyncKey == "0" || c.CollectionID == "" {
				t.Errorf("Unmarshal(%s): collection = %+v, want status 1 with a new SyncKey", path, c)
			}
		})
	}
}

// TestSyncCaptureDetails checks that the quirks of real requests land in
// the typed fields.
func TestSyncCaptureDetails(t *testing.T) {
	var iphone SyncRequest
	decodeCapture(t, "ios/iphone-sync-email-getchanges.wbxml", &iphone)
	c := iphone.Collections.Collection[0]
	o := c.Options[0]
	if c.Class != "Email" || c.DeletesAsMoves == nil || !*c.DeletesAsMoves || c.GetChanges == nil || !*c.GetChanges ||
		c.WindowSize != 50 || o.FilterType != FilterThreeDays || o.Truncation == nil || *o.Truncation != 1 ||
		o.MIMETruncation == nil || *o.MIMETruncation != 1 || o.MIMESupport != 0 {
		t.Errorf("iPhone Sync decoded as %+v, options %+v", c, o)
	}

	var wm SyncRequest
	decodeCapture(t, "windows-mobile/wm61-sync-contacts-client-adds.wbxml", &wm)
	c = wm.Collections.Collection[0]
	if n := len(c.Commands.Add); n != 100 {
		t.Errorf("WM 6.1 contacts Sync has %d Adds, want 100", n)
	}
	if o := c.Options[0]; o.RTFTruncation == nil || *o.RTFTruncation != 4 || o.Conflict == nil || *o.Conflict != 1 {
		t.Errorf("WM 6.1 options = %+v", o)
	}
	for _, a := range c.Commands.Add {
		if a.ClientID == "" || a.ApplicationData.IsZero() {
			t.Fatalf("WM 6.1 Add = %+v, want ClientId and ApplicationData", a)
		}
	}
}

func TestSyncRequestValidate(t *testing.T) {
	one := func(c SyncCollection) *SyncCollections {
		if c.SyncKey == "" {
			c.SyncKey = "5"
		}
		c.CollectionID = "inbox"
		return &SyncCollections{Collection: []SyncCollection{c}}
	}
	ptr := func(n int) *int { return &n }
	yes := true
	tests := []struct {
		name string
		req  SyncRequest
		v    ProtocolVersion
		ok   bool
	}{
		{"minimal", SyncRequest{Collections: one(SyncCollection{})}, V25, true},
		{"wait at 12.1", SyncRequest{Collections: one(SyncCollection{}), Wait: 5}, V121, true},
		{"wait at 12.0", SyncRequest{Collections: one(SyncCollection{}), Wait: 5}, V120, false},
		{"wait out of range is the handler's", SyncRequest{Collections: one(SyncCollection{}), Wait: 90}, V141, true},
		{"heartbeat at 12.1", SyncRequest{Collections: one(SyncCollection{}), HeartbeatInterval: 300}, V121, false},
		{"heartbeat at 14.0", SyncRequest{Collections: one(SyncCollection{}), HeartbeatInterval: 300}, V140, true},
		{"window 512", SyncRequest{Collections: one(SyncCollection{WindowSize: 512})}, V141, true},
		{"window 513", SyncRequest{Collections: one(SyncCollection{WindowSize: 513})}, V141, false},
		{"request window 513", SyncRequest{Collections: one(SyncCollection{}), WindowSize: 513}, V141, false},
		{"request window at 12.0", SyncRequest{Collections: one(SyncCollection{}), WindowSize: 100}, V120, false},
		{"partial with window", SyncRequest{Partial: true, WindowSize: 50}, V141, true},
		{"partial at 12.0", SyncRequest{Partial: true, Wait: 3}, V120, false},
		{"nothing", SyncRequest{}, V141, false},
		{"no collection id", SyncRequest{Collections: &SyncCollections{Collection: []SyncCollection{{SyncKey: "0"}}}}, V141, false},
		{"class in collection (iPhone)", SyncRequest{Collections: one(SyncCollection{Class: "Email"})}, V161, true},
		{"conversation mode at 14.0", SyncRequest{Collections: one(SyncCollection{ConversationMode: &yes})}, V140, true},
		{"options class at 12.1", SyncRequest{Collections: one(SyncCollection{Options: []SyncOptions{{Class: "Email"}}})}, V121, false},
		{"three options", SyncRequest{Collections: one(SyncCollection{Options: []SyncOptions{{}, {Class: "SMS"}, {Class: "Email"}}})}, V141, false},
		{"two options same class", SyncRequest{Collections: one(SyncCollection{Options: []SyncOptions{{Class: "SMS"}, {Class: "SMS"}}})}, V141, false},
		{"filter 8", SyncRequest{Collections: one(SyncCollection{Options: []SyncOptions{{FilterType: FilterIncompleteTasks}}})}, V141, true},
		{"filter -1", SyncRequest{Collections: one(SyncCollection{Options: []SyncOptions{{FilterType: -1}}})}, V141, false},
		{"body preference at 2.5", SyncRequest{Collections: one(SyncCollection{Options: []SyncOptions{{BodyPreference: []BodyPreference{{Type: 1}}}}})}, V25, false},
		{"body type 5", SyncRequest{Collections: one(SyncCollection{Options: []SyncOptions{{BodyPreference: []BodyPreference{{Type: 5}}}}})}, V141, false},
		{"preview at 12.1", SyncRequest{Collections: one(SyncCollection{Options: []SyncOptions{{BodyPreference: []BodyPreference{{Type: 2, Preview: 100}}}}})}, V121, false},
		{"preview 256", SyncRequest{Collections: one(SyncCollection{Options: []SyncOptions{{BodyPreference: []BodyPreference{{Type: 2, Preview: 256}}}}})}, V141, false},
		{"mime support 3", SyncRequest{Collections: one(SyncCollection{Options: []SyncOptions{{MIMESupport: 3}}})}, V141, false},
		{"mime truncation 9", SyncRequest{Collections: one(SyncCollection{Options: []SyncOptions{{MIMETruncation: ptr(9)}}})}, V141, false},
		{"truncation at 14.1 (iPhone)", SyncRequest{Collections: one(SyncCollection{Options: []SyncOptions{{Truncation: ptr(1)}}})}, V141, true},
		{"conflict 2", SyncRequest{Collections: one(SyncCollection{Options: []SyncOptions{{Conflict: ptr(2)}}})}, V141, false},
		{"max items at 12.1", SyncRequest{Collections: one(SyncCollection{Options: []SyncOptions{{MaxItems: 50}}})}, V121, false},
		{"rights management at 14.0", SyncRequest{Collections: one(SyncCollection{Options: []SyncOptions{{RightsManagementSupport: &yes}}})}, V140, false},
		{"change without data", SyncRequest{Collections: one(SyncCollection{Commands: &SyncCommands{Change: []SyncChange{{ServerID: "1:2"}}}})}, V141, false},
		{"delete without id", SyncRequest{Collections: one(SyncCollection{Commands: &SyncCommands{Delete: []SyncDelete{{}}}})}, V141, false},
		{"fetch", SyncRequest{Collections: one(SyncCollection{Commands: &SyncCommands{Fetch: []SyncFetch{{ServerID: "1:2"}}}})}, V141, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.req.Validate(tt.v)
			if (err == nil) != tt.ok {
				t.Errorf("Validate(%v) = %v, want ok %v", tt.v, err, tt.ok)
			}
			if err != nil {
				if _, ok := err.(*SchemaError); !ok {
					t.Errorf("Validate(%v) = %T, want *SchemaError", tt.v, err)
				}
			}
		})
	}
}

func FuzzUnmarshalSync(f *testing.F) {
	caps := append([]string(nil), syncResponseCaptures...)
	for _, c := range syncRequestCaptures {
		caps = append(caps, c.path)
	}
	addFuzzSeeds(f, "sync", caps...)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRoundTrip[SyncRequest](t, data)
		checkRoundTrip[SyncResponse](t, data)
	})
}
