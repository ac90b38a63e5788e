package testserver

import (
	"net/http/httptest"
	"testing"

	"github.com/easgate/easgate/internal/graphemu"
)

// Graph is a running Graph emulator (internal/graphemu) with one app
// registration and the users alice and bob of Users, whose UPNs are
// name@example.com. Microsoft Graph is the one store that is emulated
// rather than real: there is no Exchange Online to start on loopback.
type Graph struct {
	URL                      string // base URL of both the token endpoint and /v1.0
	Tenant, ClientID, Secret string
	Emu                      *graphemu.Server
	IDs                      map[string]string // user name → object id
}

// GraphDomain completes the test users' names into UPNs.
const GraphDomain = "example.com"

// StartGraph starts the emulator on loopback with options o (Tenant and
// Apps are set here) and stops it at t.Cleanup.
func StartGraph(t testing.TB, o graphemu.Options) *Graph {
	t.Helper()
	g := &Graph{Tenant: "contoso", ClientID: "11111111-2222-3333-4444-555555555555", Secret: "emulator-secret",
		IDs: make(map[string]string)}
	o.Tenant = g.Tenant
	o.Apps = append(o.Apps, graphemu.App{ClientID: g.ClientID, Secret: g.Secret})
	g.Emu = graphemu.New(o)
	for _, name := range []string{"alice", "bob"} {
		g.IDs[name] = g.Emu.AddUser(name+"@"+GraphDomain, name)
	}
	ts := httptest.NewServer(g.Emu)
	g.URL = ts.URL
	g.Emu.SetBaseURL(ts.URL)
	t.Cleanup(func() {
		ts.Close()
		g.Emu.Close()
	})
	return g
}
