package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsDisabled reports whether addr turns the metrics listener off.
func metricsDisabled(addr string) bool { return addr == "" || addr == "off" }

// serveMetrics serves /metrics on a listener of its own, never on the API:
// the metrics name every home with its resource use, and they carry no
// login. It returns once the listener is bound; stop closes it.
func serveMetrics(ctx context.Context, addr string, g prometheus.Gatherer, logger *slog.Logger) (stop func(), err error) {
	if metricsDisabled(addr) {
		logger.Info("metrics listener off")
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{MaxRequestsInFlight: 4}))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	go func() { _ = srv.Serve(ln) }()
	bound := ln.Addr().(*net.TCPAddr)
	if !bound.IP.IsLoopback() {
		logger.Warn("metrics listener is not on loopback: every home's id and resource use can be read without login; restrict it with a firewall",
			"metrics_addr", bound.String())
	}
	logger.Info("metrics listening", "metrics_addr", bound.String())
	return func() { _ = srv.Close() }, nil
}
