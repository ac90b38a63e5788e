package testserver

import (
	"net"
	"testing"
)

// HAProxy is a running HAProxy 2.6 balancing round-robin, per request, over
// the backends it was started with. URL is its frontend,
// "http://127.0.0.1:port"; Dir holds haproxy.cfg, log/haproxy.log (one
// line per request) and admin.sock, the runtime API.
//
// The configuration is the one deploy/haproxy.cfg recommends for EAS:
// client, server and tunnel timeouts of 3660 s, so that a Ping or hanging
// Sync of the longest heartbeat is not cut; responses forwarded as they
// arrive (no buffering, no compression); a health check by OPTIONS
// /Microsoft-Server-ActiveSync that counts 200 and 401 as up, every
// second, down after two failures; a refused connect retried on the next
// server. A long poll held by a backend that dies is answered 502, as it
// would be in production. Each response carries X-Served-By: sN, the
// backend (s1 for the first given, ...) that answered.
type HAProxy struct{ URL, Dir string }

// StartHAProxy starts HAProxy on loopback in front of backends, each
// "host:port"; it returns once every backend has had its first health
// check. It is stopped (SIGTERM to its pid, which closes open long polls at
// once) at t.Cleanup.
func StartHAProxy(t testing.TB, backends ...string) *HAProxy {
	t.Helper()
	if len(backends) == 0 {
		t.Fatal("testserver: StartHAProxy needs at least one backend")
	}
	for _, b := range backends {
		if _, _, err := net.SplitHostPort(b); err != nil {
			t.Fatalf("testserver: HAProxy backend %q: %v", b, err)
		}
	}
	dir, p := start(t, "haproxy", 1, nil, backends...)
	return &HAProxy{URL: "http://" + addr(p[0]), Dir: dir}
}
