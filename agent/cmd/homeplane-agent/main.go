// Command homeplane-agent runs on a home server: it enrolls once with
// central, keeps an MQTT uplink to it, keeps central's copy of the home's
// entity registry current, and runs central's commands against Home
// Assistant.
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
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/homeplane/homeplane/agent/internal/backoff"
	"github.com/homeplane/homeplane/agent/internal/command"
	"github.com/homeplane/homeplane/agent/internal/enroll"
	"github.com/homeplane/homeplane/agent/internal/entitysync"
	"github.com/homeplane/homeplane/agent/internal/hastatus"
	"github.com/homeplane/homeplane/agent/internal/homeassistant"
	"github.com/homeplane/homeplane/agent/internal/identity"
	"github.com/homeplane/homeplane/agent/internal/ledger"
	"github.com/homeplane/homeplane/agent/internal/metrics"
	"github.com/homeplane/homeplane/agent/internal/outbox"
	"github.com/homeplane/homeplane/agent/internal/supervisor"
	"github.com/homeplane/homeplane/agent/internal/uplink"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "homeplane-agent:", err)
		os.Exit(1)
	}
}

// Heap profiling is off: nothing in the agent reads it, and its bucket
// table costs up to 1.4 MiB of a budget of 15.
func init() { runtime.MemProfileRate = 0 }

// gcPercent is the agent's GOGC unless the environment sets one. Its live
// heap is under 1 MiB, so Go's default leaves the 4 MiB minimum heap goal as
// most of its memory; 50 halves that minimum for a collection every few
// seconds at 10 commands/s, each well under a millisecond (ADR 0015).
const gcPercent = 50

// maxProcs caps GOMAXPROCS unless the environment sets it. The agent waits
// on the network; each P adds its own span cache and GC worker, 0.8 MiB from
// 2 to 8 of them, which a home server's cores would otherwise bring.
const maxProcs = 2

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if getenv("GOMAXPROCS") == "" && runtime.GOMAXPROCS(0) > maxProcs {
		runtime.GOMAXPROCS(maxProcs)
	}
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	log.Info("starting", "version", version, "config", cfg)
	if cfg.Mode == "hosting" {
		return runHosting(ctx, cfg, log)
	}
	return runHome(ctx, cfg, log)
}

// runHome runs the agent of one home until ctx ends.
func runHome(ctx context.Context, cfg config, log *slog.Logger) error {
	id, err := loadOrEnroll(ctx, cfg, log)
	if err != nil {
		return err
	}
	tlsConfig, err := clientTLS(cfg.CAFile)
	if err != nil {
		return err
	}
	mqttURL := id.MQTTURL
	if cfg.MQTTURLSet || mqttURL == "" {
		mqttURL = cfg.MQTTURL
	}
	log.Info("identity", "identity", id, "mqtt_url", mqttURL)

	reg := metrics.NewRegistry()
	reg.RegisterRuntime()

	haToken := cfg.HAToken
	if haToken == "" {
		// Managed mode: the token minted when the agent onboarded the
		// instance, if it has.
		if haToken, err = loadHAToken(cfg.DataDir); err != nil {
			return err
		}
	}
	var haStatus *hastatus.Reporter // set below, before the first call
	ha := homeassistant.New(cfg.HAURL, haToken, homeassistant.Options{
		HTTPClient: &http.Client{Timeout: 30 * time.Second},
		Logger:     log.With("component", "homeassistant"),
		Observe:    func(err error) { haStatus.Observe(err) },
	})
	facts := &homeassistant.Facts{}
	led, err := ledger.Open(filepath.Join(cfg.DataDir, "commands"), ledger.Options{Logger: log.With("component", "ledger")})
	if err != nil {
		return err
	}
	defer led.Close()

	// The uplink serves the agent's handler, yet everything that publishes
	// (the syncer, the outbox, the supervisor through the outbox) does so
	// through the uplink: the handler is filled in once they exist, before
	// the uplink runs.
	a := &agent{}
	up := uplink.New(id, a, uplink.Options{
		Logger:               log.With("component", "uplink"),
		Metrics:              reg,
		MQTTURL:              mqttURL,
		AgentVersion:         version,
		HomeAssistantVersion: facts.Version,
		MaxBackoff:           cfg.MQTTMaxBackoff,
		TLSConfig:            tlsConfig,
	})
	ob, err := newOutbox(cfg, up, log.With("component", "outbox"))
	if err != nil {
		return err
	}
	up.SetResultSpool(ob)
	var sup *supervisor.Supervisor // nil in adopt mode
	spec := supervisor.Spec{Image: cfg.Image, HostPort: cfg.HAPort, MemoryBytes: cfg.MemoryBytes, NanoCPUs: cfg.NanoCPUs}
	instance := command.NewInstance(nil, spec)
	if cfg.Mode == "managed" {
		if sup, err = newSupervisor(cfg, id.AgentID, ob, log.With("component", "supervisor")); err != nil {
			return err
		}
		instance = command.NewInstance(sup, spec)
		instance.Host = hostSize()
		if h := cfg.hosted; h != nil {
			instance.Admit = h.admit
			instance.Release = func(context.Context) error { return h.release("released by central") }
		}
	}
	clog := log.With("component", "commands")
	services := command.NewServices(homeassistant.NewServices(ha, facts), command.ServicesOptions{Logger: clog, Metrics: reg, AllowedDomains: cfg.AllowedDomains})
	s := entitysync.New(ha, up, facts, log.With("component", "sync"))
	*a = agent{
		runner: command.New(services, instance, command.Options{Logger: clog, Metrics: reg, Ledger: led}),
		syncer: s,
		outbox: ob,
	}
	haStatus = newHAStatus(cfg, ha, ob, sup, haToken == "", s.RequestFull, log.With("component", "hastatus"))

	// Best effort, so the first presence message already names the version.
	vctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if c, err := ha.Config(vctx); err == nil && c.Version != "" {
		facts.SetVersion(c.Version)
		log.Info("home assistant reachable", "version", c.Version)
	} else if err != nil {
		log.Warn("home assistant not reachable yet", "url", cfg.HAURL, "error", err)
	}
	cancel()

	var wg sync.WaitGroup
	errc := make(chan error, 1)
	if cfg.MetricsAddr != "" {
		ln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		srv := &http.Server{Handler: metricsMux(reg, up), ReadHeaderTimeout: 5 * time.Second}
		wg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("metrics: %w", err)
			}
		})
		wg.Go(func() {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		})
		log.Info("serving metrics", "addr", ln.Addr().String())
	}
	wg.Go(func() { s.Run(ctx) })
	wg.Go(func() { ob.Run(ctx) })
	wg.Go(func() { haStatus.Run(ctx) })
	if sup != nil {
		if err := startManaged(ctx, sup, spec, log); err != nil {
			log.Error("managed home assistant not started", "error", err)
		}
		wg.Go(func() { _ = sup.Run(ctx) })
	}
	err = up.Run(ctx)
	wg.Wait()
	removeReleased(ctx, sup, log)
	if err != nil {
		return err
	}
	select {
	case err := <-errc:
		return err
	default:
	}
	log.Info("stopped")
	return nil
}

func metricsMux(reg *metrics.Registry, up *uplink.Uplink) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", reg.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	})
	// Ready means connected to central.
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !up.Connected() {
			http.Error(w, "not connected to central", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	return mux
}

// agent is the uplink's handler: commands go to the runner, connects ask
// for a full entity sync and wake the outbox.
type agent struct {
	runner *command.Runner
	syncer *entitysync.Syncer
	outbox *outbox.Outbox
}

var _ uplink.Handler = (*agent)(nil)

func (a *agent) HandleCommand(ctx context.Context, cmd *homeplanev1.Command) *homeplanev1.Result {
	return a.runner.Handle(ctx, cmd)
}

func (a *agent) OnConnect(context.Context) {
	a.syncer.RequestFull()
	a.outbox.Kick()
}

// loadOrEnroll returns the stored identity, enrolling first when there is
// none. An agent that has an identity never enrolls again.
func loadOrEnroll(ctx context.Context, cfg config, log *slog.Logger) (identity.Identity, error) {
	if mode, loose := identity.Loosened(cfg.StateDir); loose {
		log.Warn("identity file was readable by others; tightening it to 0600", "mode", mode.String())
	}
	id, err := identity.Load(cfg.StateDir)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, identity.ErrNotEnrolled) {
		return identity.Identity{}, fmt.Errorf("load identity from %s: %w", cfg.StateDir, err)
	}
	if cfg.EnrollmentToken == "" {
		return identity.Identity{}, fmt.Errorf("not enrolled: %s holds no identity; pass --enrollment-token (or HOMEPLANE_ENROLLMENT_TOKEN) from `homectl` to enroll", cfg.StateDir)
	}
	host, _ := os.Hostname()
	tlsConfig, err := clientTLS(cfg.CAFile)
	if err != nil {
		return identity.Identity{}, err
	}
	client := &http.Client{Timeout: 30 * time.Second}
	if tlsConfig != nil {
		client.Transport = &http.Transport{TLSClientConfig: tlsConfig}
	}
	for failures := 1; ; failures++ {
		id, err = enroll.Enroll(ctx, cfg.CentralURL, cfg.EnrollmentToken, host, version, client)
		if err == nil {
			break
		}
		if !errors.Is(err, enroll.ErrUnavailable) || ctx.Err() != nil {
			return identity.Identity{}, err
		}
		d := backoff.Jittered(failures, time.Second, time.Minute)
		log.Warn("enrollment failed; retrying", "central_url", cfg.CentralURL, "error", err, "retry_in", d.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return identity.Identity{}, ctx.Err()
		case <-time.After(d):
		}
	}
	if err := identity.Save(cfg.StateDir, id); err != nil {
		return identity.Identity{}, fmt.Errorf("enrolled, but saving the identity failed (a new enrollment token is needed): %w", err)
	}
	log.Info("enrolled", "identity", id)
	return id, nil
}
