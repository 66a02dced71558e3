// Package broker embeds the MQTT broker (mochi-mqtt) that home agents connect
// to. Its hook denies by default: an agent gets in only with credentials that
// authenticate, a client id equal to its agent id and a Will on its own
// presence topic, and may then use only its own home's topics as
// protocol/topic allows. Every per-client resource is bounded. Central itself
// publishes and subscribes through the broker's inline client, which bypasses
// the ACL.
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/homeplane/homeplane/central/internal/command"
	"github.com/homeplane/homeplane/central/internal/home"
)

var (
	_ command.Transport = (*Broker)(nil)
	_ home.Disconnector = (*Broker)(nil)
)

// Credentials authenticates an agent's MQTT login; central's home service
// implements it. Any error refuses the connection.
type Credentials interface {
	AuthenticateAgent(ctx context.Context, agentID, secret string) (homeID string, err error)
}

// CredentialsFunc adapts a function to Credentials, for wiring a broker
// before the service that checks agents exists.
type CredentialsFunc func(ctx context.Context, agentID, secret string) (homeID string, err error)

// AuthenticateAgent implements Credentials.
func (f CredentialsFunc) AuthenticateAgent(ctx context.Context, agentID, secret string) (string, error) {
	return f(ctx, agentID, secret)
}

// ErrClosed is returned by calls on a broker that has been closed.
var ErrClosed = errors.New("broker: closed")

// Options tunes the broker. Zero values take the defaults below; every limit
// is finite, unlike several of mochi's own defaults.
type Options struct {
	// Addr is the TCP listen address. Default 127.0.0.1:1883; port 0 picks
	// a free port (see Broker.Addr).
	Addr string
	// TLSConfig, when set, makes the listener speak TLS only.
	TLSConfig *tls.Config
	// Logger receives the broker's logs; default discards them.
	Logger *slog.Logger
	// Registerer receives the broker's metrics; default registers nowhere.
	Registerer prometheus.Registerer

	// MaxClients bounds authenticated connections. Default 20000.
	MaxClients int
	// Admission bounds the connections not yet authenticated; see
	// AdmissionOptions.
	AdmissionOptions
	// MaxPacketSize bounds any packet a client sends, in bytes. Default 1 MiB,
	// room for a full entity registry sync.
	MaxPacketSize uint32
	// MaxInflight bounds the QoS 1/2 messages held for one client. Default 64.
	MaxInflight uint16
	// ReceiveMaximum bounds the QoS 1/2 publishes a client may have
	// unacknowledged towards the broker. Default 32.
	ReceiveMaximum uint16
	// ClientWriteBuffer bounds the publishes queued for writing to one
	// client; mochi allocates the queue (a pointer a slot) up front for
	// every client, and drops a publish that finds it full (counted in
	// homeplane_central_mqtt_messages_dropped_total). Default MaxInflight:
	// a QoS 1 publish needs an inflight slot before it is queued, so
	// slots beyond MaxInflight would only ever hold QoS 0 ones, which
	// central does not send.
	ClientWriteBuffer int
	// ClientReadBuffer is the size of the buffer each client's connection
	// is read through, held for the whole connection. Packets larger than
	// it (an entity sync) are read past it, straight into their own
	// allocation. Default 512 bytes: an agent's other packets (acks,
	// pings, presence, results, samples) fit in one read.
	ClientReadBuffer int
	// MaxKeepalive caps the keepalive a client may ask for, and is imposed on
	// clients asking for none, so idle dead connections are found. Default 5m.
	MaxKeepalive time.Duration
	// MaxSessionExpiry bounds how long a disconnected persistent session is
	// kept. Default 1h.
	MaxSessionExpiry time.Duration
	// MaxMessageExpiry bounds how long a queued or retained message lives.
	// Default 1h: commands carry deadlines of seconds, and central's own
	// subscriptions, made at start, have seen every retained presence long
	// before it is dropped.
	MaxMessageExpiry time.Duration
	// ConnectTimeout bounds the time from TCP accept to a complete CONNECT
	// packet (including the TLS handshake). Default 5s.
	ConnectTimeout time.Duration
	// WriteTimeout bounds one write to an agent. Default 30s. An agent
	// that reads nothing then loses its connection instead of holding
	// mochi's lock on its client, and with it central's publishes to it,
	// until the keepalive deadline, which every packet it sends extends.
	WriteTimeout time.Duration
	// AuthTimeout bounds one Credentials call. Default 5s.
	AuthTimeout time.Duration
	// MaxConcurrentAuth bounds Credentials calls in flight, so a reconnect
	// storm cannot exhaust the database pool. Default 32.
	MaxConcurrentAuth int
}

func (o *Options) setDefaults() error {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:1883"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.MaxClients == 0 {
		o.MaxClients = 20000
	}
	o.AdmissionOptions.setDefaults()
	if o.MaxPacketSize == 0 {
		o.MaxPacketSize = 1 << 20
	}
	if o.MaxInflight == 0 {
		o.MaxInflight = 64
	}
	if o.ReceiveMaximum == 0 {
		o.ReceiveMaximum = 32
	}
	if o.ClientWriteBuffer == 0 {
		o.ClientWriteBuffer = int(o.MaxInflight)
	}
	if o.ClientReadBuffer == 0 {
		o.ClientReadBuffer = 512
	}
	if o.MaxKeepalive == 0 {
		o.MaxKeepalive = 5 * time.Minute
	}
	if o.MaxSessionExpiry == 0 {
		o.MaxSessionExpiry = time.Hour
	}
	if o.MaxMessageExpiry == 0 {
		o.MaxMessageExpiry = time.Hour
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 5 * time.Second
	}
	if o.AuthTimeout == 0 {
		o.AuthTimeout = 5 * time.Second
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 30 * time.Second
	}
	if o.MaxConcurrentAuth == 0 {
		o.MaxConcurrentAuth = 32
	}
	errs := []error{o.AdmissionOptions.check()}
	if o.MaxClients < 0 {
		errs = append(errs, errors.New("max clients must be positive"))
	}
	if o.ClientWriteBuffer < 0 || o.ClientWriteBuffer > math.MaxInt32 {
		errs = append(errs, errors.New("client write buffer out of range"))
	}
	if o.ClientReadBuffer < minReadBuffer || o.ClientReadBuffer > maxReadBuffer {
		errs = append(errs, fmt.Errorf("client read buffer must be between %d and %d bytes", minReadBuffer, maxReadBuffer))
	}
	if o.MaxKeepalive < time.Second || o.MaxKeepalive > math.MaxUint16*time.Second {
		errs = append(errs, errors.New("max keepalive must be between 1s and 65535s"))
	}
	if o.MaxSessionExpiry < 0 || o.MaxSessionExpiry > math.MaxUint32*time.Second {
		errs = append(errs, errors.New("max session expiry out of range"))
	}
	if o.MaxMessageExpiry < time.Second {
		errs = append(errs, errors.New("max message expiry must be at least 1s"))
	}
	if o.ConnectTimeout < 0 || o.AuthTimeout < 0 || o.WriteTimeout < 0 {
		errs = append(errs, errors.New("timeouts must be positive"))
	}
	if o.MaxConcurrentAuth < 0 {
		errs = append(errs, errors.New("max concurrent auth must be positive"))
	}
	return errors.Join(errs...)
}

// Bounds of Options.ClientReadBuffer: bufio reads through no less than 16
// bytes, and more than 64 KiB a connection would cost gigabytes at 15,000.
const (
	minReadBuffer = 16
	maxReadBuffer = 64 << 10
)

// Check reports every problem of the options, zero values taking their
// defaults; New refuses the same options.
func (o Options) Check() error { return o.setDefaults() }

// Defaults returns the options with every zero value replaced by its
// default, for configuration help.
func (o Options) Defaults() Options {
	_ = o.setDefaults()
	return o
}

// Broker is the embedded MQTT broker.
type Broker struct {
	server   *mqtt.Server
	hook     *hook
	listener *listener
	log      *slog.Logger

	subID     atomic.Int32
	started   atomic.Bool
	closed    atomic.Bool
	closeOnce sync.Once
}

// New builds a broker; Start opens its listener. creds authenticates every
// agent login.
func New(creds Credentials, opts Options) (*Broker, error) {
	if creds == nil {
		return nil, errors.New("broker: nil credentials")
	}
	if err := opts.setDefaults(); err != nil {
		return nil, fmt.Errorf("broker: options: %w", err)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("broker: metrics: %w", err)
	}

	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumClients = int64(opts.MaxClients)
	caps.MaximumPacketSize = opts.MaxPacketSize
	caps.MaximumInflight = opts.MaxInflight
	caps.ReceiveMaximum = opts.ReceiveMaximum
	caps.MaximumClientWritesPending = int32(opts.ClientWriteBuffer)
	caps.MaximumSessionExpiryInterval = uint32(opts.MaxSessionExpiry / time.Second)
	caps.MaximumMessageExpiryInterval = int64(opts.MaxMessageExpiry / time.Second)
	caps.TopicAliasMaximum = 0 // agents need no aliases; 0 refuses them
	caps.SharedSubAvailable = 0
	caps.WildcardSubAvailable = 0
	caps.SubIDAvailable = 0
	caps.MinimumProtocolVersion = 4 // MQTT 3.1.1 and 5

	log := opts.Logger
	server := mqtt.New(&mqtt.Options{
		Capabilities:            caps,
		ClientNetReadBufferSize: opts.ClientReadBuffer,
		// Not a buffer held per client: the size at which mochi flushes
		// the publishes it gathers while more are queued.
		ClientNetWriteBufferSize: 4096,
		Logger:                   log.With("component", "mqtt"),
		SysTopicResendInterval:   60, // nobody may read $SYS; don't refresh it every second
		InlineClient:             true,
	})

	h := newHook(hookConfig{
		creds:        creds,
		server:       server,
		log:          log,
		metrics:      m,
		authTimeout:  opts.AuthTimeout,
		maxAuth:      opts.MaxConcurrentAuth,
		maxKeepalive: uint16(opts.MaxKeepalive / time.Second),
	})
	if err := server.AddHook(h, nil); err != nil {
		return nil, fmt.Errorf("broker: add hook: %w", err)
	}

	adm := newAdmission(opts.limits(opts.MaxClients), nil)
	if err := watchPending(opts.Registerer, adm.pendingCount); err != nil {
		return nil, fmt.Errorf("broker: metrics: %w", err)
	}
	if err := watchDropped(opts.Registerer, server.Info); err != nil {
		return nil, fmt.Errorf("broker: metrics: %w", err)
	}
	return &Broker{
		server: server,
		hook:   h,
		listener: &listener{
			id:             "agents",
			addr:           opts.Addr,
			tlsConfig:      opts.TLSConfig,
			connectTimeout: opts.ConnectTimeout,
			writeTimeout:   opts.WriteTimeout,
			admission:      adm,
			rejected:       m.rejected,
		},
		log: log,
	}, nil
}

// Start opens the listener and serves until ctx ends or Close is called.
// It returns once the listener is bound.
func (b *Broker) Start(ctx context.Context) error {
	if b.closed.Load() {
		return ErrClosed
	}
	if !b.started.CompareAndSwap(false, true) {
		return errors.New("broker: already started")
	}
	if err := b.server.AddListener(b.listener); err != nil {
		return fmt.Errorf("broker: listen on %s: %w", b.listener.addr, err)
	}
	if err := b.server.Serve(); err != nil {
		return fmt.Errorf("broker: serve: %w", err)
	}
	context.AfterFunc(ctx, func() { _ = b.Close() })
	b.log.Info("mqtt broker listening", "addr", b.listener.Address(), "tls", b.listener.tlsConfig != nil)
	return nil
}

// Close disconnects every client (their Wills fire) and stops the listener.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.closed.Store(true)
		_ = b.server.Close()
	})
	return nil
}

// Addr is the listener's bound address, nil before Start.
func (b *Broker) Addr() net.Addr { return b.listener.Addr() }

// Publish sends payload on topic from central's inline client at QoS 1.
func (b *Broker) Publish(topic string, payload []byte, retain bool) error {
	if b.closed.Load() {
		return ErrClosed
	}
	if err := b.server.Publish(topic, payload, retain, 1); err != nil {
		return fmt.Errorf("broker: publish: %w", err)
	}
	return nil
}

// Subscribe delivers every message matching filter to fn, retained ones
// included. fn runs on the publishing client's goroutine, so it must be
// quick and must not keep or modify payload after returning.
func (b *Broker) Subscribe(filter string, fn func(topic string, payload []byte)) error {
	if b.closed.Load() {
		return ErrClosed
	}
	if fn == nil {
		return errors.New("broker: nil subscription handler")
	}
	id := int(b.subID.Add(1))
	err := b.server.Subscribe(filter, id, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		// mochi's topic is a view into the whole packet it read, so a home id
		// cut from it and kept as a map key or label would keep an entity
		// sync's kilobytes alive with it: the handler gets a copy.
		fn(strings.Clone(pk.TopicName), pk.Payload)
	})
	if err != nil {
		return fmt.Errorf("broker: subscribe %q: %w", filter, err)
	}
	return nil
}

// Disconnect drops the connected agent, for example after its credentials
// were revoked. Its Will fires. An agent that is not connected is ignored.
func (b *Broker) Disconnect(agentID string) {
	cl, ok := b.server.Clients.Get(agentID)
	if !ok || cl.Net.Inline {
		return
	}
	b.log.Info("disconnecting agent", "agent_id", agentID)
	_ = b.server.DisconnectClient(cl, packets.ErrNotAuthorized)
}

// OnConnection registers fn to learn when a home gains its first
// authenticated connection (true) and loses its last one (false). A session
// taken over by the same agent's new connection reports nothing. Register
// before Start; fn runs under the broker's session lock, so it must be quick
// and must not call back into the broker.
func (b *Broker) OnConnection(fn func(homeID string, connected bool)) {
	b.hook.onConnection(fn)
}

// DisconnectHome drops every connection of the home's agents, for example
// after the home was deleted. Their Wills fire.
func (b *Broker) DisconnectHome(homeID string) {
	for _, cl := range b.hook.clientsOf(homeID) {
		b.log.Info("disconnecting agent", "agent_id", cl.ID, "home_id", homeID)
		_ = b.server.DisconnectClient(cl, packets.ErrNotAuthorized)
	}
}
