package main

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// serveHTTP serves /healthz, /readyz and /metrics, and the deploy role's
// status page, on -listen.
func (m *Main) serveHTTP(reg *prometheus.Registry) error {
	ln, err := net.Listen("tcp", m.Config.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", m.Config.Listen, err)
	}
	m.listener = ln
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-m.closing:
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		default:
		}
		if m.router == nil || !m.router.IsRunning() {
			http.Error(w, "not consuming yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if m.page != nil {
		mux.Handle("GET /{$}", m.page)
		mux.Handle("GET /status.json", m.page.JSON())
	}
	m.server = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = m.server.Serve(ln) }()
	return nil
}
