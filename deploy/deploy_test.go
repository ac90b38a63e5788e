// Package deploy holds the packaging and monitoring files of easgate
// (systemd unit, container build, Grafana dashboard, Prometheus rules,
// HAProxy, nginx and PostgreSQL settings for several nodes);
// its tests check them against the code.
package deploy

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v3"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/gateway"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/memory"
	"github.com/easgate/easgate/statecache"
)

// oneUser logs in "anna" with "pw" to a memory store.
type oneUser struct{ store *memory.Store }

func (b oneUser) Login(_ context.Context, user, password string) (sources.Source, error) {
	if user != "anna" || password != "pw" {
		return nil, fmt.Errorf("deploy test: %w", sources.ErrAuth)
	}
	return b.store.User(user), nil
}

// exportedNames runs a real gateway, exercises it with OPTIONS, FolderSync,
// Sync and Autodiscover, and returns every metric name its registry
// exports: the gathered families (with a histogram's _bucket, _sum and
// _count series) and the described ones that have not been observed yet.
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	st, err := statecache.Open("", &statecache.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	gw, err := gateway.New(&gateway.Options{Backend: oneUser{memory.New(nil)}, State: st, ExternalURL: "https://mail.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(gw)
	defer ts.Close()
	do := func(method, target string, body any) {
		var b []byte
		if body != nil {
			if b, err = eas.Marshal(body); err != nil {
				t.Fatal(err)
			}
		}
		r, _ := http.NewRequest(method, ts.URL+target, bytes.NewReader(b))
		r.SetBasicAuth("anna", "pw")
		r.Header.Set("MS-ASProtocolVersion", "14.1")
		r.Header.Set("Content-Type", "application/vnd.ms-sync.wbxml")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	q := "?User=anna&DeviceId=deploytest&DeviceType=TestPhone&Cmd="
	do("OPTIONS", gateway.Path, nil)
	do("POST", gateway.Path+q+"FolderSync", &eas.FolderSyncRequest{SyncKey: "0"})
	do("POST", gateway.Path+q+"Sync", &eas.SyncRequest{Collections: &eas.SyncCollections{Collection: []eas.SyncCollection{{SyncKey: "0", CollectionID: "1"}}}})
	do("GET", "/autodiscover/autodiscover.json/v1.0/anna@example.org?Protocol=ActiveSync", nil)

	names := make(map[string]bool)
	mfs, err := gw.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		names[mf.GetName()] = true
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[mf.GetName()+s] = true
			}
		}
	}
	for _, want := range []string{"easgate_requests_total", "easgate_store_calls_total", "easgate_build_info"} {
		if !names[want] {
			t.Fatalf("the exercised gateway exports no %s", want)
		}
	}
	// Vectors with no sample yet (a wipe, a Ping) are only described.
	descs := make(chan *prometheus.Desc)
	go func() { gw.Registry().Describe(descs); close(descs) }()
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range descs {
		if m := fq.FindStringSubmatch(d.String()); m != nil && !names[m[1]] {
			names[m[1]] = true
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[m[1]+s] = true // a histogram's, if it is one; harmless otherwise
			}
		}
	}
	return names
}

// promqlWords are the functions, aggregations and keywords of PromQL that
// the files use or may use; any other identifier is a metric name.
var promqlWords = map[string]bool{
	"sum": true, "avg": true, "min": true, "max": true, "count": true, "topk": true, "bottomk": true,
	"rate": true, "irate": true, "increase": true, "delta": true, "deriv": true, "histogram_quantile": true,
	"absent": true, "absent_over_time": true, "clamp_min": true, "clamp_max": true, "abs": true,
	"avg_over_time": true, "max_over_time": true, "min_over_time": true, "time": true, "vector": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"and": true, "or": true, "unless": true, "offset": true, "bool": true,
}

var (
	promStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promVars     = regexp.MustCompile(`\$\{?\w+\}?`)
	promRanges   = regexp.MustCompile(`\[[^\]]*\]`)
	promMatchers = regexp.MustCompile(`\{[^{}]*\}`)
	promGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent    = regexp.MustCompile(`\b[a-zA-Z_:][a-zA-Z0-9_:]*`)
)

// metricNames returns the metric names a PromQL expression refers to.
func metricNames(expr string) []string {
	for _, re := range []*regexp.Regexp{promStrings, promVars, promRanges, promMatchers, promGrouping} {
		expr = re.ReplaceAllString(expr, " ")
	}
	var out []string
	for _, id := range promIdent.FindAllString(expr, -1) {
		if !promqlWords[id] {
			out = append(out, id)
		}
	}
	return out
}

func TestMetricNames(t *testing.T) {
	got := metricNames(`histogram_quantile(0.95, sum by (le, adapter) (rate(easgate_x_bucket{a=~"5..", b="x y"}[$__rate_interval]))) > 5 and up offset 1h`)
	if want := []string{"easgate_x_bucket", "up"}; !slices.Equal(got, want) {
		t.Errorf("metricNames = %q, want %q", got, want)
	}
}

// TestDashboard checks that the Grafana dashboard is valid JSON and that
// every panel's expression names only metrics easgate exports.
func TestDashboard(t *testing.T) {
	names := exportedNames(t)
	b, err := os.ReadFile("grafana/easgate.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("grafana/easgate.json: %v", err)
	}
	if dash.UID == "" || len(dash.Panels) == 0 {
		t.Fatalf("grafana/easgate.json: uid %q, %d panels", dash.UID, len(dash.Panels))
	}
	n := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			n++
			checkExpr(t, names, "panel "+p.Title, tg.Expr)
		}
	}
	if n == 0 {
		t.Error("the dashboard has no expressions")
	}
}

// TestAlertRules checks that the rules file is valid YAML in Prometheus's
// rule format and that every expression names only metrics easgate
// exports.
func TestAlertRules(t *testing.T) {
	names := exportedNames(t)
	b, err := os.ReadFile("prometheus/easgate-alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("prometheus/easgate-alerts.yml: %v", err)
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %q: want alert, expr, a severity label and a summary", r.Alert)
			}
			checkExpr(t, names, "alert "+r.Alert, r.Expr)
		}
	}
	if n == 0 {
		t.Error("no rules")
	}
}

func checkExpr(t *testing.T, names map[string]bool, where, expr string) {
	t.Helper()
	ms := metricNames(expr)
	if len(ms) == 0 {
		t.Errorf("%s: no metric in %q", where, expr)
	}
	for _, m := range ms {
		if !names[m] {
			t.Errorf("%s: %s is not a metric easgate exports (in %q)", where, m, expr)
		}
	}
}

// containerBuild returns the environment and flags of the Containerfile's
// go build line.
func containerBuild(t *testing.T) (env, flags []string) {
	t.Helper()
	b, err := os.ReadFile("container/Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "RUN "))
		before, after, ok := strings.Cut(line, "go build ")
		if !ok {
			continue
		}
		env = strings.Fields(before)
		words := shellWords(after)
		for i := 0; i < len(words); i++ {
			switch {
			case words[i] == "-o":
				i++ // the output path is the test's own
			case strings.HasPrefix(words[i], "-"):
				flags = append(flags, words[i])
			}
		}
		return env, flags
	}
	t.Fatal("no go build line in container/Containerfile")
	return nil, nil
}

// shellWords splits s at spaces outside double quotes, dropping the quotes.
func shellWords(s string) []string {
	var out []string
	var cur strings.Builder
	quoted, any := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, any = !quoted, true
		case r == ' ' && !quoted:
			if any {
				out = append(out, cur.String())
			}
			cur.Reset()
			any = false
		default:
			cur.WriteRune(r)
			any = true
		}
	}
	if any {
		out = append(out, cur.String())
	}
	return out
}

// TestStaticBuild builds easgate as the Containerfile does and checks that
// the binary is static (the image is FROM scratch) and reports its build.
// CGO_ENABLED=0 rebuilds every package that imports net, a few CPU minutes
// on the CI machine, so it runs in CI (CI=true) or when
// EASGATE_TEST_STATIC_BUILD=1, and says so when skipped.
func TestStaticBuild(t *testing.T) {
	if os.Getenv("CI") != "true" && os.Getenv("EASGATE_TEST_STATIC_BUILD") != "1" {
		t.Skip("static build not checked: set EASGATE_TEST_STATIC_BUILD=1 (CI=true does)")
	}
	env, flags := containerBuild(t)
	if !slices.Contains(env, "CGO_ENABLED=0") {
		t.Fatalf("the Containerfile builds with %q, want CGO_ENABLED=0", env)
	}
	bin := filepath.Join(t.TempDir(), "easgate")
	cmd := exec.CommandContext(t.Context(), "go", append(append([]string{"build"}, flags...), "-o", bin, "./cmd/easgate")...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %q: %v\n%s", flags, err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s has a %v program header: not static", bin, p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s needs %q", bin, libs)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "easgate ") || !strings.Contains(string(out), "\ngo go1.") {
		t.Errorf("easgate version = %q, %v", out, err)
	}
}

// TestSystemdUnit runs systemd-analyze verify on the unit, with the test's
// own binary standing in for easgate (verify wants an executable there).
func TestSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile("systemd/easgate.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"DynamicUser=yes", "StateDirectory=easgate", "ProtectSystem=strict", "NoNewPrivileges=yes"} {
		if !bytes.Contains(unit, []byte("\n"+want+"\n")) {
			t.Errorf("systemd/easgate.service lacks %s", want)
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze (Debian package systemd, installed by scripts/test.sh) is required in CI")
		}
		t.Skip("systemd-analyze not installed: the unit is not verified")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "easgate.service")
	if err := os.WriteFile(path, bytes.ReplaceAll(unit, []byte("/usr/local/bin/easgate"), []byte(self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), analyze, "verify", path).CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("easgate.service")) {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
