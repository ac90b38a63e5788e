package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/easgate/easgate/gateway"
)

// runServe runs "easgate serve". Until stores and configuration files
// arrive it serves the front door alone: OPTIONS and /metrics answer, and
// with no Backend every POST is answered 401.
func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("easgate serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "`address` to listen on")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &exitError{2, fmt.Errorf("serve: %w", err)}
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return &exitError{2, fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))}
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	gw, err := gateway.New(&gateway.Options{Logger: log})
	if err != nil {
		return err
	}
	err = serveGateway(ctx, gw, *listen, log, 10*time.Second, func(addr net.Addr) {
		log.Info("listening", "addr", addr.String())
	})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// serveGateway serves gw on addr until ctx ends; listening is called once
// the socket is open. At the end, waiting Pings answer at once and other
// requests get grace to finish before their connections are closed.
func serveGateway(ctx context.Context, gw *gateway.Server, addr string, log *slog.Logger,
	grace time.Duration, listening func(net.Addr)) error {
	// Parked phones hold their connections for up to the heartbeat, and
	// Go's default keepalive would probe every one of them every 15 s.
	// Probe only after 5 idle minutes, then every minute, 4 times: a dead
	// phone is still found well within the longest heartbeat (59 min).
	lc := net.ListenConfig{KeepAliveConfig: net.KeepAliveConfig{
		Enable: true, Idle: 5 * time.Minute, Interval: time.Minute, Count: 4,
	}}
	raw, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// Connections taken over by waiting Pings come back through ln.
	ln := gw.Listen(raw)
	srv := &http.Server{
		Handler: gw,
		// Also how long a phone may stay silent after a parked answer
		// hands its connection back (gateway.Listener).
		ReadHeaderTimeout: 30 * time.Second,
		// No WriteTimeout: it would cut off a Ping answered after the
		// heartbeat of a request that waits in its handler (HTTP/2).
		WriteTimeout: 0,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:  func(net.Listener) context.Context { return ctx },
	}
	listening(ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := gw.Shutdown(shutCtx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	if err := srv.Shutdown(shutCtx); err != nil {
		// A connection a parked answer handed back counts as busy until
		// the phone's next request: close what is left.
		log.Debug("closing the connections still open", "err", err)
		srv.Close()
	}
	return nil
}
