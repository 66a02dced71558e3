package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"

	"github.com/docker/docker/client"

	"github.com/homeplane/homeplane/agent/internal/command"
	"github.com/homeplane/homeplane/agent/internal/hastatus"
	"github.com/homeplane/homeplane/agent/internal/homeassistant"
	"github.com/homeplane/homeplane/agent/internal/outbox"
	"github.com/homeplane/homeplane/agent/internal/supervisor"
	"github.com/homeplane/homeplane/agent/internal/uplink"
)

// newSupervisor connects to the local Docker Engine (negotiating the API
// version, since home servers run older engines) and builds the supervisor.
func newSupervisor(cfg config, agentID string, pub supervisor.Publisher, log *slog.Logger) (*supervisor.Supervisor, error) {
	dc, err := supervisor.EngineClient(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker: %w", err)
	}
	opts := supervisor.Options{
		Logger:         log,
		SampleInterval: cfg.SampleInterval,
		Name:           cfg.ContainerName,
		AllowedImages:  cfg.AllowedImages,
	}
	if cfg.hosted != nil {
		// Beside other homes: a network none of them can cross, bounded
		// memory and processes (ADR 0067).
		opts = supervisor.HostedOptions(opts)
	}
	return supervisor.New(dc, pub, agentID, filepath.Join(cfg.DataDir, "supervisor"), opts)
}

// newOutbox wraps the uplink so nothing is lost while central is away.
func newOutbox(cfg config, up *uplink.Uplink, log *slog.Logger) (*outbox.Outbox, error) {
	return outbox.Open(filepath.Join(cfg.DataDir, "outbox"), up, outbox.Options{
		Logger:  log,
		Offline: uplink.ErrDisconnected,
	})
}

// startManaged re-attaches to the container (never restarting a healthy
// one), sweeps orphans, and provisions on first start.
func startManaged(ctx context.Context, sup *supervisor.Supervisor, spec supervisor.Spec, log *slog.Logger) error {
	if err := sup.Attach(ctx); err != nil {
		return err
	}
	if n, err := sup.Sweep(ctx); err != nil {
		log.Warn("orphan sweep failed", "error", err)
	} else if n > 0 {
		log.Info("removed orphaned containers", "count", n)
	}
	if sup.Status(ctx).State == supervisor.StateMissing {
		return sup.Provision(ctx, spec)
	}
	return nil
}

// newHAStatus builds the reporter of Home Assistant's own answers: in
// managed mode it feeds the supervisor's status and may onboard a wiped
// instance again; in adopt mode it publishes the status itself.
// Without a token it onboards first; onboarded is called after each
// onboarding.
func newHAStatus(cfg config, ha *homeassistant.Client, pub hastatus.Publisher, sup *supervisor.Supervisor, noToken bool, onboarded func(), log *slog.Logger) *hastatus.Reporter {
	opts := hastatus.Options{Logger: log, Adopt: sup == nil, Interval: cfg.SampleInterval,
		StateFile: filepath.Join(cfg.DataDir, "ha-status.json")}
	if sup != nil {
		opts.Sink, opts.OnboardAtStart = sup, noToken
		opts.Reonboard = func(ctx context.Context) error {
			if _, err := onboardHA(ctx, ha, cfg.DataDir, log); err != nil {
				return err
			}
			onboarded()
			return nil
		}
	}
	return hastatus.New(ha, pub, opts)
}

// hostSize is this machine's memory and CPUs, which no limit may exceed;
// unknown memory is not checked.
func hostSize() command.HostSize {
	mem, _ := memTotal()
	return command.HostSize{MemoryBytes: mem, NanoCPUs: int64(runtime.NumCPU()) * 1e9}
}
