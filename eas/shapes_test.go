package eas

import (
	"bytes"
	"runtime"
	"testing"
)

// shapeDoc builds hostile-but-well-formed Sync requests of about n bytes,
// the shapes that cost a decoder most per input byte.
type shapeDoc struct {
	b    []byte
	page Page
}

func newShapeDoc() *shapeDoc { return &shapeDoc{b: append([]byte(nil), header...)} }

func (s *shapeDoc) tok(p Page, name string, content bool) {
	t, ok := shapeTokens[Tag{p, name}]
	if !ok {
		if t, ok = tokenOf(Tag{p, name}); !ok {
			panic("unknown tag " + name)
		}
		shapeTokens[Tag{p, name}] = t
	}
	if p != s.page {
		s.b = append(s.b, tokSwitchPage, byte(p))
		s.page = p
	}
	if content {
		t |= tagContent
	}
	s.b = append(s.b, t)
}

// shapeTokens caches the tokens the shapes use: building 3 MB of
// tags through tokenOf would take longer than decoding them.
var shapeTokens = map[Tag]byte{}

func (s *shapeDoc) open(name string)  { s.tok(PageAirSync, name, true) }
func (s *shapeDoc) empty(name string) { s.tok(PageAirSync, name, false) }
func (s *shapeDoc) end()              { s.b = append(s.b, tokEnd) }

// prefix opens Sync, Collections and Collection; suffix closes them.
func (s *shapeDoc) prefix() { s.open("Sync"); s.open("Collections"); s.open("Collection") }
func (s *shapeDoc) suffix() { s.end(); s.end(); s.end() }

// decodeShapes are the worst shapes we know, each about n bytes.
var decodeShapes = []struct {
	name  string
	build func(n int) []byte
}{
	// The body of issue 9: 3 million empty Collection tags.
	{"EmptyTags", func(n int) []byte {
		s := newShapeDoc()
		s.open("Sync")
		s.open("Collections")
		for len(s.b) < n {
			s.empty("Collection")
		}
		s.end()
		s.end()
		return s.b
	}},
	// Empty elements the struct has no field for, so they are skipped.
	{"UnknownTags", func(n int) []byte {
		s := newShapeDoc()
		s.open("Sync")
		for len(s.b) < n {
			s.empty("Add")
		}
		s.end()
		return s.b
	}},
	{"DeepNesting", func(n int) []byte {
		s := newShapeDoc()
		s.open("Sync")
		for len(s.b) < n {
			for range DefaultMaxDepth - 2 {
				s.open("Add")
			}
			for range DefaultMaxDepth - 2 {
				s.end()
			}
		}
		s.end()
		return s.b
	}},
	{"LongString", func(n int) []byte {
		s := newShapeDoc()
		s.prefix()
		s.open("SyncKey")
		s.b = append(s.b, tokStrI)
		s.b = append(s.b, bytes.Repeat([]byte{'k'}, n)...)
		s.b = append(s.b, 0)
		s.end()
		s.suffix()
		return s.b
	}},
	// One long string inside ApplicationData: captured, then decoded.
	{"LongStringInRaw", func(n int) []byte {
		s := newShapeDoc()
		s.prefix()
		s.open("Commands")
		s.open("Add")
		s.open("ApplicationData")
		s.tok(PageEmail, "Subject", true)
		s.b = append(s.b, tokStrI)
		s.b = append(s.b, bytes.Repeat([]byte{'s'}, n)...)
		s.b = append(s.b, 0)
		s.end()
		s.end()
		s.end()
		s.end()
		s.suffix()
		return s.b
	}},
	// One-byte strings and opaque pieces in one element: readText joins them.
	{"ManyPieces", func(n int) []byte {
		s := newShapeDoc()
		s.prefix()
		s.open("SyncKey")
		for len(s.b) < n {
			s.b = append(s.b, tokStrI, 'k', 0, tokOpaque, 1, 'o')
		}
		s.end()
		s.suffix()
		return s.b
	}},
	{"ManyOpaqueFields", func(n int) []byte {
		s := newShapeDoc()
		s.prefix()
		s.open("Commands")
		for len(s.b) < n {
			s.open("Add")
			s.open("ClientId")
			s.b = append(s.b, tokOpaque, 1, 'c')
			s.end()
			s.end()
		}
		s.end()
		s.suffix()
		return s.b
	}},
	{"TinyApplicationData", func(n int) []byte {
		s := newShapeDoc()
		s.prefix()
		s.open("Commands")
		for len(s.b) < n {
			s.open("Add")
			s.empty("ApplicationData")
			s.end()
		}
		s.end()
		s.suffix()
		return s.b
	}},
}

// allocated returns the bytes allocated while f runs.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// BenchmarkDecodeShapes decodes each worst shape of 3 MB as the gateway
// does (see requestAlloc) and reports the bytes allocated per input byte
// (alloc/in); B/op is the allocation for the whole 3 MB body. Shapes past
// MaxAllocPerByte stop early with a LimitError, as they should.
func BenchmarkDecodeShapes(b *testing.B) {
	for _, sh := range decodeShapes {
		doc := sh.build(3 << 20)
		b.Run(sh.name, func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			var a uint64
			for b.Loop() {
				a, _, _ = requestAlloc(doc, nil)
			}
			b.ReportMetric(float64(a)/float64(len(doc)), "alloc/in")
		})
	}
}
