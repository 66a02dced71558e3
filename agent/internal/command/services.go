package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/homeplane/homeplane/agent/internal/homeassistant"
	"github.com/homeplane/homeplane/agent/internal/metrics"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
)

// HomeAssistant is what Services needs from Home Assistant: one service
// call, answering with the states it changed. An error wrapping
// homeassistant.ErrUnavailable means it could not be reached at all, as
// opposed to refusing the call.
type HomeAssistant interface {
	CallService(ctx context.Context, domain, service string, data map[string]any) ([]*homeplanev1.Entity, error)
}

var _ HomeAssistant = (*homeassistant.Services)(nil)

// ServicesOptions are the optional settings of Services; zero values pick
// defaults.
type ServicesOptions struct {
	Logger *slog.Logger
	// Metrics receives the instruments; nil keeps them unexposed.
	Metrics *metrics.Registry
	// MaxCalls bounds the service calls in one command (default 32).
	MaxCalls int
	// MaxEntityIDs bounds the entity ids of one call (default 256).
	MaxEntityIDs int
	// AllowedDomains, when set, are the only service domains a command may
	// call, and the only domains its target entities may belong to; a
	// command with any other is refused whole with CodeForbidden, before
	// Home Assistant is called. Empty allows every domain.
	AllowedDomains []string
}

// Services runs a command's service calls in order, stopping at the first
// failure, within the context's deadline.
type Services struct {
	ha        HomeAssistant
	log       *slog.Logger
	opts      ServicesOptions
	haSeconds *metrics.Histogram
}

var _ Executor = (*Services)(nil)

// NewServices returns the executor calling ha.
func NewServices(ha HomeAssistant, opts ServicesOptions) *Services {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxCalls <= 0 {
		opts.MaxCalls = 32
	}
	if opts.MaxEntityIDs <= 0 {
		opts.MaxEntityIDs = 256
	}
	return &Services{ha: ha, log: opts.Logger, opts: opts, haSeconds: newServiceCallSeconds(opts.Metrics)}
}

// Execute validates cmd's calls and runs them.
func (s *Services) Execute(ctx context.Context, cmd *homeplanev1.Command) *homeplanev1.Result {
	log := s.log.With("command_id", cmd.GetId(), "request_id", cmd.GetRequestId())
	calls, err := s.validate(cmd.GetCalls())
	if err != nil {
		log.Warn("command refused", "error", err)
		if errors.Is(err, errForbidden) {
			return fail(CodeForbidden, err.Error())
		}
		return fail(CodeInvalid, err.Error())
	}
	res := &homeplanev1.Result{Ok: true}
	changed := newChangeSet()
	var spent time.Duration
	for i, c := range calls {
		start := time.Now()
		states, err := s.ha.CallService(ctx, c.domain, c.service, c.data)
		took := time.Since(start)
		spent += took
		s.haSeconds.Observe(took.Seconds())
		changed.add(states)
		if err != nil {
			code := CodeHomeAssistant
			switch {
			case ctx.Err() != nil && errors.Is(context.Cause(ctx), context.DeadlineExceeded):
				code = CodeExpired
			case errors.Is(err, homeassistant.ErrUnavailable):
				code = CodeUnavailable
			}
			log.Warn("service call failed", "call", i+1, "domain", c.domain, "service", c.service, "error", err)
			res = fail(code, truncate(fmt.Sprintf("call %d (%s.%s): %v", i+1, c.domain, c.service, err), maxErrorLen))
			break
		}
		log.Debug("service call done", "call", i+1, "domain", c.domain, "service", c.service, "took", took)
	}
	res.Changed = changed.targets(cmd.GetCalls())
	res.HomeAssistantUs = spent.Microseconds()
	fitResult(res)
	if res.GetOk() {
		log.Info("command done", "calls", len(calls), "changed", len(res.Changed), "home_assistant", spent)
	}
	return res
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

// targets lists the changed states of the entities calls name, in the
// order they first changed. Home Assistant answers a call with every state
// that changed while it ran (a group's members, an automation's doing, or
// whatever a broken or impostor server claims); central takes a result's
// states into its registry at once (ADR 0037), so a result reports only
// what the command was about. Every other change reaches central as Home
// Assistant reports it, through the entity sync's deltas (ADR 0047).
func (s *changeSet) targets(calls []*homeplanev1.ServiceCall) []*homeplanev1.Entity {
	asked := map[string]bool{}
	for _, c := range calls {
		for _, id := range c.GetEntityIds() {
			asked[id] = true
		}
	}
	out := make([]*homeplanev1.Entity, 0, min(len(s.order), len(asked)))
	for _, id := range s.order {
		if asked[id] {
			out = append(out, s.by[id])
		}
	}
	return out
}

// fitResult keeps res within what a result may carry over MQTT
// (topic.MaxPayload): central drops a larger one, and the command would
// look unanswered though it ran. The states' attributes go first, then the
// states; the outcome always stays.
func fitResult(res *homeplanev1.Result) {
	budget := topic.MaxPayload(topic.Result)
	if proto.Size(res) <= budget {
		return
	}
	for _, e := range res.GetChanged() {
		e.Attributes = nil
	}
	if proto.Size(res) > budget {
		res.Changed = nil
	}
}
