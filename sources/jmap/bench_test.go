package jmap

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
)

// fill puts n HTML messages into a new mailbox and returns its folder
// id. As root it writes the message files into the mailbox's directory
// and runs reconstruct (20,000 in seconds); otherwise it appends over IMAP,
// pipelined, at about 13 messages a second on a busy 2-core machine.
func fill(b *testing.B, cy *testserver.Cyrus, src *Source, name string, n int) sources.FolderID {
	b.Helper()
	m := newMailStore(b, cy, src)
	f := m.mkdir(name)
	html := "<html><body>" + strings.Repeat("<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit.</p>", 150) + "</body></html>"
	start := time.Now()
	if cmd := cyrusTool(b.Context(), cy, "mbpath", "user/alice/"+name); cmd != nil {
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("mbpath: %v", err)
		}
		dir := strings.TrimSpace(string(out))
		st, err := os.Stat(dir)
		if err != nil {
			b.Fatal(err)
		}
		sys := st.Sys().(*syscall.Stat_t)
		for i := 1; i <= n; i++ {
			p := filepath.Join(dir, fmt.Sprintf("%d.", i))
			raw := fmt.Appendf(nil, "From: Bob <bob@example.com>\r\nTo: alice@example.com\r\nSubject: bench %d\r\n"+
				"Message-ID: <%d@bench>\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"+
				"Content-Type: text/html; charset=utf-8\r\n\r\n%s\r\n", i, i, html)
			if err := os.WriteFile(p, raw, 0o600); err != nil {
				b.Fatal(err)
			}
			if err := os.Chown(p, int(sys.Uid), int(sys.Gid)); err != nil {
				b.Fatal(err)
			}
		}
		if out, err := cyrusTool(b.Context(), cy, "reconstruct", "user/alice/"+name).CombinedOutput(); err != nil {
			b.Fatalf("reconstruct: %v: %s", err, out)
		}
		b.Logf("filed %d messages by reconstruct in %v", n, time.Since(start).Round(time.Millisecond))
		return f
	}
	const batch = 200
	for i := 0; i < n; i += batch {
		var cmds []*imapclient.AppendCommand
		for j := i; j < min(n, i+batch); j++ {
			raw := fmt.Appendf(nil, "From: Bob <bob@example.com>\r\nTo: alice@example.com\r\nSubject: bench %d\r\n"+
				"Message-ID: <%d@bench>\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n%s\r\n", j, j, html)
			cmd := m.c.Append(name, int64(len(raw)), nil)
			cmd.Write(raw)
			cmd.Close()
			cmds = append(cmds, cmd)
		}
		for _, cmd := range cmds {
			if _, err := cmd.Wait(); err != nil {
				b.Fatalf("APPEND: %v", err)
			}
		}
	}
	b.Logf("appended %d messages in %v", n, time.Since(start).Round(time.Millisecond))
	return f
}

// BenchmarkNoChange measures a Sync that finds nothing new: one HTTP
// request whatever the folder's size.
func BenchmarkNoChange(b *testing.B) {
	cy := testserver.StartCyrus(b, nil)
	cnt := &counter{base: http.DefaultTransport}
	src := login(b, cy.JMAP, "alice", Options{HTTPClient: &http.Client{Transport: cnt}})
	for _, n := range []int{5000, 20000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			f := fill(b, cy, src, fmt.Sprintf("nochange%d", n), n)
			ctx := context.Background()
			st, err := src.State(ctx, f)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			cnt.n.Store(0)
			b.ResetTimer()
			for b.Loop() {
				d, err := src.Changes(ctx, f, st, 100)
				if err != nil || len(d.Changed)+len(d.Removed) != 0 {
					b.Fatalf("Changes = %+v, %v", d, err)
				}
			}
			b.ReportMetric(float64(cnt.n.Load())/float64(b.N), "requests/op")
		})
	}
}

// BenchmarkInitialSync lists 5,000 mails in windows of 100 and fetches
// each window with HTML bodies truncated at 5 KB, as a first Sync does.
func BenchmarkInitialSync(b *testing.B) {
	const n, window = 5000, 100
	cy := testserver.StartCyrus(b, nil)
	cnt := &counter{base: http.DefaultTransport}
	src := login(b, cy.JMAP, "alice", Options{HTTPClient: &http.Client{Transport: cnt}})
	f := fill(b, cy, src, "initial", n)
	ctx := context.Background()
	o := &sources.GetOptions{HTML: true, BodyLimit: 5 << 10}
	b.ReportAllocs()
	cnt.n.Store(0)
	b.ResetTimer()
	for b.Loop() {
		var st sources.State
		got := 0
		for {
			d, err := src.Changes(ctx, f, st, window)
			if err != nil {
				b.Fatal(err)
			}
			items, err := src.Get(ctx, f, d.Changed, o)
			if err != nil {
				b.Fatal(err)
			}
			for _, it := range items {
				if it.Mail.HTML == nil || !it.Mail.HTML.Truncated {
					b.Fatalf("item %s: HTML %+v, want a truncated body", it.ID, it.Mail.HTML)
				}
			}
			got += len(items)
			if st = d.Next; !d.More {
				break
			}
		}
		if got != n {
			b.Fatalf("listed %d messages, want %d", got, n)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(cnt.n.Load())/float64(b.N*n/window), "requests/window")
}
