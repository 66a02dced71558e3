package rpc

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// readyTimeout bounds one readiness check.
const readyTimeout = 2 * time.Second

// NewMux serves api (from NewHandler) at "/", with JSON bodies on the errors
// Connect answers without one (withHTTPErrors), together with the
// operational endpoints:
//
//   - GET /healthz: 200 while the process serves HTTP (liveness);
//   - GET /readyz: 200 when ready returns nil, 503 otherwise (readiness; a
//     nil ready is always ready);
//   - GET /metrics: the gatherer in the Prometheus text format (omitted when
//     gatherer is nil).
func NewMux(api http.Handler, ready func(context.Context) error, gatherer prometheus.Gatherer) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/", withHTTPErrors(api, DefaultMaxRequestBytes))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
			defer cancel()
			// The cause stays in the server's own checks; probes see only the verdict.
			if err := ready(ctx); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte("not ready\n"))
				return
			}
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	if gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	}
	return mux
}
