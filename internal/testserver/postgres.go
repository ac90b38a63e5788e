package testserver

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres is a running PostgreSQL 15 (Debian's postgresql-15): a
// throwaway cluster in Dir, run as the postgres system user (PostgreSQL
// refuses root), listening on 127.0.0.1:Port with trust authentication for
// the superuser "postgres", and a database "easgate". URL connects to
// that database; Socket is the directory of its unix socket.
//
// Stop it with SIGINT only (Stop, and the cleanup do): that is the fast
// shutdown, which ends open sessions. SIGTERM would wait for every client
// to disconnect; SIGKILL of the postmaster or of one backend makes it
// terminate every session and run crash recovery.
type Postgres struct {
	URL, Dir, Socket string
	Port             int

	stop func() error
}

// StartPostgres starts a PostgreSQL cluster of its own on a free port. It
// is stopped and its directory removed at t.Cleanup.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	dir, p := start(t, "postgres", 1, nil)
	return newPostgres(dir, p[0], nil)
}

func newPostgres(dir string, port int, stop func() error) *Postgres {
	return &Postgres{
		URL:    "postgres://postgres@" + addr(port) + "/easgate?sslmode=disable",
		Dir:    dir,
		Socket: dir,
		Port:   port,
		stop:   stop,
	}
}

// SharedPostgres is one cluster for the tests of a package that ask for
// it: starting a cluster costs a second or more (initdb), and tests keep
// apart by database (Database). It starts on first use; the package's
// TestMain calls Close after m.Run.
type SharedPostgres struct {
	once sync.Once
	pg   *Postgres
	err  error
}

// Get returns the shared cluster, starting it on the first call. A
// cluster that cannot start fails the test under CI=true and skips it
// otherwise.
func (s *SharedPostgres) Get(t testing.TB) *Postgres {
	t.Helper()
	s.once.Do(func() {
		if os.Geteuid() != 0 {
			s.err = errors.New("postgres: the start script needs root (apt, chown, setpriv)")
			return
		}
		dir, p, stop, err := launch("postgres", 1, nil, nil, t.Logf)
		if err != nil {
			s.err = err
			return
		}
		s.pg = newPostgres(dir, p[0], stop)
	})
	if s.err != nil {
		unavailable(t, "%v", s.err)
	}
	return s.pg
}

// Close stops the shared cluster if it was started and removes its
// directory.
func (s *SharedPostgres) Close() error {
	if s.pg == nil || s.pg.stop == nil {
		return nil
	}
	return s.pg.stop()
}

// Database creates an empty database for one test and returns its URL; it
// is dropped at t.Cleanup (open sessions are ended first).
func (p *Postgres) Database(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	name := fmt.Sprintf("t_%x", b)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, p.URL)
	if err != nil {
		t.Fatalf("testserver: postgres: %v", err)
	}
	defer c.Close(ctx)
	// template0: nothing to copy but the catalog, and no one else connected
	// to it to make CREATE DATABASE wait.
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0"); err != nil {
		t.Fatalf("testserver: postgres: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, p.URL)
		if err != nil {
			t.Errorf("testserver: postgres: %v", err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("testserver: postgres: dropping %s: %v", name, err)
		}
	})
	return "postgres://postgres@" + addr(p.Port) + "/" + name + "?sslmode=disable"
}

// Schema creates an empty schema in the "easgate" database for one test
// and returns a URL whose connections use it (search_path); it is dropped
// at t.Cleanup. Cheaper than Database (no files to copy), for tests that
// need tables of their own but may share the database's LISTEN channels
// and advisory locks.
func (p *Postgres) Schema(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	name := fmt.Sprintf("t_%x", b)
	ctx := context.Background()
	exec := func(sql string) error {
		c, err := pgx.Connect(ctx, p.URL)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		_, err = c.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE SCHEMA " + name); err != nil {
		t.Fatalf("testserver: postgres: %v", err)
	}
	t.Cleanup(func() {
		if err := exec("DROP SCHEMA IF EXISTS " + name + " CASCADE"); err != nil {
			t.Errorf("testserver: postgres: dropping schema %s: %v", name, err)
		}
	})
	return p.URL + "&search_path=" + name
}

// Stop shuts the server down (fast shutdown: open sessions end); the data
// stay in Dir for Start.
func (p *Postgres) Stop(t testing.TB) {
	t.Helper()
	script := filepath.Join(scriptDir(), "start-postgres.sh")
	if out, err := runScript(script, []string{"stop", p.Dir}, nil, time.Minute); err != nil {
		t.Fatalf("testserver: postgres stop: %v\n%s", err, tail(out))
	}
}

// Start starts a stopped server again on the same port and data.
func (p *Postgres) Start(t testing.TB) {
	t.Helper()
	script := filepath.Join(scriptDir(), "start-postgres.sh")
	if out, err := runScript(script, []string{"start", p.Dir, strconv.Itoa(p.Port)}, nil, time.Minute); err != nil {
		t.Fatalf("testserver: postgres restart: %v\n%s", err, tail(out))
	}
}
