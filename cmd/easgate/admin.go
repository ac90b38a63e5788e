package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/easgate/easgate/gateway"
)

// adminSocketName is the admin API's unix socket in the state directory:
// "easgate device" on the same host talks to the running server through
// it, without a token. The directory's permissions and the socket's mode
// (0600) decide who may.
const adminSocketName = "admin.sock"

// mountAdmin adds the admin API and console to the admin listener, the
// user console to the EAS listener, and serves the API on the unix socket
// in the state directory until ctx ends or stop is called.
func mountAdmin(ctx context.Context, gw *gateway.Server, cfg *Config, log *slog.Logger) (stop func(), err error) {
	return mountAdminAt(ctx, gw, cfg.Admin, cfg.State.Dir, log)
}

// mountAdminAt is mountAdmin for the [admin] section a and state
// directory dir.
func mountAdminAt(ctx context.Context, gw *gateway.Server, a AdminConfig, dir string, log *slog.Logger) (stop func(), err error) {
	co := gateway.ConsoleOptions{Token: a.Token, SessionTimeout: a.SessionTimeout, SecureCookies: a.SecureCookies}
	gw.Admin().Handle(gateway.AdminPrefix, gw.AdminAPI(gateway.AdminOptions{Token: a.Token}))
	gw.Admin().Handle(gateway.AdminConsolePrefix, gw.AdminConsole(co))
	if a.Token == "" && a.Listen != "" {
		log.Info("admin API and console closed on the admin listener: no admin.token (EASGATE_ADMIN_TOKEN); easgate device uses the state directory's socket")
	}
	if a.UserConsole {
		gw.EnableUserConsole(co)
	}
	if dir == "" {
		// A node on a shared state without a directory of its own.
		log.Info("no admin socket: state.dir is not set; easgate device needs -url and a token")
		return func() {}, nil
	}
	stop, err = serveAdminSocket(ctx, filepath.Join(dir, adminSocketName), gw.AdminAPI(gateway.AdminOptions{Trusted: true}), log)
	if err != nil {
		// The server is still useful without it (a path too long for a
		// socket, a read-only directory): easgate device then needs -url.
		log.Warn("no admin socket: easgate device needs -url and a token while serve runs", "err", err)
		return func() {}, nil
	}
	return stop, nil
}

// serveAdminSocket serves h on a unix socket at path, mode 0600. A socket
// left by a server that died is replaced: the state directory's lock,
// taken before, says no other server uses it.
func serveAdminSocket(ctx context.Context, path string, h http.Handler, log *slog.Logger) (stop func(), err error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("admin socket: %s exists and is not a socket", path)
		}
		os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("admin socket", "err", err)
		}
	}()
	log.Info("admin socket listening", "path", path)
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-done
		os.Remove(path)
	}, nil
}
