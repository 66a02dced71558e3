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
	// ApplySync stores the home's syncs in order, in one write; a sync it
	// refuses does not keep the others out.
	ApplySync(ctx context.Context, homeID string, syncs ...*homeplanev1.EntitySync) error
	// Patch serves a result's changed states at once, before they are
	// stored; false when it cannot, and then they must be stored first.
	Patch(homeID string, changed []*homeplanev1.Entity) bool
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
	// Workers apply what is queued (2): the database work of ingest never
	// holds more connections and CPU than this while requests wait. A home
	// always goes to the same worker, so its messages apply in order.
	Workers int
	// QueueBytes bounds the payload bytes queued or being applied (64 MiB;
	// each message counts 512 bytes more). Past it a sample is dropped and
	// counted; a sync or event waits up to QueueWait (5s), which slows the
	// agent's own connection, and is dropped, counted and logged after.
	QueueBytes int
	QueueWait  time.Duration
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
	if o.Workers == 0 {
		o.Workers = 2
	}
	if o.QueueBytes == 0 {
		o.QueueBytes = 64 << 20
	}
	dur(&o.QueueWait, 5*time.Second)
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
	if o.SinkTimeout < 0 || o.ClockSkew < 0 || o.MaxAge < 0 || o.QueueWait < 0 {
		errs = append(errs, errors.New("negative duration"))
	}
	if o.Workers < 0 || o.QueueBytes < 0 {
		errs = append(errs, errors.New("negative workers or queue bytes"))
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
	queue   *queue
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
	}
	in.queue = newQueue(opts.Workers, opts.QueueBytes, in.apply, func(b int) { m.queueBytes.Set(float64(b)) })
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
			in.queue.close()
			return nil, fmt.Errorf("ingest: subscribe %s: %w", s.kind, err)
		}
	}
	return in, nil
}

// Drain waits until everything queued so far is applied.
func (in *Intake) Drain(ctx context.Context) error { return in.queue.drain(ctx) }

// Close applies what is queued and stops the workers. Close the transport
// first: what arrives later is dropped and counted.
func (in *Intake) Close() { in.queue.close() }

// The handlers run on the transport's delivery goroutine (for the embedded
// broker, the publishing agent's own reader). They never panic on input and
// do no database work: they check, decode and queue (queue.go). Only a
// sync or event that finds the queue full waits, which is the backpressure
// its agent should feel.

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
	if len(res.Changed) == 0 || !in.to.Results.Waiting(homeID, res.CommandId) {
		in.to.Results.Deliver(homeID, res)
		return
	}
	// The states the command changed are served before the caller hears
	// back, so a question right after an action is answered from the new
	// states. The cached registry takes them at once and the answer never
	// waits for PostgreSQL: the database gets the same states from the
	// agent's own delta, which follows every change Home Assistant reports
	// (ADR 0037). Only a home whose registry is not cached has its states
	// stored first; that item is small and someone waits: it is never
	// refused for room.
	if in.to.Entities.Patch(homeID, res.Changed) {
		in.to.Results.Deliver(homeID, res)
		return
	}
	in.enqueue(homeID, topic.Result, &item{kind: itemResult, size: len(payload), result: res})
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
	in.enqueue(homeID, topic.Entities, &item{kind: itemSync, size: len(payload), sync: sync})
}

// enqueue hands it to the workers. A sample finding no room is dropped at
// once; a sync or event waits for room, then is dropped and logged.
func (in *Intake) enqueue(homeID string, kind topic.Kind, it *item) {
	it.size += itemOverhead
	it.queued = time.Now()
	wait := in.opts.QueueWait
	if it.kind == itemTelemetry {
		wait = 0
	}
	if !in.queue.reserve(it.size, wait, it.kind == itemResult) {
		in.m.dropped.WithLabelValues(string(kind)).Inc()
		if it.kind != itemTelemetry || in.budgets.shouldLog(homeID, in.opts.Now()) {
			in.log.Warn("mqtt message dropped: ingest queue full", "kind", kind, "home_id", homeID)
		}
		return
	}
	replaced, ok := in.queue.push(homeID, it)
	if !ok {
		in.queue.release(it.size)
		in.m.dropped.WithLabelValues(string(kind)).Inc()
		in.log.Warn("mqtt message dropped: ingest closed", "kind", kind, "home_id", homeID)
		return
	}
	if replaced > 0 {
		in.m.coalesced.WithLabelValues(string(kind)).Add(float64(replaced))
	}
}

// apply runs on a worker: it hands one home's queued messages to their
// owners, in order. Each run of registry work (syncs and the changed states
// of results waiting for them) is stored in one write, then the results in
// it are delivered.
func (in *Intake) apply(homeID string, items []*item) {
	now := time.Now()
	for _, it := range items {
		in.m.queueWait.Observe(now.Sub(it.queued).Seconds())
	}
	for len(items) > 0 {
		n := 0
		for n < len(items) && items[n].entities() {
			n++
		}
		if n > 0 {
			in.applyEntities(homeID, items[:n])
			items = items[n:]
			continue
		}
		it := items[0]
		items = items[1:]
		switch it.kind {
		case itemTelemetry:
			in.toSinks(homeID, topic.Telemetry, func(ctx context.Context, s InstanceSink) error {
				return s.ApplyTelemetry(ctx, homeID, it.tel)
			})
		case itemEvent:
			in.toSinks(homeID, topic.Events, func(ctx context.Context, s InstanceSink) error {
				return s.ApplyEvent(ctx, homeID, it.ev)
			})
		}
	}
}

func (in *Intake) applyEntities(homeID string, items []*item) {
	syncs := make([]*homeplanev1.EntitySync, len(items))
	for i, it := range items {
		syncs[i] = it.sync
		if it.kind == itemResult {
			syncs[i] = &homeplanev1.EntitySync{Entities: it.result.Changed}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), in.opts.SinkTimeout)
	err := in.to.Entities.ApplySync(ctx, homeID, syncs...)
	cancel()
	if err != nil {
		// Refusals come joined, one per sync refused; any other error
		// (the database) kept every sync out.
		failed := len(syncs)
		var j interface{ Unwrap() []error }
		if errors.As(err, &j) {
			failed = len(j.Unwrap())
		}
		in.m.syncFailures.Add(float64(failed))
		in.log.Warn("entity sync not applied", "home_id", homeID, "syncs", len(syncs), "error", err)
	} else {
		in.log.Debug("entity syncs applied", "home_id", homeID, "syncs", len(syncs))
	}
	for _, it := range items {
		if it.kind == itemResult {
			in.to.Results.Deliver(homeID, it.result)
		}
	}
}

func clipTopic(t string) string {
	const limit = 160
	if len(t) > limit {
		return t[:limit] + "…"
	}
	return t
}
