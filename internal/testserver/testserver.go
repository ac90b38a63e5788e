// Package testserver starts real mail and DAV servers on loopback for tests:
// Dovecot, Cyrus (optionally the rebuild with JMAP push), Radicale and
// Xandikos; and HAProxy, the load balancer of the multi-node tests. Each Start function runs one of the shell scripts in scripts/
// on free ports in a fresh directory, waits until the server answers, and
// stops it and removes the directory at t.Cleanup.
//
// The scripts install what they need with apt and must run as root. When a
// server cannot start, the test fails if CI=true and is skipped otherwise.
// scripts/test.sh installs and warms everything up before go test runs, so
// a start inside a test takes 0.1–0.6 s.
//
// Server quirks that adapters meet (measured on Debian 12 with the scripts
// in scripts/):
//   - Cyrus creates a user's INBOX only on an IMAP login or an LMTP
//     delivery; the script logs every user in once, so INBOX exists.
//   - Cyrus's JMAP session gives relative URLs (apiUrl "/jmap/").
//   - Cyrus 3.6 httpd crashes on VacationResponse/get: do not call it.
//   - Only the push build (CyrusOptions.Push) answers EventSource with a
//     stream; Debian's build answers 204.
package testserver

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Users are the accounts every server is started with, name to password.
var Users = map[string]string{"alice": "alice-pass", "bob": "bob-pass"}

// Dovecot is a running Dovecot: IMAP and Submission are "127.0.0.1:port",
// LMTP is the path of its unix socket, and SinkDir holds one <n>.eml file per
// message that Submission relayed.
type Dovecot struct{ IMAP, Submission, LMTP, SinkDir, Dir string }

// StartDovecot starts Dovecot with IMAP, Submission and LMTP.
func StartDovecot(t testing.TB) *Dovecot {
	t.Helper()
	dir, p := start(t, "dovecot", 3, nil)
	return newDovecot(dir, p)
}

// PushOptions configure StartDovecotPush.
type PushOptions struct {
	// URL is easgate's events endpoint, http://127.0.0.1:port/dovecot/events.
	URL string
	// Token is easgate's imap.events_token; "" sends no Authorization.
	Token string
	// Timeout is the POST's time limit. Zero keeps the shipped conf's
	// (200 ms) for LaunchDovecotPush, which load scripts use to measure
	// what production does, and is testPushTimeout for StartDovecotPush.
	Timeout time.Duration
	// Users, name to password, replace Users when not nil.
	Users map[string]string
	// MaxUsers, when not zero, raises Dovecot's process and client limits
	// so that this many users can each hold an IDLE connection.
	MaxUsers int
	// NoPush starts the same Dovecot without the push plugin.
	NoPush bool
	// FastLogin runs imap-login in high-performance mode with spare imap
	// processes (docs/OPERATIONS.md): with push, a wake logs in afresh.
	FastLogin bool
	// ReuseIMAP lets one imap process serve one user after another
	// (service_count = 0) rather than fork one per login: a login then
	// costs a few milliseconds instead of a process start, which load
	// tests with thousands of users need. All users share one system
	// user here, which Dovecot requires for the reuse.
	ReuseIMAP bool
	// IdleCheck, when not zero, is how often IDLE looks at a mailbox
	// once the kernel's inotify instances are used up (Dovecot's
	// mailbox_idle_check_interval). Tests get 2 s; load scripts pass
	// Dovecot's default, 30 s, to measure what production does.
	IdleCheck time.Duration
}

// StartDovecotPush starts Dovecot as StartDovecot does, with the
// push_notification plugin posting mailbox events to o.URL through
// configs/dovecot/easgate-push.lua and configs/dovecot/95-easgate-push.conf.
func StartDovecotPush(t testing.TB, o *PushOptions) *Dovecot {
	t.Helper()
	if o.Timeout == 0 {
		oo := *o
		oo.Timeout = testPushTimeout
		o = &oo
	}
	dir, p := start(t, "dovecot-push", 3, o.env())
	return newDovecot(dir, p)
}

// testPushTimeout is the POST's time limit in tests. Dovecot gives up
// on a POST after the shipped 200 ms, and on a loaded machine (a CI run
// with every package's servers at once) a delivery's new process may not
// even have sent it by then; the event is then lost, and the test waits
// for it in vain (TestDovecotPush: "no POST within 10 s").
const testPushTimeout = 5 * time.Second

// LaunchDovecotPush is StartDovecotPush for programs that are not tests
// (scripts/pushload): the caller calls stop, which removes the directory.
func LaunchDovecotPush(o *PushOptions) (d *Dovecot, stop func() error, err error) {
	dir, p, stop, err := launch("dovecot-push", 3, o.env(), nil, func(string, ...any) {})
	if err != nil {
		return nil, nil, err
	}
	return newDovecot(dir, p), stop, nil
}

// env returns the start script's environment for o.
func (o *PushOptions) env() []string {
	var env []string
	if o.NoPush {
		env = append(env, "PUSH_DRIVER=none")
	} else {
		env = append(env, "PUSH_URL="+o.URL, "PUSH_TOKEN="+o.Token)
	}
	if o.Timeout > 0 {
		env = append(env, fmt.Sprintf("PUSH_TIMEOUT_MSECS=%d", o.Timeout.Milliseconds()))
	}
	if o.FastLogin {
		env = append(env, "DOVECOT_FAST_LOGIN=1")
	}
	if o.ReuseIMAP {
		env = append(env, "DOVECOT_REUSE_IMAP=1")
	}
	if o.MaxUsers > 0 {
		env = append(env, fmt.Sprintf("DOVECOT_MAX_USERS=%d", o.MaxUsers))
	}
	if o.IdleCheck > 0 {
		env = append(env, fmt.Sprintf("DOVECOT_IDLE_CHECK=%d secs", int(o.IdleCheck.Seconds())))
	}
	if o.Users != nil {
		var ups []string
		for u, p := range o.Users {
			ups = append(ups, u+":"+p)
		}
		sort.Strings(ups)
		env = append(env, "DOVECOT_USERS="+strings.Join(ups, " "))
	}
	return env
}

func newDovecot(dir string, p []int) *Dovecot {
	return &Dovecot{
		IMAP:       addr(p[0]),
		Submission: addr(p[1]),
		LMTP:       filepath.Join(dir, "run", "lmtp"),
		SinkDir:    filepath.Join(dir, "smtp-sink"),
		Dir:        dir,
	}
}

// CyrusOptions selects the Cyrus build. The zero value is Debian's build.
type CyrusOptions struct {
	// Push selects the rebuild with wslay, which serves JMAP push over
	// EventSource and WebSocket (Debian's build answers 204). Its one-time
	// build takes about 2 minutes: scripts/test.sh does it; outside CI a
	// missing build skips the test rather than building.
	Push bool
}

// Cyrus is a running Cyrus IMAP 3.6. IMAP is "127.0.0.1:port"; HTTP is
// "http://127.0.0.1:port", JMAP the session URL under it. CalDAV and CardDAV
// are the roots of the DAV trees: a user's homes are CalDAV+"user/alice/"
// and CardDAV+"user/alice/", each holding a collection named "Default".
// LMTP is the path of lmtpd's unix socket; SinkDir holds one <n>.eml file
// per message sent by JMAP EmailSubmission.
type Cyrus struct{ IMAP, HTTP, JMAP, CalDAV, CardDAV, LMTP, SinkDir, Dir string }

// StartCyrus starts Cyrus with IMAP, JMAP, CalDAV, CardDAV and LMTP; o may
// be nil.
func StartCyrus(t testing.TB, o *CyrusOptions) *Cyrus {
	t.Helper()
	name, env := "cyrus", []string(nil)
	if o != nil && o.Push {
		name = "cyrus-push"
		if !ci() {
			env = append(env, "CYRUS_PUSH_AUTOBUILD=0")
		}
	}
	dir, p := start(t, name, 3, env)
	http := "http://" + addr(p[1])
	return &Cyrus{
		IMAP:    addr(p[0]),
		HTTP:    http,
		JMAP:    http + "/jmap/",
		CalDAV:  http + "/dav/calendars/",
		CardDAV: http + "/dav/addressbooks/",
		LMTP:    filepath.Join(dir, "conf", "socket", "lmtp"),
		SinkDir: filepath.Join(dir, "smtp-sink"),
		Dir:     dir,
	}
}

// DAV is a running CalDAV/CardDAV server; URL is its base URL, ending in "/".
type DAV struct{ URL, Dir string }

// StartRadicale starts Radicale. Each user has URL+"alice/calendar/" (events
// and tasks) and URL+"alice/contacts/".
func StartRadicale(t testing.TB) *DAV {
	t.Helper()
	dir, p := start(t, "radicale", 1, nil)
	return &DAV{URL: "http://" + addr(p[0]) + "/", Dir: dir}
}

// StartXandikos starts Xandikos. Each user has
// URL+"alice/calendars/calendar/" and URL+"alice/contacts/addressbook/".
func StartXandikos(t testing.TB) *DAV {
	t.Helper()
	dir, p := start(t, "xandikos", 1, nil)
	return &DAV{URL: "http://" + addr(p[0]) + "/", Dir: dir}
}

func addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

func ci() bool { return os.Getenv("CI") == "true" }

// unavailable ends the test when a server cannot run: a failure in CI,
// where every server must run, a skip elsewhere.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if ci() {
		t.Fatalf("testserver: "+format, args...)
	}
	t.Skipf("testserver: "+format, args...)
}

// scriptDir is where the start scripts are: next to this file.
func scriptDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "scripts")
}

// start runs scripts/start-<name>.sh in a new directory on nports free
// ports, registers its stop, and returns the directory and the ports.
// extraEnv is added to the script's environment, extraArgs to its
// arguments after the ports.
func start(t testing.TB, name string, nports int, extraEnv []string, extraArgs ...string) (string, []int) {
	t.Helper()
	if os.Geteuid() != 0 {
		unavailable(t, "%s: the start script needs root (apt, useradd, chown)", name)
	}
	dir, ports, stop, err := launch(name, nports, extraEnv, extraArgs, t.Logf)
	if err != nil {
		unavailable(t, "%v", err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("testserver: %v", err)
		}
	})
	return dir, ports
}

// launch is start without a test: it returns the server's stop, which
// also removes the directory, and logs with logf.
func launch(name string, nports int, extraEnv, extraArgs []string, logf func(string, ...any)) (dir string, ports []int, stop func() error, err error) {
	script := filepath.Join(scriptDir(), "start-"+name+".sh")
	if _, err := os.Stat(script); err != nil {
		return "", nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	// Not t.TempDir(): its parent is 0700, and the servers run as cyrus,
	// dovecot or nobody, which must enter every parent of the directory.
	dir, err = os.MkdirTemp("", "easgate-"+name)
	if err != nil {
		return "", nil, nil, fmt.Errorf("testserver: %w", err)
	}
	stop = func() error {
		// stop before removing: the pidfile lives in dir.
		out, err := runScript(script, []string{"stop", dir}, nil, time.Minute)
		os.RemoveAll(dir)
		if err != nil {
			return fmt.Errorf("%s stop: %w\n%s", name, err, tail(out))
		}
		return nil
	}

	timeout := 5 * time.Minute // a cold install waits for apt and the other installers
	if name == "cyrus-push" && ci() {
		timeout = 15 * time.Minute // may build Cyrus first
	}
	var out []byte
	for attempt := 0; attempt < 2; attempt++ {
		if ports, err = freePorts(nports); err != nil {
			stop()
			return "", nil, nil, err
		}
		args := []string{"start", dir}
		for _, p := range ports {
			args = append(args, strconv.Itoa(p))
		}
		args = append(args, extraArgs...)
		t0 := time.Now()
		out, err = runScript(script, args, extraEnv, timeout)
		if err == nil {
			logf("testserver: %s ready on %v in %v (%s)", name, ports, time.Since(t0).Round(time.Millisecond), dir)
			break
		}
		// Another process may have taken a port between freePorts and the
		// server's bind; the script then stops what it started.
		if !bytes.Contains(out, []byte("already in use")) && !bytes.Contains(out, []byte("did not come up")) {
			break
		}
	}
	if err != nil {
		stop()
		return "", nil, nil, fmt.Errorf("%s start: %w\n%s", name, err, tail(out))
	}
	for _, p := range ports {
		// the script has waited already; a dial checks what Go will see
		c, err := net.DialTimeout("tcp", addr(p), 5*time.Second)
		if err != nil {
			stop()
			return "", nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		c.Close()
	}
	return dir, ports, stop, nil
}

// runScript runs script with args and returns its combined output.
func runScript(script string, args, extraEnv []string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, args...)
	cmd.Env = append(os.Environ(), extraEnv...)
	// apt run by a killed script may keep the output pipe open
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v: %w", timeout, err)
	}
	return out, err
}

// freePorts returns n distinct ports that were free a moment ago: all n
// listeners are open together, so the kernel cannot hand out one twice.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("testserver: free port: %w", err)
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

// tail returns the last lines of a script's output.
func tail(out []byte) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}
