package command

import (
	"context"
	"errors"

	"google.golang.org/protobuf/proto"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
)

// The handlers below run on the transport's delivery goroutine (for the
// embedded broker, the publishing agent's own reader). They never panic on
// input and keep their work short; the entity sync blocks that agent's
// reader while the sink works, which is the backpressure it should feel.

var errNoCommandID = errors.New("result without command id")

// homeOf parses the topic the message came on. The home always comes from the
// topic, which the broker's ACL ties to the publishing agent, never from the
// payload.
func (r *Router) homeOf(t string, want topic.Kind) (string, bool) {
	h, k, err := topic.Parse(t)
	if err != nil || k != want {
		r.bad("topic", t, "", topic.ErrInvalid)
		return "", false
	}
	return h, true
}

func (r *Router) bad(kind, t, homeID string, err error) {
	r.m.badPayloads.WithLabelValues(kind).Inc()
	r.log.Warn("bad mqtt message", "kind", kind, "topic", clipTopic(t), "home_id", homeID, "error", err)
}

func (r *Router) onResult(t string, payload []byte) {
	homeID, ok := r.homeOf(t, topic.Result)
	if !ok {
		return
	}
	res := &homeplanev1.Result{}
	if err := proto.Unmarshal(payload, res); err != nil {
		r.bad(string(topic.Result), t, homeID, err)
		return
	}
	if res.CommandId == "" {
		r.bad(string(topic.Result), t, homeID, errNoCommandID)
		return
	}
	r.update(homeID, func(*home) {})

	r.mu.Lock()
	c, found := r.pending[res.CommandId]
	match := found && c.home == homeID
	if match {
		delete(r.pending, res.CommandId)
		r.m.pending.Set(float64(len(r.pending)))
	}
	r.mu.Unlock()

	log := r.log.With("request_id", res.RequestId, "command_id", res.CommandId, "home_id", homeID)
	switch {
	case !found:
		r.m.ignored.WithLabelValues("unknown_command").Inc()
		log.Debug("result for no waiting command (late or duplicate)")
	case !match:
		// Another home answering for a command it was never sent.
		r.m.ignored.WithLabelValues("wrong_home").Inc()
		log.Warn("result from a home the command was not sent to")
	default:
		// The states the command changed go into the registry before the
		// caller hears back, so a question right after an action is answered
		// from the new states rather than from the agent's next delta.
		if len(res.Changed) > 0 {
			r.applyChanged(homeID, res.Changed)
		}
		c.done <- res // buffered and removed from pending: never blocks
	}
}

func (r *Router) applyChanged(homeID string, changed []*homeplanev1.Entity) {
	ctx, cancel := context.WithTimeout(context.Background(), r.syncTimeout)
	defer cancel()
	if err := r.sink.ApplySync(ctx, homeID, &homeplanev1.EntitySync{Entities: changed}); err != nil {
		r.m.syncFailures.Inc()
		r.log.Warn("changed states not applied", "home_id", homeID, "error", err)
	}
}

func (r *Router) onPresence(t string, payload []byte) {
	homeID, ok := r.homeOf(t, topic.Presence)
	if !ok {
		return
	}
	p := &homeplanev1.Presence{}
	// An empty payload clears the retained presence: nobody announces the
	// home any more.
	if err := proto.Unmarshal(payload, p); err != nil {
		r.bad(string(topic.Presence), t, homeID, err)
		return
	}
	r.update(homeID, func(h *home) {
		h.announced = p.Online
		if p.Online {
			h.agentVersion = clipVersion(p.AgentVersion)
			h.haVersion = clipVersion(p.HomeAssistantVersion)
		}
	})
	r.log.Info("agent presence", "home_id", homeID, "online", p.Online,
		"agent_version", clipVersion(p.AgentVersion), "home_assistant_version", clipVersion(p.HomeAssistantVersion))
}

func (r *Router) onEntities(t string, payload []byte) {
	homeID, ok := r.homeOf(t, topic.Entities)
	if !ok {
		return
	}
	sync := &homeplanev1.EntitySync{}
	if err := proto.Unmarshal(payload, sync); err != nil {
		r.bad(string(topic.Entities), t, homeID, err)
		return
	}
	r.update(homeID, func(*home) {})
	ctx, cancel := context.WithTimeout(context.Background(), r.syncTimeout)
	defer cancel()
	if err := r.sink.ApplySync(ctx, homeID, sync); err != nil {
		r.m.syncFailures.Inc()
		r.log.Error("entity sync not applied", "home_id", homeID, "full", sync.Full, "error", err)
		return
	}
	r.log.Debug("entity sync applied", "home_id", homeID, "full", sync.Full,
		"entities", len(sync.Entities), "removed", len(sync.RemovedEntityIds))
}

func clipTopic(t string) string {
	const limit = 160
	if len(t) > limit {
		return t[:limit] + "…"
	}
	return t
}
