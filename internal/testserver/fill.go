package testserver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNotRoot is returned by the Fill functions when the process cannot
// write into the servers' mail directories; callers then APPEND over IMAP,
// which manages 50–60 messages a second on the project's machine.
var ErrNotRoot = errors.New("testserver: filling a mailbox directly needs root")

// FillMaildir writes n messages gen(0) … gen(n-1), LF line ends, straight
// into the existing mailbox box of user as seen messages in cur/ (the
// layout of start-dovecot.sh: Dir/mail/<user>/Maildir with Maildir++
// folders, INBOX at the top, owned by nobody:nogroup). Dovecot assigns
// their UIDs at its next SELECT or STATUS of box. 50,000 mails of 6 KB take
// a few seconds where APPEND takes a quarter of an hour.
func (d *Dovecot) FillMaildir(user, box string, n int, gen func(int) []byte) error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	dir := filepath.Join(d.Dir, "mail", user, "Maildir")
	if !strings.EqualFold(box, "INBOX") {
		dir = filepath.Join(dir, "."+box)
	}
	cur := filepath.Join(dir, "cur")
	if _, err := os.Stat(cur); err != nil {
		return fmt.Errorf("testserver: maildir of %s: %w", box, err)
	}
	uid, gid, err := ownerOf(cur)
	if err != nil {
		return err
	}
	// Names follow Dovecot's own, <secs>.M<usecs>P<pid>Q<count>.<host>,
	// with the message's number appearing once: Dovecot keys its
	// dovecot-uidlist by a hash of the name (maildir_filename_base_hash,
	// a PJW hash whose state folds every 6 characters), and the same
	// number written twice 12 characters apart cancelled out in it, so
	// 50,000 names fell into a handful of buckets and every read of the
	// uidlist cost O(n²): minutes of Dovecot CPU at 50,000 (issue 14).
	now := time.Now()
	for i := range n {
		raw := gen(i)
		// W= is the size with CRLF line ends, which IMAP reports.
		name := fmt.Sprintf("%d.M%dP%dQ%d.easgate,S=%d,W=%d:2,S", now.Unix(), now.Nanosecond()/1000, os.Getpid(), i,
			len(raw), len(raw)+bytes.Count(raw, []byte("\n")))
		if err := writeOwned(filepath.Join(cur, name), raw, uid, gid); err != nil {
			return err
		}
	}
	// The mail is left as if delivered a minute ago. Dovecot cannot trust
	// a maildir directory's mtime within a second or two of a change (two
	// changes in one second look alike), so until then every STATUS and
	// sync of the folder rescans it and rereads its dovecot-uidlist:
	// measurements started right after a fill paid that (a no-change
	// Sync of 1,000 or 5,000 mails took 1.6–2.3 ms on an idle machine and
	// 0.6 ms on a busy one, which reached it later; issue 14). The new
	// mtime differs from any Dovecot recorded, so it still rescans once.
	old := now.Add(-time.Minute)
	for _, sub := range []string{"cur", "new"} {
		if err := os.Chtimes(filepath.Join(dir, sub), old, old); err != nil {
			return fmt.Errorf("testserver: %w", err)
		}
	}
	return nil
}

// FillMailbox writes n messages gen(0) … gen(n-1), CRLF line ends, into
// the existing mailbox box of user ("Archive", or "INBOX") as message
// files and runs Cyrus's reconstruct, which indexes them (50,000 in about
// a minute).
func (c *Cyrus) FillMailbox(ctx context.Context, user, box string, n int, gen func(int) []byte) error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	name := "user/" + user
	if !strings.EqualFold(box, "INBOX") {
		name += "/" + box
	}
	out, err := c.tool(ctx, "mbpath", name).Output()
	if err != nil {
		return fmt.Errorf("testserver: mbpath %s: %w", name, err)
	}
	dir := strings.TrimSpace(string(out))
	uid, gid, err := ownerOf(dir)
	if err != nil {
		return err
	}
	// Cyrus names message files <uid>.; the new ones follow the highest.
	first := 1
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("testserver: %w", err)
	}
	for _, e := range ents {
		if u, err := strconv.Atoi(strings.TrimSuffix(e.Name(), ".")); err == nil && strings.HasSuffix(e.Name(), ".") {
			first = max(first, u+1)
		}
	}
	for i := range n {
		if err := writeOwned(filepath.Join(dir, fmt.Sprintf("%d.", first+i)), gen(i), uid, gid); err != nil {
			return err
		}
	}
	if out, err := c.tool(ctx, "reconstruct", name).CombinedOutput(); err != nil {
		return fmt.Errorf("testserver: reconstruct %s: %w: %s", name, err, tail(out))
	}
	return nil
}

// tool runs one of Cyrus's command-line tools as the cyrus user on this
// server's configuration.
func (c *Cyrus) tool(ctx context.Context, name string, args ...string) *exec.Cmd {
	prefix := "/opt/cyrus-3.6"
	if b, err := os.ReadFile(filepath.Join(c.Dir, "cyrus.conf")); err == nil && strings.Contains(string(b), "/opt/cyrus-3.6-push/") {
		prefix = "/opt/cyrus-3.6-push"
	}
	args = append([]string{"--reuid=cyrus", "--regid=mail", "--clear-groups",
		prefix + "/usr/lib/cyrus/bin/" + name, "-C", filepath.Join(c.Dir, "imapd.conf")}, args...)
	cmd := exec.CommandContext(ctx, "setpriv", args...)
	cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+prefix+"/usr/lib/x86_64-linux-gnu")
	return cmd
}

func ownerOf(p string) (uid, gid int, err error) {
	st, err := os.Stat(p)
	if err != nil {
		return 0, 0, fmt.Errorf("testserver: %w", err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, fmt.Errorf("testserver: no owner for %s", p)
	}
	return int(sys.Uid), int(sys.Gid), nil
}

func writeOwned(p string, raw []byte, uid, gid int) error {
	if err := os.WriteFile(p, raw, 0o600); err != nil {
		return fmt.Errorf("testserver: %w", err)
	}
	if err := os.Chown(p, uid, gid); err != nil {
		return fmt.Errorf("testserver: %w", err)
	}
	return nil
}

// CPU returns the processor time the server's processes have used so
// far: those named in the start script's pidfile and every process of
// their sessions (Dovecot's imap processes, Cyrus's services). A process
// that has exited no longer counts, so take the difference of two calls
// around work that keeps its connections open.
func (d *Dovecot) CPU() (time.Duration, error) {
	return sessionCPU(filepath.Join(d.Dir, "dovecot.pids"))
}

// CPU is Dovecot.CPU for Cyrus.
func (c *Cyrus) CPU() (time.Duration, error) { return sessionCPU(filepath.Join(c.Dir, "cyrus.pids")) }

// clockTicks is the kernel's USER_HZ, 100 on every Linux port Go supports.
const clockTicks = 100

func sessionCPU(pidfile string) (time.Duration, error) {
	b, err := os.ReadFile(pidfile)
	if err != nil {
		return 0, fmt.Errorf("testserver: %w", err)
	}
	lead := map[string]bool{}
	for _, f := range strings.Fields(string(b)) {
		lead[f] = true
	}
	procs, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return 0, err
	}
	var ticks uint64
	for _, p := range procs {
		f, err := os.Open(p)
		if err != nil {
			continue // gone meanwhile
		}
		line, _ := bufio.NewReader(f).ReadString('\n')
		f.Close()
		pid := filepath.Base(filepath.Dir(p))
		// after "pid (comm) ": state ppid pgrp session … utime(14) stime(15)
		i := strings.LastIndexByte(line, ')')
		if i < 0 {
			continue
		}
		fs := strings.Fields(line[i+1:])
		if len(fs) < 13 || !lead[pid] && !lead[fs[3]] {
			continue
		}
		ut, _ := strconv.ParseUint(fs[11], 10, 64)
		st, _ := strconv.ParseUint(fs[12], 10, 64)
		ticks += ut + st
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}
