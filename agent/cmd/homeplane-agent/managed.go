package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/docker/docker/client"

	"github.com/homeplane/homeplane/agent/internal/hastatus"
	"github.com/homeplane/homeplane/agent/internal/homeassistant"
	"github.com/homeplane/homeplane/agent/internal/outbox"
	"github.com/homeplane/homeplane/agent/internal/supervisor"
	"github.com/homeplane/homeplane/agent/internal/uplink"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// newSupervisor connects to the local Docker Engine (negotiating the API
// version, since home servers run older engines) and builds the supervisor.
func newSupervisor(cfg config, agentID string, pub supervisor.Publisher, log *slog.Logger) (*supervisor.Supervisor, error) {
	dc, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker: %w", err)
	}
	return supervisor.New(dc, pub, agentID, filepath.Join(cfg.DataDir, "supervisor"), supervisor.Options{
		Logger:         log,
		SampleInterval: cfg.SampleInterval,
		Name:           cfg.ContainerName,
	})
}

// newOutbox wraps the uplink so nothing is lost while central is away.
func newOutbox(cfg config, up *uplink.Uplink, log *slog.Logger) (*outbox.Outbox, error) {
	return outbox.Open(filepath.Join(cfg.DataDir, "outbox"), up, outbox.Options{
		Logger:  log,
		Offline: uplink.ErrDisconnected,
	})
}

// newHAStatus builds the reporter of Home Assistant's own answers: in
// managed mode it feeds the supervisor's status and may onboard a wiped
// instance again; in adopt mode it publishes the status itself.
// Without a token it onboards first; onboarded is called after each
// onboarding.
func newHAStatus(cfg config, ha *homeassistant.Client, pub hastatus.Publisher, sup *supervisor.Supervisor, noToken bool, onboarded func(), log *slog.Logger) *hastatus.Reporter {
	opts := hastatus.Options{Logger: log, Adopt: sup == nil, Interval: cfg.SampleInterval}
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

// instanceCommand runs a lifecycle command against the supervisor.
func instanceCommand(ctx context.Context, sup *supervisor.Supervisor, spec supervisor.Spec, cmd *homeplanev1.Command) *homeplanev1.Result {
	res := &homeplanev1.Result{CommandId: cmd.Id, RequestId: cmd.RequestId}
	if sup == nil {
		res.ErrorCode, res.Error = "unavailable", "the agent does not manage the Home Assistant container (adopt mode)"
		return res
	}
	if d := cmd.Deadline; d != nil && time.Now().After(d.AsTime()) {
		res.ErrorCode, res.Error = "expired", "command arrived after its deadline"
		return res
	}
	in := cmd.Instance
	var err error
	switch in.Action {
	case homeplanev1.InstanceAction_INSTANCE_ACTION_START:
		err = sup.Start(ctx)
	case homeplanev1.InstanceAction_INSTANCE_ACTION_STOP:
		err = sup.Stop(ctx)
	case homeplanev1.InstanceAction_INSTANCE_ACTION_RESTART:
		err = sup.Restart(ctx)
	case homeplanev1.InstanceAction_INSTANCE_ACTION_UPGRADE:
		err = sup.Upgrade(ctx, in.Image)
	case homeplanev1.InstanceAction_INSTANCE_ACTION_PROVISION:
		if in.Image != "" {
			spec.Image = in.Image
		}
		err = sup.Provision(ctx, spec)
	case homeplanev1.InstanceAction_INSTANCE_ACTION_REMOVE:
		err = sup.Remove(ctx, in.RemoveData)
	case homeplanev1.InstanceAction_INSTANCE_ACTION_UNSPECIFIED:
		// Status only.
	default:
		res.ErrorCode, res.Error = "invalid", fmt.Sprintf("unknown instance action %d", in.Action)
		return res
	}
	res.Instance = sup.Status(ctx)
	switch {
	case err == nil:
		res.Ok = true
	case errors.Is(err, supervisor.ErrNotProvisioned):
		res.ErrorCode, res.Error = "invalid", err.Error()
	default:
		res.ErrorCode, res.Error = "instance", err.Error()
	}
	return res
}
