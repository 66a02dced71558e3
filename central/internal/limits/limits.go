// Package limits keeps the CPU and memory limits operators set for homes'
// Home Assistant containers and delivers them to the homes' agents: at once
// when the agent is online, and again each time it comes online, so an
// agent that was away gets them. It also tells a hosting agent that its
// home was released (deleted, or its agent revoked), so the container goes
// (ADR 0033).
package limits

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// Errors; rpc maps them.
var (
	// ErrInvalid: the limits are out of bounds; the text says which.
	ErrInvalid = errors.New("invalid limits")
	// ErrNotFound: no such home.
	ErrNotFound = errors.New("home not found")
	// ErrRefused: the agent refused the limits (more than its server has).
	ErrRefused = errors.New("the home's server refused the limits")
)

// Bounds of a limit (0 is none): Docker's minimums, and what no single
// home server has.
const (
	MinMemoryBytes = 6 << 20
	MaxMemoryBytes = 1 << 40
	MinNanoCPUs    = 10_000_000
	MaxNanoCPUs    = 256 * 1_000_000_000
)

// Store keeps the limits (postgres.LimitsStore).
type Store interface {
	// Limits returns the home's limits; false when none are kept.
	Limits(ctx context.Context, homeID string) (*homeplanev1.InstanceLimits, bool, error)
	// SetLimits keeps l for the home, or forgets them when l is nil;
	// ErrNotFound for no such home.
	SetLimits(ctx context.Context, homeID string, l *homeplanev1.InstanceLimits) error
}

// Commands sends a command to a home's agent and waits for its result
// (command.Router); an offline home fails at once.
type Commands interface {
	Execute(ctx context.Context, homeID string, cmd *homeplanev1.Command) (*homeplanev1.Result, error)
}

// Options tunes a Service.
type Options struct {
	Logger *slog.Logger
	// Timeout bounds the wait for the agent to apply limits (30s).
	Timeout time.Duration
	// ReleaseTimeout bounds the wait for a release, which deleting a home
	// waits for (5s).
	ReleaseTimeout time.Duration
}

// Service keeps and delivers limits.
type Service struct {
	store Store
	cmds  Commands
	log   *slog.Logger
	opts  Options
}

// New returns a Service.
func New(store Store, cmds Commands, opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.ReleaseTimeout <= 0 {
		opts.ReleaseTimeout = 5 * time.Second
	}
	return &Service{store: store, cmds: cmds, log: opts.Logger, opts: opts}
}

// Check reports whether l is within bounds; nil (clear) is.
func Check(l *homeplanev1.InstanceLimits) error {
	if l == nil {
		return nil
	}
	m, c := l.GetMemoryBytes(), l.GetNanoCpus()
	switch {
	case m < 0 || c < 0:
		return fmt.Errorf("%w: limits must not be negative", ErrInvalid)
	case m != 0 && m < MinMemoryBytes:
		return fmt.Errorf("%w: memory_bytes %d is below the minimum of 6 MiB", ErrInvalid, m)
	case m > MaxMemoryBytes:
		return fmt.Errorf("%w: memory_bytes %d is above the maximum of 1 TiB", ErrInvalid, m)
	case c != 0 && c < MinNanoCPUs:
		return fmt.Errorf("%w: nano_cpus %d is below the minimum of 0.01 CPU (10000000)", ErrInvalid, c)
	case c > MaxNanoCPUs:
		return fmt.Errorf("%w: nano_cpus %d is above the maximum of 256 CPUs", ErrInvalid, c)
	}
	return nil
}

// Get returns the home's limits, nil when none are kept.
func (s *Service) Get(ctx context.Context, homeID string) (*homeplanev1.InstanceLimits, error) {
	l, ok, err := s.store.Limits(ctx, homeID)
	if err != nil || !ok {
		return nil, err
	}
	return l, nil
}

// Set checks l and, when the home's agent is online, has it apply them
// first: limits its server cannot give are refused (ErrRefused) and not
// kept. Otherwise they are kept and delivered when the agent connects.
// delivered reports whether the agent applied them now.
func (s *Service) Set(ctx context.Context, homeID string, l *homeplanev1.InstanceLimits) (delivered bool, err error) {
	if err := Check(l); err != nil {
		return false, err
	}
	res, err := s.send(ctx, homeID, &homeplanev1.InstanceConfig{Limits: l}, s.opts.Timeout)
	switch {
	case err != nil:
		// Offline or slow: kept, and sent again when it connects.
		s.log.InfoContext(ctx, "instance limits kept for the agent's next connection", "home_id", homeID, "reason", err)
	case !res.GetOk():
		return false, fmt.Errorf("%w: %s", ErrRefused, res.GetError())
	default:
		delivered = true
	}
	if err := s.store.SetLimits(ctx, homeID, l); err != nil {
		return false, err
	}
	return delivered, nil
}

// Resend delivers the home's kept limits to its agent, which just came
// online; a home without limits gets nothing.
func (s *Service) Resend(ctx context.Context, homeID string) {
	l, ok, err := s.store.Limits(ctx, homeID)
	if err != nil || !ok {
		if err != nil {
			s.log.WarnContext(ctx, "instance limits not read", "home_id", homeID, "error", err)
		}
		return
	}
	res, err := s.send(ctx, homeID, &homeplanev1.InstanceConfig{Limits: l}, s.opts.Timeout)
	switch {
	case err != nil:
		s.log.WarnContext(ctx, "instance limits not delivered", "home_id", homeID, "error", err)
	case !res.GetOk():
		s.log.WarnContext(ctx, "the agent refused the home's instance limits", "home_id", homeID, "error", res.GetError())
	default:
		s.log.InfoContext(ctx, "instance limits delivered", "home_id", homeID)
	}
}

// Release tells the home's agent, if it is online, that the home is
// released; an offline agent cannot connect any more, and its operator
// removes the home's directory (ADR 0033). Best effort: it only logs.
func (s *Service) Release(ctx context.Context, homeID string) {
	res, err := s.send(ctx, homeID, &homeplanev1.InstanceConfig{Released: true}, s.opts.ReleaseTimeout)
	switch {
	case err != nil:
		s.log.InfoContext(ctx, "release not delivered", "home_id", homeID, "reason", err)
	case !res.GetOk():
		s.log.WarnContext(ctx, "the agent did not release the home", "home_id", homeID, "error", res.GetError())
	}
}

func (s *Service) send(ctx context.Context, homeID string, c *homeplanev1.InstanceConfig, timeout time.Duration) (*homeplanev1.Result, error) {
	if s.cmds == nil {
		return nil, errors.New("no command transport")
	}
	// The router gives the command its id and, from ctx, its deadline.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	return s.cmds.Execute(ctx, homeID, &homeplanev1.Command{Config: c})
}
