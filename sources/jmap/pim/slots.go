package pim

import (
	"fmt"
	"slices"
	"strconv"
)

// A slot ties one model field to one entry of a JSON list or map of
// sub-objects: the n-th phone of type "work" is Business2. Entries whose
// key no slot has (a phone type the model lacks) are kept as they are.
type slot struct {
	key   string      // "work#1": the entry's kind and its rank among entries of that kind
	empty func() bool // the model field is unset
	read  func(e obj) // fills the model field from an entry
	write func(e obj) // fills an entry from the model field
	init  func() obj  // a new entry's fixed properties, such as its type
}

// entry is one element of a list (id empty) or map of sub-objects.
type entry struct {
	id string
	e  obj
}

func entriesOf(o obj, p string) []entry {
	switch v := o[p].(type) {
	case []any:
		var out []entry
		for _, x := range v {
			if m, ok := x.(map[string]any); ok {
				out = append(out, entry{e: m})
			}
		}
		return out
	case map[string]any:
		var out []entry
		for _, id := range slices.Sorted(func(yield func(string) bool) {
			for id := range v {
				if !yield(id) {
					return
				}
			}
		}) {
			if m, ok := v[id].(map[string]any); ok {
				out = append(out, entry{id: id, e: m})
			}
		}
		return out
	}
	return nil
}

// keyed numbers entries by their kind: kind(e) + "#" + rank.
func keyed(es []entry, kind func(e obj) string) []string {
	n := make(map[string]int)
	keys := make([]string, len(es))
	for i, x := range es {
		k := kind(x.e)
		keys[i] = k + "#" + strconv.Itoa(n[k])
		n[k]++
	}
	return keys
}

// readSlots fills the model from the entries of o[p].
func readSlots(o obj, p string, kind func(e obj) string, slots []slot) {
	es := entriesOf(o, p)
	for i, k := range keyed(es, kind) {
		for _, s := range slots {
			if s.key == k {
				s.read(es[i].e)
			}
		}
	}
}

// writeSlots rebuilds o[p] (a list, or a map when asMap) from base's:
// entries of a slot get the model's value, or go when it is unset; other
// entries stay; set slots without an entry get a new one at the end.
// It returns nil when the result is empty and base had no such property.
func writeSlots(base obj, p string, asMap bool, kind func(e obj) string, slots []slot) any {
	es := entriesOf(base, p)
	keys := keyed(es, kind)
	used := make(map[string]bool)
	var out []entry
	for i, x := range es {
		i := slices.IndexFunc(slots, func(s slot) bool { return s.key == keys[i] })
		if i < 0 {
			out = append(out, x)
			continue
		}
		s := slots[i]
		used[s.key] = true
		if s.empty() {
			continue
		}
		e := clone(x.e)
		s.write(e)
		out = append(out, entry{x.id, e})
	}
	taken := make(map[string]bool)
	for _, x := range out {
		taken[x.id] = true
	}
	for _, s := range slots {
		if used[s.key] || s.empty() {
			continue
		}
		e := s.init()
		s.write(e)
		id := ""
		for n := len(out) + 1; asMap; n++ {
			if id = fmt.Sprintf("%s%d", p[:1], n); !taken[id] {
				taken[id] = true
				break
			}
		}
		out = append(out, entry{id, e})
	}
	if len(out) == 0 && base[p] == nil {
		return nil
	}
	if asMap {
		m := make(map[string]any, len(out))
		for _, x := range out {
			m[x.id] = x.e
		}
		return m
	}
	l := make([]any, len(out))
	for i, x := range out {
		l[i] = x.e
	}
	return l
}

// strSlot is a slot whose model field is a string held in the entry's
// property vp.
func strSlot(key string, f *string, vp string, init obj) slot {
	return slot{
		key:   key,
		empty: func() bool { return *f == "" },
		read:  func(e obj) { *f = str(e, vp) },
		write: func(e obj) { e[vp] = *f },
		init:  func() obj { return clone(init) },
	}
}

// listSlots gives the strings of l one slot each, of kind k, up to max
// (and one more for a value added beyond the base's).
func listSlots(k string, l *[]string, max int, vp string, init obj) []slot {
	var out []slot
	for i := 0; i < max; i++ {
		out = append(out, slot{
			key:   k + "#" + strconv.Itoa(i),
			empty: func() bool { return i >= len(*l) || (*l)[i] == "" },
			read: func(e obj) {
				if v := str(e, vp); v != "" {
					*l = append(*l, v)
				}
			},
			write: func(e obj) { e[vp] = (*l)[i] },
			init:  func() obj { return clone(init) },
		})
	}
	return out
}
