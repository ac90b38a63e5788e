package gateway

import (
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// newAdminMux returns the mux of the admin listener with its built-in
// routes: /metrics and net/http/pprof's /debug/pprof/. They are registered
// here rather than on http.DefaultServeMux, which anything linked into the
// binary may add to.
func (s *Server) newAdminMux() *http.ServeMux {
	m := http.NewServeMux()
	m.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	m.HandleFunc("/debug/pprof/", pprof.Index)
	m.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	m.HandleFunc("/debug/pprof/profile", pprof.Profile)
	m.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	m.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return m
}

// Admin returns the mux served on the admin listener, apart from the EAS
// endpoint so that it can stay on loopback. It serves GET /metrics and
// /debug/pprof/; other packages add their routes with Handle or
// HandleFunc. The mux checks no credentials: whoever registers a route
// protects it, and whoever exposes the listener beyond loopback protects
// /metrics and /debug/pprof/ (they leak timing and memory).
func (s *Server) Admin() *http.ServeMux { return s.admin }
