package eas

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// WBXML global tokens (WBXML 1.3 section 7.1) that EAS documents use or
// that a decoder must at least recognise.
const (
	tokSwitchPage = 0x00
	tokEnd        = 0x01
	tokEntity     = 0x02
	tokStrI       = 0x03
	tokStrT       = 0x83
	tokOpaque     = 0xC3

	tagContent   = 0x40 // the tag has content and is closed by END
	tagAttribute = 0x80 // the tag has attributes; EAS never sends them
)

// The header EAS sends: WBXML 1.3, unknown public identifier, UTF-8, no
// string table (MS-ASWBXML 2.1.1).
var header = []byte{0x03, 0x01, 0x6A, 0x00}

// tagIndex maps tokens to names and back for every code page, and holds
// each known tag's StartTag and EndTag already boxed as a Token, so that
// Decoder.Token returns them without allocating.
type tagIndexT struct {
	names  [numPages][64]string
	tokens map[Tag]byte
	boxed  [numPages][64]boxedTag
}

type boxedTag struct{ start, emptyStart, end Token }

var tagIndex = buildTagIndex()

func buildTagIndex() *tagIndexT {
	ix := &tagIndexT{tokens: make(map[Tag]byte)}
	for p := range codePages {
		for _, d := range codePages[p].tags {
			if d.token < 0x05 || d.token > 0x3F {
				continue
			}
			t := Tag{Page(p), d.name}
			ix.names[p][d.token] = d.name
			ix.tokens[t] = d.token
			ix.boxed[p][d.token] = boxedTag{StartTag{Tag: t}, StartTag{Tag: t, Empty: true}, EndTag{t}}
		}
	}
	return ix
}

// tokenOf returns the token of t on its page.
func tokenOf(t Tag) (byte, bool) {
	if int(t.Page) >= numPages {
		return 0, false
	}
	b, ok := tagIndex.tokens[t]
	return b, ok
}

// KnownTag reports whether t names an element of MS-ASWBXML.
func KnownTag(t Tag) bool {
	_, ok := tokenOf(t)
	return ok
}

// The kinds of token the Decoder holds after next. Decoding works on
// these, not on Token values, so that it boxes nothing per token.
const (
	kindStart = iota + 1
	kindEnd
	kindText
	kindOpaque
)

// A Decoder reads a WBXML document as a stream of tokens. Its errors are
// sticky: after the first error every call returns it again.
type Decoder struct {
	opts DecoderOptions

	src  io.Reader // nil once exhausted, or when decoding a byte slice
	buf  []byte    // buf[r:w] is unread input
	r, w int
	base int64 // document offset of buf[0]

	started    bool // header read
	rootSeen   bool
	fragment   bool // the input is element content (a Raw's), not a document
	page       Page
	stack      []uint16 // open elements, page<<8 | token
	stackArr   [DefaultMaxDepth]uint16
	pendingEnd bool // an empty tag was returned; its EndTag is next
	ntok       int
	strtbl     []byte
	err        error

	// The token last read: its kind, its tag (StartTag and EndTag), its
	// data (Text and Opaque), and for an EndTag where its END byte is in
	// buf (-1 for the EndTag of an empty tag, which has none).
	kind     uint8
	tagPage  Page
	tagID    byte
	empty    bool
	data     []byte
	dataAt   int // index of data in buf, -1 when it is elsewhere
	tokStart int
	ent      [2][utf8.UTFMax]byte // entities alternate, so that one survives the next
	entN     int

	// pin is the index in buf of the first byte that fill must keep (the
	// text readText holds), -1 for none.
	pin int

	scratch []byte // where capture re-encodes a Raw's content

	// charged counts the bytes allocated for decoded values, which
	// checkAlloc bounds by the input read so far.
	charged int64
}

// NewDecoder returns a Decoder reading a WBXML document, header included,
// from r. A nil o takes the defaults of DecoderOptions.
func NewDecoder(r io.Reader, o *DecoderOptions) *Decoder {
	d := &Decoder{opts: o.withDefaults(), pin: -1}
	d.stack = d.stackArr[:0]
	d.src = r
	d.buf = make([]byte, 4096)
	return d
}

// newBytesDecoder decodes data in place; tokens point into data.
func newBytesDecoder(data []byte, o *DecoderOptions) *Decoder {
	d := &Decoder{opts: o.withDefaults(), buf: data, w: len(data), pin: -1}
	d.stack = d.stackArr[:0]
	if int64(d.w) > d.opts.MaxSize {
		d.limit("MaxSize", d.opts.MaxSize)
	}
	return d
}

// InputOffset returns the offset of the next unread byte of the document.
func (d *Decoder) InputOffset() int64 { return d.base + int64(d.r) }

// Depth returns the number of open elements.
func (d *Decoder) Depth() int { return len(d.stack) }

func (d *Decoder) syntax(format string, args ...any) error {
	if d.err == nil {
		d.err = &SyntaxError{Offset: d.InputOffset(), Msg: fmt.Sprintf(format, args...)}
	}
	return d.err
}

// syntaxAt reports a syntax error at document offset off, the start of the
// token at fault (which fill may have moved since).
func (d *Decoder) syntaxAt(off int64, format string, args ...any) error {
	if off >= d.base && off <= d.base+int64(d.w) {
		d.r = int(off - d.base)
	}
	return d.syntax(format, args...)
}

// charge counts n bytes allocated for decoded values and fails with a
// LimitError, left in d, once they pass MaxAllocPerByte times the input
// read so far plus its credit. A Raw's content is in memory whole, so its
// decode is credited all of it from the start: where in the content an
// element comes does not change whether the content is accepted.
func (d *Decoder) charge(n int64) error {
	d.charged += n
	read, slack := d.InputOffset(), int64(documentSlack)
	if d.fragment {
		read, slack = int64(d.w), fragmentSlack
	}
	if d.charged > int64(d.opts.MaxAllocPerByte)*(read+slack) {
		return d.limit("MaxAllocPerByte", int64(d.opts.MaxAllocPerByte))
	}
	return nil
}

func (d *Decoder) limit(name string, v int64) error {
	if d.err == nil {
		le := &LimitError{Limit: name, Value: v}
		d.err = &SyntaxError{Offset: d.InputOffset(), Msg: le.Error(), Err: le}
	}
	return d.err
}

// fill makes at least n unread bytes available, reading more input as
// needed. It reports false at the end of input.
func (d *Decoder) fill(n int) bool {
	for d.w-d.r < n {
		if d.src == nil {
			return false
		}
		keep := d.r
		if d.pin >= 0 && d.pin < keep {
			keep = d.pin
		}
		if keep > 0 && (keep == d.w || keep > len(d.buf)/2) {
			copy(d.buf, d.buf[keep:d.w])
			d.w -= keep
			d.r -= keep
			d.base += int64(keep)
			if d.pin >= 0 {
				d.pin -= keep
			}
		}
		if d.w == len(d.buf) {
			nb := make([]byte, max(2*len(d.buf), d.r+n))
			copy(nb, d.buf[:d.w])
			d.buf = nb
		}
		m, err := d.src.Read(d.buf[d.w:])
		d.w += m
		if d.base+int64(d.w) > d.opts.MaxSize {
			d.limit("MaxSize", d.opts.MaxSize)
			return false
		}
		if err != nil {
			if err != io.EOF && d.err == nil {
				d.err = fmt.Errorf("eas: reading wbxml: %w", err)
			}
			d.src = nil
		}
	}
	return true
}

func (d *Decoder) readByte() (byte, bool) {
	if d.r == d.w && !d.fill(1) {
		return 0, false
	}
	b := d.buf[d.r]
	d.r++
	return b, true
}

// readUint reads a WBXML mb_u_int32.
func (d *Decoder) readUint() (uint32, error) {
	var v uint32
	for i := 0; i < 5; i++ {
		b, ok := d.readByte()
		if !ok {
			return 0, d.eof()
		}
		if v > 0x01FFFFFF {
			return 0, d.syntax("mb_u_int32 overflows 32 bits")
		}
		v = v<<7 | uint32(b&0x7F)
		if b&0x80 == 0 {
			return v, nil
		}
	}
	return 0, d.syntax("mb_u_int32 longer than 5 bytes")
}

func (d *Decoder) eof() error {
	if d.err != nil {
		return d.err
	}
	return d.syntax("unexpected end of document")
}

// readN returns the next n bytes, valid until the next read.
func (d *Decoder) readN(n int) ([]byte, error) {
	if d.w-d.r < n && !d.fill(n) {
		return nil, d.eof()
	}
	b := d.buf[d.r : d.r+n]
	d.r += n
	return b, nil
}

// readCString returns the bytes up to the next NUL, which is consumed.
func (d *Decoder) readCString() ([]byte, error) {
	scanned := 0
	for {
		if i := bytes.IndexByte(d.buf[d.r+scanned:d.w], 0); i >= 0 {
			s := d.buf[d.r : d.r+scanned+i]
			if len(s) > d.opts.MaxStringSize {
				return nil, d.limit("MaxStringSize", int64(d.opts.MaxStringSize))
			}
			d.r += scanned + i + 1
			return s, nil
		}
		scanned = d.w - d.r
		if scanned > d.opts.MaxStringSize {
			return nil, d.limit("MaxStringSize", int64(d.opts.MaxStringSize))
		}
		if !d.fill(scanned + 1) {
			return nil, d.eof()
		}
	}
}

func (d *Decoder) readHeader() error {
	d.started = true
	v, ok := d.readByte()
	if !ok {
		return d.eof()
	}
	if v < 0x01 || v > 0x03 {
		return d.syntax("unsupported WBXML version 0x%02x", v)
	}
	pub, err := d.readUint()
	if err != nil {
		return err
	}
	if pub == 0 { // public id given as a string table index
		if _, err := d.readUint(); err != nil {
			return err
		}
	}
	cs, err := d.readUint()
	if err != nil {
		return err
	}
	if cs != 106 && cs != 0 {
		return d.syntax("unsupported charset MIBenum %d (only UTF-8)", cs)
	}
	n, err := d.readUint()
	if err != nil {
		return err
	}
	if int64(n) > int64(d.opts.MaxStringSize) {
		return d.limit("MaxStringSize", int64(d.opts.MaxStringSize))
	}
	if n > 0 {
		t, err := d.readN(int(n))
		if err != nil {
			return err
		}
		d.strtbl = bytes.Clone(t)
	}
	return nil
}

// Token returns the next token, or io.EOF after the root element has
// closed. Text and Opaque point into the Decoder's buffer and stay valid
// only until the next call. StartTag and EndTag cost no allocation; Text
// and Opaque cost one for their slice header.
func (d *Decoder) Token() (Token, error) {
	k, err := d.next()
	if err != nil {
		return nil, err
	}
	switch k {
	case kindStart:
		if d.empty {
			return tagIndex.boxed[d.tagPage][d.tagID].emptyStart, nil
		}
		return tagIndex.boxed[d.tagPage][d.tagID].start, nil
	case kindEnd:
		return tagIndex.boxed[d.tagPage][d.tagID].end, nil
	case kindText:
		return Text(d.data), nil
	}
	return Opaque(d.data), nil
}

// tag returns the tag of the StartTag or EndTag last read.
func (d *Decoder) tag() Tag { return Tag{d.tagPage, tagIndex.names[d.tagPage][d.tagID]} }

// next reads the next token into d.kind and the fields that go with it,
// and returns its kind.
func (d *Decoder) next() (uint8, error) {
	if d.err != nil {
		return 0, d.err
	}
	if !d.started {
		if err := d.readHeader(); err != nil {
			return 0, err
		}
	}
	if d.pendingEnd {
		d.pendingEnd = false
		d.tokStart = -1 // no END byte: the EndTag of an empty tag
		d.pop()
		return d.kind, nil
	}
	d.ntok++
	if d.ntok > d.opts.MaxTokens {
		return 0, d.limit("MaxTokens", int64(d.opts.MaxTokens))
	}
	for {
		if d.r == d.w && !d.fill(1) {
			if d.err != nil {
				return 0, d.err
			}
			if len(d.stack) == 0 && d.rootSeen {
				d.err = io.EOF
				return 0, io.EOF
			}
			if !d.rootSeen {
				return 0, d.syntax("document has no root element")
			}
			return 0, d.eof()
		}
		start := d.r
		off := d.base + int64(start)
		b := d.buf[d.r]
		d.r++
		switch b {
		case tokSwitchPage:
			p, ok := d.readByte()
			if !ok {
				return 0, d.eof()
			}
			if int(p) >= numPages {
				return 0, d.syntaxAt(off, "unknown code page %d", p)
			}
			d.page = Page(p)
			continue
		case tokEnd:
			if len(d.stack) == 0 {
				return 0, d.syntaxAt(off, "END without an open element")
			}
			d.tokStart = start
			d.pop()
			return d.kind, nil
		case tokStrI:
			if err := d.inElement(off); err != nil {
				return 0, err
			}
			s, err := d.readCString()
			if err != nil {
				return 0, err
			}
			return d.setData(kindText, s, d.r-len(s)-1), nil
		case tokStrT:
			if err := d.inElement(off); err != nil {
				return 0, err
			}
			i, err := d.readUint()
			if err != nil {
				return 0, err
			}
			if int64(i) >= int64(len(d.strtbl)) {
				return 0, d.syntax("string table index %d out of range", i)
			}
			s := d.strtbl[i:]
			if j := bytes.IndexByte(s, 0); j >= 0 {
				s = s[:j]
			}
			return d.setData(kindText, s, -1), nil
		case tokEntity:
			if err := d.inElement(off); err != nil {
				return 0, err
			}
			c, err := d.readUint()
			if err != nil {
				return 0, err
			}
			if c == 0 || c > utf8.MaxRune {
				return 0, d.syntax("entity %d is not a character", c)
			}
			d.entN ^= 1
			return d.setData(kindText, utf8.AppendRune(d.ent[d.entN][:0], rune(c)), -1), nil
		case tokOpaque:
			if err := d.inElement(off); err != nil {
				return 0, err
			}
			n, err := d.readUint()
			if err != nil {
				return 0, err
			}
			if int64(n) > int64(d.opts.MaxOpaqueSize) {
				return 0, d.limit("MaxOpaqueSize", int64(d.opts.MaxOpaqueSize))
			}
			o, err := d.readN(int(n))
			if err != nil {
				return 0, err
			}
			return d.setData(kindOpaque, o, d.r-len(o)), nil
		}
		if b&0x3F < 0x05 {
			return 0, d.syntaxAt(off, "unsupported WBXML global token 0x%02x", b)
		}
		if b&tagAttribute != 0 {
			return 0, d.syntaxAt(off, "tag 0x%02x has attributes, which EAS does not use", b)
		}
		id := b & 0x3F
		if tagIndex.names[d.page][id] == "" {
			return 0, d.syntaxAt(off, "unknown tag 0x%02x on code page %d (%s)", id, d.page, d.page)
		}
		if len(d.stack) == 0 && d.rootSeen && !d.fragment {
			return 0, d.syntaxAt(off, "a second root element")
		}
		if len(d.stack) >= d.opts.MaxDepth {
			return 0, d.limit("MaxDepth", int64(d.opts.MaxDepth))
		}
		d.rootSeen = true
		d.kind, d.tagPage, d.tagID = kindStart, d.page, id
		d.stack = append(d.stack, uint16(d.page)<<8|uint16(id))
		d.empty = b&tagContent == 0
		d.pendingEnd = d.empty
		return kindStart, nil
	}
}

// pop closes the innermost element: the token is its EndTag.
func (d *Decoder) pop() {
	t := d.stack[len(d.stack)-1]
	d.stack = d.stack[:len(d.stack)-1]
	d.kind, d.tagPage, d.tagID = kindEnd, Page(t>>8), byte(t)
}

func (d *Decoder) setData(kind uint8, b []byte, at int) uint8 {
	d.kind, d.data, d.dataAt = kind, b, at
	return kind
}

func (d *Decoder) inElement(off int64) error {
	if len(d.stack) == 0 && !d.fragment {
		return d.syntaxAt(off, "data outside the root element")
	}
	return nil
}

// Skip reads tokens until the end of the element whose StartTag was
// returned last, consuming that element's EndTag.
func (d *Decoder) Skip() error {
	depth := 1
	for depth > 0 {
		k, err := d.next()
		if err != nil {
			return noEOF(err)
		}
		switch k {
		case kindStart:
			depth++
		case kindEnd:
			depth--
		}
	}
	return nil
}

// noEOF turns an io.EOF in the middle of an element into ErrUnexpectedEOF.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
