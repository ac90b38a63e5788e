package imapdav

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
)

// fill APPENDs n messages of gen to box on one connection, pipelined in
// batches (go-imap v2 has no MULTIAPPEND).
func fill(b *testing.B, c *imapclient.Client, box string, n int, gen func(int) []byte) {
	const batch = 200
	for i := 0; i < n; i += batch {
		var cmds []*imapclient.AppendCommand
		for j := i; j < min(n, i+batch); j++ {
			raw := gen(j)
			cmd := c.Append(box, int64(len(raw)), nil)
			cmd.Write(raw)
			cmd.Close()
			cmds = append(cmds, cmd)
		}
		for _, cmd := range cmds {
			if _, err := cmd.Wait(); err != nil {
				b.Fatalf("append: %v", err)
			}
		}
	}
}

// BenchmarkChanges measures Changes on a large folder: with no change (one
// STATUS round trip, whatever the size) and after one flag change (SELECT,
// FETCH CHANGEDSINCE and the UID SEARCH expunge check).
func BenchmarkChanges(b *testing.B) {
	d := testserver.StartDovecot(b)
	for _, n := range []int{5000, 50000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ctx := b.Context()
			oc := dialOther(b, d.IMAP, "alice")
			box := fmt.Sprintf("Bench%d", n)
			if err := oc.Create(box, nil).Wait(); err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			fill(b, oc, box, n, testMessage)
			b.Logf("setup: %d APPENDs in %v", n, time.Since(start))
			src, err := Dial(ctx, &Options{IMAP: d.IMAP, TLS: TLSNone}, "alice", testserver.Users["alice"])
			if err != nil {
				b.Fatal(err)
			}
			defer src.Close()
			f := sources.FolderID(box)
			st, err := src.State(ctx, f)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("state: %d bytes", len(st))
			b.Run("no-change", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					d, err := src.Changes(ctx, f, st, 100)
					if err != nil || len(d.Changed)+len(d.Removed) != 0 {
						b.Fatalf("Changes = %+v, %v", d, err)
					}
				}
			})
			if _, err := oc.Select(box, nil).Wait(); err != nil {
				b.Fatal(err)
			}
			b.Run("one-flag-change", func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					b.StopTimer()
					i++
					op := imap.StoreFlagsAdd
					if i%2 == 0 {
						op = imap.StoreFlagsDel
					}
					if err := oc.Store(imap.UIDSetNum(imap.UID(n/2)), &imap.StoreFlags{Op: op, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					d, err := src.Changes(ctx, f, st, 100)
					if err != nil || len(d.Changed) != 1 {
						b.Fatalf("Changes = %+v, %v", d, err)
					}
					st = d.Next
				}
			})
		})
	}
}

// syncMessage is a ~6 KB multipart/alternative mail (text and HTML), with
// LF line ends as a maildir stores them.
func syncMessage(n int) []byte {
	var text, html strings.Builder
	for i := 0; text.Len() < 2600; i++ {
		fmt.Fprintf(&text, "Line %d of message %d: the quarterly figures are attached as promised.\n", i, n)
	}
	html.WriteString("<html><body>\n")
	for i := 0; html.Len() < 3000; i++ {
		fmt.Fprintf(&html, "<p>Line <b>%d</b> of message %d: the quarterly figures.</p>\n", i, n)
	}
	html.WriteString("</body></html>\n")
	return fmt.Appendf(nil, "From: Carol <carol@example.com>\nTo: alice@example.com\nSubject: sync %d\n"+
		"Message-Id: <sync%d@example.com>\nDate: Mon, 02 Jan 2026 15:04:05 +0000\nMIME-Version: 1.0\n"+
		"Content-Type: multipart/alternative; boundary=\"b%d\"\n\n"+
		"--b%d\nContent-Type: text/plain; charset=utf-8\n\n%s\n"+
		"--b%d\nContent-Type: text/html; charset=utf-8\n\n%s\n--b%d--\n",
		n, n, n, n, text.String(), n, html.String(), n)
}

// cmdCounter is a loopback TCP proxy to an IMAP server that counts the
// client's commands by name. The adapter does not pipeline within a
// Changes or Get, so commands are round trips.
type cmdCounter struct {
	mu   sync.Mutex
	cmds map[string]int
}

func countCommands(b *testing.B, target string) (string, *cmdCounter) {
	cc := &cmdCounter{cmds: map[string]int{}}
	addr := testserver.LineProxy(b, target, func(line []byte) {
		f := strings.Fields(string(line))
		if len(f) < 2 || f[0] == "DONE" {
			return
		}
		name := strings.ToUpper(f[1])
		if name == "UID" && len(f) >= 3 {
			name += " " + strings.ToUpper(f[2])
		}
		cc.mu.Lock()
		cc.cmds[name]++
		cc.mu.Unlock()
	})
	return addr, cc
}

func (cc *cmdCounter) take() (map[string]int, int) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	m, total := cc.cmds, 0
	for _, v := range m {
		total += v
	}
	cc.cmds = map[string]int{}
	return m, total
}

// initialSync is a device's first Sync of folder f: Changes from a fresh
// state in windows of 100, each followed by a Get of its items. It returns
// the messages and windows seen.
func initialSync(ctx context.Context, b *testing.B, src *Source, f sources.FolderID) (msgs, windows int) {
	o := &sources.GetOptions{Text: true, HTML: true, BodyLimit: 5120}
	var st sources.State
	for {
		d, err := src.Changes(ctx, f, st, 100)
		if err != nil {
			b.Fatal(err)
		}
		windows++
		if len(d.Changed) > 0 {
			items, err := src.Get(ctx, f, d.Changed, o)
			if err != nil {
				b.Fatal(err)
			}
			if len(items) != len(d.Changed) || items[0].Mail.HTML == nil {
				b.Fatalf("Get: %d items for %d ids", len(items), len(d.Changed))
			}
			msgs += len(items)
		}
		if st = d.Next; !d.More {
			return msgs, windows
		}
	}
}

// BenchmarkInitialSync5000 measures a device's initial Sync of a folder of
// 5,000 ~6 KB mails: Changes windows of 100, each with a Get of text and
// HTML bodies truncated at 5 KB. As root the mails are written straight
// into the maildir (APPEND manages 50–60 a second on this machine).
func BenchmarkInitialSync5000(b *testing.B) {
	const n = 5000
	ctx := b.Context()
	d := testserver.StartDovecot(b)
	oc := dialOther(b, d.IMAP, "alice")
	const box = "Sync5000"
	f := sources.FolderID(box)
	if err := oc.Create(box, nil).Wait(); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if os.Geteuid() == 0 {
		if err := d.FillMaildir("alice", box, n, syncMessage); err != nil {
			b.Fatal(err)
		}
	} else {
		fill(b, oc, box, n, func(i int) []byte { return bytes.ReplaceAll(syncMessage(i), []byte("\n"), []byte("\r\n")) })
	}
	wrote := time.Since(start)
	sd, err := oc.Status(box, &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || sd.NumMessages == nil || *sd.NumMessages != n {
		b.Fatalf("STATUS %s = %+v, %v", box, sd, err)
	}
	b.Logf("setup: %d messages in %v (root=%v), indexed in %v", n, wrote, os.Geteuid() == 0, time.Since(start)-wrote)

	// One cold pass through a counting proxy: Dovecot has not cached
	// these messages yet, as after a maildir import.
	addr, cc := countCommands(b, d.IMAP)
	src, err := Dial(ctx, &Options{IMAP: addr, TLS: TLSNone}, "alice", testserver.Users["alice"])
	if err != nil {
		b.Fatal(err)
	}
	cc.take() // login
	start = time.Now()
	msgs, windows := initialSync(ctx, b, src, f)
	cold := time.Since(start)
	cmds, total := cc.take()
	src.Close()
	if msgs != n {
		b.Fatalf("initial sync saw %d messages, want %d", msgs, n)
	}
	rt := float64(total) / float64(windows)
	b.Logf("cold pass: %d messages in %d windows, %v (%.0f msg/s); %d commands %v",
		msgs, windows, cold, float64(msgs)/cold.Seconds(), total, cmds)

	b.Run("warm", func(b *testing.B) {
		src, err := Dial(ctx, &Options{IMAP: d.IMAP, TLS: TLSNone}, "alice", testserver.Users["alice"])
		if err != nil {
			b.Fatal(err)
		}
		defer src.Close()
		b.ReportAllocs()
		msgs := 0
		for b.Loop() {
			m, _ := initialSync(ctx, b, src, f)
			msgs += m
		}
		b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
		b.ReportMetric(rt, "roundtrips/window")
	})
}
