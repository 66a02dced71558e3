// Package dispatch runs the commands central sends to the home: each command
// id at most once, even when MQTT delivers it twice; never after its
// deadline; its service calls in order, stopping at the first failure.
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/homeplane/homeplane/agent/internal/metrics"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// HomeAssistant is what the dispatcher needs from Home Assistant: one
// service call, answering with the states it changed.
type HomeAssistant interface {
	CallService(ctx context.Context, domain, service string, data map[string]any) ([]*homeplanev1.Entity, error)
}

// ErrUnavailable is wrapped by a HomeAssistant adapter when Home Assistant
// could not be reached at all, as opposed to refusing the call.
var ErrUnavailable = errors.New("home assistant unavailable")

// Result error codes, as listed in mqtt.proto.
const (
	CodeExpired       = "expired"
	CodeInvalid       = "invalid"
	CodeHomeAssistant = "home_assistant"
	CodeUnavailable   = "unavailable"
	// CodeForbidden refuses a command outside the agent's own allow-lists
	// (service domains here, image repositories in the supervisor),
	// whatever central says.
	CodeForbidden = "forbidden"
)

// Options are the dispatcher's optional settings; zero values pick defaults.
type Options struct {
	Logger *slog.Logger
	// Metrics receives the instruments; nil keeps them unexposed.
	Metrics *metrics.Registry
	// MaxCalls bounds the service calls in one command (default 32).
	MaxCalls int
	// MaxEntityIDs bounds the entity ids of one call (default 256).
	MaxEntityIDs int
	// CacheSize bounds how many command ids are remembered (default 4096).
	CacheSize int
	// CacheTTL is how long a finished command is remembered (default 10m),
	// and at least until its deadline.
	CacheTTL time.Duration
	// MaxRunTime caps a command's run whatever its deadline (default 1m).
	MaxRunTime time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// AllowedDomains, when set, are the only service domains a command may
	// call, and the only domains its target entities may belong to; a
	// command with any other is refused whole with CodeForbidden, before
	// Home Assistant is called. Empty allows every domain.
	AllowedDomains []string
}

// Dispatcher runs commands against Home Assistant.
type Dispatcher struct {
	ha      HomeAssistant
	log     *slog.Logger
	opts    Options
	cache   *cache
	metrics *dispatchMetrics
}

// New returns a Dispatcher calling ha.
func New(ha HomeAssistant, opts Options) *Dispatcher {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxCalls <= 0 {
		opts.MaxCalls = 32
	}
	if opts.MaxEntityIDs <= 0 {
		opts.MaxEntityIDs = 256
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 4096
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
	return &Dispatcher{
		ha:      ha,
		log:     opts.Logger,
		opts:    opts,
		cache:   newCache(opts.CacheSize),
		metrics: newMetrics(opts.Metrics),
	}
}

// Handle runs cmd and returns the Result to publish. A command id seen
// before is not run again: a duplicate of a command still running waits for
// it, a later one gets the stored Result. Handle returns nil only when ctx
// ends while it waits for such a duplicate; the first delivery publishes the
// Result then.
func (d *Dispatcher) Handle(ctx context.Context, cmd *homeplanev1.Command) *homeplanev1.Result {
	log := d.log.With("command_id", cmd.GetId(), "request_id", cmd.GetRequestId())
	if err := checkCommandID(cmd.GetId()); err != nil {
		// Without a usable id the command cannot be deduplicated, so it is not run.
		log.Warn("command refused", "error", err)
		d.metrics.outcome(CodeInvalid)
		return &homeplanev1.Result{
			CommandId: truncate(cmd.GetId(), maxIDLen),
			RequestId: truncate(cmd.GetRequestId(), maxIDLen),
			ErrorCode: CodeInvalid,
			Error:     err.Error(),
		}
	}

	now := d.opts.Now()
	e, dup := d.cache.claim(cmd.GetId(), now)
	if dup {
		d.metrics.duplicates.Inc()
		log.Info("duplicate command; answering with its result")
		select {
		case <-e.done:
			return e.decoded()
		case <-ctx.Done():
			return nil
		}
	}

	res := d.run(ctx, log, cmd, now)
	res.CommandId = cmd.GetId()
	res.RequestId = truncate(cmd.GetRequestId(), maxIDLen)
	if res.GetOk() {
		d.metrics.outcome("ok")
	} else {
		d.metrics.outcome(res.GetErrorCode())
	}

	// Remember the command at least until its deadline, so a redelivery
	// within its life is answered from the cache rather than run again.
	keep := d.opts.Now().Add(d.opts.CacheTTL)
	if dl := cmd.GetDeadline(); dl != nil {
		if t := dl.AsTime(); t.After(keep) && t.Before(now.Add(d.opts.MaxRunTime+d.opts.CacheTTL)) {
			keep = t
		}
	}
	d.cache.finish(e, res, keep)
	return res
}

func (d *Dispatcher) run(ctx context.Context, log *slog.Logger, cmd *homeplanev1.Command, now time.Time) *homeplanev1.Result {
	limit := now.Add(d.opts.MaxRunTime)
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
	calls, err := d.validate(cmd.GetCalls())
	if err != nil {
		log.Warn("command refused", "error", err)
		if errors.Is(err, errForbidden) {
			return fail(CodeForbidden, err.Error())
		}
		return fail(CodeInvalid, err.Error())
	}

	ctx, cancel := context.WithDeadline(ctx, limit)
	defer cancel()
	res := &homeplanev1.Result{Ok: true}
	changed := newChangeSet()
	var spent time.Duration
	for i, c := range calls {
		start := time.Now()
		states, err := d.ha.CallService(ctx, c.domain, c.service, c.data)
		took := time.Since(start)
		spent += took
		d.metrics.haSeconds.Observe(took.Seconds())
		changed.add(states)
		if err != nil {
			code := CodeHomeAssistant
			switch {
			case ctx.Err() != nil && errors.Is(context.Cause(ctx), context.DeadlineExceeded):
				code = CodeExpired
			case errors.Is(err, ErrUnavailable):
				code = CodeUnavailable
			}
			log.Warn("service call failed", "call", i+1, "domain", c.domain, "service", c.service, "error", err)
			res = fail(code, truncate(fmt.Sprintf("call %d (%s.%s): %v", i+1, c.domain, c.service, err), maxErrorLen))
			break
		}
		log.Debug("service call done", "call", i+1, "domain", c.domain, "service", c.service, "took", took)
	}
	res.Changed = changed.list()
	res.HomeAssistantUs = spent.Microseconds()
	if res.GetOk() {
		log.Info("command done", "calls", len(calls), "changed", len(res.Changed), "home_assistant", spent)
	}
	return res
}

func fail(code, msg string) *homeplanev1.Result {
	return &homeplanev1.Result{ErrorCode: code, Error: msg}
}

// changeSet collects changed states across calls: one per entity, the
// latest winning, in the order entities first changed.
type changeSet struct {
	order []string
	by    map[string]*homeplanev1.Entity
}

func newChangeSet() *changeSet { return &changeSet{by: map[string]*homeplanev1.Entity{}} }

func (s *changeSet) add(states []*homeplanev1.Entity) {
	for _, e := range states {
		if e == nil || e.GetEntityId() == "" {
			continue
		}
		if _, ok := s.by[e.GetEntityId()]; !ok {
			s.order = append(s.order, e.GetEntityId())
		}
		s.by[e.GetEntityId()] = e
	}
}

func (s *changeSet) list() []*homeplanev1.Entity {
	out := make([]*homeplanev1.Entity, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.by[id])
	}
	return out
}
