// Package command runs the commands central sends to the home. The Runner
// decides, in one place, whether a command runs: each command id at most
// once, even when MQTT delivers it twice or the agent restarts in between
// (its ledger answers those), and never after its deadline. Two executors
// do the work: Services calls Home Assistant's services, Instance acts on
// the Home Assistant container through the supervisor.
package command

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/homeplane/homeplane/agent/internal/metrics"
	"github.com/homeplane/homeplane/agent/internal/supervisor"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/vocab"
)

// The codes of failed results (mqtt.proto's CommandError) the executors
// and the runner answer with.
const (
	CodeExpired       = homeplanev1.CommandError_COMMAND_ERROR_EXPIRED
	CodeInvalid       = homeplanev1.CommandError_COMMAND_ERROR_INVALID
	CodeHomeAssistant = homeplanev1.CommandError_COMMAND_ERROR_HOME_ASSISTANT
	CodeUnavailable   = homeplanev1.CommandError_COMMAND_ERROR_UNAVAILABLE
	CodeInstance      = homeplanev1.CommandError_COMMAND_ERROR_INSTANCE
	CodeBusy          = homeplanev1.CommandError_COMMAND_ERROR_BUSY
	CodeForbidden     = homeplanev1.CommandError_COMMAND_ERROR_FORBIDDEN
)

// Executor runs one kind of command. The Runner has already decided that
// the command runs; the executor only does it. It fills in everything of
// the Result but its ids.
type Executor interface {
	Execute(ctx context.Context, cmd *homeplanev1.Command) *homeplanev1.Result
}

// Ledger is the on-disk memory of commands across agent restarts
// (agent/internal/ledger).
type Ledger interface {
	// Recall answers a command an earlier run of the agent saw.
	Recall(cmd *homeplanev1.Command) (*homeplanev1.Result, bool)
	// Begin records, durably, that cmd is about to run.
	Begin(cmd *homeplanev1.Command) error
	// Finish records cmd's result.
	Finish(cmd *homeplanev1.Command, res *homeplanev1.Result) error
}

// Options are the runner's optional settings; zero values pick defaults.
type Options struct {
	Logger *slog.Logger
	// Metrics receives the instruments; nil keeps them unexposed.
	Metrics *metrics.Registry
	// Ledger remembers commands across restarts; nil remembers them for
	// this run only.
	Ledger Ledger
	// CacheSize bounds how many finished commands are remembered in memory
	// (default 64); the ledger answers older ones.
	CacheSize int
	// CacheTTL is how long a finished command is remembered in memory
	// (default 10m), and at least until its deadline.
	CacheTTL time.Duration
	// MaxRunTime caps a service command's run whatever its deadline
	// (default 1m).
	MaxRunTime time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Runner runs commands, each at most once. It serves the uplink.
type Runner struct {
	services, instance Executor
	log                *slog.Logger
	opts               Options
	table              *table
	metrics            *runnerMetrics
}

// New returns a Runner handing service commands to services and instance
// commands to instance; a nil instance refuses them (adopt mode).
func New(services, instance Executor, opts Options) *Runner {
	if instance == nil {
		instance = NewInstance(nil, supervisor.Spec{})
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 64
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = 10 * time.Minute
	}
	if opts.MaxRunTime <= 0 {
		opts.MaxRunTime = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Runner{
		services: services,
		instance: instance,
		log:      opts.Logger,
		opts:     opts,
		table:    newTable(opts.CacheSize),
		metrics:  newRunnerMetrics(opts.Metrics),
	}
}

// Handle runs cmd and returns the Result to publish. A command id seen
// before is not run again: a duplicate of a command still running waits for
// it, a later one gets the stored Result, and one an earlier run of the
// agent saw is answered from the ledger. Handle returns nil only when ctx
// ends while it waits for such a duplicate; the first delivery publishes
// the Result then.
func (r *Runner) Handle(ctx context.Context, cmd *homeplanev1.Command) *homeplanev1.Result {
	log := r.log.With("command_id", cmd.GetId(), "request_id", cmd.GetRequestId())
	if err := checkCommandID(cmd.GetId()); err != nil {
		// Without a usable id the command cannot be deduplicated, so it is not run.
		log.Warn("command refused", "error", err)
		r.metrics.outcome(vocab.CodeName(CodeInvalid))
		res := vocab.Fail(CodeInvalid, err.Error())
		res.CommandId, res.RequestId = truncate(cmd.GetId(), maxIDLen), truncate(cmd.GetRequestId(), maxIDLen)
		return res
	}
	now := r.opts.Now()
	e, dup := r.table.claim(cmd.GetId(), now)
	if dup {
		r.metrics.duplicates.Inc()
		log.Info("duplicate command; answering with its result")
		select {
		case <-e.done:
			return e.decoded()
		case <-ctx.Done():
			return nil
		}
	}
	if r.opts.Ledger != nil {
		if res, ok := r.opts.Ledger.Recall(cmd); ok {
			log.Info("command seen before the agent restarted; answering from the ledger", "ok", res.GetOk())
			r.table.finish(e, res, r.keep(cmd, now))
			return res
		}
	}
	res := r.run(ctx, log, cmd, now)
	res.CommandId = cmd.GetId()
	res.RequestId = truncate(cmd.GetRequestId(), maxIDLen)
	if res.GetOk() {
		r.metrics.outcome("ok")
	} else {
		r.metrics.outcome(vocab.CodeName(vocab.CodeOf(res)))
	}
	if r.opts.Ledger != nil {
		if err := r.opts.Ledger.Finish(cmd, res); err != nil {
			log.Warn("command result not recorded", "error", err)
		}
	}
	r.table.finish(e, res, r.keep(cmd, now))
	return res
}

// run checks the deadline, records the command in the ledger and hands it
// to its executor.
func (r *Runner) run(ctx context.Context, log *slog.Logger, cmd *homeplanev1.Command, now time.Time) *homeplanev1.Result {
	limit := now.Add(r.opts.MaxRunTime)
	if dl := cmd.GetDeadline(); dl != nil {
		if err := dl.CheckValid(); err != nil {
			return fail(CodeInvalid, "deadline: "+err.Error())
		}
		t := dl.AsTime()
		if !now.Before(t) {
			log.Info("command refused: past its deadline", "deadline", t, "late", now.Sub(t))
			return fail(CodeExpired, fmt.Sprintf("arrived %s after its deadline", now.Sub(t).Round(time.Millisecond)))
		}
		if t.Before(limit) {
			limit = t
		}
	}
	if r.opts.Ledger != nil {
		if err := r.opts.Ledger.Begin(cmd); err != nil {
			// Better to run it than to refuse: within this run it still runs once.
			log.Warn("command not recorded before running", "error", err)
		}
	}
	if cmd.GetInstance() != nil || cmd.GetConfig() != nil {
		// An instance action runs to its end whatever the deadline: an
		// upgrade stopped halfway leaves the container in between.
		return r.instance.Execute(ctx, cmd)
	}
	ctx, cancel := context.WithDeadline(ctx, limit)
	defer cancel()
	return r.services.Execute(ctx, cmd)
}

// keep is how long a finished command is remembered in memory: the TTL,
// and at least until its deadline so that a redelivery within its life is
// answered rather than run again.
func (r *Runner) keep(cmd *homeplanev1.Command, now time.Time) time.Time {
	keep := r.opts.Now().Add(r.opts.CacheTTL)
	if dl := cmd.GetDeadline(); dl != nil {
		if t := dl.AsTime(); t.After(keep) && t.Before(now.Add(r.opts.MaxRunTime+r.opts.CacheTTL)) {
			keep = t
		}
	}
	return keep
}

func fail(code homeplanev1.CommandError, msg string) *homeplanev1.Result {
	return vocab.Fail(code, msg)
}
