package rpc

import (
	"context"
	"errors"
	"time"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"

	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/timer"
)

// Timers is what WatchTimers needs from the timer manager (timer.Manager).
type Timers interface {
	Watch(owner timer.Owner) (<-chan timer.Event, func(), error)
	Find(owner timer.Owner, sel timer.Selector) []timer.Timer
}

// Pipelines is what GetPipeline and SetPipeline need (intent.PipelineStore).
type Pipelines interface {
	Pipeline(ctx context.Context, homeID string) (intent.Pipeline, error)
	SetPipeline(ctx context.Context, homeID string, p intent.Pipeline) error
}

var errNoTimers = errors.New("timers are not served here")

// timerOwner is whose timers a caller means: the device's own, or the
// user's device-less timers in one of the user's homes.
func (i *intentService) timerOwner(ctx context.Context, caller Caller, homeID string) (timer.Owner, error) {
	if caller.IsDevice() {
		return timer.Owner{HomeID: caller.HomeID, DeviceID: caller.DeviceID}, nil
	}
	var c check
	c.field("home_id", homeID, true, maxIDChars)
	if err := c.err(); err != nil {
		return timer.Owner{}, err
	}
	h, err := i.s.deps.Homes.Get(ctx, caller.UserID, homeID)
	if err != nil {
		return timer.Owner{}, err
	}
	return timer.Owner{HomeID: h.ID, DeviceID: intent.UserTimerOwner(caller.UserID)}, nil
}

// streamRecheck is how often an open stream checks its caller's credential
// again: a credential ended on another replica closes the stream within
// this time (on this replica it closes at once, see streams).
const streamRecheck = 10 * time.Second

// WatchTimers streams the caller's timer events until the caller hangs up
// or its credential ends: first the timers running now, then every change.
// The interceptor authenticated the caller.
func (i *intentService) WatchTimers(ctx context.Context, req *connect.Request[homeplanev1.WatchTimersRequest], stream *connect.ServerStream[homeplanev1.WatchTimersResponse]) error {
	if i.s.deps.Timers == nil {
		return connect.NewError(connect.CodeUnimplemented, errNoTimers)
	}
	caller, ok := CallerFrom(ctx)
	if !ok {
		return connect.NewError(connect.CodePermissionDenied, errDenied)
	}
	owner, err := i.timerOwner(ctx, caller, req.Msg.GetHomeId())
	if err != nil {
		return err
	}
	events, stop, err := i.s.deps.Timers.Watch(owner)
	if err != nil {
		return err
	}
	defer stop()
	ctx, done := i.s.streams.add(ctx, caller, owner.HomeID)
	defer done()
	now := i.s.now()
	for _, t := range i.s.deps.Timers.Find(owner, timer.Selector{}) {
		if err := stream.Send(timerEvent(timer.Event{Kind: timer.Updated, Timer: t}, now)); err != nil {
			return nil // the device hung up
		}
	}
	recheck := time.NewTicker(streamRecheck)
	defer recheck.Stop()
	for {
		select {
		case <-ctx.Done():
			if errors.Is(context.Cause(ctx), errStreamEnded) {
				return connect.NewError(connect.CodeUnauthenticated, errStreamEnded)
			}
			return nil
		case <-recheck.C:
			token, _ := bearer(req.Header().Get("Authorization"))
			if _, err := authenticate(ctx, i.s.deps.Accounts, i.s.deps.Homes, token); err != nil {
				return err
			}
		case ev, open := <-events:
			if !open {
				return nil
			}
			if err := stream.Send(timerEvent(ev, i.s.now())); err != nil {
				return nil
			}
		}
	}
}

func timerEvent(ev timer.Event, now time.Time) *homeplanev1.WatchTimersResponse {
	kind := homeplanev1.WatchTimersResponse_KIND_UNSPECIFIED
	switch ev.Kind {
	case timer.Started:
		kind = homeplanev1.WatchTimersResponse_KIND_STARTED
	case timer.Updated:
		kind = homeplanev1.WatchTimersResponse_KIND_UPDATED
	case timer.Finished:
		kind = homeplanev1.WatchTimersResponse_KIND_FINISHED
	case timer.Cancelled:
		kind = homeplanev1.WatchTimersResponse_KIND_CANCELLED
	}
	t := ev.Timer
	left := t.Remaining(now)
	if ev.Kind == timer.Finished {
		left = 0
	}
	return &homeplanev1.WatchTimersResponse{Kind: kind, Timer: &homeplanev1.Timer{
		Id: t.ID, Name: t.Name, Area: t.Area, Paused: t.Paused, Command: t.Command,
		StartSeconds: int64(t.Start / time.Second), RemainingSeconds: int64((left + time.Second - 1) / time.Second),
	}}
}

var pipelineNames = map[homeplanev1.Pipeline]intent.Pipeline{
	homeplanev1.Pipeline_PIPELINE_RULES:          intent.PipelineRules,
	homeplanev1.Pipeline_PIPELINE_LLM:            intent.PipelineLLM,
	homeplanev1.Pipeline_PIPELINE_PLUGIN:         intent.PipelinePlugin,
	homeplanev1.Pipeline_PIPELINE_RULES_THEN_LLM: intent.PipelineRulesThenLLM,
}

func pipelineProto(p intent.Pipeline) homeplanev1.Pipeline {
	for k, v := range pipelineNames {
		if v == p {
			return k
		}
	}
	return homeplanev1.Pipeline_PIPELINE_RULES
}

var errNoPipelines = errors.New("pipelines are not served here")

// GetPipeline tells a home's pipeline to its owner.
func (i *intentService) GetPipeline(ctx context.Context, req *connect.Request[homeplanev1.GetPipelineRequest]) (*connect.Response[homeplanev1.GetPipelineResponse], error) {
	if i.s.deps.Pipelines == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errNoPipelines)
	}
	owner, err := userAndHome(ctx, req.Msg.GetHomeId())
	if err != nil {
		return nil, err
	}
	h, err := i.s.deps.Homes.Get(ctx, owner, req.Msg.GetHomeId())
	if err != nil {
		return nil, err
	}
	p, err := i.s.deps.Pipelines.Pipeline(ctx, h.ID)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&homeplanev1.GetPipelineResponse{Pipeline: pipelineProto(p)}), nil
}

// SetPipeline chooses a home's pipeline.
func (i *intentService) SetPipeline(ctx context.Context, req *connect.Request[homeplanev1.SetPipelineRequest]) (*connect.Response[homeplanev1.SetPipelineResponse], error) {
	if i.s.deps.Pipelines == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errNoPipelines)
	}
	owner, err := userAndHome(ctx, req.Msg.GetHomeId())
	if err != nil {
		return nil, err
	}
	p, ok := pipelineNames[req.Msg.GetPipeline()]
	if !ok {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("pipeline: must be rules, llm, plugin or rules_then_llm"))
	}
	h, err := i.s.deps.Homes.Get(ctx, owner, req.Msg.GetHomeId())
	if err != nil {
		return nil, err
	}
	if err := i.s.deps.Pipelines.SetPipeline(ctx, h.ID, p); err != nil {
		return nil, err
	}
	return connect.NewResponse(&homeplanev1.SetPipelineResponse{Pipeline: pipelineProto(p)}), nil
}
