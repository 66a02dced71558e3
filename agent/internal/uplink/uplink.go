// Package uplink is the agent's MQTT connection to central: a persistent
// session under the agent's own identity, a retained presence message with a
// Last Will that marks the home offline, commands in and results, entity
// syncs and telemetry out. conn.go makes one connection attempt; loop.go
// keeps reconnecting with exponential backoff and full jitter, so thousands of
// agents coming back after a central restart do not arrive all at once.
package uplink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/homeplane/homeplane/agent/internal/identity"
	"github.com/homeplane/homeplane/agent/internal/metrics"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
)

// ErrDisconnected is returned by Publish while there is no connection; the
// caller keeps the message and tries again later.
var ErrDisconnected = errors.New("uplink: not connected")

// Handler is what the uplink serves.
type Handler interface {
	// HandleCommand runs one command and returns the Result to publish, or
	// nil to publish nothing. It may be called concurrently, and again for
	// the same command id when MQTT redelivers it.
	HandleCommand(ctx context.Context, cmd *homeplanev1.Command) *homeplanev1.Result
	// OnConnect runs in its own goroutine after every successful connect,
	// for example to send a full entity sync. ctx ends with the connection.
	OnConnect(ctx context.Context)
}

// Options are the uplink's optional settings; zero values pick defaults.
type Options struct {
	Logger *slog.Logger
	// Metrics receives the instruments; nil keeps them unexposed.
	Metrics *metrics.Registry
	// MQTTURL overrides the broker address in the identity.
	MQTTURL   string
	TLSConfig *tls.Config
	// AgentVersion and HomeAssistantVersion go into the presence message.
	AgentVersion         string
	HomeAssistantVersion func() string
	// MinBackoff is the first reconnect delay's upper bound (default 1s);
	// it doubles per failed attempt up to MaxBackoff (default 2m).
	MinBackoff, MaxBackoff time.Duration
	// StableAfter is how long a connection must last for the backoff to
	// start again from MinBackoff (default 1m).
	StableAfter time.Duration
	// ConnectTimeout bounds one connection attempt (default 10s).
	ConnectTimeout time.Duration
	// KeepAlive is the MQTT keep-alive (default 30s).
	KeepAlive time.Duration
	// PublishTimeout bounds waiting for a publish acknowledgement (default 10s).
	PublishTimeout time.Duration
	// ShutdownTimeout bounds waiting for running commands on shutdown (default 5s).
	ShutdownTimeout time.Duration
	// MaxPayload bounds an incoming command (default 256 KiB); larger ones
	// are dropped.
	MaxPayload int
	// MaxConcurrent bounds commands handled at once (default 16); beyond
	// it, deliveries wait unacknowledged.
	MaxConcurrent int
	// Jitter returns a uniformly random duration in [0, d]; tests replace
	// it (default math/rand/v2).
	Jitter func(d time.Duration) time.Duration
}

// Uplink is the agent's connection to central.
type Uplink struct {
	id      identity.Identity
	h       Handler
	opts    Options
	log     *slog.Logger
	metrics *uplinkMetrics

	cmdTopic, presenceTopic string
	sem                     chan struct{}

	mu      sync.Mutex
	conn    *conn // nil while disconnected
	spool   Spool
	closing bool
	running sync.WaitGroup // command handlers and OnConnect hooks
}

// New returns an Uplink for id, serving h. It does not connect; Run does.
func New(id identity.Identity, h Handler, opts Options) *Uplink {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MQTTURL == "" {
		opts.MQTTURL = id.MQTTURL
	}
	if opts.HomeAssistantVersion == nil {
		opts.HomeAssistantVersion = func() string { return "" }
	}
	setDefault(&opts.MinBackoff, time.Second)
	setDefault(&opts.MaxBackoff, 2*time.Minute)
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = opts.MinBackoff
	}
	setDefault(&opts.StableAfter, time.Minute)
	setDefault(&opts.ConnectTimeout, 10*time.Second)
	setDefault(&opts.KeepAlive, 30*time.Second)
	setDefault(&opts.PublishTimeout, 10*time.Second)
	setDefault(&opts.ShutdownTimeout, 5*time.Second)
	if opts.MaxPayload <= 0 {
		opts.MaxPayload = 256 << 10
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 16
	}
	if opts.Jitter == nil {
		opts.Jitter = func(d time.Duration) time.Duration { return rand.N(d + 1) }
	}
	u := &Uplink{
		id:      id,
		h:       h,
		opts:    opts,
		log:     opts.Logger.With("agent_id", id.AgentID, "home_id", id.HomeID),
		metrics: newMetrics(opts.Metrics),
		sem:     make(chan struct{}, opts.MaxConcurrent),
	}
	if topic.ValidHomeID(id.HomeID) {
		u.cmdTopic = topic.For(id.HomeID, topic.Command)
		u.presenceTopic = topic.For(id.HomeID, topic.Presence)
	}
	return u
}

// Spool keeps a message that cannot be published now and delivers it once
// the uplink is back (the outbox).
type Spool interface {
	Publish(ctx context.Context, kind topic.Kind, msg proto.Message) error
}

// SetResultSpool makes results that cannot be published on the connection
// their command came on go to s, which keeps them on disk and delivers them
// after the reconnect, while central may still wait. The command is then
// acknowledged; when that acknowledgement is lost with the connection the
// broker delivers the command again and the handler's deduplication answers
// it. The outbox publishes through the uplink, so it is set after New.
func (u *Uplink) SetResultSpool(s Spool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.spool = s
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// Connected reports whether the uplink has a connection now.
func (u *Uplink) Connected() bool {
	return u.current() != nil
}

// Publish sends msg on the home's topic of kind at QoS 1 and waits for the
// broker's acknowledgement. It returns ErrDisconnected (wrapped) when there
// is no connection or it is lost before the acknowledgement.
func (u *Uplink) Publish(ctx context.Context, kind topic.Kind, msg proto.Message) error {
	if !kind.FromAgent() {
		return fmt.Errorf("uplink: the agent does not publish %q", kind)
	}
	return u.publishOn(ctx, u.current(), kind, msg)
}

func (u *Uplink) publishOn(ctx context.Context, c *conn, kind topic.Kind, msg proto.Message) error {
	b, err := proto.Marshal(msg)
	if err != nil {
		return fmt.Errorf("uplink: encode %s: %w", kind, err)
	}
	t := topic.For(u.id.HomeID, kind)
	if n := packetSize(t, b); n > MaxPacket {
		// Central's broker drops the connection of a client that sends a
		// packet past its bound, and the outbox would send it again on
		// every reconnect: it is refused here, and not kept.
		u.metrics.publishErrors.With(string(kind)).Inc()
		return fmt.Errorf("uplink: %s of %d bytes: %w", kind, n, ErrTooLarge)
	}
	if c == nil {
		u.metrics.publishErrors.With(string(kind)).Inc()
		return ErrDisconnected
	}
	if err := c.publish(ctx, t, kind.Retained(), b); err != nil {
		u.metrics.publishErrors.With(string(kind)).Inc()
		return fmt.Errorf("uplink: publish %s: %w", kind, err)
	}
	u.metrics.published.With(string(kind)).Inc()
	return nil
}

// MaxPacket is the largest packet central's broker takes (its
// MaxPacketSize default).
const MaxPacket = 1 << 20

// ErrTooLarge is the error of a message past MaxPacket; it is never sent.
var ErrTooLarge = errors.New("uplink: message larger than the broker takes")

// packetSize is the size of the PUBLISH packet (QoS 1) carrying payload on
// topic: a fixed header of at most 5 bytes, the topic with its length, the
// packet id.
func packetSize(topic string, payload []byte) int {
	return 5 + 2 + len(topic) + 2 + len(payload)
}

func (u *Uplink) current() *conn {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.conn
}

func (u *Uplink) setConn(c *conn) {
	u.mu.Lock()
	u.conn = c
	u.mu.Unlock()
	if c != nil {
		u.metrics.connected.Set(1)
	} else {
		u.metrics.connected.Set(0)
	}
}

// track registers one running handler, unless shutdown has begun.
func (u *Uplink) track() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closing {
		return false
	}
	u.running.Add(1)
	return true
}

func (u *Uplink) presence(online bool) []byte {
	b, _ := proto.Marshal(&homeplanev1.Presence{
		AgentId:              u.id.AgentID,
		Online:               online,
		AgentVersion:         u.opts.AgentVersion,
		HomeAssistantVersion: u.opts.HomeAssistantVersion(),
		Time:                 nowpb(),
	})
	return b
}
