package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/homeplane/homeplane/central/internal/admin"
	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/rpc"
	"github.com/homeplane/homeplane/central/internal/usage"
	"github.com/homeplane/homeplane/central/internal/web"
)

// operations is what operators use: the audit writer with its retention and
// text index upkeep, usage rollups, AdminService's dependencies and the web
// dashboard.
type operations struct {
	auditor *audit.Writer
	usage   *usage.Recorder
	reports *usage.Reporter
	admin   rpc.AdminDeps
	webDeps web.Deps
	webOpts web.Options
	stop    context.CancelFunc
	done    chan struct{}
}

// newOperations starts the audit writer, the retention loop, the text
// index's merges and the usage flusher; close stops them, committing what
// is queued.
func newOperations(ctx context.Context, cfg config, pool *pgxpool.Pool, accounts *auth.Service, instances rpc.Instances,
	reg prometheus.Registerer, logger *slog.Logger) (*operations, error) {
	rates, err := usage.ParseRates(cfg.UsageRates)
	if err != nil {
		return nil, err
	}
	auditStore := postgres.NewAuditStore(pool)
	usageStore := postgres.NewUsageStore(pool)
	o := &operations{
		auditor: audit.NewWriter(auditStore, audit.Options{Logger: logger, Registerer: reg}),
		usage:   usage.NewRecorder(usageStore, usage.Options{Logger: logger, Registerer: reg}),
		done:    make(chan struct{}),
	}
	operators := admin.New(postgres.NewAdminStore(pool), accounts, o.auditor, admin.Options{Logger: logger})
	reports := usage.NewReporter(usageStore, rates)
	o.reports = reports
	o.admin = rpc.AdminDeps{Operators: operators, Audit: auditStore, Usage: reports, Instances: instances}
	o.webDeps = web.Deps{
		Accounts: accounts, Operators: operators, Audit: auditStore, Usage: reports,
		Instances: instances, Samples: o.usage, Auditor: o.auditor, Stats: auditStore,
		Fleet: postgres.NewFleetStore(pool),
	}
	o.webOpts = web.Options{Admits: rpc.DashboardAdmits, Errors: rpc.HTTPError, Logger: logger, SecureCookies: cfg.TLSCert != "" || cfg.SecureCookies}

	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	o.stop = stop
	go func() {
		defer close(o.done)
		go auditStore.KeepTextIndexClean(bg, postgres.TextCleanOptions{Logger: logger, Registerer: reg})
		if cfg.AuditRetention > 0 {
			go audit.RunRetention(bg, auditStore, time.Duration(cfg.AuditRetention), audit.RetentionOptions{Logger: logger})
		}
		o.usage.Run(bg)
	}()
	return o, nil
}

// close runs after the HTTP server has shut down: the last answered
// requests' records are committed and the usage rollups flushed.
func (o *operations) close() {
	o.auditor.Close()
	o.stop()
	<-o.done
}

// withDashboard serves the web dashboard under web.Prefix beside the API;
// presence comes from the command router, which is built after operations.
// The dashboard knows its clients' addresses as the API does, so both
// share the login limits per address.
func (o *operations) withDashboard(mux *http.ServeMux, presence web.Presence, proxies []netip.Prefix) http.Handler {
	deps := o.webDeps
	deps.Presence = presence
	dashboard := rpc.ClientAddrs(proxies, web.New(deps, o.webOpts))
	mux.Handle(web.Prefix, dashboard)
	// The pairing page, where a person approves a device's code.
	mux.Handle(web.PairPath, dashboard)
	mux.Handle(web.PairPath+"/", dashboard)
	return mux
}
