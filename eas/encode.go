package eas

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// An Encoder writes a WBXML document, header included, token by token. Its
// errors are sticky. Call Flush when done.
type Encoder struct {
	w       *bufio.Writer
	started bool
	page    Page
	stack   []encFrame
	err     error
	num     [20]byte
}

type encFrame struct {
	tag   Tag
	empty bool
}

// NewEncoder returns an Encoder that writes to w.
func NewEncoder(w io.Writer) *Encoder {
	bw, ok := w.(*bufio.Writer)
	if !ok {
		bw = bufio.NewWriterSize(w, 8192)
	}
	return &Encoder{w: bw}
}

// Flush writes buffered data to the underlying writer.
func (e *Encoder) Flush() error {
	if e.err != nil {
		return e.err
	}
	e.err = e.w.Flush()
	return e.err
}

func (e *Encoder) fail(err error) error {
	if e.err == nil {
		e.err = err
	}
	return e.err
}

// EncodeToken writes one token. A StartTag with Empty set is written
// without the content bit; its matching EndTag writes nothing. Text must
// not contain NUL bytes.
func (e *Encoder) EncodeToken(t Token) error {
	switch v := t.(type) {
	case StartTag:
		return e.writeStart(v.Tag, v.Empty)
	case EndTag:
		return e.writeEnd(v.Tag)
	case Text:
		return e.writeText(v, nil)
	case Opaque:
		return e.writeOpaque(v)
	case *StartTag:
		return e.writeStart(v.Tag, v.Empty)
	case *EndTag:
		return e.writeEnd(v.Tag)
	}
	return e.fail(fmt.Errorf("eas: cannot encode token of type %T", t))
}

func (e *Encoder) writeHeader() {
	e.started = true
	e.w.Write(header)
}

func (e *Encoder) writeStart(t Tag, empty bool) error {
	if e.err != nil {
		return e.err
	}
	tok, ok := tokenOf(t)
	if !ok {
		return e.fail(fmt.Errorf("eas: unknown tag %s", t))
	}
	if !e.started {
		e.writeHeader()
		if t.Page != 0 {
			e.w.WriteByte(tokSwitchPage)
			e.w.WriteByte(byte(t.Page))
		}
		e.page = t.Page
	} else if len(e.stack) == 0 {
		return e.fail(errors.New("eas: a second root element"))
	} else if e.stack[len(e.stack)-1].empty {
		return e.fail(fmt.Errorf("eas: content inside empty element %s", e.stack[len(e.stack)-1].tag))
	} else if t.Page != e.page {
		e.w.WriteByte(tokSwitchPage)
		e.w.WriteByte(byte(t.Page))
		e.page = t.Page
	}
	if !empty {
		tok |= tagContent
	}
	e.stack = append(e.stack, encFrame{t, empty})
	return e.w.WriteByte(tok)
}

func (e *Encoder) writeEnd(t Tag) error {
	if e.err != nil {
		return e.err
	}
	if len(e.stack) == 0 {
		return e.fail(errors.New("eas: EndTag without an open element"))
	}
	f := e.stack[len(e.stack)-1]
	if t != (Tag{}) && t != f.tag {
		return e.fail(fmt.Errorf("eas: EndTag %s closes %s", t, f.tag))
	}
	e.stack = e.stack[:len(e.stack)-1]
	if f.empty {
		return nil
	}
	return e.w.WriteByte(tokEnd)
}

func (e *Encoder) checkContent() error {
	if e.err != nil {
		return e.err
	}
	if len(e.stack) == 0 {
		return e.fail(errors.New("eas: data outside the root element"))
	}
	if f := e.stack[len(e.stack)-1]; f.empty {
		return e.fail(fmt.Errorf("eas: content inside empty element %s", f.tag))
	}
	return nil
}

// writeText writes b, or s when b is nil, as STR_I.
func (e *Encoder) writeText(b []byte, s *string) error {
	if err := e.checkContent(); err != nil {
		return err
	}
	if s != nil {
		if i := indexNUL(*s); i >= 0 {
			return e.fail(errors.New("eas: text contains a NUL byte"))
		}
		e.w.WriteByte(tokStrI)
		e.w.WriteString(*s)
	} else {
		if bytes.IndexByte(b, 0) >= 0 {
			return e.fail(errors.New("eas: text contains a NUL byte"))
		}
		e.w.WriteByte(tokStrI)
		e.w.Write(b)
	}
	return e.w.WriteByte(0)
}

func indexNUL(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return i
		}
	}
	return -1
}

func (e *Encoder) writeOpaque(b []byte) error {
	if err := e.checkContent(); err != nil {
		return err
	}
	if uint64(len(b)) > 0xFFFFFFFF {
		return e.fail(errors.New("eas: opaque data over 4 GiB"))
	}
	e.w.WriteByte(tokOpaque)
	e.writeUint(uint32(len(b)))
	_, err := e.w.Write(b)
	return err
}

func (e *Encoder) writeUint(v uint32) {
	var b [5]byte
	e.w.Write(appendUint(b[:0], v))
}

// appendUint appends v as a WBXML mb_u_int32, in the fewest bytes.
func appendUint(b []byte, v uint32) []byte {
	var t [5]byte
	i := len(t) - 1
	t[i] = byte(v & 0x7F)
	for v >>= 7; v > 0; v >>= 7 {
		i--
		t[i] = byte(v&0x7F) | 0x80
	}
	return append(b, t[i:]...)
}

// writeInt writes a decimal number as text.
func (e *Encoder) writeInt(v int64) error {
	if err := e.checkContent(); err != nil {
		return err
	}
	e.w.WriteByte(tokStrI)
	e.w.Write(strconv.AppendInt(e.num[:0], v, 10))
	return e.w.WriteByte(0)
}

func (e *Encoder) writeUintText(v uint64) error {
	if err := e.checkContent(); err != nil {
		return err
	}
	e.w.WriteByte(tokStrI)
	e.w.Write(strconv.AppendUint(e.num[:0], v, 10))
	return e.w.WriteByte(0)
}

// Close checks that every element was closed and flushes.
func (e *Encoder) Close() error {
	if e.err == nil && len(e.stack) > 0 {
		e.fail(fmt.Errorf("eas: element %s left open", e.stack[len(e.stack)-1].tag))
	}
	return e.Flush()
}
