package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/broker"
	"github.com/homeplane/homeplane/central/internal/command"
	"github.com/homeplane/homeplane/central/internal/fleet"
	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/central/internal/idempotency"
	"github.com/homeplane/homeplane/central/internal/ingest"
	"github.com/homeplane/homeplane/central/internal/instance"
	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/limits"
	"github.com/homeplane/homeplane/central/internal/pairing"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/presence"
	"github.com/homeplane/homeplane/central/internal/registry"
	"github.com/homeplane/homeplane/central/internal/rpc"
	"github.com/homeplane/homeplane/central/internal/rules"
	"github.com/homeplane/homeplane/central/internal/timer"
)

// instancePruneInterval is how often the instance status of deleted homes is
// forgotten.
const instancePruneInterval = 5 * time.Minute

// ingestWorkers apply what agents send: four of the main pool's 16
// connections at most, so requests keep twelve; commits wait for the disk,
// and four overlap them where two could not keep up with 2,000 agents.
const ingestWorkers = 4

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
	stopMetrics, err := serveMetrics(ctx, cfg.MetricsAddr, reg, logger)
	if err != nil {
		return err
	}
	defer stopMetrics()

	authStore := postgres.NewAuthStore(pool)
	keys, err := auth.LoadKeys(ctx, authStore, time.Now())
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	accounts := auth.NewService(authStore, keys, auth.Options{
		AccessTTL:   time.Duration(cfg.AccessTTL),
		RefreshTTL:  time.Duration(cfg.RefreshTTL),
		SessionTTL:  time.Duration(cfg.RefreshTTL),
		Issuer:      cfg.Issuer,
		Audience:    cfg.Audience,
		Notifier:    postgres.NewOutbox(pool),
		AutoConfirm: cfg.AutoConfirmRegistrations,
		Logger:      logger,
	})
	if cfg.AutoConfirmRegistrations {
		logger.Warn("registrations are confirmed without mail: for development only, addresses can be enumerated")
	}
	go reloadKeys(ctx, accounts, logger)
	tlsConfig, err := loadTLS(cfg)
	if err != nil {
		return err
	}
	proxies, err := cfg.proxies()
	if err != nil {
		return err
	}

	// The broker asks the home service about agents, and the home service
	// tells the broker whom to disconnect: homes is set before Start.
	var homes *home.Service
	mqtt, err := newMQTTSide(cfg, broker.CredentialsFunc(func(ctx context.Context, agentID, secret string) (string, error) {
		return homes.AuthenticateAgent(ctx, agentID, secret)
	}), tlsConfig, logger, reg)
	if err != nil {
		return err
	}
	logins, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.Options{MaxConns: 4})
	if err != nil {
		return err
	}
	defer logins.Close()
	homeStore := postgres.NewHomeStore(pool).WithLoginPool(logins)
	homes = home.NewService(homeStore, home.Options{Logger: logger, Disconnector: mqtt})
	entities := registry.New(postgres.NewRegistryStore(pool), registry.Options{Logger: logger})
	instances, err := instance.New(postgres.NewInstanceStore(pool), instance.Options{Logger: logger, Registerer: reg})
	if err != nil {
		return err
	}
	if err := instances.Load(ctx); err != nil {
		return err
	}
	go instances.Run(ctx, instancePruneInterval)
	ops, err := newOperations(ctx, cfg, pool, accounts, instances, reg, logger)
	if err != nil {
		return err
	}
	defer ops.close()
	// What agents send comes in through ingest, which hands results to the
	// router, presence to the tracker, syncs to the registry and samples
	// and events to the instance sinks.
	// An agent coming online gets its home's instance limits again: it may
	// have missed a change while away (ADR 0033).
	var instanceLimits *limits.Service
	agents, err := presence.New(presence.Options{Logger: logger, Registerer: reg,
		OnOnline: func(homeID string) { instanceLimits.Resend(ctx, homeID) }})
	if err != nil {
		return err
	}
	router, err := command.New(mqtt, agents, command.Options{
		Logger: logger, Registerer: reg, DefaultTimeout: time.Duration(cfg.CommandTimeout),
	})
	if err != nil {
		return err
	}
	instanceLimits = limits.New(postgres.NewLimitsStore(pool), router, limits.Options{Logger: logger})
	intake, err := ingest.New(mqtt, ingest.Targets{
		Results: router, Presence: agents, Entities: entities,
		Instances: []ingest.InstanceSink{instances, ops.usage},
	}, ingest.Options{Logger: logger, Registerer: reg, Workers: ingestWorkers})
	if err != nil {
		return err
	}
	defer intake.Close() // after the transport closes: what is queued is applied
	mqtt.OnConnection(agents.SetConnected)
	// One replica, the holder of the lease "fleet", records the fleet every
	// minute for the dashboard's history (ADR 0035); stopped, and the lease
	// released, before the pool closes.
	sampler := fleet.NewSampler(postgres.NewFleetStore(pool), postgres.NewLease(pool, "fleet"), agents.OnlineCount,
		fleet.Options{Holder: leaseHolder(cfg.ReplicaID), Logger: logger})
	fleetCtx, stopFleet := context.WithCancel(ctx)
	fleetDone := make(chan struct{})
	go func() { defer close(fleetDone); sampler.Run(fleetCtx) }()
	defer func() { stopFleet(); <-fleetDone }()
	if err := mqtt.Start(ctx); err != nil {
		return err
	}
	defer mqtt.Close()

	conversations := postgres.NewConversationStore(pool)
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "homeplane_central_conversation_turn_writes_total",
			Help: "Writes of context turns; each stores a batch of them in one transaction.",
		}, func() float64 { w, _ := conversations.TurnWrites(); return float64(w) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "homeplane_central_conversation_turns_written_total",
			Help: "Context turns those writes carried (a failed batch's again when retried one by one).",
		}, func() float64 { _, n := conversations.TurnWrites(); return float64(n) }),
	)
	pipelines := intent.NewPipelineCache(postgres.NewPipelineStore(pool), 0)
	parsers, closeParsers, err := optionalParsers(cfg, logger)
	if err != nil {
		return err
	}
	defer closeParsers()
	var engine *intent.Engine
	// Replicas of central on one database share the timers; the one that
	// holds the lease finishes them (ADR 0025).
	timers := timer.NewManager(timer.Options{Logger: logger, Store: postgres.NewTimerStore(pool),
		Lease: postgres.NewLease(pool, "timers"), Holder: leaseHolder(cfg.ReplicaID),
		Finished: func(t timer.Timer) {
			awaitAgent(ctx, agents, t.Owner.HomeID)
			runTimerCommand(ctx, engine, t, logger)
		}})
	engine = intent.NewEngine(rules.New(rules.Options{}), entities, router, intent.Options{
		Logger: logger, Registerer: reg, CommandTimeout: time.Duration(cfg.CommandTimeout), ParserName: "rules",
		Conversations: conversations,
		ContextWindow: cfg.ConversationWindow, ContextTTL: time.Duration(cfg.ConversationTTL),
		Timers: timers, Pipelines: pipelines, Parsers: parsers, Policies: homeStore,
	})
	// Timers come back once the engine exists: those that ended while no
	// replica ran them finish once this one holds the lease, and run their
	// commands through it. The lease is released before the pool closes.
	timersCtx, stopTimers := context.WithCancel(ctx)
	timersDone := make(chan struct{})
	go func() { defer close(timersDone); _ = timers.RunLease(timersCtx) }()
	defer func() { stopTimers(); <-timersDone }()
	idem := postgres.NewIdempotencyStore(pool)
	go purgeIdempotencyKeys(ctx, idem, logger)
	go sweepConversations(ctx, conversations, time.Duration(cfg.ConversationTTL), logger)
	ops.admin.Instances = instances // the fleet listing shows each home's Home Assistant
	pairings := pairing.NewService(postgres.NewPairingStore(pool), homes, ops.auditor, pairing.Options{
		TTL: time.Duration(cfg.PairingTTL), Interval: time.Duration(cfg.PairingInterval), Logger: logger,
	})
	api := rpc.NewHandler(rpc.Deps{
		Accounts: accounts,
		Homes:    homes,
		Entities: entities,
		Intents:  engine,
		Auditor:  ops.auditor,
		Presence: agents,
		// Instance control: the status the agents report, commands through the router.
		InstanceStatus: instances,
		Commands:       router,
		Limits:         instanceLimits,
		Admin:          ops.admin,
		Timers:         timers,
		Pipelines:      pipelines,
		Idempotency:    &idempotency.Keeper{Store: idem},
		Usage:          ops.reports,
		Pairings:       pairings,
	}, rpc.Options{PublicURL: cfg.PublicURL, ListenAddr: cfg.HTTPAddr, Logger: logger, Registerer: reg, MQTTURL: cfg.MQTTAdvertise, TrustedProxies: proxies,
		DeviceRate: rpc.RateLimit{Burst: cfg.DeviceBurst, PerSecond: cfg.DeviceRate},
		UserRate:   rpc.RateLimit{Burst: cfg.UserBurst, PerSecond: cfg.UserRate},
		Overload:   rpc.Overload{Backlog: ops.auditor.Backlog, Target: time.Duration(cfg.OverloadTarget)},
	})

	ops.webDeps.Homes, ops.webDeps.Pairings = homes, pairings
	srv := rpc.NewServer(rpc.LimitPerAddress(proxies, cfg.MaxRequestsPerAddress, reg,
		ops.withDashboard(rpc.NewMux(api, readiness(pool), nil), agents, proxies)), logger)
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return err
	}
	ln = rpc.LimitListener(ln, cfg.MaxConnections)
	if tlsConfig != nil {
		srv.TLSConfig = tlsConfig.Clone()
		srv.TLSConfig.NextProtos = []string{"h2", "http/1.1"}
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	logger.Info("serving", "http_addr", ln.Addr().String(), "mqtt_addr", mqtt.Endpoint())

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

// agentGrace is how long a finished timer's command waits for its home's
// agent: after central restarts, the timers that ended meanwhile finish
// before the agents have reconnected.
const agentGrace = 30 * time.Second

// awaitAgent returns once the home's agent is connected, or after agentGrace.
func awaitAgent(ctx context.Context, agents *presence.Tracker, homeID string) {
	deadline := time.NewTimer(agentGrace)
	defer deadline.Stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for !agents.Online(homeID) {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		case <-tick.C:
		}
	}
}

// reloadKeys rereads the signing keys every keyReloadInterval, so a key
// added by "keys rotate" verifies here before it starts signing.
func reloadKeys(ctx context.Context, accounts *auth.Service, logger *slog.Logger) {
	t := time.NewTicker(keyReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := accounts.ReloadKeys(ctx); err != nil && ctx.Err() == nil {
				logger.Warn("signing keys not reloaded", "err", err)
			}
		}
	}
}

// loadTLS reads the server certificate when one is configured.
func loadTLS(cfg config) (*tls.Config, error) {
	if cfg.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// readiness reports ready while the database answers.
func readiness(pool *pgxpool.Pool) func(context.Context) error {
	return func(ctx context.Context) error { return pool.Ping(ctx) }
}
