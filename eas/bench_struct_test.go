package eas

import (
	"fmt"
	"testing"
	"time"
)

// syncResponse100 is the typed form of syncResponseTokens(100).
func syncResponse100() *SyncResponse {
	received := NewDateTime(time.Date(2026, 11, 30, 9, 15, 0, 0, time.UTC), DateTimeExtended)
	adds := make([]SyncAdd, 100)
	for i := range adds {
		est, trunc, read, imp, nat := uint32(18342), true, false, ImportanceNormal, BodyType(2)
		body := benchBody
		adds[i] = SyncAdd{
			ServerID: fmt.Sprintf("7:%d", 1000+i),
			ApplicationData: RawValue(&Email{
				To:             `"Alice Example" <alice@example.org>`,
				From:           fmt.Sprintf(`"Bob Sender %d" <bob%d@example.net>`, i, i),
				Subject:        fmt.Sprintf("Quarterly figures, part %d", i),
				DateReceived:   &received,
				DisplayTo:      "Alice Example",
				ThreadTopic:    fmt.Sprintf("Quarterly figures, part %d", i),
				Importance:     &imp,
				Read:           &read,
				Body:           &Body{Type: 2, EstimatedDataSize: &est, Truncated: &trunc, Data: &body},
				MessageClass:   "IPM.Note",
				InternetCPID:   "65001",
				Flag:           &Flag{},
				ContentClass:   "urn:content-classes:message",
				NativeBodyType: &nat,
				ConversationID: []byte{0x1f, 0x2e, 0x3d, 0x4c, 0x5b, 0x6a, 0x79, 0x88, 0x97, 0xa6, 0xb5, 0xc4, 0xd3, 0xe2, 0xf1, byte(i)},
			}),
		}
	}
	return &SyncResponse{Collections: &SyncResponseCollections{Collection: []SyncResponseCollection{{
		SyncKey:      "{5d1c3c7e-9a3b-4a53-8d4c-2f3f1c0e6a11}2",
		CollectionID: "7",
		Status:       SyncStatusSuccess,
		Commands:     &SyncCommands{Add: adds},
	}}}}
}

// TestBenchDocuments checks that the typed benchmark document is the same
// as the token one, so that both benchmarks measure the same bytes.
func TestBenchDocuments(t *testing.T) {
	doc, err := Marshal(syncResponse100())
	if err != nil {
		t.Fatal(err)
	}
	want := encodeTokens(t, syncResponseTokens(100))
	if string(doc) != string(want) {
		t.Errorf("Marshal(syncResponse100()) differs from the token document: %d vs %d bytes", len(doc), len(want))
	}
}

// BenchmarkUnmarshalSync decodes a 100-email Sync response into
// SyncResponse and each ApplicationData into Email, as a client or a test
// does. Floor: 80 MB/s.
func BenchmarkUnmarshalSync(b *testing.B) {
	doc, err := Marshal(syncResponse100())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		var r SyncResponse
		if err := Unmarshal(doc, &r, nil); err != nil {
			b.Fatal(err)
		}
		for _, a := range r.Collections.Collection[0].Commands.Add {
			var m Email
			if err := a.ApplicationData.Decode(&m); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/item")
}

// BenchmarkMarshalSync encodes the typed 100-email Sync response, as the
// Sync handler does. Floor: 80 MB/s.
func BenchmarkMarshalSync(b *testing.B) {
	r := syncResponse100()
	doc, err := Marshal(r)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(r); err != nil {
			b.Fatal(err)
		}
	}
}
