package testserver

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Usage is what a server's processes hold: how many there are, how many
// of them are IMAP sessions, and their summed memory.
type Usage struct {
	Procs int // every live process of the server
	IMAP  int // Dovecot "imap" processes: one per open IMAP session
	// RSS and PSS are summed over Procs, in bytes, from
	// /proc/PID/smaps_rollup. PSS shares each shared page among the
	// processes that map it, so that the sum is what the server costs.
	RSS, PSS int64
}

// Usage measures d's processes: those of the session that its master
// leads (start-dovecot.sh runs it under setsid).
func (d *Dovecot) Usage() (Usage, error) {
	b, err := os.ReadFile(filepath.Join(d.Dir, "dovecot.pids"))
	if err != nil {
		return Usage{}, fmt.Errorf("testserver: dovecot pids: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return Usage{}, fmt.Errorf("testserver: no dovecot pid in %s", d.Dir)
	}
	master, err := strconv.Atoi(f[0])
	if err != nil {
		return Usage{}, fmt.Errorf("testserver: dovecot pid: %w", err)
	}
	return sessionUsage(master)
}

// sessionUsage sums the live processes of session sid.
func sessionUsage(sid int) (Usage, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return Usage{}, err
	}
	var u Usage
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp session ...; comm may hold spaces
		i := bytes.LastIndexByte(stat, ')')
		j := bytes.IndexByte(stat, '(')
		if i < 0 || j < 0 {
			continue
		}
		rest := strings.Fields(string(stat[i+1:]))
		if len(rest) < 4 || rest[0] == "Z" || rest[0] == "X" {
			continue
		}
		if s, _ := strconv.Atoi(rest[3]); s != sid {
			continue
		}
		u.Procs++
		if string(stat[j+1:i]) == "imap" {
			u.IMAP++
		}
		rss, pss := smapsRollup(pid)
		u.RSS += rss
		u.PSS += pss
	}
	if u.Procs == 0 {
		return u, fmt.Errorf("testserver: no live process in session %d", sid)
	}
	return u, nil
}

// smapsRollup returns a process's RSS and PSS in bytes, zero when it is
// gone.
func smapsRollup(pid int) (rss, pss int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "Rss":
			rss = n << 10
		case "Pss":
			pss = n << 10
		}
	}
	return rss, pss
}
