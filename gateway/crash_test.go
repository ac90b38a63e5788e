package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources/memory"
	"github.com/easgate/easgate/statecache"
)

// TestSyncSurvivesKill re-runs the test binary as a child with
// crashChildEnv set; the child serves easgate on a statecache in the
// directory crashDirEnv names.
const (
	crashChildEnv = "EASGATE_GATEWAY_CHILD"
	crashDirEnv   = "EASGATE_GATEWAY_DIR"
)

// crashMails is how many mails the child's inbox holds, crashWindow the
// WindowSize the phone asks for and crashKills how many times it is
// killed.
const (
	crashMails  = 300
	crashWindow = 25
	crashKills  = 8
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(crashChildEnv); mode != "" {
		if err := crashChild(mode, os.Getenv(crashDirEnv)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashChild serves alice's store, the same at every start, on a loopback
// port, and prints the address and the inbox's CollectionId.
func crashChild(mode, dir string) error {
	if mode != "serve" {
		return fmt.Errorf("unknown child mode %q", mode)
	}
	ctx := context.Background()
	st, err := statecache.Open(dir, nil)
	if err != nil {
		return err
	}
	store := memory.New(&memory.Options{Epoch: "crash-test"})
	src := store.User("alice")
	if err := syncBenchFill(src, crashMails, false); err != nil {
		return err
	}
	ids, err := syncBenchHierarchy(ctx, st, statecache.Account{User: "alice", Device: "phone1"}, src)
	if err != nil {
		return err
	}
	srv, err := New(&Options{Backend: syncBackend{store}, State: st})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("%s %s\n", ln.Addr(), ids["inbox"])
	return http.Serve(ln, srv)
}

// crashServer is a running child.
type crashServer struct {
	cmd    *exec.Cmd
	base   string
	inbox  string
	client *http.Client
	once   sync.Once
}

// crashStart starts a child on dir and waits for its address.
func crashStart(t *testing.T, dir string) *crashServer {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"=serve", crashDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &crashServer{cmd: cmd, client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}}
	t.Cleanup(s.kill)
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Scan()
		line <- sc.Text()
		io.Copy(io.Discard, out)
	}()
	select {
	case l := <-line:
		addr, inbox, ok := strings.Cut(l, " ")
		if !ok {
			t.Fatalf("child printed %q, want an address and a CollectionId", l)
		}
		s.base, s.inbox = "http://"+addr, inbox
	case <-time.After(15 * time.Second):
		t.Fatal("child did not start within 15 s")
	}
	return s
}

// kill sends SIGKILL to the child, this pid only, and reaps it.
func (s *crashServer) kill() {
	s.once.Do(func() {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		s.client.CloseIdleConnections()
	})
}

// crashPlan says when to kill the child during a request: after delay
// from sending it, or when the phone has read bytes of the response body
// (and loses the rest). The zero plan does not kill.
type crashPlan struct {
	kill  bool
	delay time.Duration
	bytes int
}

// sync sends one Sync and returns its body, or nil if the response did
// not arrive whole.
func (s *crashServer) sync(t *testing.T, c eas.SyncCollection, p crashPlan) []byte {
	t.Helper()
	hr, err := syncBenchRequest(s.base, "phone1", c)
	if err != nil {
		t.Fatal(err)
	}
	if p.kill && p.bytes < 0 {
		timer := time.AfterFunc(p.delay, s.kill)
		defer timer.Stop()
	}
	resp, err := s.client.Do(hr)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var body []byte
	buf := make([]byte, 256)
	for {
		if p.kill && p.bytes >= 0 && len(body) >= p.bytes {
			// The phone has lost the connection after so many bytes.
			s.kill()
			return nil
		}
		n, err := resp.Body.Read(buf)
		body = append(body, buf[:n]...)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil
		}
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("Sync = HTTP %d", resp.StatusCode)
	}
	return body
}

// TestSyncSurvivesKill plays a phone syncing a 300-mail inbox in windows
// of 25 while the server is killed with SIGKILL at random moments of a
// response, before, during or after its Advance, and restarted on the same
// state directory. The phone goes on with the last key whose response it
// received whole; in the end it must hold every mail exactly once.
func TestSyncSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	srv := crashStart(t, dir)
	key := "0"
	bySID := map[string]string{} // ServerId → Subject
	kills, lost, asChange := 0, 0, 0
	stopped, stops, firstStop := -1, 0, "" // the last answer that said no more; how often, and where first, it was wrong
	for round := 0; ; round++ {
		if round > 100 {
			t.Fatalf("not done after %d requests", round)
		}
		var p crashPlan
		if kills < crashKills && round%2 == 0 {
			// Kill on every other request, at a moment chosen at random:
			// a delay may land before, during or after Advance; bytes
			// into the body, after it.
			p = crashPlan{kill: true, bytes: -1}
			if rng.IntN(2) == 0 {
				p.delay = time.Duration(rng.IntN(3000)) * time.Microsecond
			} else {
				p.bytes = rng.IntN(8 << 10)
			}
		}
		c := eas.SyncCollection{SyncKey: key, CollectionID: srv.inbox}
		if key != "0" {
			c.WindowSize = crashWindow
		}
		body := srv.sync(t, c, p)
		if p.kill {
			srv.kill()
			kills++
			srv = crashStart(t, dir)
		}
		if body == nil {
			lost++
			continue
		}
		resp, err := syncBenchOne(body)
		if err != nil {
			t.Fatalf("round %d, key %s: %v", round, key, err)
		}
		if key == "0" {
			if resp.Commands != nil {
				t.Fatalf("SyncKey 0 answered %+v, want no commands", resp.Commands)
			}
			key = resp.SyncKey
			continue
		}
		if resp.Commands == nil {
			// Nothing left: the key stays.
			if resp.SyncKey != key || resp.MoreAvailable {
				t.Errorf("round %d: no-change Sync = %+v, want key %s and no MoreAvailable", round, resp, key)
			}
			break
		}
		if n := len(resp.Commands.Delete) + len(resp.Commands.SoftDelete); n != 0 {
			t.Errorf("round %d: %d deletes in an inbox nobody changed", round, n)
		}
		if n := len(resp.Commands.Add) + len(resp.Commands.Change); n > crashWindow {
			t.Errorf("round %d: %d items past WindowSize %d", round, n, crashWindow)
		}
		for _, ch := range resp.Commands.Change {
			// Nothing changed: a Change can only be a mail the phone
			// never had, which it cannot show.
			if _, ok := bySID[ch.ServerID]; !ok {
				asChange++
			}
		}
		for _, a := range resp.Commands.Add {
			var m eas.Email
			if err := a.ApplicationData.Decode(&m); err != nil {
				t.Fatal(err)
			}
			if prev, ok := bySID[a.ServerID]; ok {
				t.Errorf("round %d: ServerId %s (%q) received again, first as %q", round, a.ServerID, m.Subject, prev)
			}
			bySID[a.ServerID] = m.Subject
		}
		// A phone stops at the first answer without MoreAvailable; this
		// one goes on to see whether anything was left behind.
		if stopped >= 0 && len(resp.Commands.Add) > 0 {
			if stops == 0 {
				firstStop = fmt.Sprintf("round %d answered without MoreAvailable, round %d brought %d more mails", stopped, round, len(resp.Commands.Add))
			}
			stops++
		}
		stopped = -1
		if !resp.MoreAvailable {
			stopped = round
		}
		key = resp.SyncKey
	}
	t.Logf("%d kills, %d responses lost", kills, lost)
	if kills < crashKills {
		t.Errorf("killed %d times, want %d", kills, crashKills)
	}
	if asChange > 0 {
		t.Errorf("%d mails the phone never had came as Change instead of Add", asChange)
	}
	if stops > 0 {
		t.Errorf("%d answers said no MoreAvailable while mails were left; first: %s", stops, firstStop)
	}
	subjects := map[string]int{}
	for _, s := range bySID {
		subjects[s]++
	}
	var missing, twice []string
	for i := range crashMails {
		s := fmt.Sprintf("Message %d", i)
		switch subjects[s] {
		case 0:
			missing = append(missing, s)
		case 1:
		default:
			twice = append(twice, s)
		}
		delete(subjects, s)
	}
	if len(missing) > 0 || len(twice) > 0 || len(subjects) > 0 {
		t.Errorf("of %d mails, %d never added (%q), %d added more than once (%q), %d unknown (%v)",
			crashMails, len(missing), crashFirst(missing), len(twice), crashFirst(twice), len(subjects), subjects)
	}
}

// crashFirst returns the first few of ss.
func crashFirst(ss []string) []string {
	return ss[:min(len(ss), 5)]
}
