package eas

import (
	"bytes"
	"runtime"
	"testing"
)

// shapeDoc builds hostile-but-well-formed Sync requests of about n bytes,
// the shapes that cost a decoder most per input byte.
type shapeDoc struct{ b []byte }

func newShapeDoc() *shapeDoc { return &shapeDoc{b: append([]byte(nil), header...)} }

func (s *shapeDoc) tok(p Page, name string, content bool) {
	t, ok := tokenOf(Tag{p, name})
	if !ok {
		panic("unknown tag " + name)
	}
	if content {
		t |= tagContent
	}
	s.b = append(s.b, t)
}

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

// decodeRequest decodes doc as the gateway does a Sync request, then each
// ApplicationData as an Email, as its Sync handler does.
func decodeRequest(doc []byte, o *DecoderOptions) error {
	var r SyncRequest
	if err := NewDecoder(bytes.NewReader(doc), o).Decode(&r); err != nil {
		return err
	}
	if r.Collections == nil {
		return nil
	}
	var m Email // the handler's own; its allocation is not the decoder's
	for _, c := range r.Collections.Collection {
		if c.Commands == nil {
			continue
		}
		for _, a := range c.Commands.Add {
			m = Email{}
			if err := a.ApplicationData.Decode(&m); err != nil {
				return err
			}
		}
	}
	return nil
}

// allocated returns the bytes allocated while f runs.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// BenchmarkDecodeShapes decodes each worst shape of 3 MB as a Sync request
// and reports the bytes allocated per input byte (alloc/in); B/op is the
// allocation for the whole 3 MB body.
func BenchmarkDecodeShapes(b *testing.B) {
	for _, sh := range decodeShapes {
		doc := sh.build(3 << 20)
		b.Run(sh.name, func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			var err error
			for b.Loop() {
				err = decodeRequest(doc, nil)
			}
			b.ReportMetric(float64(allocated(func() { decodeRequest(doc, nil) }))/float64(len(doc)), "alloc/in")
			if err != nil {
				b.Logf("%s: %v", sh.name, err)
			}
		})
	}
}
