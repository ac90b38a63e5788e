package jmap

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gojmap "git.sr.ht/~rockorager/go-jmap"

	"github.com/easgate/easgate/internal/testserver"
)

var (
	methodsBenchSize  = flag.Int("jmapbench.size", 5000, "mailbox size of BenchmarkCyrusMethods")
	methodsBenchProps = flag.Bool("jmapbench.props", false, "BenchmarkCyrusMethods also measures each Email property alone")
)

// rawMethod is any JMAP method call with arguments as written.
type rawMethod struct {
	name string
	args map[string]any
}

func (m *rawMethod) Name() string                 { return m.name }
func (m *rawMethod) Requires() []gojmap.URI       { return []gojmap.URI{uriMail} }
func (m *rawMethod) MarshalJSON() ([]byte, error) { return json.Marshal(m.args) }

// cyrusCPUByName sums the processor time of cy's processes by command
// name (httpd, squatter, ...).
func cyrusCPUByName(t testing.TB, cy *testserver.Cyrus) map[string]time.Duration {
	b, err := os.ReadFile(filepath.Join(cy.Dir, "cyrus.pids"))
	if err != nil {
		t.Fatal(err)
	}
	lead := map[string]bool{}
	for _, f := range strings.Fields(string(b)) {
		lead[f] = true
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	r := map[string]time.Duration{}
	for _, p := range procs {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		line, _ := bufio.NewReader(f).ReadString('\n')
		f.Close()
		pid := filepath.Base(filepath.Dir(p))
		i, j := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
		if i < 0 || j < 0 {
			continue
		}
		fs := strings.Fields(line[j+1:])
		if len(fs) < 13 || !lead[pid] && !lead[fs[3]] {
			continue
		}
		ut, _ := strconv.ParseUint(fs[11], 10, 64)
		st, _ := strconv.ParseUint(fs[12], 10, 64)
		r[line[i+1:j]] += time.Duration(ut+st) * 10 * time.Millisecond
	}
	return r
}

// BenchmarkCyrusMethods measures what each JMAP method the adapter uses
// costs Cyrus's httpd in processor time, on a mailbox of
// -jmapbench.size mails: one method per HTTP request, so that the
// request's own cost shows as Core/echo.
func BenchmarkCyrusMethods(b *testing.B) {
	n := *methodsBenchSize
	cy := testserver.StartCyrus(b, nil)
	src := login(b, cy.JMAP, "alice", Options{HTTPClient: &http.Client{}})
	f := fill(b, cy, src, fmt.Sprintf("methods%d", n), n)
	ctx := context.Background()
	acc := string(src.account)
	one := func(name string, args map[string]any) map[string]json.RawMessage {
		args["accountId"] = acc
		var r map[string]json.RawMessage
		c := &call{args: &rawMethod{name, args}, resp: &r}
		if err := src.do(ctx, c); err != nil {
			b.Fatal(err)
		}
		if c.err != nil {
			b.Fatalf("%s: %v", name, c.err)
		}
		return r
	}
	// Let the rolling squatter index the new mail first: it is Cyrus's
	// processor time too.
	for deadline := time.Now().Add(10 * time.Minute); ; {
		a := cyrusCPUByName(b, cy)["squatter"]
		time.Sleep(2 * time.Second)
		z := cyrusCPUByName(b, cy)["squatter"]
		b.Logf("squatter CPU so far %v", z)
		if z-a < 50*time.Millisecond || time.Now().After(deadline) {
			break
		}
	}
	all := one("Email/query", map[string]any{"filter": map[string]any{"inMailbox": f},
		"sort": []any{map[string]any{"property": "receivedAt", "isAscending": false}}})
	var ids []string
	json.Unmarshal(all["ids"], &ids)
	if len(ids) != n {
		b.Fatalf("query gave %d ids, want %d", len(ids), n)
	}
	var es, ms, qs string
	json.Unmarshal(one("Email/get", map[string]any{"ids": []string{}})["state"], &es)
	json.Unmarshal(one("Mailbox/get", map[string]any{"ids": []string{string(f)}, "properties": []string{"id"}})["state"], &ms)
	json.Unmarshal(all["queryState"], &qs)
	mid := ids[n/2]
	window := ids[n/2 : n/2+100]
	sortDesc := []any{map[string]any{"property": "receivedAt", "isAscending": false}}
	inbox := map[string]any{"inMailbox": f}
	emailProps := emailProps
	variants := []struct {
		name  string
		calls func() []*call
	}{
		{"echo", func() []*call { return []*call{{args: &rawMethod{"Core/echo", map[string]any{}}, resp: new(any)}} }},
	}
	add := func(name string, ms ...*rawMethod) {
		variants = append(variants, struct {
			name  string
			calls func() []*call
		}{name, func() []*call {
			var cs []*call
			for _, m := range ms {
				m.args["accountId"] = acc
				cs = append(cs, &call{args: m, resp: new(map[string]json.RawMessage)})
			}
			return cs
		}})
	}
	add("Mailbox/get-f-id", &rawMethod{"Mailbox/get", map[string]any{"ids": []string{string(f)}, "properties": []string{"id"}}})
	add("Mailbox/get-all", &rawMethod{"Mailbox/get", map[string]any{"properties": mailboxProps}})
	add("Mailbox/get-all-counts", &rawMethod{"Mailbox/get", map[string]any{}})
	add("Mailbox/changes", &rawMethod{"Mailbox/changes", map[string]any{"sinceState": ms}})
	add("Email/get-state", &rawMethod{"Email/get", map[string]any{"ids": []string{}}})
	add("Email/changes", &rawMethod{"Email/changes", map[string]any{"sinceState": es}})
	add("Email/changes+get-ref", &rawMethod{"Email/changes", map[string]any{"sinceState": es}},
		&rawMethod{"Email/get", map[string]any{"properties": []string{"mailboxIds"},
			"#ids": map[string]any{"resultOf": "0", "name": "Email/changes", "path": "/updated"}}})
	add("nochange-now(3calls)", &rawMethod{"Mailbox/get", map[string]any{"ids": []string{string(f)}, "properties": []string{"id"}}},
		&rawMethod{"Email/changes", map[string]any{"sinceState": es}},
		&rawMethod{"Email/get", map[string]any{"properties": []string{"mailboxIds"},
			"#ids": map[string]any{"resultOf": "1", "name": "Email/changes", "path": "/updated"}}})
	add("Email/queryChanges", &rawMethod{"Email/queryChanges", map[string]any{"filter": inbox, "sort": sortDesc, "sinceQueryState": qs}})
	add("Email/query-top101", &rawMethod{"Email/query", map[string]any{"filter": inbox, "sort": sortDesc, "limit": 101}})
	add("Email/query-top101-nosort", &rawMethod{"Email/query", map[string]any{"filter": inbox, "limit": 101}})
	add("Email/query-anchor-mid101", &rawMethod{"Email/query", map[string]any{"filter": inbox, "sort": sortDesc, "limit": 101, "anchor": mid, "anchorOffset": 1}})
	add("Email/query-position-mid101", &rawMethod{"Email/query", map[string]any{"filter": inbox, "sort": sortDesc, "limit": 101, "position": n / 2}})
	add("Email/query-all", &rawMethod{"Email/query", map[string]any{"filter": inbox, "sort": sortDesc}})
	add("Email/query-all-nosort", &rawMethod{"Email/query", map[string]any{"filter": inbox}})
	add("Email/get100-id", &rawMethod{"Email/get", map[string]any{"ids": window, "properties": []string{"id"}}})
	add("Email/get100-kw-mb", &rawMethod{"Email/get", map[string]any{"ids": window, "properties": []string{"id", "keywords", "mailboxIds"}}})
	add("Email/get100-meta", &rawMethod{"Email/get", map[string]any{"ids": window, "properties": emailProps, "bodyProperties": bodyProps}})
	add("Email/get100-meta-noatt-nohdr", &rawMethod{"Email/get", map[string]any{"ids": window, "properties": emailProps[:17]}})
	add("Email/get100-htmlBody-only", &rawMethod{"Email/get", map[string]any{"ids": window, "properties": []string{"id", "htmlBody"}, "bodyProperties": bodyProps}})
	add("Email/get100-html5k-only", &rawMethod{"Email/get", map[string]any{"ids": window, "properties": []string{"id", "htmlBody", "bodyValues"},
		"bodyProperties": bodyProps, "fetchHTMLBodyValues": true, "maxBodyValueBytes": 5120}})
	add("Email/get100-as-adapter", &rawMethod{"Email/get", map[string]any{"ids": window, "properties": append(append([]string{}, emailProps...), "htmlBody", "bodyValues"),
		"bodyProperties": bodyProps, "fetchHTMLBodyValues": true, "maxBodyValueBytes": 5120}})
	// What each property of the adapter's Email/get adds to one of "id"
	// alone (Email/get100-id).
	if *methodsBenchProps {
		for _, p := range append(append([]string{}, emailProps[1:]...), "htmlBody", "bodyValues-html5k") {
			args := map[string]any{"ids": window, "properties": []string{"id", p}}
			switch p {
			case "attachments", "htmlBody":
				args["bodyProperties"] = bodyProps
			case "bodyValues-html5k":
				args["properties"] = []string{"id", "bodyValues"}
				args["fetchHTMLBodyValues"], args["maxBodyValueBytes"] = true, 5120
			}
			add("Email/get100-id+"+p, &rawMethod{"Email/get", args})
		}
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			c0 := cyrusCPUByName(b, cy)
			for b.Loop() {
				cs := v.calls()
				if err := src.do(ctx, cs...); err != nil {
					b.Fatal(err)
				}
				for _, c := range cs {
					if c.err != nil {
						b.Fatalf("%s: %v", c.args.Name(), c.err)
					}
				}
			}
			c1 := cyrusCPUByName(b, cy)
			b.ReportMetric(float64(c1["httpd"]-c0["httpd"])/1e3/float64(b.N), "httpd-cpu-µs/op")
			var other time.Duration
			for k := range c1 {
				if k != "httpd" {
					other += c1[k] - c0[k]
				}
			}
			b.ReportMetric(float64(other)/1e3/float64(b.N), "other-cpu-µs/op")
		})
	}
}
