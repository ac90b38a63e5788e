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

// tagIndex maps tokens to names and back for every code page.
type tagIndexT struct {
	names  [numPages][64]string
	tokens map[Tag]byte
}

var tagIndex = buildTagIndex()

func buildTagIndex() *tagIndexT {
	ix := &tagIndexT{tokens: make(map[Tag]byte)}
	for p := range codePages {
		for _, d := range codePages[p].tags {
			if d.token < 0x05 || d.token > 0x3F {
				continue
			}
			ix.names[p][d.token] = d.name
			ix.tokens[Tag{Page(p), d.name}] = d.token
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

// A Decoder reads a WBXML document as a stream of tokens. Its errors are
// sticky: after the first error every call returns it again.
type Decoder struct {
	opts DecoderOptions

	src   io.Reader // nil once exhausted, or when decoding a byte slice
	buf   []byte    // buf[r:w] is unread input
	r, w  int
	base  int64 // document offset of buf[0]
	owned bool  // buf is ours and may be compacted and grown

	started    bool // header read
	rootSeen   bool
	page       Page
	stack      []Tag
	pendingEnd bool // an empty tag was returned; its EndTag is next
	ntok       int
	strtbl     []byte
	err        error

	// lastPage and lastID identify the tag of the last StartTag, so that
	// struct decoding finds fields without hashing names.
	lastPage Page
	lastID   byte

	// toks replaces the byte input when decoding a Raw.
	toks    []Token
	tokMode bool
}

// NewDecoder returns a Decoder reading a WBXML document, header included,
// from r. A nil o takes the defaults of DecoderOptions.
func NewDecoder(r io.Reader, o *DecoderOptions) *Decoder {
	d := &Decoder{opts: o.withDefaults()}
	d.src = r
	d.owned = true
	d.buf = make([]byte, 4096)
	return d
}

// newBytesDecoder decodes data in place; tokens point into data.
func newBytesDecoder(data []byte, o *DecoderOptions) *Decoder {
	d := &Decoder{opts: o.withDefaults(), buf: data, w: len(data)}
	d.checkSize()
	return d
}

func (d *Decoder) checkSize() {
	if int64(d.w) > d.opts.MaxSize {
		d.limit("MaxSize", d.opts.MaxSize)
	}
}

// newTokenDecoder replays captured tokens (a Raw's content) as if they were
// the content of an element: it returns them and then io.EOF.
func newTokenDecoder(toks []Token) *Decoder {
	return &Decoder{opts: (*DecoderOptions)(nil).withDefaults(), toks: toks, tokMode: true, started: true}
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
		if d.r > 0 && (d.r == d.w || d.r > len(d.buf)/2) {
			copy(d.buf, d.buf[d.r:d.w])
			d.w -= d.r
			d.base += int64(d.r)
			d.r = 0
		}
		if d.w == len(d.buf) {
			nb := make([]byte, 2*len(d.buf)+n)
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
// only until the next call.
func (d *Decoder) Token() (Token, error) {
	if d.err != nil {
		return nil, d.err
	}
	if d.tokMode {
		return d.replayToken()
	}
	if !d.started {
		if err := d.readHeader(); err != nil {
			return nil, err
		}
	}
	if d.pendingEnd {
		d.pendingEnd = false
		t := d.stack[len(d.stack)-1]
		d.stack = d.stack[:len(d.stack)-1]
		return EndTag{t}, nil
	}
	d.ntok++
	if d.ntok > d.opts.MaxTokens {
		return nil, d.limit("MaxTokens", int64(d.opts.MaxTokens))
	}
	for {
		start := d.r
		b, ok := d.readByte()
		if !ok {
			if d.err != nil {
				return nil, d.err
			}
			if len(d.stack) == 0 && d.rootSeen {
				d.err = io.EOF
				return nil, io.EOF
			}
			if !d.rootSeen {
				return nil, d.syntax("document has no root element")
			}
			return nil, d.eof()
		}
		switch b {
		case tokSwitchPage:
			p, ok := d.readByte()
			if !ok {
				return nil, d.eof()
			}
			if int(p) >= numPages {
				d.r = start
				return nil, d.syntax("unknown code page %d", p)
			}
			d.page = Page(p)
			continue
		case tokEnd:
			if len(d.stack) == 0 {
				d.r = start
				return nil, d.syntax("END without an open element")
			}
			t := d.stack[len(d.stack)-1]
			d.stack = d.stack[:len(d.stack)-1]
			return EndTag{t}, nil
		case tokStrI:
			if err := d.inElement(start); err != nil {
				return nil, err
			}
			s, err := d.readCString()
			if err != nil {
				return nil, err
			}
			return Text(s), nil
		case tokStrT:
			if err := d.inElement(start); err != nil {
				return nil, err
			}
			i, err := d.readUint()
			if err != nil {
				return nil, err
			}
			if int64(i) >= int64(len(d.strtbl)) {
				return nil, d.syntax("string table index %d out of range", i)
			}
			s := d.strtbl[i:]
			if j := bytes.IndexByte(s, 0); j >= 0 {
				s = s[:j]
			}
			return Text(s), nil
		case tokEntity:
			if err := d.inElement(start); err != nil {
				return nil, err
			}
			c, err := d.readUint()
			if err != nil {
				return nil, err
			}
			if c == 0 || c > utf8.MaxRune {
				return nil, d.syntax("entity %d is not a character", c)
			}
			return Text(utf8.AppendRune(nil, rune(c))), nil
		case tokOpaque:
			if err := d.inElement(start); err != nil {
				return nil, err
			}
			n, err := d.readUint()
			if err != nil {
				return nil, err
			}
			if int64(n) > int64(d.opts.MaxOpaqueSize) {
				return nil, d.limit("MaxOpaqueSize", int64(d.opts.MaxOpaqueSize))
			}
			o, err := d.readN(int(n))
			if err != nil {
				return nil, err
			}
			return Opaque(o), nil
		}
		if b&0x3F < 0x05 {
			d.r = start
			return nil, d.syntax("unsupported WBXML global token 0x%02x", b)
		}
		if b&tagAttribute != 0 {
			d.r = start
			return nil, d.syntax("tag 0x%02x has attributes, which EAS does not use", b)
		}
		id := b & 0x3F
		name := tagIndex.names[d.page][id]
		if name == "" {
			d.r = start
			return nil, d.syntax("unknown tag 0x%02x on code page %d (%s)", id, d.page, d.page)
		}
		if len(d.stack) == 0 && d.rootSeen {
			d.r = start
			return nil, d.syntax("a second root element")
		}
		if len(d.stack) >= d.opts.MaxDepth {
			return nil, d.limit("MaxDepth", int64(d.opts.MaxDepth))
		}
		d.rootSeen = true
		t := Tag{d.page, name}
		d.lastPage, d.lastID = d.page, id
		d.stack = append(d.stack, t)
		if b&tagContent == 0 {
			d.pendingEnd = true
			return StartTag{Tag: t, Empty: true}, nil
		}
		return StartTag{Tag: t}, nil
	}
}

func (d *Decoder) inElement(start int) error {
	if len(d.stack) == 0 {
		d.r = start
		return d.syntax("data outside the root element")
	}
	return nil
}

func (d *Decoder) replayToken() (Token, error) {
	if len(d.toks) == 0 {
		return nil, io.EOF
	}
	t := d.toks[0]
	d.toks = d.toks[1:]
	if s, ok := t.(StartTag); ok {
		id, _ := tokenOf(s.Tag)
		d.lastPage, d.lastID = s.Tag.Page, id
		d.stack = append(d.stack, s.Tag)
	} else if _, ok := t.(EndTag); ok && len(d.stack) > 0 {
		d.stack = d.stack[:len(d.stack)-1]
	}
	return t, nil
}

// Skip reads tokens until the end of the element whose StartTag was
// returned last, consuming that element's EndTag.
func (d *Decoder) Skip() error {
	depth := 1
	for depth > 0 {
		t, err := d.Token()
		if err != nil {
			return noEOF(err)
		}
		switch t.(type) {
		case StartTag:
			depth++
		case EndTag:
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
