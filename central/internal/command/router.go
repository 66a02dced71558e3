// Package command routes commands to homes over MQTT: the router publishes a
// Command on the home's cmd topic and waits, until the command's deadline,
// for the Result the home's agent publishes with the same command id. Which
// homes are online is presence's business, and the results reach the router
// through ingest, which decodes and checks everything agents send.
package command

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/central/internal/intent"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
)

// Transport is the MQTT connection the router publishes commands on: the
// embedded broker's inline client, or a client of an external broker.
type Transport interface {
	Publish(topic string, payload []byte, retain bool) error
}

// Presence tells whether a home's agent can take a command now
// (presence.Tracker).
type Presence interface {
	Online(homeID string) bool
}

var _ intent.Executor = (*Router)(nil)

var (
	// ErrOffline means the home's agent is not connected; nothing was sent.
	// It is the intent engine's ErrHomeOffline, so the engine can answer it.
	ErrOffline = fmt.Errorf("command: %w", intent.ErrHomeOffline)
	// ErrTimeout means no result arrived before the command's deadline; the
	// agent may or may not have run it.
	ErrTimeout = fmt.Errorf("command: no result before the deadline: %w", intent.ErrTimeout)
	// ErrBusy means too many commands are waiting for results.
	ErrBusy = errors.New("command: too many commands in flight")
	// ErrInvalid means the command or home id cannot be sent.
	ErrInvalid = errors.New("command: invalid command")
)

// Outcomes, as counted in homeplane_central_commands_total.
const (
	outcomeOK       = "ok"
	outcomeFailed   = "failed" // a Result with ok=false
	outcomeOffline  = "offline"
	outcomeTimeout  = "timeout"
	outcomeCanceled = "canceled"
	outcomeBusy     = "busy"
	outcomeError    = "error" // the transport refused the publish
)

// Options tunes the router. Zero values take the defaults.
type Options struct {
	Logger     *slog.Logger          // default discards
	Registerer prometheus.Registerer // default registers nowhere
	// DefaultTimeout is the deadline of a command whose context has none.
	// Default 5s.
	DefaultTimeout time.Duration
	// MaxPending bounds commands waiting for their results. Default 10000.
	MaxPending int
	// Now is the clock for deadlines. Default time.Now.
	Now func() time.Time
}

// Router sends commands and matches their results.
type Router struct {
	t              Transport
	presence       Presence
	log            *slog.Logger
	m              *metrics
	defaultTimeout time.Duration
	maxPending     int
	now            func() time.Time

	mu      sync.Mutex
	pending map[string]*call // by command id
}

// call is one command waiting for its result.
type call struct {
	home string
	done chan *homeplanev1.Result // buffered 1; receives at most one result
}

// New builds a router that publishes on t and asks p whether a home is
// online. Results come in through Deliver.
func New(t Transport, p Presence, opts Options) (*Router, error) {
	if t == nil || p == nil {
		return nil, errors.New("command: nil transport or presence")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.DefaultTimeout == 0 {
		opts.DefaultTimeout = 5 * time.Second
	}
	if opts.MaxPending == 0 {
		opts.MaxPending = 10000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.DefaultTimeout < 0 || opts.MaxPending < 0 {
		return nil, errors.New("command: negative option")
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("command: metrics: %w", err)
	}
	return &Router{
		t:              t,
		presence:       p,
		log:            opts.Logger,
		m:              m,
		defaultTimeout: opts.DefaultTimeout,
		maxPending:     opts.MaxPending,
		now:            opts.Now,
		pending:        make(map[string]*call),
	}, nil
}

// Execute sends cmd to the home and waits for its result. It fills in
// cmd.Id when empty and sets cmd.Deadline to the earliest of ctx's deadline
// (or DefaultTimeout from now) and any deadline cmd already carries.
//
// A home that is offline gets nothing and ErrOffline at once. Without a
// result by the deadline the error is ErrTimeout. A Result with ok=false is
// returned with a nil error: the command was delivered and answered.
func (r *Router) Execute(ctx context.Context, homeID string, cmd *homeplanev1.Command) (*homeplanev1.Result, error) {
	if cmd == nil || !topic.ValidHomeID(homeID) {
		return nil, fmt.Errorf("execute: %w", ErrInvalid)
	}
	if err := ctx.Err(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("execute: %w", err)
	}
	if cmd.Id == "" {
		cmd.Id = rand.Text()
	}
	start := r.now()
	deadline := start.Add(r.defaultTimeout)
	if d, ok := ctx.Deadline(); ok {
		deadline = d
	}
	if cmd.Deadline != nil && cmd.Deadline.IsValid() && cmd.Deadline.AsTime().Before(deadline) {
		deadline = cmd.Deadline.AsTime()
	}
	cmd.Deadline = timestamppb.New(deadline)
	// The logger with the command's identifiers is made only for a line
	// that is written: With formats them at once, and a command that
	// succeeds writes none at the default level.
	log := func() *slog.Logger { return r.logFor(cmd.RequestId, cmd.Id, homeID) }
	debug := r.log.Enabled(ctx, slog.LevelDebug)

	if !r.presence.Online(homeID) {
		r.m.outcome(outcomeOffline)
		log().Info("command not sent: home offline")
		return nil, fmt.Errorf("execute: %w", ErrOffline)
	}
	wait := deadline.Sub(start)
	if wait <= 0 {
		r.m.outcome(outcomeTimeout)
		return nil, fmt.Errorf("execute: deadline already passed: %w", ErrTimeout)
	}
	payload, err := proto.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("execute: encode: %w", ErrInvalid)
	}

	c := &call{home: homeID, done: make(chan *homeplanev1.Result, 1)}
	if err := r.register(cmd.Id, c); err != nil {
		if errors.Is(err, ErrBusy) {
			r.m.outcome(outcomeBusy)
			log().Warn("command not sent: too many in flight")
		}
		return nil, fmt.Errorf("execute: %w", err)
	}
	defer r.forget(cmd.Id, c)

	// Registered before publishing: the result may arrive before Publish
	// returns.
	if err := r.t.Publish(topic.For(homeID, topic.Command), payload, false); err != nil {
		r.m.outcome(outcomeError)
		log().Error("command publish failed", "error", err)
		return nil, fmt.Errorf("execute: publish: %w", err)
	}
	if debug {
		log().Debug("command sent", "calls", len(cmd.Calls), "deadline", deadline)
	}

	// Timers run on the real clock; Now only decides where the deadline is.
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case res := <-c.done:
		r.m.seconds.Observe(r.now().Sub(start).Seconds())
		if !res.Ok {
			r.m.outcome(outcomeFailed)
			log().Info("command failed", "error_code", res.ErrorCode, "error", res.Error)
			return res, nil
		}
		r.m.outcome(outcomeOK)
		if debug {
			log().Debug("command succeeded", "home_assistant_us", res.HomeAssistantUs)
		}
		return res, nil
	case <-timer.C:
	case <-ctx.Done():
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			r.m.outcome(outcomeCanceled)
			return nil, fmt.Errorf("execute: %w", ctx.Err())
		}
	}
	r.m.seconds.Observe(r.now().Sub(start).Seconds())
	r.m.outcome(outcomeTimeout)
	log().Warn("command timed out", "waited", r.now().Sub(start))
	return nil, fmt.Errorf("execute: %w", ErrTimeout)
}

func (r *Router) register(id string, c *call) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) >= r.maxPending {
		return ErrBusy
	}
	if _, dup := r.pending[id]; dup {
		return fmt.Errorf("command id %q already in flight: %w", id, ErrInvalid)
	}
	r.pending[id] = c
	r.m.pending.Set(float64(len(r.pending)))
	return nil
}

func (r *Router) forget(id string, c *call) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending[id] == c {
		delete(r.pending, id)
		r.m.pending.Set(float64(len(r.pending)))
	}
}

// Deliver hands the router a result the home's agent published. The home is
// the one the message came from (its topic), never a field of the result. A
// result nobody waits for, or from a home the command was not sent to, is
// counted and dropped.
func (r *Router) Deliver(homeID string, res *homeplanev1.Result) {
	r.mu.Lock()
	c, found := r.pending[res.GetCommandId()]
	match := found && c.home == homeID
	if match {
		delete(r.pending, res.GetCommandId())
		r.m.pending.Set(float64(len(r.pending)))
	}
	r.mu.Unlock()

	switch {
	case !found:
		r.m.ignored.WithLabelValues("unknown_command").Inc()
		if r.log.Enabled(context.Background(), slog.LevelDebug) {
			r.logFor(res.GetRequestId(), res.GetCommandId(), homeID).Debug("result for no waiting command (late or duplicate)")
		}
	case !match:
		// Another home answering for a command it was never sent.
		r.m.ignored.WithLabelValues("wrong_home").Inc()
		r.logFor(res.GetRequestId(), res.GetCommandId(), homeID).Warn("result from a home the command was not sent to")
	default:
		c.done <- res // buffered and removed from pending: never blocks
	}
}

// logFor is the router's logger with a command's identifiers.
func (r *Router) logFor(requestID, commandID, homeID string) *slog.Logger {
	return r.log.With("request_id", requestID, "command_id", commandID, "home_id", homeID)
}

// Waiting reports whether the command was sent to the home and its result is
// still awaited.
func (r *Router) Waiting(homeID, commandID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.pending[commandID]
	return ok && c.home == homeID
}
