package eas

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
)

// benchBody is the HTML part of a typical notification mail, truncated as
// a phone asks for it (TruncationSize 5120 is common for iOS and Gmail).
var benchBody = strings.Repeat(`<p>Hello Alice, the quarterly figures are attached. Let me know what you think &amp; reply by Friday.</p>`+"\n", 50)[:5120]

// syncResponseTokens returns the tokens of a Sync response carrying n new
// emails with HTML bodies truncated at 5 KB, headers and flags, as easgate
// sends them to a phone on an initial sync.
func syncResponseTokens(n int) []Token {
	var toks []Token
	tag := func(p Page, name string) Tag { return Tag{p, name} }
	open := func(p Page, name string) { toks = append(toks, StartTag{Tag: tag(p, name)}) }
	end := func(p Page, name string) { toks = append(toks, EndTag{tag(p, name)}) }
	leaf := func(p Page, name, text string) {
		open(p, name)
		toks = append(toks, Text(text))
		end(p, name)
	}
	open(PageAirSync, "Sync")
	open(PageAirSync, "Collections")
	open(PageAirSync, "Collection")
	leaf(PageAirSync, "SyncKey", "{5d1c3c7e-9a3b-4a53-8d4c-2f3f1c0e6a11}2")
	leaf(PageAirSync, "CollectionId", "7")
	leaf(PageAirSync, "Status", "1")
	open(PageAirSync, "Commands")
	for i := 0; i < n; i++ {
		open(PageAirSync, "Add")
		leaf(PageAirSync, "ServerId", fmt.Sprintf("7:%d", 1000+i))
		open(PageAirSync, "ApplicationData")
		leaf(PageEmail, "To", `"Alice Example" <alice@example.org>`)
		leaf(PageEmail, "From", fmt.Sprintf(`"Bob Sender %d" <bob%d@example.net>`, i, i))
		leaf(PageEmail, "Subject", fmt.Sprintf("Quarterly figures, part %d", i))
		leaf(PageEmail, "DateReceived", "2026-11-30T09:15:00.000Z")
		leaf(PageEmail, "DisplayTo", "Alice Example")
		leaf(PageEmail, "ThreadTopic", fmt.Sprintf("Quarterly figures, part %d", i))
		leaf(PageEmail, "Importance", "1")
		leaf(PageEmail, "Read", "0")
		leaf(PageEmail, "MessageClass", "IPM.Note")
		leaf(PageEmail, "InternetCPID", "65001")
		toks = append(toks, StartTag{Tag: tag(PageEmail, "Flag"), Empty: true}, EndTag{tag(PageEmail, "Flag")})
		leaf(PageEmail, "ContentClass", "urn:content-classes:message")
		open(PageAirSyncBase, "Body")
		leaf(PageAirSyncBase, "Type", "2")
		leaf(PageAirSyncBase, "EstimatedDataSize", "18342")
		leaf(PageAirSyncBase, "Truncated", "1")
		leaf(PageAirSyncBase, "Data", benchBody)
		end(PageAirSyncBase, "Body")
		leaf(PageAirSyncBase, "NativeBodyType", "2")
		open(PageEmail2, "ConversationId")
		toks = append(toks, Opaque([]byte{0x1f, 0x2e, 0x3d, 0x4c, 0x5b, 0x6a, 0x79, 0x88, 0x97, 0xa6, 0xb5, 0xc4, 0xd3, 0xe2, 0xf1, byte(i)}))
		end(PageEmail2, "ConversationId")
		end(PageAirSync, "ApplicationData")
		end(PageAirSync, "Add")
	}
	end(PageAirSync, "Commands")
	end(PageAirSync, "Collection")
	end(PageAirSync, "Collections")
	end(PageAirSync, "Sync")
	return toks
}

func encodeTokens(tb testing.TB, toks []Token) []byte {
	var b bytes.Buffer
	e := NewEncoder(&b)
	for _, t := range toks {
		if err := e.EncodeToken(t); err != nil {
			tb.Fatal(err)
		}
	}
	if err := e.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// BenchmarkDecodeTokens decodes a 100-email Sync response token by token. Floor: 200 MB/s on our 2-core machines.
func BenchmarkDecodeTokens(b *testing.B) {
	doc := encodeTokens(b, syncResponseTokens(100))
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		d := NewDecoder(bytes.NewReader(doc), nil)
		for {
			if _, err := d.Token(); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
		}
	}
}

// BenchmarkEncodeTokens writes the same response token by token.
func BenchmarkEncodeTokens(b *testing.B) {
	toks := syncResponseTokens(100)
	doc := encodeTokens(b, toks)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		e := NewEncoder(io.Discard)
		for _, t := range toks {
			e.EncodeToken(t)
		}
		if err := e.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
