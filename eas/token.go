package eas

import (
	"fmt"
	"slices"
)

// Tag names an element: its code page and its name on that page, as in
// MS-ASWBXML ("AirSync:SyncKey"). The same name may exist on several pages.
type Tag struct {
	Page Page
	Name string
}

// String returns "Page:Name".
func (t Tag) String() string { return t.Page.String() + ":" + t.Name }

// String returns the page's MS-ASWBXML name ("AirSync").
func (p Page) String() string {
	if int(p) < numPages {
		return codePages[p].name
	}
	return fmt.Sprintf("Page(%d)", uint8(p))
}

// Token is one of StartTag, EndTag, Text or Opaque.
type Token interface{}

// StartTag opens an element. Empty is true for a tag sent without the
// content bit (MS-ASWBXML 2.1.2: "<Foo/>"); the Decoder still follows it
// with an EndTag so that token streams are always balanced, and the
// Encoder swallows that EndTag.
type StartTag struct {
	Tag   Tag
	Empty bool
}

// EndTag closes the innermost open element.
type EndTag struct {
	Tag Tag
}

// Text is inline string data (STR_I or STR_T). The Decoder returns it in a
// buffer that is valid only until the next call to Token; use CopyToken to
// keep it.
type Text []byte

// Opaque is opaque binary data (OPAQUE). The same lifetime rule as Text
// applies.
type Opaque []byte

// CopyToken returns a copy of t that does not share the Decoder's buffer.
func CopyToken(t Token) Token {
	switch v := t.(type) {
	case Text:
		return Text(slices.Clone([]byte(v)))
	case Opaque:
		return Opaque(slices.Clone([]byte(v)))
	}
	return t
}

// SyntaxError reports malformed WBXML: an unknown page or token, a
// truncated document, or a document past a DecoderOptions limit.
type SyntaxError struct {
	Offset int64 // byte offset in the document where the problem was found
	Msg    string
	Err    error // the cause, such as a *LimitError; may be nil
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("eas: wbxml syntax error at offset %d: %s", e.Offset, e.Msg)
}

// Unwrap returns the cause.
func (e *SyntaxError) Unwrap() error { return e.Err }

// LimitError is a SyntaxError cause for documents past a DecoderOptions
// limit, so that callers can answer 413 rather than 400.
type LimitError struct {
	Limit string // the DecoderOptions field name
	Value int64
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("eas: wbxml document exceeds %s (%d)", e.Limit, e.Value)
}

// DecoderOptions bounds what a Decoder accepts. A zero field takes the
// default given beside it, values no real device comes near.
//
// MaxAllocPerByte bounds what decoding allocates for the decoded values
// (strings, byte slices, slice elements, pointed-to structs, Raw content):
// at most that many bytes per byte of input read so far, after a credit of
// 16 KiB of input, so that a small document may still fill a few large
// structs. A Raw's content is decoded under the MaxAllocPerByte of the
// document it came from, credited all its bytes plus 16 from the start. A document past it, such as
// millions of empty tags that each become a struct, is rejected with a
// LimitError rather than decoded.
type DecoderOptions struct {
	MaxDepth        int   // element nesting; default 64
	MaxStringSize   int   // one STR_I or string table; default 16 MiB
	MaxOpaqueSize   int   // one OPAQUE; default 64 MiB
	MaxTokens       int   // tokens in one document; default 4,000,000
	MaxSize         int64 // bytes in one document; default 128 MiB
	MaxAllocPerByte int   // bytes of decoded values per input byte; default 16
}

// Default limits; see DecoderOptions.
const (
	DefaultMaxDepth      = 64
	DefaultMaxStringSize = 16 << 20
	DefaultMaxOpaqueSize = 64 << 20
	DefaultMaxTokens     = 4_000_000
	DefaultMaxSize       = 128 << 20

	DefaultMaxAllocPerByte = 16
)

// Input credited to a decode before its first byte (see DecoderOptions):
// for a document, and for a Raw's content, whose credit the document that
// held it pays when capturing it, so that decoding a request and then
// each Raw in it once stays within twice the document's bound.
const (
	documentSlack = 16 << 10
	fragmentSlack = 16
)

func (o *DecoderOptions) withDefaults() DecoderOptions {
	var r DecoderOptions
	if o != nil {
		r = *o
	}
	if r.MaxDepth <= 0 {
		r.MaxDepth = DefaultMaxDepth
	}
	if r.MaxStringSize <= 0 {
		r.MaxStringSize = DefaultMaxStringSize
	}
	if r.MaxOpaqueSize <= 0 {
		r.MaxOpaqueSize = DefaultMaxOpaqueSize
	}
	if r.MaxTokens <= 0 {
		r.MaxTokens = DefaultMaxTokens
	}
	if r.MaxSize <= 0 {
		r.MaxSize = DefaultMaxSize
	}
	if r.MaxAllocPerByte <= 0 {
		r.MaxAllocPerByte = DefaultMaxAllocPerByte
	}
	return r
}
