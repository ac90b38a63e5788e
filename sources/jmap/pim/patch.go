package pim

import (
	"encoding/json"
	"reflect"
	"strings"
)

// diff returns the patch (RFC 8620 section 5.3) that turns the properties
// before into after: changed properties whole, except the map-valued
// properties of k, whose entries are replaced or removed one by one, so an
// entry the device did not touch keeps whatever the server stored in it.
// A property missing from after is set to null.
func diff(k *kind, before, after obj) obj {
	before, after = normalize(before), normalize(after)
	p := obj{}
	for name, a := range after {
		b, had := before[name]
		if had && reflect.DeepEqual(a, b) {
			continue
		}
		am, aok := a.(map[string]any)
		bm, bok := b.(map[string]any)
		if k.isMap(name) && aok && bok {
			for key, av := range am {
				if bv, ok := bm[key]; !ok || !reflect.DeepEqual(av, bv) {
					p[name+"/"+escape(key)] = av
				}
			}
			for key := range bm {
				if _, ok := am[key]; !ok {
					p[name+"/"+escape(key)] = nil
				}
			}
			continue
		}
		p[name] = a
	}
	for name := range before {
		if _, ok := after[name]; !ok {
			p[name] = nil
		}
	}
	return p
}

// escape escapes a key for a JSON pointer (RFC 6901).
func escape(key string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(key)
}

// normalize gives o the types encoding/json decodes to, so that values
// built in Go compare equal to the same values read from the server.
func normalize(o obj) obj {
	b, err := json.Marshal(o)
	if err != nil {
		return o
	}
	var n obj
	if json.Unmarshal(b, &n) != nil {
		return o
	}
	return n
}

// clone deep-copies a JSON value.
func clone[T any](v T) T {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var c T
	if json.Unmarshal(b, &c) != nil {
		return v
	}
	return c
}

// objOf returns o[p] as an object, or nil.
func objOf(o obj, p string) obj {
	m, _ := o[p].(map[string]any)
	return m
}

// listOf returns o[p] as a list of objects, skipping other values.
func listOf(o obj, p string) []obj {
	l, _ := o[p].([]any)
	out := make([]obj, 0, len(l))
	for _, v := range l {
		if m, ok := v.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// setStr sets out[p] to v, unless v is empty and base has no value for p:
// writing an unset field adds no empty property.
func setStr(out, base obj, p, v string) {
	if v == "" && base[p] == nil {
		return
	}
	out[p] = v
}
