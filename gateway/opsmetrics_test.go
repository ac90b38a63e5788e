package gateway

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/easgate/easgate/eas"
)

// TestMeasuredForwardsEveryAbility guards the store metrics wrapper: every
// interface package sources declares, and every ability a handler asserts
// on a Source, must be one measured forwards, or wrapping would hide it.
func TestMeasuredForwardsEveryAbility(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "storemetrics.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	forwarded := map[string]bool{"oofer": true, "sources.Responder": true, "sources.Replier": true, // measuredOof, measuredResponder, measuredReplier
		"sources.Notifier": true} // measured.Notify, sources.ErrUnsupported without one
	ast.Inspect(f, func(n ast.Node) bool {
		if ts, ok := n.(*ast.TypeSpec); ok && ts.Name.Name == "fullSource" {
			for _, m := range ts.Type.(*ast.InterfaceType).Methods.List {
				if sel, ok := m.Type.(*ast.SelectorExpr); ok {
					forwarded["sources."+sel.Sel.Name] = true
				}
			}
		}
		return true
	})
	files, _ := filepath.Glob("../sources/*.go")
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		sf, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range sf.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, s := range gd.Specs {
				ts := s.(*ast.TypeSpec)
				if _, ok := ts.Type.(*ast.InterfaceType); ok && ts.Name.IsExported() && !forwarded["sources."+ts.Name.Name] {
					t.Errorf("sources.%s (%s) is not forwarded by storemetrics.go's measured: add it to fullSource", ts.Name.Name, filepath.Base(name))
				}
			}
		}
	}
	assertion := regexp.MustCompile(`\.\((sources\.[A-Z]\w*|oofer)\)`)
	files, _ = filepath.Glob("*.go")
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range assertion.FindAllStringSubmatch(string(b), -1) {
			if !forwarded[m[1]] {
				t.Errorf("%s asserts %s on a Source, which measured does not forward", name, m[1])
			}
		}
	}
}

// metricValue sums the samples of the metric name whose labels include
// want: a counter's or gauge's value, a histogram's count.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for k, v := range want {
				if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == k && l.GetValue() == v }) {
					continue metric
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return sum
}

// TestOpsMetrics holds a short conversation and checks that each operator
// metric moved: store calls, state transactions, items both ways (a
// delete is a move to Deleted Items), the waiting Ping and its wake.
func TestOpsMetrics(t *testing.T) {
	e := convServer(t, Options{})
	reg := e.srv.Registry()
	d := e.device("opsdev1", "TestPhone", eas.V141)
	ctx := t.Context()

	fs := d.folderSync("0")
	var inbox string
	for _, f := range fs.Changes.Add {
		if f.Type == eas.FolderTypeInbox {
			inbox = f.ServerID
		}
	}
	if _, err := e.src.AddMessage(ctx, "inbox", ioMessage("first", nil)); err != nil {
		t.Fatal(err)
	}
	first := d.sync(eas.SyncCollection{SyncKey: "0", CollectionID: inbox})[inbox]
	got := d.sync(eas.SyncCollection{SyncKey: first.SyncKey, CollectionID: inbox})[inbox]
	if got.Commands == nil || len(got.Commands.Add) == 0 {
		t.Fatalf("Sync = %+v, want Adds", got)
	}
	d.sync(eas.SyncCollection{SyncKey: got.SyncKey, CollectionID: inbox,
		Commands: &eas.SyncCommands{Delete: []eas.SyncDelete{{ServerID: got.Commands.Add[0].ServerID}}}})

	for _, c := range []struct {
		name   string
		labels map[string]string
	}{
		{"easgate_store_calls_total", map[string]string{"adapter": "memory", "operation": "Login", "outcome": "ok"}},
		{"easgate_store_calls_total", map[string]string{"adapter": "memory", "operation": "Folders", "outcome": "ok"}},
		{"easgate_store_calls_total", map[string]string{"adapter": "memory", "operation": "Move", "outcome": "ok"}},
		{"easgate_store_call_duration_seconds", map[string]string{"adapter": "memory", "operation": "Get"}},
		{"easgate_statecache_operation_duration_seconds", map[string]string{"operation": "write"}},
		{"easgate_statecache_operation_duration_seconds", map[string]string{"operation": "read"}},
		{"easgate_items_total", map[string]string{"class": "Email", "direction": "to_device"}},
		{"easgate_items_total", map[string]string{"class": "Email", "direction": "from_device"}},
		{"easgate_build_info", nil},
	} {
		if v := metricValue(t, reg, c.name, c.labels); v < 1 {
			t.Errorf("%s%v = %v, want at least 1", c.name, c.labels, v)
		}
	}

	// A Ping waits, shows in the gauge, and is woken by a new message.
	body := mustMarshal(t, &eas.PingRequest{HeartbeatInterval: 60,
		Folders: &eas.PingFolders{Folder: []eas.PingFolder{{ID: inbox, Class: "Email"}}}})
	done := make(chan int, 1)
	go func() {
		code, _, _ := d.send("Ping", body)
		done <- code
	}()
	ping := map[string]string{"command": "Ping"}
	for deadline := time.Now().Add(10 * time.Second); metricValue(t, reg, "easgate_waiting_requests", ping) != 1; {
		if time.Now().After(deadline) {
			t.Fatal("easgate_waiting_requests{command=Ping} did not reach 1 in 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := e.src.AddMessage(ctx, "inbox", ioMessage("second", nil)); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != http.StatusOK {
			t.Fatalf("Ping = HTTP %d", code)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Ping not answered 15 s after a change")
	}
	if v := metricValue(t, reg, "easgate_push_wake_seconds", nil); v != 1 {
		t.Errorf("easgate_push_wake_seconds count = %v, want 1", v)
	}
	for deadline := time.Now().Add(5 * time.Second); metricValue(t, reg, "easgate_waiting_requests", ping) != 0; {
		if time.Now().After(deadline) {
			t.Fatal("easgate_waiting_requests{command=Ping} did not return to 0")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestOpsMetricsWipes requests a wipe and has the device carry it out:
// pending at the first scrape, then sent with the directive and done with
// the acknowledgement.
func TestOpsMetricsWipes(t *testing.T) {
	e := convServer(t, Options{})
	reg := e.srv.Registry()
	d := e.device("opsdev2", "TestPhone", eas.V141)
	ctx := t.Context()
	d.folderSync("0")
	if err := e.state.RequestWipe(ctx, d.account(), 1, "admin", time.Now()); err != nil {
		t.Fatal(err)
	}
	if v := metricValue(t, reg, "easgate_wipes_pending", nil); v != 1 {
		t.Errorf("easgate_wipes_pending = %v, want 1", v)
	}
	var resp eas.ProvisionResponse
	d.do("Provision", &eas.ProvisionRequest{}, &resp)
	if !resp.RemoteWipe {
		t.Fatalf("Provision = %+v, want RemoteWipe", resp)
	}
	d.do("Provision", &eas.ProvisionRequest{RemoteWipe: &eas.RemoteWipeAck{Status: eas.RemoteWipeSucceeded}}, &resp)
	for _, event := range []string{"sent", "done"} {
		if v := metricValue(t, reg, "easgate_wipes_total", map[string]string{"event": event}); v != 1 {
			t.Errorf("easgate_wipes_total{event=%s} = %v, want 1", event, v)
		}
	}
}
