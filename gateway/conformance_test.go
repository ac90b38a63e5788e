package gateway

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/easgate/easgate/eas"
)

// TestConformanceTable keeps docs/CONFORMANCE.md true: one row per
// command, one column per protocol version, "—" exactly where the command
// does not exist in the version, a routed command everywhere it exists,
// and every test a cell names a test function of this package.
func TestConformanceTable(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "CONFORMANCE.md"))
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]bool{}
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	decl := regexp.MustCompile(`(?m)^func (Test\w+)\(`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range decl.FindAllSubmatch(b, -1) {
			tests[string(m[1])] = true
		}
	}
	versions := []string{"2.5", "12.0", "12.1", "14.0", "14.1", "16.0", "16.1"}
	rows := map[string][]string{}
	for _, line := range strings.Split(string(doc), "\n") {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if !strings.HasPrefix(line, "| ") || len(cells) != len(versions)+1 {
			continue
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if cells[0] == "command" {
			if strings.Join(cells[1:], " ") != strings.Join(versions, " ") {
				t.Errorf("table columns %q, want %q", cells[1:], versions)
			}
			continue
		}
		if cells[0] != "---" {
			rows[cells[0]] = cells[1:]
		}
	}
	s := newTestServer(t, nil, nil)
	for _, c := range eas.AllCommands {
		cells, ok := rows[c.String()]
		if !ok {
			t.Errorf("CONFORMANCE.md has no row for %s", c)
			continue
		}
		delete(rows, c.String())
		if rt := s.route(c); rt == nil || !rt.routed() {
			t.Errorf("%s is not routed", c)
		}
		for i, cell := range cells {
			v, err := eas.ParseVersion(versions[i])
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case !c.Supports(v):
				if cell != "—" {
					t.Errorf("%s at %s: %q, want — (no such command in %s)", c, v, cell, v)
				}
			case cell == "—" || cell == "":
				t.Errorf("%s at %s: %q, but the command exists in %s", c, v, cell, v)
			case cell != "untested":
				for _, name := range strings.Split(cell, ",") {
					if name = strings.TrimSpace(name); !tests[name] {
						t.Errorf("%s at %s names %s, which is no test of package gateway", c, v, name)
					}
				}
			}
		}
	}
	for name := range rows {
		t.Errorf("CONFORMANCE.md has a row for %q, which is no command", name)
	}
}
