package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/gateway"
	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
)

// TestConfigFiles loads and validates every file in configs/, and checks
// that each key line carries a comment.
func TestConfigFiles(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("configs/ holds %d files, want at least memory, jmap-cyrus and imap-dav", len(files))
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			c, err := loadConfig(path, nil)
			if err != nil {
				t.Fatalf("loadConfig(%s) = %v", path, err)
			}
			if _, err := backendFor(c, nil, nil); err != nil {
				t.Errorf("backendFor(%s) = %v", path, err)
			}
			if _, err := gateway.New(c.gatewayOptions(nil)); err != nil {
				t.Errorf("gateway.New(%s) = %v", path, err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			for n := 1; sc.Scan(); n++ {
				line := strings.TrimSpace(sc.Text())
				if strings.Contains(line, "=") && !strings.HasPrefix(line, "#") && !strings.Contains(line, "#") {
					t.Errorf("%s:%d: key without a comment: %s", path, n, line)
				}
			}
		})
	}
}

// writeConfig writes text to a file in a new directory and returns its path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "easgate.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const baseConfig = `
[state]
dir = "/nonexistent/state"
[store]
kind = "memory"
[memory]
users = { alice = "pw" }
`

func TestConfigEnv(t *testing.T) {
	path := writeConfig(t, baseConfig+`
[server]
versions = ["14.1"]
[jmap]
poll_interval = "10s"
`)
	c, err := loadConfig(path, []string{
		"HOME=/root",
		"EASGATE_TEST_MAIN=1",          // not a section: someone else's
		"EASGATE_STATECACHE_DIR=/x",    // neither
		"EASGATE_STATE_DIR=/var/lib/x", // a string
		"EASGATE_JMAP_SESSION_URL=http://127.0.0.1:1/jmap/",
		"EASGATE_JMAP_POLL_INTERVAL=2m",          // a duration, unquoted
		"EASGATE_LIMITS_MAX_WINDOW_SIZE=100",     // an integer
		"EASGATE_POLICY_MODE=force",              //
		"EASGATE_POLICY_REQUIRE_ENCRYPTION=true", // a *bool
		"EASGATE_POLICY_MAX_INACTIVITY_LOCK=5m",  // a *time.Duration
		`EASGATE_SERVER_VERSIONS=["12.1", "16.1"]`,
		`EASGATE_MEMORY_USERS={bob = "a \"quoted\" pw"}`, // replaces the table
		`EASGATE_SERVER_MAIL_DOMAIN=ex"ample.org`,        // quoted for us
		"EASGATE_GAL_FOLDER=Company Directory",           // a string with a space
		"EASGATE_ADMIN_LISTEN=",                          // empty: no admin listener
		`EASGATE_SERVER_TRUSTED_PROXIES=["192.0.2.7"]`,   // a bare address
	})
	if err != nil {
		t.Fatalf("loadConfig = %v", err)
	}
	yes, lock := true, 5*time.Minute
	want := defaultConfig()
	want.State.Dir = "/var/lib/x"
	want.Store.Kind = "memory"
	want.JMAP.SessionURL = "http://127.0.0.1:1/jmap/"
	want.JMAP.PollInterval = 2 * time.Minute
	want.Limits.MaxWindowSize = 100
	want.Policy.Mode = "force"
	want.Policy.RequireEncryption = &yes
	want.Policy.MaxInactivityLock = &lock
	want.Server.Versions = []string{"12.1", "16.1"}
	want.Server.MailDomain = `ex"ample.org`
	want.Memory.Users = map[string]string{"bob": `a "quoted" pw`}
	want.GAL.Folder = "Company Directory"
	want.Admin.Listen = ""
	want.Server.TrustedProxies = []string{"192.0.2.7"}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("loadConfig =\n%+v\nwant\n%+v", c, want)
	}
	o := c.gatewayOptions(nil)
	if o.Policy.Doc == nil || o.Policy.Doc.MaxInactivityTimeDeviceLock == nil ||
		*o.Policy.Doc.MaxInactivityTimeDeviceLock != (eas.IntOrEmpty{Value: 300}) ||
		o.Policy.Doc.RequireDeviceEncryption == nil || !*o.Policy.Doc.RequireDeviceEncryption {
		t.Errorf("policy doc = %+v, want RequireDeviceEncryption and a lock after 300 s", o.Policy.Doc)
	}
	if o.Login.TrustedProxies == nil || o.Login.TrustedProxies[0] != netip.MustParsePrefix("192.0.2.7/32") {
		t.Errorf("trusted proxies = %v, want the bare address as a /32", o.Login.TrustedProxies)
	}
	if o.Directory.Folder != "Company Directory" {
		t.Errorf("directory folder = %q, want the [gal] folder", o.Directory.Folder)
	}
	if !reflect.DeepEqual(o.Versions, []eas.ProtocolVersion{eas.V121, eas.V161}) {
		t.Errorf("versions = %v, want 12.1 and 16.1", o.Versions)
	}
}

// TestConfigNoFile: without a file the environment alone may configure
// serve, and without a store serve refuses.
func TestConfigNoFile(t *testing.T) {
	c, err := loadConfig("", []string{"EASGATE_STORE_KIND=memory", "EASGATE_STATE_DIR=/s", "EASGATE_MEMORY_USERS={a = \"b\"}"})
	if err != nil || c.Server.Listen != "127.0.0.1:8080" {
		t.Fatalf("loadConfig(no file, env) = %+v, %v; want the defaults and a memory store", c, err)
	}
	_, err = loadConfig("", nil)
	want := "config: store.kind: not set: serve needs a store (memory, jmap, imapdav or graph); see configs/ for examples, or run easgate demo to try a made-up mailbox\n" +
		"config: state.dir: not set (or state.url for a shared PostgreSQL)"
	if err == nil || err.Error() != want {
		t.Errorf("loadConfig(no file) = %v, want\n%s", err, want)
	}
}

func TestConfigErrors(t *testing.T) {
	path := writeConfig(t, baseConfig)
	notDir := writeConfig(t, "")
	tests := []struct {
		name string
		file string // "" uses baseConfig
		env  []string
		want string
	}{
		{"unknown-key", baseConfig + "[server]\nlissen = \"x\"\n[jmap]\nauht = \"bearer\"\n", nil,
			"config: FILE: unknown key server.lissen, jmap.auht"},
		{"unknown-section", baseConfig + "[exchange]\nhost = \"x\"\n", nil,
			"config: FILE: unknown key exchange, exchange.host"},
		{"bad-duration-in-file", baseConfig + "[limits]\nkeep_alive = \"20 seconds\"\n", nil,
			"config: FILE: toml: line 9 (last key \"limits.keep_alive\"): invalid duration: \"20 seconds\""},
		{"env-unknown-key", "", []string{"EASGATE_JMAP_SESION_URL=x"},
			`config: EASGATE_JMAP_SESION_URL: [jmap] has no key "sesion_url"`},
		{"env-section-only", "", []string{"EASGATE_JMAP=x"},
			`config: EASGATE_JMAP: [jmap] has no key ""`},
		{"env-bad-int", "", []string{"EASGATE_LIMITS_MAX_WINDOW_SIZE=lots"},
			`config: EASGATE_LIMITS_MAX_WINDOW_SIZE: expected value but found "lots" instead`},
		{"env-bad-duration", "", []string{"EASGATE_LIMITS_KEEP_ALIVE=soon"},
			`config: EASGATE_LIMITS_KEEP_ALIVE: invalid duration: "soon"`},
		{"env-two-values", "", []string{"EASGATE_LIMITS_MAX_WINDOW_SIZE=1\nmax_ping_folders = 2"},
			"config: EASGATE_LIMITS_MAX_WINDOW_SIZE: \"1\\nmax_ping_folders = 2\" is not one TOML value"},
		{"session-url", "", []string{"EASGATE_JMAP_SESSION_URL=cyrus:8080/jmap"},
			`config: jmap.session_url: "cyrus:8080/jmap" is not a URL (want http:// or https://)`},
		{"jmap-needs-url", "", []string{"EASGATE_STORE_KIND=jmap"},
			`config: jmap.session_url: not set`},
		{"imapdav-needs-addr", "", []string{"EASGATE_STORE_KIND=imapdav"},
			`config: imap.addr: not set`},
		{"store-kind", "", []string{"EASGATE_STORE_KIND=maildir"},
			`config: store.kind: "maildir" is not one of memory, jmap, imapdav, graph`},
		{"bearer-token-file", "", []string{"EASGATE_JMAP_AUTH=bearer"},
			`config: jmap.token_file: not set, and jmap.auth is bearer`},
		{"state-dir-file", "", []string{"EASGATE_STATE_DIR=" + notDir},
			"config: state.dir: " + notDir + " is not a directory"},
		{"memory-users", "", []string{"EASGATE_MEMORY_USERS={}"},
			`config: memory.users: no users, and store.kind is memory`},
		{"policy-mode", "", []string{"EASGATE_POLICY_MODE=strict"},
			`config: policy.mode: "strict" is not one of none, allow, force`},
		{"policy-settings-with-mode-none", "", []string{"EASGATE_POLICY_MODE=none", "EASGATE_POLICY_ALLOW_CAMERA=false"},
			`config: policy.mode: "none" sends no policy, but policy settings are given`},
		{"policy-ranges", "", []string{"EASGATE_POLICY_MODE=force", "EASGATE_POLICY_MIN_PASSWORD_LENGTH=20",
			"EASGATE_POLICY_MAX_FAILED_ATTEMPTS=3", "EASGATE_POLICY_MAX_INACTIVITY_LOCK=1.5s"},
			"config: policy.min_password_length: 20 is not between 1 and 16\n" +
				"config: policy.max_failed_attempts: 3 is not between 4 and 16\n" +
				"config: policy.max_inactivity_lock: 1.5s is not whole seconds between 1s and 9999s"},
		{"server", "", []string{"EASGATE_SERVER_LISTEN=8080", `EASGATE_SERVER_VERSIONS=["15.0"]`,
			"EASGATE_SERVER_LOG_LEVEL=verbose", "EASGATE_SERVER_LOG_FORMAT=xml", "EASGATE_SERVER_MAX_BODY_SIZE=-1"},
			"config: server.listen: \"8080\" is not host:port\n" +
				"config: server.versions: eas: unsupported protocol version \"15.0\"\n" +
				"config: server.max_body_size: -1 is negative\n" +
				"config: server.log_level: \"verbose\" is not one of debug, info, warn, error\n" +
				"config: server.log_format: \"xml\" is not one of text, json"},
		{"tls-half", "", []string{"EASGATE_SERVER_TLS_CERT=/x/cert.pem"},
			"config: server.tls_cert: tls_cert and tls_key go together; only one is set"},
		{"tls-missing", "", []string{"EASGATE_SERVER_TLS_CERT=/nonexistent/cert.pem", "EASGATE_SERVER_TLS_KEY=/nonexistent/key.pem"},
			"config: server.tls_cert: open /nonexistent/cert.pem: no such file or directory"},
		{"front-door", "", []string{"EASGATE_SERVER_HEADER_TIMEOUT=0s", "EASGATE_SERVER_IDLE_TIMEOUT=-1s",
			`EASGATE_SERVER_TRUSTED_PROXIES=["10.0.0.0/8", "proxy.example.com"]`, "EASGATE_SERVER_BODY_TIMEOUT=-1s",
			"EASGATE_LOGIN_PER_ADDRESS=-1", "EASGATE_SERVER_MAX_CONNS=10", "EASGATE_SERVER_MAX_CONNS_PER_ADDRESS=20"},
			"config: server.header_timeout: 0s is not positive\n" +
				"config: server.idle_timeout: -1s is not positive\n" +
				"config: server.trusted_proxies: \"proxy.example.com\" is not a CIDR prefix or an address\n" +
				"config: server.body_timeout: -1s is negative\n" +
				"config: login.per_address: -1 is negative\n" +
				"config: server.max_conns_per_address: 20 is more than server.max_conns 10"},
		{"decode-budget", "", []string{"EASGATE_SERVER_DECODE_BUDGET=1048576", "EASGATE_DECODER_MAX_ALLOC_PER_BYTE=-1"},
			"config: server.decode_budget: 1048576 is less than max_body_size (33554432): such a body could never be decoded\n" +
				"config: decoder.max_alloc_per_byte: -1 is negative"},
		{"classes", "", []string{"EASGATE_CLASSES_TASKS_FROM=imapdav", "EASGATE_CLASSES_CONTACTS_FROM=caldav", "EASGATE_CLASSES_CALENDAR_FROM=jmap"},
			"config: classes.contacts_from: \"caldav\" is not one of memory, jmap, imapdav, graph\n" +
				"config: classes.calendar_from: jmap needs jmap.session_url\n" +
				"config: classes.tasks_from: imapdav needs imap.addr (the IMAP+DAV adapter logs in over IMAP)\n" +
				"config: classes.tasks_from: imapdav serves tasks from DAV, and [dav] has no URL for it"},
		{"classes-all-off", "", []string{"EASGATE_CLASSES_EMAIL=false", "EASGATE_CLASSES_CONTACTS=false", "EASGATE_CLASSES_CALENDAR=false",
			"EASGATE_CLASSES_TASKS=false", "EASGATE_CLASSES_NOTES=false"},
			"config: classes: every content type is switched off: nothing to serve"},
		{"admin-listen", "", []string{"EASGATE_ADMIN_LISTEN=8081"},
			`config: admin.listen: "8081" is not host:port`},
		{"admin-on-eas-port", "", []string{"EASGATE_ADMIN_LISTEN=0.0.0.0:443", "EASGATE_SERVER_LISTEN=0.0.0.0:443"},
			`config: admin.listen: "0.0.0.0:443" is server.listen too: metrics and profiles must not be on the EAS port`},
		{"limits", "", []string{"EASGATE_LIMITS_MIN_HEARTBEAT=10m", "EASGATE_LIMITS_MAX_HEARTBEAT=5m",
			"EASGATE_LIMITS_MAX_WINDOW_SIZE=1000", "EASGATE_DECODER_MAX_DEPTH=-1"},
			"config: limits.min_heartbeat: 10m0s is more than limits.max_heartbeat 5m0s\n" +
				"config: decoder.max_depth: -1 is negative\n" +
				"config: limits.max_window_size: 1000 is more than 512, the most MS-ASCMD allows"},
		{"jmap-idle", "", []string{"EASGATE_JMAP_IDLE_IMAP=cyrus", "EASGATE_JMAP_IDLE_TLS=ssl"},
			"config: jmap.idle_imap: \"cyrus\" is not host:port\n" +
				"config: jmap.idle_tls: \"ssl\" is not one of tls, starttls, none"},
		{"jmap-prefetch", "", []string{"EASGATE_JMAP_PREFETCH_WINDOWS=-1", "EASGATE_JMAP_PREFETCH_BYTES=1000", "EASGATE_JMAP_PREFETCH_TTL=0s"},
			"config: jmap.prefetch_windows: -1 is not between 0 and 64\n" +
				"config: jmap.prefetch_bytes: 1000 is not between 65536 and 268435456\n" +
				"config: jmap.prefetch_ttl: 0s is not between 1s and 10m"},
		{"imap", "", []string{"EASGATE_IMAP_TLS=ssl", "EASGATE_IMAP_SUBMISSION=smtp.example.com",
			"EASGATE_IMAP_DELETE=destroy", "EASGATE_IMAP_CONNS_PER_USER=0"},
			"config: imap.tls: \"ssl\" is not one of tls, starttls, none\n" +
				"config: imap.submission: \"smtp.example.com\" is not host:port\n" +
				"config: imap.delete: \"destroy\" is not one of trash, expunge\n" +
				"config: imap.conns_per_user: 0 is less than 1"},
		{"imap-events", "", []string{"EASGATE_IMAP_EVENTS_TOKEN=short", "EASGATE_IMAP_EVENTS_CHECK=0s", "EASGATE_IMAP_CONN_IDLE=-1s",
			"EASGATE_IMAP_EVENTS_CHECK_RATE=0", "EASGATE_IMAP_EVENTS_CHECK_CONNS=0", "EASGATE_IMAP_PAGE_TRUST=-1s"},
			"config: imap.conn_idle: -1s is not positive\n" +
				"config: imap.page_trust: -1s is negative\n" +
				"config: imap.events_check: 0s is not positive\n" +
				"config: imap.events_check_rate: 0 is not positive\n" +
				"config: imap.events_check_conns: 0 is less than 1\n" +
				"config: imap.events_token: too short (5 characters): use at least 16 random ones, e.g. from openssl rand -hex 16"},
		{"imap-events-no-admin", "", []string{"EASGATE_IMAP_EVENTS_TOKEN=0123456789abcdef", "EASGATE_ADMIN_LISTEN="},
			"config: imap.events_token: set, but admin.listen is empty: the events endpoint is on the admin listener"},
		{"imap-events-no-imapdav", "", []string{"EASGATE_IMAP_EVENTS_TOKEN=0123456789abcdef"},
			"config: imap.events_token: set, but no content comes from store kind imapdav"},
		{"smime", "", []string{"EASGATE_SMIME_ROOTS=" + notDir, "EASGATE_SMIME_REVOCATION=ocsp", "EASGATE_SMIME_REVOCATION_TIMEOUT=0s"},
			"config: smime.roots: no PEM CERTIFICATE in " + notDir + "\n" +
				"config: smime.revocation: \"ocsp\" is not one of off, crl\n" +
				"config: smime.revocation_timeout: 0s is not positive"},
		{"dav", "", []string{"EASGATE_DAV_CALDAV_URL=/dav/", "EASGATE_DAV_POLL_INTERVAL=0s", "EASGATE_DAV_POLLS_PER_MINUTE=0"},
			"config: dav.caldav_url: \"/dav/\" is not a URL (want http:// or https://)\n" +
				"config: dav.poll_interval: 0s is not positive\n" +
				"config: dav.poll_interval_active: 5s is not between 0 and dav.poll_interval\n" +
				"config: dav.polls_per_minute: 0 is less than 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := path
			if tt.file != "" {
				p = writeConfig(t, tt.file)
			}
			_, err := loadConfig(p, tt.env)
			want := strings.ReplaceAll(tt.want, "FILE", p)
			if err == nil || err.Error() != want {
				t.Errorf("loadConfig(%q) = %v\nwant %s", tt.env, err, want)
			}
		})
	}
}

func TestMemoryBackend(t *testing.T) {
	b := newMemoryBackend(map[string]string{"Alice": "pw"}, "example.com")
	ctx := context.Background()
	for _, user := range []string{"alice", "ALICE", "alice@Example.com", `CORP\alice`} {
		if _, err := b.Login(ctx, user, "pw"); err != nil {
			t.Errorf("Login(%q, right password) = %v", user, err)
		}
	}
	for _, tt := range []struct{ user, pw string }{{"alice", "PW"}, {"alice@other.org", "pw"}, {"bob", "pw"}, {"alice", ""}} {
		if _, err := b.Login(ctx, tt.user, tt.pw); !errors.Is(err, sources.ErrAuth) {
			t.Errorf("Login(%q, %q) = %v, want ErrAuth", tt.user, tt.pw, err)
		}
	}
}

func TestServeWithoutStore(t *testing.T) {
	t.Setenv("EASGATE_STORE_KIND", "")
	err := run(context.Background(), []string{"serve"}, nil, nil, nil)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "easgate demo") {
		t.Errorf("serve without a store = %v, want exit 2 pointing at easgate demo", err)
	}
}

// serveConfig runs "easgate serve -config file" on a free port, with env
// set, until the test ends, and returns the URL of its EAS endpoint.
func serveConfig(t *testing.T, file string, env map[string]string) string {
	t.Helper()
	url, _ := serveAddrs(t, file, env)
	return url
}

// serveAddrs is serveConfig that also returns the admin listener's
// host:port. Unless env says otherwise, the admin listener takes a free
// port, so that tests running at once do not fight over 8081.
func serveAddrs(t *testing.T, file string, env map[string]string) (url, admin string) {
	t.Helper()
	if _, ok := env["EASGATE_ADMIN_LISTEN"]; !ok {
		t.Setenv("EASGATE_ADMIN_LISTEN", "127.0.0.1:0")
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "-config", file, "-listen", "127.0.0.1:0"}, nil, io.Discard, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve after cancel = %v, want nil", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop after its context ended")
		}
	})
	addrRE := regexp.MustCompile(`msg=listening addr=(\S+)`)
	adminRE := regexp.MustCompile(`msg="admin listening" addr=(\S+)`)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := addrRE.FindStringSubmatch(stderr.String()); m != nil {
			if a := adminRE.FindStringSubmatch(stderr.String()); a != nil {
				admin = a[1]
			}
			return "http://" + m[1] + gateway.Path, admin
		}
		select {
		case err := <-done:
			done <- err // for the clean-up
			t.Fatalf("serve -config %s = %v; stderr:\n%s", file, err, stderr.String())
		default:
		}
	}
	t.Fatalf("serve did not log its address; stderr:\n%s", stderr.String())
	return "", ""
}

// checkLogin checks that user can FolderSync through the gateway at url,
// getting an Inbox, and that a wrong password is answered 401.
func checkLogin(t *testing.T, url, user, password string) *eas.FolderSyncResponse {
	t.Helper()
	var fs eas.FolderSyncResponse
	phone := &memoryPhone{url: url, user: user, password: password}
	if code := phone.call(t, "FolderSync", &eas.FolderSyncRequest{SyncKey: "0"}, &fs); code != http.StatusOK {
		t.Fatalf("FolderSync as %s: HTTP %d", user, code)
	}
	inbox := false
	if fs.Changes != nil {
		for _, f := range fs.Changes.Add {
			inbox = inbox || f.Type == eas.FolderTypeInbox
		}
	}
	if fs.Status != eas.FolderSyncStatusSuccess || !inbox {
		t.Errorf("FolderSync as %s: Status %d, Changes %+v; want an Inbox", user, fs.Status, fs.Changes)
	}
	phone.password = "wrong"
	if code := phone.call(t, "FolderSync", &eas.FolderSyncRequest{SyncKey: "0"}, nil); code != http.StatusUnauthorized {
		t.Errorf("FolderSync as %s with a wrong password: HTTP %d, want 401", user, code)
	}
	return &fs
}

// TestServeStores runs serve with configs/jmap-cyrus.toml and
// configs/imap-dav.toml against the real servers, overriding their
// addresses by environment variables as docs/OPERATIONS.md describes.
func TestServeStores(t *testing.T) {
	t.Run("jmap-cyrus", func(t *testing.T) {
		c := testserver.StartCyrus(t, nil)
		admin := freeAddr(t)
		url := serveConfig(t, "../../configs/jmap-cyrus.toml", map[string]string{
			"EASGATE_ADMIN_LISTEN":      admin,
			"EASGATE_JMAP_SESSION_URL":  c.JMAP,
			"EASGATE_JMAP_IDLE_IMAP":    c.IMAP,
			"EASGATE_IMAP_ADDR":         c.IMAP,
			"EASGATE_DAV_CALDAV_URL":    c.CalDAV,
			"EASGATE_STATE_DIR":         t.TempDir(),
			"EASGATE_SERVER_LOG_FORMAT": "text",
		})
		fs := checkLogin(t, url, "alice", testserver.Users["alice"])
		// Tasks come from Cyrus's CalDAV (issue 10: a JMAP set-up had
		// no Tasks folder); mail, contacts and calendars from JMAP.
		kinds := map[eas.FolderType]int{}
		for _, f := range fs.Changes.Add {
			kinds[f.Type]++
		}
		for _, ty := range []eas.FolderType{eas.FolderTypeInbox, eas.FolderTypeContacts, eas.FolderTypeCalendar, eas.FolderTypeTasks} {
			if kinds[ty] != 1 {
				t.Errorf("FolderSync has %d folders of type %d, want 1: %+v", kinds[ty], ty, fs.Changes.Add)
			}
		}
		// The JMAP store behind [classes] still reports its windows
		// fetched ahead, none yet.
		m := metricsText(t, admin)
		for _, want := range []string{"easgate_jmap_prefetch_windows 0", "easgate_jmap_prefetch_started_total 0", "easgate_jmap_prefetch_failed_total 0"} {
			if !strings.Contains(m, want) {
				t.Errorf("/metrics lacks %q:\n%s", want, grepLines(m, "easgate_jmap"))
			}
		}
	})
	t.Run("imap-dav", func(t *testing.T) {
		d := testserver.StartDovecot(t)
		r := testserver.StartRadicale(t)
		admin := freeAddr(t)
		url := serveConfig(t, "../../configs/imap-dav.toml", map[string]string{
			"EASGATE_ADMIN_LISTEN":    admin,
			"EASGATE_IMAP_ADDR":       d.IMAP,
			"EASGATE_IMAP_SUBMISSION": d.Submission,
			"EASGATE_DAV_CALDAV_URL":  r.URL,
			"EASGATE_DAV_CARDDAV_URL": r.URL,
			"EASGATE_STATE_DIR":       t.TempDir(),
		})
		checkLogin(t, url, "alice", testserver.Users["alice"])
		// The DAV poller's counts are served, at zero with nobody waiting.
		m := metricsText(t, admin)
		for _, want := range []string{"easgate_dav_pollers 0", "easgate_dav_checks_total 0", "easgate_dav_checks_delayed_total 0"} {
			if !strings.Contains(m, want) {
				t.Errorf("/metrics lacks %q:\n%s", want, grepLines(m, "easgate_dav"))
			}
		}
	})
}
