package command

import (
	"context"
	"errors"

	"google.golang.org/protobuf/proto"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
)

// InstanceSink takes what the agents' supervisors report about their Home
// Assistant containers: resource samples and lifecycle events. The instance
// status and the usage rollups are both sinks; Options.InstanceSinks lists
// every one, and each gets every message.
type InstanceSink interface {
	ApplyTelemetry(ctx context.Context, homeID string, t *homeplanev1.Telemetry) error
	ApplyEvent(ctx context.Context, homeID string, ev *homeplanev1.InstanceEvent) error
}

var errNoTime = errors.New("message without a valid time")

func (r *Router) onTelemetry(t string, payload []byte) {
	homeID, ok := r.homeOf(t, topic.Telemetry)
	if !ok {
		return
	}
	m := &homeplanev1.Telemetry{}
	if err := proto.Unmarshal(payload, m); err != nil {
		r.bad(string(topic.Telemetry), t, homeID, err)
		return
	}
	if !m.GetTime().IsValid() {
		r.bad(string(topic.Telemetry), t, homeID, errNoTime)
		return
	}
	r.update(homeID, func(*home) {})
	r.toSinks(homeID, string(topic.Telemetry), func(ctx context.Context, s InstanceSink) error {
		return s.ApplyTelemetry(ctx, homeID, m)
	})
}

func (r *Router) onEvent(t string, payload []byte) {
	homeID, ok := r.homeOf(t, topic.Events)
	if !ok {
		return
	}
	m := &homeplanev1.InstanceEvent{}
	if err := proto.Unmarshal(payload, m); err != nil {
		r.bad(string(topic.Events), t, homeID, err)
		return
	}
	if !m.GetTime().IsValid() || m.Kind == "" {
		r.bad(string(topic.Events), t, homeID, errors.New("event without a valid time or kind"))
		return
	}
	r.update(homeID, func(*home) {})
	r.toSinks(homeID, string(topic.Events), func(ctx context.Context, s InstanceSink) error {
		return s.ApplyEvent(ctx, homeID, m)
	})
}

// toSinks hands one message to every sink, each with its own deadline, so a
// slow sink does not eat the others' time. A failing sink is counted and
// logged; the others still get the message.
func (r *Router) toSinks(homeID, kind string, fn func(context.Context, InstanceSink) error) {
	for _, s := range r.instanceSinks {
		ctx, cancel := context.WithTimeout(context.Background(), r.syncTimeout)
		err := fn(ctx, s)
		cancel()
		if err != nil {
			r.m.instanceFailures.WithLabelValues(kind).Inc()
			r.log.Warn("instance message not applied", "kind", kind, "home_id", homeID, "error", err)
		}
	}
}
