package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/broker"
	"github.com/homeplane/homeplane/central/internal/command"
	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/registry"
	"github.com/homeplane/homeplane/central/internal/rpc"
	"github.com/homeplane/homeplane/central/internal/rules"
)

// migrate applies the embedded migrations and exits.
func migrate(ctx context.Context, cfg config, logger *slog.Logger) error {
	pool, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.Options{Migrate: true, Logger: logger})
	if err != nil {
		return err
	}
	pool.Close()
	logger.Info("migrations applied")
	return nil
}

// serve wires central together and runs it until ctx ends.
func serve(ctx context.Context, cfg config, logger *slog.Logger) error {
	logger = slog.New(rpc.NewLogHandler(logger.Handler()))
	logger.Info("starting", "config", cfg)

	pool, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.Options{Migrate: true, Logger: logger})
	if err != nil {
		return err
	}
	defer pool.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	authStore := postgres.NewAuthStore(pool)
	keys, err := auth.LoadKeys(ctx, authStore, time.Now())
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	accounts := auth.NewService(authStore, keys, auth.Options{
		AccessTTL:  time.Duration(cfg.AccessTTL),
		RefreshTTL: time.Duration(cfg.RefreshTTL),
		Issuer:     cfg.Issuer,
		Audience:   cfg.Audience,
	})
	homes := home.NewService(postgres.NewHomeStore(pool), home.Options{Logger: logger})
	entities := registry.New(postgres.NewRegistryStore(pool), registry.Options{Logger: logger})

	mqtt, err := broker.New(homes, broker.Options{Addr: cfg.MQTTAddr, Logger: logger, Registerer: reg})
	if err != nil {
		return err
	}
	router, err := command.New(mqtt, entities, command.Options{
		Logger: logger, Registerer: reg, DefaultTimeout: time.Duration(cfg.CommandTimeout),
	})
	if err != nil {
		return err
	}
	mqtt.OnConnection(router.SetConnected)
	if err := mqtt.Start(ctx); err != nil {
		return err
	}
	defer mqtt.Close()

	engine := intent.NewEngine(rules.New(rules.Options{}), entities, router, intent.Options{
		Logger: logger, Registerer: reg, CommandTimeout: time.Duration(cfg.CommandTimeout), ParserName: "rules",
	})
	api := rpc.NewHandler(rpc.Deps{
		Accounts: accounts,
		Homes:    homes,
		Entities: entities,
		Intents:  engine,
		Auditor:  audit.NewWriter(postgres.NewAuditStore(pool), audit.Options{Logger: logger}),
		Presence: router,
	}, rpc.Options{Logger: logger, Registerer: reg, MQTTURL: cfg.MQTTAdvertise})

	srv := &http.Server{
		Handler:           rpc.NewMux(api, readiness(pool), reg),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		Protocols:         new(http.Protocols),
	}
	// HTTP/1.1 and cleartext HTTP/2 (h2c) for gRPC clients without TLS.
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return err
	}
	logger.Info("serving", "http_addr", ln.Addr().String(), "mqtt_addr", mqtt.Addr().String())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.ShutdownTimeout))
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// readiness reports ready while the database answers.
func readiness(pool *pgxpool.Pool) func(context.Context) error {
	return func(ctx context.Context) error { return pool.Ping(ctx) }
}
