package eas

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// Marshaler is implemented by types that encode themselves as the element
// start. Implementations write start, the content and the EndTag.
type Marshaler interface {
	MarshalWBXML(e *Encoder, start StartTag) error
}

// Unmarshaler is implemented by types that decode themselves from the
// element whose StartTag was just read. Implementations consume tokens up
// to and including the matching EndTag.
type Unmarshaler interface {
	UnmarshalWBXML(d *Decoder, start StartTag) error
}

// Marshal returns the WBXML document for v, a struct (or pointer to one)
// whose root element is named by a blank field: _ struct{} `wbxml:"Ping:Ping"`.
//
// Fields are encoded in declaration order as elements named by their tag,
// `wbxml:"Page:Name[,option...]"`, with the options
//
//	opaque     encode a string or []byte as OPAQUE rather than STR_I
//	empty      a bool is the presence of an empty element
//	emptytrue  a bool sent as an empty element means true (GetChanges)
//	omitempty  leave out the zero value
//
// A field tagged `wbxml:",choice"` is a slice of structs whose fields are
// tagged pointers: each child element whose tag is one of them becomes an
// element of the slice with that field set, so that alternatives keep
// their document order (ItemOperations' Fetch, EmptyFolderContents and
// Move).
//
// Strings, []byte, bools ("0"/"1"), integers (decimal), structs (child
// elements), pointers (nil: absent), slices (repeated elements), Raw and
// Marshaler values are supported. Empty strings and structs without
// children are written as empty tags; empty elements decode to zero values.
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	e := NewEncoder(&b)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	if err := e.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Unmarshal decodes the WBXML document data into v, a pointer to a struct
// with a root field. A nil o takes the default limits.
func Unmarshal(data []byte, v any, o *DecoderOptions) error {
	return newBytesDecoder(data, o).Decode(v)
}

// Field options of a `wbxml` struct tag.
const (
	optOpaque = 1 << iota
	optEmpty
	optOmitEmpty
	optEmptyTrue
)

type fieldInfo struct {
	index []int
	tag   Tag
	opts  int
	typ   reflect.Type

	// choice holds the alternatives of a `wbxml:",choice"` field: a slice
	// of structs whose fields are tagged pointers, one element per child
	// in document order, with the one field of its tag set.
	choice []fieldInfo
}

// fieldRef finds a child element's field: fields[field-1], and for a
// choice field its alternative sub (else -1). The zero fieldRef finds none.
type fieldRef struct{ field, sub int16 }

type typeInfo struct {
	root   *Tag
	fields []fieldInfo
	byTok  [numPages]*[64]fieldRef // by page and token, for the pages fields use
}

var (
	typeCache sync.Map // reflect.Type → *typeInfo or error

	marshalerType   = reflect.TypeFor[Marshaler]()
	unmarshalerType = reflect.TypeFor[Unmarshaler]()
	rawType         = reflect.TypeFor[Raw]()
)

func parseTag(s string) (Tag, int, error) {
	name, optStr, _ := strings.Cut(s, ",")
	pg, el, ok := strings.Cut(name, ":")
	if !ok {
		return Tag{}, 0, fmt.Errorf("tag %q is not Page:Name", s)
	}
	var t Tag
	found := false
	for p := range codePages {
		if codePages[p].name == pg {
			t, found = Tag{Page(p), el}, true
			break
		}
	}
	if !found {
		return Tag{}, 0, fmt.Errorf("unknown code page %q in %q", pg, s)
	}
	if !KnownTag(t) {
		return Tag{}, 0, fmt.Errorf("unknown tag %s", t)
	}
	opts := 0
	for o := range strings.SplitSeq(optStr, ",") {
		switch o {
		case "":
		case "opaque":
			opts |= optOpaque
		case "empty":
			opts |= optEmpty
		case "omitempty":
			opts |= optOmitEmpty
		case "emptytrue":
			opts |= optEmptyTrue
		default:
			return Tag{}, 0, fmt.Errorf("unknown option %q in %q", o, s)
		}
	}
	return t, opts, nil
}

func getTypeInfo(t reflect.Type) (*typeInfo, error) {
	if v, ok := typeCache.Load(t); ok {
		if err, ok := v.(error); ok {
			return nil, err
		}
		return v.(*typeInfo), nil
	}
	ti, err := buildTypeInfo(t)
	if err != nil {
		err = fmt.Errorf("eas: type %s: %w", t, err)
		typeCache.Store(t, err)
		return nil, err
	}
	typeCache.Store(t, ti)
	return ti, nil
}

func buildTypeInfo(t reflect.Type) (*typeInfo, error) {
	ti := &typeInfo{}
	add := func(tag Tag, ref fieldRef, name string) error {
		tok, _ := tokenOf(tag)
		pg := ti.byTok[tag.Page]
		if pg == nil {
			pg = new([64]fieldRef)
			ti.byTok[tag.Page] = pg
		}
		if pg[tok].field != 0 {
			return fmt.Errorf("field %s: tag %s used twice", name, tag)
		}
		pg[tok] = ref
		return nil
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		s, ok := f.Tag.Lookup("wbxml")
		if !ok || s == "-" {
			continue
		}
		if s == ",choice" {
			alts, err := choiceInfo(f.Type)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.Name, err)
			}
			for j, a := range alts {
				if err := add(a.tag, fieldRef{int16(len(ti.fields) + 1), int16(j)}, f.Name); err != nil {
					return nil, err
				}
			}
			ti.fields = append(ti.fields, fieldInfo{index: f.Index, typ: f.Type, choice: alts})
			continue
		}
		tag, opts, err := parseTag(s)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.Name, err)
		}
		if f.Name == "_" {
			r := tag
			ti.root = &r
			continue
		}
		if !f.IsExported() {
			return nil, fmt.Errorf("field %s is not exported", f.Name)
		}
		if err := checkFieldType(f.Type, opts); err != nil {
			return nil, fmt.Errorf("field %s: %w", f.Name, err)
		}
		if err := add(tag, fieldRef{int16(len(ti.fields) + 1), -1}, f.Name); err != nil {
			return nil, err
		}
		ti.fields = append(ti.fields, fieldInfo{index: f.Index, tag: tag, opts: opts, typ: f.Type})
	}
	return ti, nil
}

// choiceInfo reads the alternatives of a choice field of type t, which must
// be a slice of structs whose fields are all tagged pointers.
func choiceInfo(t reflect.Type) ([]fieldInfo, error) {
	if t.Kind() != reflect.Slice || t.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("a choice must be a slice of structs, not %s", t)
	}
	et := t.Elem()
	var alts []fieldInfo
	for i := 0; i < et.NumField(); i++ {
		f := et.Field(i)
		s, ok := f.Tag.Lookup("wbxml")
		if !ok || f.Type.Kind() != reflect.Pointer {
			return nil, fmt.Errorf("choice alternative %s.%s is not a tagged pointer", et, f.Name)
		}
		tag, opts, err := parseTag(s)
		if err != nil {
			return nil, fmt.Errorf("choice alternative %s.%s: %w", et, f.Name, err)
		}
		if err := checkFieldType(f.Type, opts); err != nil {
			return nil, fmt.Errorf("choice alternative %s.%s: %w", et, f.Name, err)
		}
		alts = append(alts, fieldInfo{index: f.Index, tag: tag, opts: opts, typ: f.Type})
	}
	return alts, nil
}

func checkFieldType(t reflect.Type, opts int) error {
	if t == rawType || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return checkFieldType(t.Elem(), opts)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil
		}
		if t.Elem().Kind() == reflect.Slice && t.Elem().Elem().Kind() != reflect.Uint8 {
			return errors.New("nested slices are not supported")
		}
		return checkFieldType(t.Elem(), opts)
	case reflect.String, reflect.Bool, reflect.Struct,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return nil
	}
	return fmt.Errorf("unsupported type %s", t)
}

// Decode reads the next element into v, a non-nil pointer. If v's type
// names a root element, the element must be that one.
func (d *Decoder) Decode(v any) error {
	for {
		k, err := d.next()
		if err != nil {
			return err
		}
		if k == kindStart {
			s := StartTag{Tag: d.tag(), Empty: d.empty}
			rv := reflect.ValueOf(v)
			if rv.Kind() == reflect.Pointer && !rv.IsNil() && rv.Elem().Kind() == reflect.Struct {
				ti, err := getTypeInfo(rv.Elem().Type())
				if err != nil {
					return err
				}
				if ti.root != nil && *ti.root != s.Tag {
					return &SchemaError{Command: ti.root.Name, Msg: fmt.Sprintf("root element is %s, want %s", s.Tag, *ti.root)}
				}
			}
			return d.DecodeElement(v, s)
		}
	}
}

// DecodeElement decodes the element whose StartTag start was just read
// into v, a non-nil pointer, consuming its EndTag.
func (d *Decoder) DecodeElement(v any, start StartTag) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return errors.New("eas: Decode needs a non-nil pointer")
	}
	return d.decodeValue(rv.Elem(), start, 0)
}

func (d *Decoder) decodeValue(v reflect.Value, start StartTag, opts int) error {
	if flagsOf(v.Type())&flagPtrUnmarshaler != 0 && v.CanAddr() {
		return v.Addr().Interface().(Unmarshaler).UnmarshalWBXML(d, start)
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			if err := d.charge(int64(v.Type().Elem().Size())); err != nil {
				return err
			}
			v.Set(reflect.New(v.Type().Elem()))
		}
		return d.decodeValue(v.Elem(), start, opts)
	case reflect.Struct:
		return d.decodeStruct(v, start)
	case reflect.Bool:
		if opts&optEmpty != 0 {
			v.SetBool(true)
			return d.Skip()
		}
	}
	text, err := d.readText()
	if err != nil {
		return err
	}
	if v.Kind() == reflect.String && opts&optOpaque == 0 && bytes.IndexByte(text, 0) >= 0 {
		// Only opaque data can carry NUL, and a text field could not
		// send it back.
		return &SchemaError{Command: start.Tag.Page.String(), Msg: fmt.Sprintf("%s: text contains a NUL byte", start.Tag)}
	}
	if v.Kind() == reflect.Bool && opts&optEmptyTrue != 0 && len(bytes.TrimSpace(text)) == 0 {
		v.SetBool(true)
		return nil
	}
	if k := v.Kind(); k == reflect.String || k == reflect.Slice {
		if err := d.charge(int64(len(text))); err != nil {
			return err
		}
	}
	return setScalar(v, text, start.Tag)
}

func (d *Decoder) decodeStruct(v reflect.Value, start StartTag) error {
	ti, err := getTypeInfo(v.Type())
	if err != nil {
		return err
	}
	for {
		k, err := d.next()
		if err != nil {
			return noEOF(err)
		}
		switch k {
		case kindEnd:
			return nil
		case kindStart:
			var ref fieldRef
			if pg := ti.byTok[d.tagPage]; pg != nil {
				ref = pg[d.tagID]
			}
			if ref.field == 0 {
				if err := d.Skip(); err != nil {
					return err
				}
				continue
			}
			s := StartTag{Tag: d.tag(), Empty: d.empty}
			f := &ti.fields[ref.field-1]
			fv := v.FieldByIndex(f.index)
			if fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() != reflect.Uint8 {
				if fv, err = d.grow(fv); err != nil {
					return err
				}
			}
			opts := f.opts
			if ref.sub >= 0 {
				alt := &f.choice[ref.sub]
				fv, opts = fv.FieldByIndex(alt.index), alt.opts
			}
			if err := d.decodeValue(fv, s, opts); err != nil {
				return err
			}
		}
		// Text or opaque data between child elements carries no meaning.
	}
}

// readText collects the text and opaque data of the current element up to
// its EndTag; child elements are skipped.
func (d *Decoder) readText() ([]byte, error) {
	// Most elements hold one piece, returned where it lies in the input
	// buffer, pinned there (fill may move it, not drop it) until the
	// EndTag is read. Anything else first copies it out, into acc.
	var first, acc []byte
	n, copied := 0, false
	for {
		k, err := d.next()
		if err != nil {
			return nil, noEOF(err)
		}
		if n == 1 && !copied {
			if d.pin >= 0 {
				first = d.buf[d.pin : d.pin+len(first)]
			}
			if k != kindEnd {
				acc, err = d.appendData(nil, first)
				d.pin, copied = -1, true
				if err != nil {
					return nil, err
				}
			}
		}
		switch k {
		case kindEnd:
			d.pin = -1
			if copied {
				return acc, nil
			}
			return first, nil
		case kindStart:
			if err := d.Skip(); err != nil {
				return nil, err
			}
			continue
		}
		n++
		if n == 1 {
			first = d.data
			d.pin = d.dataAt
			continue
		}
		if acc, err = d.appendData(acc, d.data); err != nil {
			return nil, err
		}
	}
}

// appendData appends b to acc within MaxStringSize, charging any growth.
func (d *Decoder) appendData(acc, b []byte) ([]byte, error) {
	if len(acc)+len(b) > d.opts.MaxStringSize {
		return nil, d.limit("MaxStringSize", int64(d.opts.MaxStringSize))
	}
	if len(acc)+len(b) > cap(acc) {
		c := max(2*cap(acc), len(acc)+len(b), 16)
		if err := d.charge(int64(c)); err != nil {
			return nil, err
		}
		acc = append(make([]byte, 0, c), acc...)
	}
	return append(acc, b...), nil
}

// grow appends a zero element to slice s, a settable reflect.Value, and
// returns that element. It doubles the capacity itself, rather than
// through reflect.Append, so as to charge exactly what it allocates.
func (d *Decoder) grow(s reflect.Value) (reflect.Value, error) {
	n := s.Len()
	if n == s.Cap() {
		c := max(2*n, 1)
		if err := d.charge(int64(c) * int64(s.Type().Elem().Size())); err != nil {
			return reflect.Value{}, err
		}
		ns := reflect.MakeSlice(s.Type(), n, c)
		reflect.Copy(ns, s)
		s.Set(ns)
	}
	s.SetLen(n + 1)
	e := s.Index(n)
	e.SetZero() // a reused slice may hold old elements past its length
	return e, nil
}

// appendZero appends a zero T to s, charging d for any growth, for the
// Unmarshalers written by hand.
func appendZero[T any](d *Decoder, s []T) ([]T, error) {
	if len(s) == cap(s) {
		c := max(2*len(s), 1)
		if err := d.charge(int64(c) * int64(reflect.TypeFor[T]().Size())); err != nil {
			return s, err
		}
		s = append(make([]T, 0, c), s...)
	}
	var zero T
	return append(s, zero), nil
}

// reuse returns p zeroed, or a new T charged to d when p is nil, so that a
// repeated element does not allocate again. A charge past the limit
// leaves the error in d, which its next read returns.
func reuse[T any](d *Decoder, p *T) *T {
	if p == nil {
		d.charge(int64(reflect.TypeFor[T]().Size()))
		return new(T)
	}
	var zero T
	*p = zero
	return p
}

func setScalar(v reflect.Value, text []byte, tag Tag) error {
	switch v.Kind() {
	case reflect.String:
		v.SetString(string(text))
		return nil
	case reflect.Slice: // []byte
		if len(text) == 0 {
			v.SetBytes(nil) // empty data and an empty tag decode alike
		} else {
			v.SetBytes(bytes.Clone(text))
		}
		return nil
	case reflect.Bool:
		// An empty element is false, like an empty number is 0; fields
		// that the spec reads as true when empty say "emptytrue".
		switch strings.TrimSpace(string(text)) {
		case "1", "true", "TRUE", "True":
			v.SetBool(true)
		case "0", "", "false", "FALSE", "False":
			v.SetBool(false)
		default:
			return schemaErrorf(tag.Page.String(), "%s: %q is not a boolean", tag, text)
		}
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		s := strings.TrimSpace(string(text))
		if s == "" {
			v.SetInt(0)
			return nil
		}
		n, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if err != nil {
			return schemaErrorf(tag.Page.String(), "%s: %q is not a %s", tag, text, v.Type())
		}
		v.SetInt(n)
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		s := strings.TrimSpace(string(text))
		if s == "" {
			v.SetUint(0)
			return nil
		}
		n, err := strconv.ParseUint(s, 10, v.Type().Bits())
		if err != nil {
			return schemaErrorf(tag.Page.String(), "%s: %q is not a %s", tag, text, v.Type())
		}
		v.SetUint(n)
		return nil
	}
	return fmt.Errorf("eas: cannot decode %s into %s", tag, v.Type())
}

// Encode writes v, a struct or pointer to one whose root element is named
// by a blank field, as a whole document. Call Flush (or Close) afterwards.
func (e *Encoder) Encode(v any) error {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return e.fail(fmt.Errorf("eas: cannot encode %T as a document", v))
	}
	ti, err := getTypeInfo(rv.Type())
	if err != nil {
		return e.fail(err)
	}
	if ti.root == nil {
		return e.fail(fmt.Errorf("eas: %T names no root element", v))
	}
	return e.encodeValue(rv, *ti.root, 0)
}

// EncodeElement writes v as the element start.
func (e *Encoder) EncodeElement(v any, start StartTag) error {
	return e.encodeValue(reflect.ValueOf(v), start.Tag, 0)
}

func (e *Encoder) encodeValue(v reflect.Value, tag Tag, opts int) error {
	if e.err != nil {
		return e.err
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
	}
	if fl := flagsOf(v.Type()); fl&flagMarshaler != 0 && v.CanInterface() {
		return v.Interface().(Marshaler).MarshalWBXML(e, StartTag{Tag: tag})
	} else if fl&flagPtrMarshaler != 0 && v.CanAddr() {
		return v.Addr().Interface().(Marshaler).MarshalWBXML(e, StartTag{Tag: tag})
	}
	switch v.Kind() {
	case reflect.Pointer:
		return e.encodeValue(v.Elem(), tag, opts)
	case reflect.Struct:
		ti, err := getTypeInfo(v.Type())
		if err != nil {
			return e.fail(err)
		}
		empty := !hasContent(v, ti)
		e.writeStart(tag, empty)
		if !empty {
			for i := range ti.fields {
				f := &ti.fields[i]
				if err := e.encodeField(v.FieldByIndex(f.index), f); err != nil {
					return err
				}
			}
		}
		return e.writeEnd(tag)
	case reflect.String:
		s := v.String()
		if s == "" {
			e.writeStart(tag, true)
			return e.writeEnd(tag)
		}
		e.writeStart(tag, false)
		if opts&optOpaque != 0 {
			e.writeOpaque([]byte(s))
		} else {
			e.writeText(nil, &s)
		}
		return e.writeEnd(tag)
	case reflect.Slice: // []byte
		b := v.Bytes()
		if len(b) == 0 {
			e.writeStart(tag, true)
			return e.writeEnd(tag)
		}
		e.writeStart(tag, false)
		if opts&optOpaque != 0 {
			e.writeOpaque(b)
		} else {
			e.writeText(b, nil)
		}
		return e.writeEnd(tag)
	case reflect.Bool:
		if opts&optEmpty != 0 {
			if !v.Bool() {
				return nil
			}
			e.writeStart(tag, true)
			return e.writeEnd(tag)
		}
		e.writeStart(tag, false)
		if v.Bool() {
			e.writeText([]byte{'1'}, nil)
		} else {
			e.writeText([]byte{'0'}, nil)
		}
		return e.writeEnd(tag)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.writeStart(tag, false)
		e.writeInt(v.Int())
		return e.writeEnd(tag)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		e.writeStart(tag, false)
		e.writeUintText(v.Uint())
		return e.writeEnd(tag)
	}
	return e.fail(fmt.Errorf("eas: cannot encode %s as %s", v.Type(), tag))
}

func (e *Encoder) encodeField(v reflect.Value, f *fieldInfo) error {
	if absent(v, f) {
		return nil
	}
	if v.Kind() == reflect.Slice && v.Type().Elem().Kind() != reflect.Uint8 {
		for i := 0; i < v.Len(); i++ {
			if f.choice != nil {
				if err := e.encodeChoice(v.Index(i), f.choice); err != nil {
					return err
				}
				continue
			}
			if err := e.encodeValue(v.Index(i), f.tag, f.opts); err != nil {
				return err
			}
		}
		return nil
	}
	return e.encodeValue(v, f.tag, f.opts)
}

// encodeChoice writes the one alternative of choice element v that is set.
func (e *Encoder) encodeChoice(v reflect.Value, alts []fieldInfo) error {
	for i := range alts {
		if av := v.FieldByIndex(alts[i].index); !av.IsNil() {
			return e.encodeValue(av, alts[i].tag, alts[i].opts)
		}
	}
	return e.fail(fmt.Errorf("eas: %s has no alternative set", v.Type()))
}

// hasContent reports whether encoding struct v writes at least one child,
// so that an element without children is sent as an empty tag.
func hasContent(v reflect.Value, ti *typeInfo) bool {
	for i := range ti.fields {
		if !absent(v.FieldByIndex(ti.fields[i].index), &ti.fields[i]) {
			return true
		}
	}
	return false
}

// absent reports whether field value v writes nothing.
func absent(v reflect.Value, f *fieldInfo) bool {
	switch {
	case f.opts&optOmitEmpty != 0 && v.IsZero():
	case v.Kind() == reflect.Pointer && v.IsNil():
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() != reflect.Uint8 && v.Len() == 0:
	case v.Kind() == reflect.Bool && f.opts&optEmpty != 0 && !v.Bool():
	case v.Type() == rawType && v.Interface().(Raw).IsZero():
	default:
		return false
	}
	return true
}

// Method flags of a type, cached so that encoding a string field does not
// box it to ask whether it is a Marshaler.
const (
	flagMarshaler = 1 << iota
	flagPtrMarshaler
	flagPtrUnmarshaler
)

var flagCache sync.Map // reflect.Type → int

func flagsOf(t reflect.Type) int {
	if v, ok := flagCache.Load(t); ok {
		return v.(int)
	}
	fl := 0
	if t.Implements(marshalerType) {
		fl |= flagMarshaler
	} else if reflect.PointerTo(t).Implements(marshalerType) {
		fl |= flagPtrMarshaler
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		fl |= flagPtrUnmarshaler
	}
	flagCache.Store(t, fl)
	return fl
}

// Raw holds the content of an element whose schema depends on context,
// such as Sync's ApplicationData, whose children depend on the
// collection's class. Decoding keeps a copy of the element's content as
// WBXML, as compact as the input; Decode turns it into a typed value
// later. RawValue wraps a typed value to encode.
type Raw struct {
	wbxml   []byte // the content, non-nil once decoded; it starts on code page 0
	val     any
	empty   bool // sent as an empty tag
	perByte int  // MaxAllocPerByte of the document it came from
}

// RawValue returns a Raw whose content is v's fields, v being a struct or
// pointer to one with `wbxml` field tags.
func RawValue(v any) Raw { return Raw{val: v} }

// IsZero reports whether r holds nothing.
func (r Raw) IsZero() bool { return r.wbxml == nil && r.val == nil }

// Decode decodes r's content into v, a pointer to a struct, as if v were
// the element holding it. It allocates at most MaxAllocPerByte (default)
// times the content's size plus a small constant, besides v itself.
func (r Raw) Decode(v any) error {
	if r.val != nil {
		// Encode and decode once: the caller gets a copy in its own type.
		var b bytes.Buffer
		e := NewEncoder(&b)
		start := StartTag{Tag: Tag{PageAirSync, "ApplicationData"}}
		if err := r.MarshalWBXML(e, start); err != nil {
			return err
		}
		if err := e.Close(); err != nil {
			return err
		}
		d := newBytesDecoder(b.Bytes(), nil)
		if _, err := d.next(); err != nil {
			return err
		}
		return d.DecodeElement(v, start)
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return errors.New("eas: Raw.Decode needs a non-nil pointer")
	}
	if len(r.wbxml) == 0 {
		return nil
	}
	d := r.decoder()
	defer fragmentDecoders.Put(d)
	err := d.decodeValue(rv.Elem(), StartTag{}, 0)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		// The content ends without the element's own EndTag.
		return nil
	}
	return err
}

// fragmentDecoders keeps Decoders for Raw content, so that decoding many
// small Raws, as a Sync with many Adds does, allocates none.
var fragmentDecoders = sync.Pool{New: func() any { return new(Decoder) }}

// decoder returns a Decoder, from fragmentDecoders, reading r's content as
// a sequence of elements and data that ends with io.EOF.
func (r Raw) decoder() *Decoder {
	d := fragmentDecoders.Get().(*Decoder)
	*d = Decoder{
		opts: (&DecoderOptions{MaxAllocPerByte: r.perByte}).withDefaults(), buf: r.wbxml, w: len(r.wbxml),
		started: true, rootSeen: true, fragment: true, pin: -1,
	}
	d.stack = d.stackArr[:0]
	return d
}

// Tokens returns the content of a decoded Raw as tokens (nil for a
// RawValue). It allocates them; Decode does not need them.
func (r Raw) Tokens() []Token {
	if r.wbxml == nil {
		return nil
	}
	d := r.decoder()
	defer fragmentDecoders.Put(d)
	toks := []Token{}
	for {
		t, err := d.Token()
		if err != nil {
			// The content was read once already: the only error is its end.
			return toks
		}
		toks = append(toks, CopyToken(t))
	}
}

// Elements calls fn for each element at the top of r's content, in
// document order, with its tag and whether it has content (child elements
// or data that is not empty). Unlike Tokens it allocates nothing for a
// decoded Raw.
func (r Raw) Elements(fn func(t Tag, hasContent bool)) error {
	if r.val != nil {
		// Encoded first, so that both kinds read alike.
		var b bytes.Buffer
		e := NewEncoder(&b)
		start := StartTag{Tag: Tag{PageAirSync, "ApplicationData"}}
		if err := r.MarshalWBXML(e, start); err != nil {
			return err
		}
		if err := e.Close(); err != nil {
			return err
		}
		d := newBytesDecoder(b.Bytes(), nil)
		if _, err := d.next(); err != nil {
			return err
		}
		var enc Raw
		if err := enc.UnmarshalWBXML(d, start); err != nil {
			return err
		}
		r = enc
	}
	if len(r.wbxml) == 0 {
		return nil
	}
	d := r.decoder()
	defer fragmentDecoders.Put(d)
	var cur Tag
	content := false
	for {
		k, err := d.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch depth := len(d.stack); {
		case k == kindStart && depth == 1:
			cur, content = d.tag(), false
		case k == kindEnd && depth == 0:
			fn(cur, content)
		case k == kindStart, (k == kindText || k == kindOpaque) && depth == 1 && len(d.data) > 0:
			content = true
		}
	}
}

// UnmarshalWBXML captures the element's content.
func (r *Raw) UnmarshalWBXML(d *Decoder, start StartTag) error {
	*r = Raw{empty: start.Empty, perByte: d.opts.MaxAllocPerByte}
	b, err := d.capture()
	if err != nil {
		return err
	}
	r.wbxml = b
	return nil
}

// capture reads the content of the element whose StartTag was read last
// and its EndTag, and returns the content re-encoded, never nil: starting
// on code page 0, switching page only before a tag on another page, with
// inline strings and shortest lengths. The same tokens thus always give
// the same bytes, whatever the sender's encoding, as Raws compare by
// their bytes.
func (d *Decoder) capture() ([]byte, error) {
	if d.pendingEnd { // an empty tag
		_, err := d.next()
		return []byte{}, err
	}
	b := d.scratch[:0]
	page := Page(0)
	for depth := 0; ; {
		k, err := d.next()
		if err != nil {
			return nil, noEOF(err)
		}
		switch k {
		case kindStart:
			depth++
			if d.tagPage != page {
				b = append(b, tokSwitchPage, byte(d.tagPage))
				page = d.tagPage
			}
			if d.empty {
				b = append(b, d.tagID)
			} else {
				b = append(b, d.tagID|tagContent)
			}
			continue
		case kindText:
			b = append(append(append(b, tokStrI), d.data...), 0)
			continue
		case kindOpaque:
			b = append(appendUint(append(b, tokOpaque), uint32(len(d.data))), d.data...)
			continue
		}
		if depth > 0 {
			depth--
			if d.tokStart >= 0 { // not the EndTag of an empty tag
				b = append(b, tokEnd)
			}
			continue
		}
		// The scratch buffer serves the next Raw; the copy is exact.
		d.scratch = b[:0]
		out := make([]byte, len(b))
		copy(out, b)
		// The credit of the Raw's own Decode is paid here.
		return out, d.charge(int64(len(b)) + int64(d.opts.MaxAllocPerByte)*fragmentSlack)
	}
}

// MarshalWBXML writes the element with r's content.
func (r Raw) MarshalWBXML(e *Encoder, start StartTag) error {
	if r.val != nil {
		return e.EncodeElement(r.val, start)
	}
	e.writeStart(start.Tag, len(r.wbxml) == 0 && r.empty)
	if len(r.wbxml) > 0 {
		d := r.decoder()
		defer fragmentDecoders.Put(d)
		for {
			k, err := d.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return e.fail(err)
			}
			switch k {
			case kindStart:
				err = e.writeStart(d.tag(), d.empty)
			case kindEnd:
				err = e.writeEnd(Tag{})
			case kindText:
				err = e.writeText(d.data, nil)
			case kindOpaque:
				err = e.writeOpaque(d.data)
			}
			if err != nil {
				return err
			}
		}
	}
	return e.writeEnd(start.Tag)
}
