package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/easgate/easgate/statecache"
)

const stateUsage = `usage: easgate state <command> [flags]

commands:
  migrate  bring a PostgreSQL state (state.url) to this easgate's schema version;
           serve does the same at start, this is for migrating before a rollout
  version  print a PostgreSQL state's schema version and the one this easgate writes
  export   write a whole state (Badger directory or PostgreSQL) as a stream of records
  import   read such a stream into an empty state: a single node's Badger state moves
           into PostgreSQL with every sync key, so phones go on without a resync

flags (the state is named by one of them; EASGATE_STATE_URL and EASGATE_STATE_DIR apply):
  -config FILE   the [state] section of serve's configuration
  -dir DIR       a Badger directory (stop the server that uses it first)
  -url URL       a PostgreSQL URL, postgres://...
  -o FILE        export: write to FILE (a new file, mode 0600) instead of standard output
  -i FILE        import: read FILE instead of standard input
  -overwrite     import: write into a state that is not empty (an import run again)

Moving a node to PostgreSQL: stop easgate serve, then
  easgate state export -dir /var/lib/easgate -o state.easgate
  easgate state import -url postgres://... -i state.easgate
and start the nodes with state.url.
`

// runState runs the easgate state subcommands.
func runState(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, stateUsage)
		return &exitError{2, errors.New("state: missing command")}
	}
	cmd := args[0]
	switch cmd {
	case "migrate", "version", "export", "import":
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, stateUsage)
		return nil
	default:
		fmt.Fprint(stderr, stateUsage)
		return &exitError{2, fmt.Errorf("state: unknown command %q", cmd)}
	}
	fs := flag.NewFlagSet("easgate state "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, stateUsage) }
	configPath := fs.String("config", "", "serve's configuration `FILE`")
	dir := fs.String("dir", "", "a Badger state `DIR`")
	url := fs.String("url", "", "a PostgreSQL state `URL`")
	out := fs.String("o", "", "export to `FILE`")
	in := fs.String("i", "", "import from `FILE`")
	overwrite := fs.Bool("overwrite", false, "import into a state that is not empty")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &exitError{2, fmt.Errorf("state %s: %w", cmd, err)}
	}
	if fs.NArg() > 0 {
		return &exitError{2, fmt.Errorf("state %s: unexpected argument %q", cmd, fs.Arg(0))}
	}
	sc := StateConfig{Dir: *dir, URL: *url}
	if *configPath != "" {
		cfg, err := loadConfig(*configPath, os.Environ())
		if err != nil {
			return &exitError{2, err}
		}
		sc = cfg.State
	}
	if sc.Dir == "" && sc.URL == "" {
		sc.Dir, sc.URL = os.Getenv(envPrefix+"STATE_DIR"), os.Getenv(envPrefix+"STATE_URL")
	}
	if sc.Dir == "" && sc.URL == "" {
		return &exitError{2, fmt.Errorf("state %s: name the state with -config, -dir or -url", cmd)}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	switch cmd {
	case "migrate", "version":
		if sc.URL == "" {
			return &exitError{2, fmt.Errorf("state %s: schema versions are PostgreSQL's (-url); a Badger directory has none", cmd)}
		}
		if cmd == "version" {
			cur, latest, err := statecache.SchemaVersion(ctx, sc.URL)
			if err != nil {
				return fmt.Errorf("state version: %w", err)
			}
			fmt.Fprintf(stdout, "schema version %d; this easgate writes %d\n", cur, latest)
			return nil
		}
		from, to, err := statecache.MigratePostgres(ctx, sc.URL, log)
		if err != nil {
			return fmt.Errorf("state migrate: %w", err)
		}
		if from == to {
			fmt.Fprintf(stdout, "schema version %d: up to date\n", to)
		} else {
			fmt.Fprintf(stdout, "schema version %d → %d\n", from, to)
		}
		return nil
	}

	st, err := sc.open(ctx, log)
	if err != nil {
		return fmt.Errorf("state %s: %w", cmd, err)
	}
	defer st.Close()
	switch cmd {
	case "export":
		w := stdout
		if *out != "" {
			f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("state export: %w", err)
			}
			defer f.Close()
			w = f
		}
		n, err := st.Export(ctx, w)
		if err != nil {
			if *out != "" {
				os.Remove(*out)
			}
			return fmt.Errorf("state export: %w", err)
		}
		if f, ok := w.(*os.File); ok && *out != "" {
			if err := f.Sync(); err != nil {
				return fmt.Errorf("state export: %w", err)
			}
		}
		fmt.Fprintf(stderr, "exported %d records\n", n)
	case "import":
		r := stdin
		if *in != "" {
			f, err := os.Open(*in)
			if err != nil {
				return fmt.Errorf("state import: %w", err)
			}
			defer f.Close()
			r = f
		}
		n, err := st.Import(ctx, r, &statecache.ImportOptions{Overwrite: *overwrite})
		if err != nil {
			return fmt.Errorf("state import: %w", err)
		}
		fmt.Fprintf(stderr, "imported %d records\n", n)
	}
	return nil
}
