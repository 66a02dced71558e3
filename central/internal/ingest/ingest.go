// Package ingest is central's intake of what agents send over MQTT: command
// results, presence, entity syncs, resource samples and supervisor events.
// Every message is checked here before anything keeps it: the home comes from
// the topic (which the broker's ACL ties to the publishing agent), the size
// from topic.MaxPayload, each home's syncs and samples stay within their
// rates, and samples and events must be finite and dated near now. Then each
// goes to its owner: results to the command router, presence to the presence
// tracker, syncs to the entity registry, samples and events to the instance
// sinks. What is refused is counted, so central's memory and work stay
// bounded whatever agents send.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
)

// Subscriber is the MQTT connection ingest listens on: the embedded broker's
// inline client, or a client of an external broker.
type Subscriber interface {
	Subscribe(filter string, fn func(topic string, payload []byte)) error
}

// Results takes the results agents publish (command.Router).
type Results interface {
	// Waiting reports whether the command was sent to the home and still
	// waits for its result.
	Waiting(homeID, commandID string) bool
	Deliver(homeID string, res *homeplanev1.Result)
}

// Presence takes what agents announce (presence.Tracker).
type Presence interface {
	Announce(homeID string, p *homeplanev1.Presence)
	// Seen records that any message from the home's agent arrived.
	Seen(homeID string)
}

// EntitySink takes the entity registry updates agents publish
// (registry.Store).
type EntitySink interface {
	ApplySync(ctx context.Context, homeID string, sync *homeplanev1.EntitySync) error
}

// InstanceSink takes what the agents' supervisors report about their Home
// Assistant containers: resource samples and lifecycle events. The instance
// status and the usage rollups are both sinks, and each gets every message.
type InstanceSink interface {
	ApplyTelemetry(ctx context.Context, homeID string, t *homeplanev1.Telemetry) error
	ApplyEvent(ctx context.Context, homeID string, ev *homeplanev1.InstanceEvent) error
}

// Targets are the owners of what comes in. Results, Presence and Entities
// are required; without instance sinks, samples and events are checked and
// dropped.
type Targets struct {
	Results   Results
	Presence  Presence
	Entities  EntitySink
	Instances []InstanceSink
}

// Rate is a token bucket: Burst at once, PerSecond sustained.
type Rate struct {
	PerSecond float64
	Burst     float64
}

// Options tunes the intake. Zero values take the defaults shown.
type Options struct {
	Logger     *slog.Logger          // discards
	Registerer prometheus.Registerer // registers nowhere
	Now        func() time.Time      // time.Now
	// SinkTimeout bounds handing one message to one sink (10s).
	SinkTimeout time.Duration
	// Syncs bounds each home's entity syncs (4/s, bursts of 40; the agent
	// sends a delta at most every 250 ms).
	Syncs Rate
	// ConcurrentSyncs bounds the entity syncs applied at once across all
	// homes (2), so that syncs never hold every database connection and
	// CPU while requests wait; an agent past it waits, which slows its own
	// connection and no one else's.
	ConcurrentSyncs int
	// SyncBytes bounds each home's entity sync bytes (256 KiB/s, bursts of
	// 4 MiB: a few full syncs after a reconnect).
	SyncBytes Rate
	// Samples bounds each home's telemetry and events together (20/s,
	// bursts of 200: image pulls report progress often).
	Samples Rate
	// ClockSkew is how far in the future a sample or event may be dated (5m).
	ClockSkew time.Duration
	// MaxAge is how far in the past a sample or event may be dated (7 days):
	// an agent's outbox delivers what it kept while central was away.
	MaxAge time.Duration
}

func (o *Options) setDefaults() error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	dur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	dur(&o.SinkTimeout, 10*time.Second)
	if o.ConcurrentSyncs == 0 {
		o.ConcurrentSyncs = 2
	}
	dur(&o.ClockSkew, 5*time.Minute)
	dur(&o.MaxAge, 7*24*time.Hour)
	rate := func(r *Rate, perSecond, burst float64) {
		if *r == (Rate{}) {
			*r = Rate{PerSecond: perSecond, Burst: burst}
		}
	}
	rate(&o.Syncs, 4, 40)
	rate(&o.SyncBytes, 256<<10, 4<<20)
	rate(&o.Samples, 20, 200)
	var errs []error
	if o.SinkTimeout < 0 || o.ClockSkew < 0 || o.MaxAge < 0 {
		errs = append(errs, errors.New("negative duration"))
	}
	if o.ConcurrentSyncs < 0 {
		errs = append(errs, errors.New("negative concurrent syncs"))
	}
	for _, r := range []Rate{o.Syncs, o.SyncBytes, o.Samples} {
		if r.PerSecond <= 0 || r.Burst < 1 {
			errs = append(errs, errors.New("a rate needs a positive rate and a burst of at least 1"))
			break
		}
	}
	return errors.Join(errs...)
}

// Intake decodes, checks and routes what agents send.
type Intake struct {
	to      Targets
	opts    Options
	log     *slog.Logger
	m       *metrics
	budgets *budgets
	syncing chan struct{} // a slot per sync being applied
}

// New builds the intake and subscribes it to every home's agent topics.
func New(sub Subscriber, to Targets, opts Options) (*Intake, error) {
	if sub == nil || to.Results == nil || to.Presence == nil || to.Entities == nil {
		return nil, errors.New("ingest: nil subscriber, results, presence or entities")
	}
	if err := opts.setDefaults(); err != nil {
		return nil, fmt.Errorf("ingest: options: %w", err)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("ingest: metrics: %w", err)
	}
	in := &Intake{
		to:      Targets{Results: to.Results, Presence: to.Presence, Entities: to.Entities, Instances: append([]InstanceSink(nil), to.Instances...)},
		opts:    opts,
		log:     opts.Logger,
		m:       m,
		budgets: newBudgets(opts),
		syncing: make(chan struct{}, opts.ConcurrentSyncs),
	}
	for _, s := range []struct {
		kind topic.Kind
		fn   func(string, []byte)
	}{
		{topic.Result, in.onResult},
		{topic.Presence, in.onPresence},
		{topic.Entities, in.onEntities},
		{topic.Telemetry, in.onTelemetry},
		{topic.Events, in.onEvent},
	} {
		if err := sub.Subscribe(topic.Filter(s.kind), s.fn); err != nil {
			return nil, fmt.Errorf("ingest: subscribe %s: %w", s.kind, err)
		}
	}
	return in, nil
}

// The handlers run on the transport's delivery goroutine (for the embedded
// broker, the publishing agent's own reader). They never panic on input and
// keep their work short; an entity sync blocks that agent's reader while the
// registry works, which is the backpressure it should feel.

var (
	errNoCommandID = errors.New("result without command id")
	errNoTime      = errors.New("message without a valid time")
	errNoKind      = errors.New("event without a kind")
)

// receive takes one message of the given kind into m: it parses the topic
// and checks the payload's size (and, for entity syncs, the home's rate)
// before decoding. It returns the home, or false when the message is
// refused or undecodable (and counted).
func (in *Intake) receive(t string, want topic.Kind, payload []byte, m proto.Message) (string, bool) {
	h, k, err := topic.Parse(t)
	if err != nil || k != want {
		in.bad("topic", t, "", topic.ErrInvalid)
		return "", false
	}
	if max := topic.MaxPayload(k); len(payload) > max {
		in.refuse(k, h, reasonTooLarge, fmt.Errorf("%d bytes, at most %d", len(payload), max))
		return "", false
	}
	if k == topic.Entities {
		// Counted before decoding: a refused sync costs no more than its read.
		if err := in.budgets.sync(h, len(payload), in.opts.Now()); err != nil {
			in.refuse(k, h, reasonRate, err)
			return "", false
		}
	}
	if err := proto.Unmarshal(payload, m); err != nil {
		in.bad(string(k), t, h, err)
		return "", false
	}
	return h, true
}

func (in *Intake) bad(kind, t, homeID string, err error) {
	in.m.badPayloads.WithLabelValues(kind).Inc()
	in.log.Warn("bad mqtt message", "kind", kind, "topic", clipTopic(t), "home_id", homeID, "error", err)
}

// refuse counts a message that decoded but is not taken; the log line is
// kept to one per home and minute, so a flood does not flood the logs.
func (in *Intake) refuse(kind topic.Kind, homeID, reason string, err error) {
	in.m.refused.WithLabelValues(string(kind), reason).Inc()
	if in.budgets.shouldLog(homeID, in.opts.Now()) {
		in.log.Warn("mqtt message refused", "kind", kind, "home_id", homeID, "reason", reason, "error", err)
	}
}

func (in *Intake) onResult(t string, payload []byte) {
	res := &homeplanev1.Result{}
	homeID, ok := in.receive(t, topic.Result, payload, res)
	if !ok {
		return
	}
	if res.CommandId == "" {
		in.bad(string(topic.Result), t, homeID, errNoCommandID)
		return
	}
	in.to.Presence.Seen(homeID)
	// The states the command changed go into the registry before the caller
	// hears back, so a question right after an action is answered from the
	// new states rather than from the agent's next delta.
	if len(res.Changed) > 0 && in.to.Results.Waiting(homeID, res.CommandId) {
		in.applySync(homeID, &homeplanev1.EntitySync{Entities: res.Changed})
	}
	in.to.Results.Deliver(homeID, res)
}

func (in *Intake) onPresence(t string, payload []byte) {
	// An empty payload clears the retained presence: nobody announces the
	// home any more.
	p := &homeplanev1.Presence{}
	homeID, ok := in.receive(t, topic.Presence, payload, p)
	if !ok {
		return
	}
	in.to.Presence.Announce(homeID, p)
}

func (in *Intake) onEntities(t string, payload []byte) {
	sync := &homeplanev1.EntitySync{}
	homeID, ok := in.receive(t, topic.Entities, payload, sync)
	if !ok {
		return
	}
	in.to.Presence.Seen(homeID)
	// A command's changed states (onResult) do not queue here: they are
	// small, and someone waits for them.
	select {
	case in.syncing <- struct{}{}:
		defer func() { <-in.syncing }()
	case <-time.After(in.opts.SinkTimeout):
		in.m.syncFailures.Inc()
		in.log.Warn("entity sync not applied: too many syncs under way", "home_id", homeID)
		return
	}
	if in.applySync(homeID, sync) {
		in.log.Debug("entity sync applied", "home_id", homeID, "full", sync.Full,
			"entities", len(sync.Entities), "removed", len(sync.RemovedEntityIds))
	}
}

func (in *Intake) applySync(homeID string, sync *homeplanev1.EntitySync) bool {
	ctx, cancel := context.WithTimeout(context.Background(), in.opts.SinkTimeout)
	defer cancel()
	if err := in.to.Entities.ApplySync(ctx, homeID, sync); err != nil {
		in.m.syncFailures.Inc()
		in.log.Warn("entity sync not applied", "home_id", homeID, "full", sync.Full, "error", err)
		return false
	}
	return true
}

func clipTopic(t string) string {
	const limit = 160
	if len(t) > limit {
		return t[:limit] + "…"
	}
	return t
}
