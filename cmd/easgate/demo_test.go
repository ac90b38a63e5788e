package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/gateway"
	"github.com/easgate/easgate/sources"
)

// demoRun is a running "easgate demo" as the banner describes it.
type demoRun struct {
	url   string // the EAS endpoint
	admin string // the metrics URL of the admin listener
	// fingerprint is the SHA-256 fingerprint of the certificate, with -tls.
	fingerprint string
	state       string // the device state directory
	done        chan error
}

// demoStart runs "easgate demo" with args until ctx ends, and reads the
// endpoint and state directory from its banner.
func demoStart(t *testing.T, ctx context.Context, args ...string) *demoRun {
	t.Helper()
	pr, pw := io.Pipe()
	d := &demoRun{done: make(chan error, 1)}
	go func() {
		err := run(ctx, append([]string{"demo", "-listen", "127.0.0.1:0", "-admin-listen", "127.0.0.1:0"}, args...), nil, pw, io.Discard)
		pw.Close()
		d.done <- err
	}()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		io.Copy(io.Discard, pr)
	}()
	timeout := time.After(10 * time.Second)
	for d.url == "" || d.state == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("demo ended before its banner was complete: %v", <-d.done)
			}
			f := strings.Fields(line)
			switch {
			case len(f) == 2 && f[0] == "URL":
				d.url = f[1]
			case len(f) >= 2 && f[0] == "metrics":
				d.admin = f[1]
			case len(f) == 2 && f[0] == "sha256":
				d.fingerprint = f[1]
			case len(f) >= 3 && f[0] == "Device" && f[1] == "state:":
				d.state = f[2]
			}
		case <-timeout:
			t.Fatal("no URL and state directory in the demo's banner after 10 s")
		}
	}
	go func() {
		for range lines {
		}
	}()
	return d
}

// wait returns what run returned once ctx was cancelled.
func (d *demoRun) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-d.done:
		return err
	case <-time.After(2 * time.Second):
		t.Fatal("demo still running 2 s after its context ended")
		return nil
	}
}

// demoPhone is a device of the demo user speaking one protocol version.
type demoPhone struct {
	url     string
	device  string
	version eas.ProtocolVersion
	client  *http.Client
}

// call posts req as command cmd and decodes the answer into resp.
func (p *demoPhone) call(t *testing.T, cmd string, req, resp any) {
	t.Helper()
	body, err := eas.Marshal(req)
	if err != nil {
		t.Fatalf("Marshal(%T) = %v", req, err)
	}
	target := fmt.Sprintf("%s?Cmd=%s&User=%s&DeviceId=%s&DeviceType=DemoTestPhone", p.url, cmd, demoUser, p.device)
	r, err := http.NewRequest("POST", target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.SetBasicAuth(demoUser, demoPassword)
	r.Header.Set("MS-ASProtocolVersion", p.version.String())
	r.Header.Set("Content-Type", "application/vnd.ms-sync.wbxml")
	res, err := p.client.Do(r)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s: reading the answer: %v", cmd, err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s: HTTP status %s", cmd, res.Status)
	}
	if err := eas.Unmarshal(got, resp, nil); err != nil {
		t.Fatalf("%s: Unmarshal(%T) = %v", cmd, resp, err)
	}
}

func TestDemo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := demoStart(t, ctx, "-mail-every", "50ms")
	client := &http.Client{Timeout: 10 * time.Second}

	r, err := http.NewRequest("OPTIONS", d.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.SetBasicAuth(demoUser, demoPassword)
	res, err := client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	commands := strings.Split(res.Header.Get("MS-ASProtocolCommands"), ",")
	for _, c := range []string{"FolderSync", "Sync", "Ping", "ItemOperations", "Settings"} {
		if !slices.Contains(commands, c) {
			t.Errorf("OPTIONS MS-ASProtocolCommands = %q, lacks %s", commands, c)
		}
	}

	for _, v := range []eas.ProtocolVersion{eas.V25, eas.V121, eas.V141, eas.V161} {
		t.Run(v.String(), func(t *testing.T) {
			p := &demoPhone{url: d.url, device: "demo" + strings.ReplaceAll(v.String(), ".", ""), version: v, client: client}
			demoPhoneSession(t, p)
		})
	}
	demoGAL(t, &demoPhone{url: d.url, device: "demogal", version: eas.V141, client: client})
	checkAdmin(t, d.url, strings.TrimSuffix(strings.TrimPrefix(d.admin, "http://"), "/metrics"))
	// The devices of the sessions above, through the admin socket, and
	// the user's console.
	if out, err := deviceRun(t, "list", "-state", d.state); err != nil || !strings.Contains(out, "demo141") {
		t.Errorf("device list on the running demo = %v:\n%s", err, out)
	}
	res, err = client.Get(strings.TrimSuffix(d.url, gateway.Path) + gateway.UserConsolePath)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET /devices = %d %s, want the login page", res.StatusCode, res.Header.Get("Content-Type"))
	}

	cancel()
	if err := d.wait(t); err != nil {
		t.Errorf("run = %v after cancel, want nil", err)
	}
	if _, err := os.Stat(d.state); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state directory %s after exit: Stat = %v, want not exist", d.state, err)
	}
}

// demoGAL: the demo's directory holds its own user and the people its
// mails come from (issue 10: a GAL search for the user's name found
// nothing), and not the newsletters.
func demoGAL(t *testing.T, p *demoPhone) {
	for _, c := range []struct{ query, want string }{
		{"Demo", demoUser + "@" + demoDomain},
		{"Weiß", "juergen.weiss@northwind.example"},
		{"Hoffmann", "lena.hoffmann@northwind.example"},
	} {
		var resp eas.SearchResponse
		p.call(t, "Search", &eas.SearchRequest{Store: eas.SearchStore{Name: eas.SearchStoreGAL,
			Query: &eas.SearchQuery{Text: c.query}, Options: &eas.SearchOptions{Range: "0-9"}}}, &resp)
		if resp.Response == nil || resp.Response.Store.Status != eas.SearchStatusSuccess {
			t.Errorf("GAL search %q = %+v", c.query, resp)
			continue
		}
		var found []string
		for _, r := range resp.Response.Store.Result {
			var g eas.GALProperties
			if err := r.Properties.Decode(&g); err != nil {
				t.Fatalf("GAL result: %v", err)
			}
			found = append(found, g.EmailAddress)
		}
		if !slices.Contains(found, c.want) {
			t.Errorf("GAL search %q finds %q, want %s among them", c.query, found, c.want)
		}
	}
}

// demoPhoneSession does what a phone does first: the hierarchy, the Inbox,
// then a Ping that the next delivered mail answers.
func demoPhoneSession(t *testing.T, p *demoPhone) {
	var fs eas.FolderSyncResponse
	p.call(t, "FolderSync", &eas.FolderSyncRequest{SyncKey: "0"}, &fs)
	if fs.Status != eas.FolderSyncStatusSuccess || fs.Changes == nil {
		t.Fatalf("FolderSync 0: Status %d, Changes %v", fs.Status, fs.Changes)
	}
	types := make(map[eas.FolderType]string)
	for _, f := range fs.Changes.Add {
		types[f.Type] = f.ServerID
	}
	for _, want := range []eas.FolderType{
		eas.FolderTypeInbox, eas.FolderTypeSentItems, eas.FolderTypeCalendar,
		eas.FolderTypeContacts, eas.FolderTypeTasks, eas.FolderTypeUserMail,
	} {
		if types[want] == "" {
			t.Errorf("FolderSync 0 has no folder of type %d", want)
		}
	}
	inbox := types[eas.FolderTypeInbox]
	if inbox == "" {
		t.FailNow()
	}

	sync := func(key string, window int) eas.SyncResponseCollection {
		t.Helper()
		var resp eas.SyncResponse
		p.call(t, "Sync", &eas.SyncRequest{Collections: &eas.SyncCollections{Collection: []eas.SyncCollection{
			{Class: "Email", SyncKey: key, CollectionID: inbox, WindowSize: window},
		}}}, &resp)
		if resp.Collections == nil || len(resp.Collections.Collection) != 1 {
			t.Fatalf("Sync %s: Status %d, collections %v", key, resp.Status, resp.Collections)
		}
		c := resp.Collections.Collection[0]
		if c.Status != eas.SyncStatusSuccess {
			t.Fatalf("Sync %s: collection Status %d", key, c.Status)
		}
		return c
	}
	c := sync("0", 5)
	c = sync(c.SyncKey, 5)
	if c.Commands == nil || len(c.Commands.Add) != 5 || !c.MoreAvailable {
		t.Fatalf("Sync of the Inbox: Commands %v, MoreAvailable %v; want 5 Adds and more", c.Commands, c.MoreAvailable)
	}
	var mail eas.Email
	if err := c.Commands.Add[0].ApplicationData.Decode(&mail); err != nil {
		t.Fatalf("Decode(Email) = %v", err)
	}
	if mail.Subject == "" || mail.From == "" {
		t.Errorf("first mail of the Inbox: Subject %q, From %q; want both", mail.Subject, mail.From)
	}

	// Take the rest of the Inbox, so that what Ping reports is mail
	// delivered since.
	for i := 0; c.MoreAvailable; i++ {
		if i == 10 {
			t.Fatal("Sync of the Inbox still has more after 10 windows of 512")
		}
		c = sync(c.SyncKey, 512)
	}

	// Ping's heartbeat cannot be below 60 s; a mail arrives every 50 ms.
	var ping eas.PingResponse
	p.call(t, "Ping", &eas.PingRequest{HeartbeatInterval: 60, Folders: &eas.PingFolders{Folder: []eas.PingFolder{
		{ID: inbox, Class: "Email"},
	}}}, &ping)
	if ping.Status != eas.PingStatusChanges || ping.Folders == nil || !slices.Equal(ping.Folders.Folder, []string{inbox}) {
		t.Errorf("Ping = Status %d, Folders %v; want %d, [%s]", ping.Status, ping.Folders, eas.PingStatusChanges, inbox)
	}
}

func TestDemoKeepsState(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	d := demoStart(t, ctx, "-state", dir, "-mail-every", "0")
	if d.state != dir {
		t.Errorf("banner state directory %q, want %q", d.state, dir)
	}
	cancel()
	if err := d.wait(t); err != nil {
		t.Errorf("run = %v after cancel, want nil", err)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) == 0 {
		t.Errorf("state directory after exit: ReadDir = %d entries, %v; want the database", len(entries), err)
	}
}

func TestDemoUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"bad-policy", []string{"-policy", "strict"}},
		{"negative-mail-every", []string{"-mail-every", "-1s"}},
		{"extra-argument", []string{"extra"}},
		{"bad-flag", []string{"-nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), append([]string{"demo"}, tt.args...), nil, io.Discard, io.Discard)
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != 2 {
				t.Errorf("run(demo %q) = %v, want exit 2", tt.args, err)
			}
		})
	}
}

func TestDemoBackend(t *testing.T) {
	tests := []struct {
		user, password string
		ok             bool
	}{
		{"demo", "demo", true},
		{"Demo", "demo", true},
		{"demo@example.com", "demo", true},
		{"Demo@Example.COM", "demo", true},
		{`EXAMPLE\demo`, "demo", true},
		{`DEMO\demo`, "demo", true},
		{"demo", "Demo", false},
		{"demo", "", false},
		{"demo@example.org", "demo", false},
		{"alice", "demo", false},
		{`demo\alice`, "demo", false},
		{"", "demo", false},
	}
	b := demoBackend{}
	for _, tt := range tests {
		t.Run(tt.user+":"+tt.password, func(t *testing.T) {
			_, err := b.Login(context.Background(), tt.user, tt.password)
			if tt.ok && err != nil {
				t.Errorf("Login(%q, %q) = %v, want success", tt.user, tt.password, err)
			}
			if !tt.ok && !errors.Is(err, sources.ErrAuth) {
				t.Errorf("Login(%q, %q) = %v, want sources.ErrAuth", tt.user, tt.password, err)
			}
		})
	}
}
