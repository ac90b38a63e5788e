package statecache

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Some tests re-run the test binary as a child process with childEnv set to
// what it should do and childDirEnv to the store's directory: the crash test
// kills it, the memory test measures a fresh process.
const (
	childEnv    = "EASGATE_STATECACHE_CHILD"
	childDirEnv = "EASGATE_STATECACHE_DIR"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		if err := runChild(mode, os.Getenv(childDirEnv)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if err := sharedPG.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

func runChild(mode, dir string) error {
	switch mode {
	case "crash":
		return crashWriter(dir)
	case "rss-default-empty", "rss-default-10k", "rss-tuned-empty", "rss-tuned-10k":
		return measureRSS(mode, dir)
	}
	return fmt.Errorf("unknown child mode %q", mode)
}

// startChild starts the test binary in mode; its stdout is returned as
// lines.
func startChild(t *testing.T, mode, dir string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, childDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewScanner(out)
}

// openTarget opens a Badger directory, or a PostgreSQL database when
// target is a postgres:// URL.
func openTarget(target string) (*Store, error) {
	if strings.HasPrefix(target, "postgres://") {
		return OpenPostgres(context.Background(), target, nil)
	}
	return Open(target, nil)
}

// crashWindow is the window of the nth Advance in the crash test: two new
// items, and the delete of an item the window before added. Item i gets
// ServerId "5:i-1", as ids are handed out in order from 1.
func crashWindow(n int) []Change {
	w := []Change{{Op: OpAdd, ServerID: crashID(2 * n), ItemID: crashItem(2 * n)}, {Op: OpAdd, ServerID: crashID(2*n + 1), ItemID: crashItem(2*n + 1)}}
	if n > 1 {
		w = append(w, Change{Op: OpDelete, ServerID: crashID(2 * (n - 1)), ItemID: crashItem(2 * (n - 1))})
	}
	return w
}

func crashItem(i int) string { return "item-" + strconv.Itoa(i) }
func crashID(i int) string   { return inbox.Collection + ":" + strconv.Itoa(i-1) }

// crashWriter advances inbox until it is killed, printing "n key" after
// each Advance.
func crashWriter(dir string) error {
	ctx := context.Background()
	s, err := openTarget(dir)
	if err != nil {
		return err
	}
	key, err := s.Advance(ctx, inbox, InitialKey, SyncState{State: "0"})
	if err != nil {
		return err
	}
	for n := 1; ; n++ {
		w := crashWindow(n)
		ids, err := s.ServerIDs(ctx, inbox, []string{w[0].ItemID, w[1].ItemID})
		if err != nil {
			return err
		}
		if ids[0] != w[0].ServerID || ids[1] != w[1].ServerID {
			return fmt.Errorf("ServerIDs = %q, want %s and %s", ids, w[0].ServerID, w[1].ServerID)
		}
		if key, err = s.Advance(ctx, inbox, key, SyncState{State: strconv.Itoa(n), Window: w}); err != nil {
			return err
		}
		fmt.Printf("%d %s\n", n, key)
	}
}

// rss is a process's resident memory in kB: anonymous (heap, caches) and
// file-backed (Badger's memory-mapped tables and logs, which the kernel can
// drop and reread).
type rss struct{ anon, file int }

// readRSS returns the resident memory after a garbage collection has
// returned what it can.
func readRSS() (rss, error) {
	runtime.GC()
	debug.FreeOSMemory()
	var r rss
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return r, err
	}
	for line := range strings.Lines(string(b)) {
		name, val, _ := strings.Cut(line, ":")
		kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(val), " kB"))
		switch name {
		case "RssAnon":
			r.anon = kb
		case "RssFile", "RssShmem":
			r.file += kb
		}
	}
	return r, nil
}

// measureRSS opens a store, fills it as mode says, and prints the resident
// memory after opening, after filling, and after reopening and reading
// every device, then the size of the store on disk.
func measureRSS(mode, dir string) error {
	ctx := context.Background()
	full := strings.HasSuffix(mode, "-10k")
	o := &Options{badgerDefaults: strings.HasPrefix(mode, "rss-default"), noSync: true}
	s, err := Open(dir, o)
	if err != nil {
		return err
	}
	opened, _ := readRSS()
	if full {
		if err := fillDevices(ctx, s, 10000); err != nil {
			return err
		}
	}
	filled, _ := readRSS()
	if err := s.Close(); err != nil {
		return err
	}
	o.noSync = false
	if s, err = Open(dir, o); err != nil {
		return err
	}
	defer s.Close()
	if full {
		// Read every device's state once, as a day of requests would.
		for i := range 10000 {
			a := Account{User: fmt.Sprintf("user%d@example.org", i), Device: fmt.Sprintf("device-%d", i)}
			if _, err := s.Device(ctx, a.Device); err != nil {
				return err
			}
			if _, err := s.MapID(ctx, CollectionKey{Account: a, Collection: "1"}, "1:20"); err != nil {
				return err
			}
		}
	}
	reopened, _ := readRSS()
	var disk int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				disk += fi.Size()
			}
		}
		return nil
	})
	fmt.Println(opened.anon, opened.file, filled.anon, filled.file, reopened.anon, reopened.file, disk>>10)
	return nil
}

// fillDevices gives n devices what a first session leaves: the device with
// its DeviceInformation, a provisioned account, a folder hierarchy of ten
// folders and an inbox of twenty items. Workers run concurrently so that
// Badger batches their fsyncs.
func fillDevices(ctx context.Context, s *Store, n int) error {
	const workers = 64
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	folders := make([]string, 10)
	for i := range folders {
		folders[i] = fmt.Sprintf("folder-%d", i)
	}
	items := make([]string, 20)
	for i := range items {
		items[i] = fmt.Sprintf("Mf09e4a6b-%04d", i)
	}
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				if err := fillDevice(ctx, s, i, folders, items); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

func fillDevice(ctx context.Context, s *Store, i int, folders, items []string) error {
	a := Account{User: fmt.Sprintf("user%d@example.org", i), Device: fmt.Sprintf("device-%d", i)}
	if err := s.Seen(ctx, a, Visit{Type: "iPhone", UserAgent: "Apple-iPhone9C1/1402.100", ProtocolVersion: "16.1", At: t0}); err != nil {
		return err
	}
	info := DeviceInfo{Model: "iPhone9C1", IMEI: "350000000000000", FriendlyName: "iPhone", OS: "iOS 16.1", OSLanguage: "en"}
	if err := s.SetDeviceInfo(ctx, a.Device, info); err != nil {
		return err
	}
	tmp, err := s.IssuePolicyKey(ctx, a, t0)
	if err != nil {
		return err
	}
	if _, err := s.AcknowledgePolicyKey(ctx, a, tmp, t0); err != nil {
		return err
	}
	h, err := s.AdvanceHierarchy(ctx, a, InitialKey, SyncState{State: "f1"})
	if err != nil {
		return err
	}
	ids, err := s.CollectionIDs(ctx, a, folders)
	if err != nil {
		return err
	}
	if _, err := s.AdvanceHierarchy(ctx, a, h, SyncState{State: "f2"}); err != nil {
		return err
	}
	ck := CollectionKey{Account: a, Collection: ids[0]}
	k, err := s.Advance(ctx, ck, InitialKey, SyncState{State: "s0"})
	if err != nil {
		return err
	}
	sids, err := s.ServerIDs(ctx, ck, items)
	if err != nil {
		return err
	}
	win := make([]Change, len(items))
	for j := range items {
		win[j] = Change{Op: OpAdd, ServerID: sids[j], ItemID: items[j]}
	}
	_, err = s.Advance(ctx, ck, k, SyncState{State: "s1", Window: win})
	return err
}
