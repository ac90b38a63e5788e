package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/internal/graphemu"
	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/statecache"
)

// graphPasswords issues device passwords in a new state directory, as
// easgate user password does, and returns the directory.
func graphPasswords(t *testing.T, pw map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	st, err := statecache.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for u, p := range pw {
		if err := st.SetUserPassword(context.Background(), u, p, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestServeGraphTenants runs serve with two [[graph.tenants]], each its
// own emulator (its own token endpoint and users): a login goes to the
// tenant of its domain.
func TestServeGraphTenants(t *testing.T) {
	g1 := testserver.StartGraph(t, graphemu.Options{})
	g2 := testserver.StartGraph(t, graphemu.Options{})
	g2.Emu.AddUser("carol@fabrikam.example", "Carol")
	dir := graphPasswords(t, map[string]string{"alice@example.com": "alice-device-pw", "carol@fabrikam.example": "carol-device-pw"})
	cfg := filepath.Join(t.TempDir(), "tenants.toml")
	var b strings.Builder
	fmt.Fprintf(&b, "[server]\nmail_domain = \"example.com\"\n[state]\ndir = %q\n[store]\nkind = \"graph\"\n[graph]\npoll_interval = \"1s\"\n", dir)
	for _, tn := range []struct {
		g       *testserver.Graph
		domains string
	}{{g1, `["example.com"]`}, {g2, `["fabrikam.example"]`}} {
		fmt.Fprintf(&b, "[[graph.tenants]]\ndomains = %s\ntenant = %q\nclient_id = %q\nclient_secret = %q\ngraph_url = %q\nauthority_url = %q\n",
			tn.domains, tn.g.Tenant, tn.g.ClientID, tn.g.Secret, tn.g.URL, tn.g.URL)
	}
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	url, admin := serveAddrs(t, cfg, nil)
	checkLogin(t, url, "alice", "alice-device-pw")
	checkLogin(t, url, "carol@fabrikam.example", "carol-device-pw")
	if g1.Emu.Requests() == 0 || g2.Emu.Requests() == 0 {
		t.Errorf("requests: %d to the first tenant's Graph, %d to the second's; want both used", g1.Emu.Requests(), g2.Emu.Requests())
	}
	// The Graph metrics are by tenant; the mailboxes are listed apart.
	get := func(path string) string {
		resp, err := http.Get("http://" + admin + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	m := get("/metrics")
	for _, tn := range []*testserver.Graph{g1, g2} {
		if want := `easgate_graph_requests_total{code="200",tenant="` + tn.Tenant + `"}`; !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(m, "alice") || strings.Contains(m, "carol") {
		t.Error("/metrics names a mailbox")
	}
	var top []struct {
		Tenant, Mailbox string
		Requests        int
	}
	if err := json.Unmarshal([]byte(get("/debug/graph/mailboxes?top=5")), &top); err != nil || len(top) < 2 {
		t.Fatalf("/debug/graph/mailboxes = %+v, %v", top, err)
	}
	names := map[string]bool{}
	for _, x := range top {
		names[x.Mailbox] = x.Requests > 0
	}
	if !names["alice@example.com"] || !names["carol@fabrikam.example"] {
		t.Errorf("/debug/graph/mailboxes = %+v, want alice and carol with requests", top)
	}
}

// TestServeGraphClasses runs serve with the memory store for everything
// but mail, which comes from Graph ([classes] email_from = "graph").
func TestServeGraphClasses(t *testing.T) {
	g := testserver.StartGraph(t, graphemu.Options{})
	dir := graphPasswords(t, map[string]string{"alice@example.com": "alice-device-pw"})
	cfg := filepath.Join(t.TempDir(), "classes.toml")
	conf := fmt.Sprintf("[server]\nmail_domain = \"example.com\"\n[state]\ndir = %q\n[store]\nkind = \"memory\"\n"+
		"[memory.users]\nalice = \"alice-device-pw\"\n[classes]\nemail_from = \"graph\"\n"+
		"[graph]\ntenant = %q\nclient_id = %q\nclient_secret = %q\ngraph_url = %q\nauthority_url = %q\n",
		dir, g.Tenant, g.ClientID, g.Secret, g.URL, g.URL)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	url := serveConfig(t, cfg, nil)
	before := g.Emu.Requests()
	fs := checkLogin(t, url, "alice", "alice-device-pw")
	kinds := map[eas.FolderType]int{}
	for _, f := range fs.Changes.Add {
		kinds[f.Type]++
	}
	if kinds[eas.FolderTypeInbox] != 1 || kinds[eas.FolderTypeContacts] != 1 {
		t.Errorf("FolderSync has %v folders by type, want one Inbox (Graph) and one Contacts (memory)", kinds)
	}
	if g.Emu.Requests() == before {
		t.Error("the mail folders did not come from Graph")
	}
}

// TestGraphTenantsConfigErrors: [[graph.tenants]] with the single-tenant
// keys, without domains, with a domain twice or without credentials is
// refused with the keys named.
func TestGraphTenantsConfigErrors(t *testing.T) {
	conf := "[store]\nkind = \"graph\"\n[graph]\nclient_id = \"x\"\n" +
		"[[graph.tenants]]\ndomains = [\"a.example\"]\ntenant = \"a\"\nclient_id = \"ca\"\nclient_secret = \"s\"\n" +
		"[[graph.tenants]]\ndomains = [\"A.example\"]\ntenant = \"b\"\n" +
		"[[graph.tenants]]\ntenant = \"c\"\nclient_id = \"cc\"\ncertificate_file = \"c.pem\"\n"
	path := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := loadConfig(path, nil)
	if err == nil {
		t.Fatal("loadConfig of bad tenants = nil")
	}
	for _, want := range []string{"graph.tenants: set together with graph.tenant", `graph.tenants[1].domains: "a.example" is also graph.tenants[0]'s`,
		"graph.tenants[1].client_id: not set", "graph.tenants[1].client_secret", "graph.tenants[2].domains: empty", "graph.tenants[2].key_file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("loadConfig errors lack %q:\n%v", want, err)
		}
	}
}

// TestUserSignIn: easgate user signin prints Microsoft's instructions,
// waits for the sign-in, and issues the device password of the mailbox
// signed in to.
func TestUserSignIn(t *testing.T) {
	g := testserver.StartGraph(t, graphemu.Options{DeviceCodeInterval: time.Second})
	dir := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "signin.toml")
	conf := fmt.Sprintf("[server]\nmail_domain = \"example.com\"\n[state]\ndir = %q\n[store]\nkind = \"graph\"\n"+
		"[graph]\ntenant = %q\nclient_id = %q\nclient_secret = %q\ngraph_url = %q\nauthority_url = %q\n",
		dir, g.Tenant, g.ClientID, g.Secret, g.URL, g.URL)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"user", "signin", "-config", cfg, "alice"}, nil, &stdout, &stderr)
	}()
	codeRE := regexp.MustCompile(`enter the code (\S+) `)
	var code string
	for deadline := time.Now().Add(10 * time.Second); code == ""; time.Sleep(10 * time.Millisecond) {
		if m := codeRE.FindStringSubmatch(stdout.String()); m != nil {
			code = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no code printed: %q %q", stdout.String(), stderr.String())
		}
	}
	if err := g.Emu.CompleteDeviceCode(code, "alice@example.com", false); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("user signin = %v; %s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("user signin did not end after the sign-in")
	}
	m := regexp.MustCompile(`device password of alice@example.com: (\S+)`).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("no password printed: %q", stdout.String())
	}
	st, err := statecache.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if ok, err := st.CheckUserPassword(context.Background(), "alice@example.com", m[1]); !ok || err != nil {
		t.Errorf("the printed password is not alice's: %v, %v", ok, err)
	}
}
