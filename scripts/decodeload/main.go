// Command decodeload measures what hostile WBXML bodies cost the gateway.
// It starts easgate's gateway in a child process (a memory store, an
// in-memory statecache), sends n such bodies at once over loopback (by
// default three of issue 9's shape: 3 MB of empty Collection tags in one
// Sync), and reports each answer and the growth of the child's RSS over
// the load: its peak (VmHWM, reset before the load) minus its RSS before.
// While the bodies are being sent, a phone's FolderSync must still answer;
// its time is reported too. It exits when done, the child with it.
//
//	go run ./scripts/decodeload                  # 3 × 3 MB of empty tags
//	go run ./scripts/decodeload -n 10 -shape opaque
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/gateway"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/memory"
	"github.com/easgate/easgate/statecache"
)

const (
	user     = "load"
	password = "decodeload"
	query    = "/Microsoft-Server-ActiveSync?User=load&DeviceId=load01&DeviceType=LoadPhone&Cmd="
)

func main() {
	n := flag.Int("n", 3, "hostile bodies to send at once")
	size := flag.Int("size", 3<<20, "bytes of each body")
	shape := flag.String("shape", "empty", "body: empty (empty Collection tags, issue 9), nested (unknown elements 62 deep), opaque (one Add after another, each a 1-byte opaque ClientId)")
	timeout := flag.Duration("timeout", 5*time.Minute, "exit after this long whatever happens")
	server := flag.Bool("server", false, "run as the server child (internal)")
	flag.Parse()
	time.AfterFunc(*timeout, func() {
		fmt.Fprintln(os.Stderr, "decodeload: timed out")
		os.Exit(2)
	})
	var err error
	if *server {
		err = serve()
	} else {
		err = drive(*n, *size, *shape)
	}
	if err != nil {
		log.Fatal(err)
	}
}

type backend struct{ s sources.Source }

func (b backend) Login(_ context.Context, u, p string) (sources.Source, error) {
	if u != user || p != password {
		return nil, sources.ErrAuth
	}
	return b.s, nil
}

// serve is the child: it listens on loopback and prints "addr ADDR".
func serve() error {
	st, err := statecache.Open("", &statecache.Options{InMemory: true})
	if err != nil {
		return err
	}
	gw, err := gateway.New(&gateway.Options{
		Logger:  slog.New(slog.DiscardHandler),
		Backend: backend{memory.New(nil).User(user)},
		State:   st,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("addr %s\n", ln.Addr())
	go func() {
		io.Copy(io.Discard, os.Stdin) // the parent closes stdin: exit
		os.Exit(0)
	}()
	return (&http.Server{Handler: gw, ReadHeaderTimeout: 30 * time.Second}).Serve(ln)
}

// body returns a Sync request of about size bytes in the given shape.
func body(shape string, size int) ([]byte, error) {
	const (
		sync, collections, collection, commands, add, clientID = 0x05, 0x1C, 0x0F, 0x16, 0x07, 0x0C
		content, end                                           = 0x40, 0x01
	)
	b := []byte{0x03, 0x01, 0x6A, 0x00, sync | content, collections | content}
	var closing int
	switch shape {
	case "empty":
		for len(b) < size {
			b = append(b, collection)
		}
		closing = 2
	case "nested":
		for len(b) < size {
			b = append(b, bytes.Repeat([]byte{add | content}, 62)...)
			b = append(b, bytes.Repeat([]byte{end}, 62)...)
		}
		closing = 2
	case "opaque":
		b = append(b, collection|content, commands|content)
		for len(b) < size {
			b = append(b, add|content, clientID|content, 0xC3, 0x01, 'c', end, end)
		}
		closing = 4
	default:
		return nil, fmt.Errorf("unknown shape %q", shape)
	}
	return append(b, bytes.Repeat([]byte{end}, closing)...), nil
}

// status returns a field of /proc/PID/status, in bytes.
func status(pid int, field string) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

func post(addr, cmd string, body []byte) (int, time.Duration, error) {
	req, err := http.NewRequest("POST", "http://"+addr+query+cmd, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.SetBasicAuth(user, password)
	req.Header.Set("MS-ASProtocolVersion", "14.1")
	req.Header.Set("Content-Type", "application/vnd.ms-sync.wbxml")
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, time.Since(t0), err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(t0), nil
}

// drive starts the child, sends n bodies at once and measures.
func drive(n, size int, shape string) error {
	doc, err := body(shape, size)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "-server")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
		}
	}()
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		return errors.New("server did not start")
	}
	addr, ok := strings.CutPrefix(sc.Text(), "addr ")
	if !ok {
		return fmt.Errorf("server said %q", sc.Text())
	}
	pid := cmd.Process.Pid

	folderSync, err := eas.Marshal(&eas.FolderSyncRequest{SyncKey: "0"})
	if err != nil {
		return err
	}
	// Warm up: the first requests set up what every later one reuses.
	for range 3 {
		if code, _, err := post(addr, "FolderSync", folderSync); err != nil || code != 200 {
			return fmt.Errorf("warm-up FolderSync = %d, %v", code, err)
		}
	}
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		return fmt.Errorf("resetting the peak RSS: %w", err)
	}
	before, err := status(pid, "VmRSS")
	if err != nil {
		return err
	}
	log.Printf("server at %s, RSS %.1f MB; sending %d × %.1f MB (%s)", addr, mb(before), n, mb(uint64(len(doc))), shape)

	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			code, d, err := post(addr, "Sync", doc)
			log.Printf("body %d: HTTP %d in %v %v", i, code, d.Round(time.Millisecond), errText(err))
		})
	}
	close(start)
	// A phone meanwhile.
	code, d, err := post(addr, "FolderSync", folderSync)
	log.Printf("phone's FolderSync during the load: HTTP %d in %v %v", code, d.Round(time.Millisecond), errText(err))
	wg.Wait()

	peak, err := status(pid, "VmHWM")
	if err != nil {
		return err
	}
	after, err := status(pid, "VmRSS")
	if err != nil {
		return err
	}
	fmt.Printf("RSS before %.1f MB, peak %.1f MB, after %.1f MB: growth %.1f MB for %d bodies of %.1f MB\n",
		mb(before), mb(peak), mb(after), mb(peak-before), n, mb(uint64(len(doc))))
	return nil
}

func mb(b uint64) float64 { return float64(b) / 1e6 }

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
