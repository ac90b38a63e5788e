package statecache

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/easgate/easgate/internal/testserver"
)

// The conformance suite: every test that gets its store from newStore runs
// on Badger (as itself) and on PostgreSQL (under TestOnPostgres, which
// runs the same function), so both backends answer every Store method
// alike. TestConformanceListed makes sure no such test is left out.

// sharedPG is the package's PostgreSQL cluster, started by the first test
// that needs it; each test gets a database of its own.
var sharedPG testserver.SharedPostgres

// onPostgres reports whether t runs under TestOnPostgres.
func onPostgres(t testing.TB) bool { return strings.HasPrefix(t.Name(), "TestOnPostgres/") }

// newStore returns an empty store on the backend t runs on: Badger in
// memory, or a fresh PostgreSQL database under TestOnPostgres.
func newStore(t testing.TB) *Store {
	t.Helper()
	if onPostgres(t) {
		return newPGStore(t, pgDatabase(t))
	}
	s, err := Open("", &Options{InMemory: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newReopenable returns a function that opens the same store, empty at
// first, each time it is called, on the backend t runs on; the caller
// closes what it opens.
func newReopenable(t testing.TB) func() *Store {
	t.Helper()
	target := t.TempDir()
	if onPostgres(t) {
		target = pgDatabase(t)
	}
	return func() *Store {
		t.Helper()
		s, err := openTarget(target)
		if err != nil {
			t.Fatalf("open %s: %v", target, err)
		}
		return s
	}
}

// pgDatabase returns the URL of a new, empty database: a schema of its
// own in the shared cluster's database.
func pgDatabase(t testing.TB) string {
	t.Helper()
	return sharedPG.Get(t).Schema(t)
}

// newPGStore opens the PostgreSQL store at url, closed at t.Cleanup.
func newPGStore(t testing.TB, url string) *Store {
	t.Helper()
	s, err := OpenPostgres(context.Background(), url, nil)
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// conformance lists the tests that run on both backends.
var conformance = []struct {
	name string
	fn   func(*testing.T)
}{
	{"TestDevices", TestDevices},
	{"TestPolicy", TestPolicy},
	{"TestWipe", TestWipe},
	{"TestAccessRules", TestAccessRules},
	{"TestForceResync", TestForceResync},
	{"TestResetPolicy", TestResetPolicy},
	{"TestListDevices", TestListDevices},
	{"TestUserPrefs", TestUserPrefs},
	{"TestMailboxAccounts", TestMailboxAccounts},
	{"TestNoteQuarantine", TestNoteQuarantine},
	{"TestUserPassword", TestUserPassword},
	{"TestUserPasswordBesidePrefs", TestUserPasswordBesidePrefs},
	{"TestAdvance", TestAdvance},
	{"TestAdvanceConfirmsDeletes", TestAdvanceConfirmsDeletes},
	{"TestServerIDs", TestServerIDs},
	{"TestResetStartsANewMap", TestResetStartsANewMap},
	{"TestHierarchy", TestHierarchy},
	{"TestAdvanceConcurrent", TestAdvanceConcurrent},
	{"TestAdvanceConcurrentRepeated", TestAdvanceConcurrentRepeated},
	{"TestReplayPrevious", TestReplayPrevious},
	{"TestContextCanceled", TestContextCanceled},
	{"TestKnownIDsAndClientAdds", TestKnownIDsAndClientAdds},
	{"TestCurrentState", TestCurrentState},
	{"TestAdvanceAssignsServerIDs", TestAdvanceAssignsServerIDs},
	{"TestAdvanceStaleGenerationHint", TestAdvanceStaleGenerationHint},
	{"TestEchoKept", TestEchoKept},
	{"TestPendingWipes", TestPendingWipes},
	{"TestExportImport", TestExportImport},
	{"TestRememberRequest", TestRememberRequest},
	{"TestSubmit", TestSubmit},
	{"TestJournal", TestJournal},
	{"TestRangeDeletes", TestRangeDeletes},
	{"TestReverseEntriesBeforeRanges", TestReverseEntriesBeforeRanges},
}

// TestOnPostgres runs the conformance suite on PostgreSQL.
func TestOnPostgres(t *testing.T) {
	for _, c := range conformance {
		t.Run(c.name, c.fn)
	}
}

// TestConformanceListed fails when a test that uses newStore is missing
// from conformance, so that a new test runs on both backends.
func TestConformanceListed(t *testing.T) {
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var uses []string
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || !strings.HasPrefix(fd.Name.Name, "Test") || fd.Body == nil {
				continue
			}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				if id, ok := n.(*ast.Ident); ok && (id.Name == "newStore" || id.Name == "newReopenable") {
					uses = append(uses, fd.Name.Name)
					return false
				}
				return true
			})
		}
	}
	if len(uses) < 20 {
		t.Fatalf("found %d tests using newStore; the parser missed them", len(uses))
	}
	for _, name := range uses {
		if !slices.ContainsFunc(conformance, func(c struct {
			name string
			fn   func(*testing.T)
		}) bool {
			return c.name == name
		}) {
			t.Errorf("%s uses newStore but is not in conformance: add it, so that it runs on PostgreSQL too", name)
		}
	}
}
