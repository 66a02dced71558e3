package broker_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	neturl "net/url"
	"os"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/homeplane/homeplane/central/internal/broker"
	"github.com/homeplane/homeplane/central/internal/metrictest"
	"github.com/homeplane/homeplane/protocol/polltest"
)

const (
	homeA = "3f2a7c9e-1b4d-4e8f-9a6b-0c1d2e3f4a5b"
	homeB = "0b9c8d7e-6f5a-4b3c-2d1e-0f9a8b7c6d5e"
)

var errBadSecret = errors.New("bad agent credentials")

// fakeCreds is a hand-written Credentials: agent id → secret and home.
type fakeCreds struct {
	mu     sync.Mutex
	agents map[string][2]string
}

func newCreds() *fakeCreds {
	return &fakeCreds{agents: map[string][2]string{
		"agent-a":  {"secret-a", homeA},
		"agent-a2": {"secret-a2", homeA},
		"agent-b":  {"secret-b", homeB},
		"inline":   {"secret-inline", homeA}, // valid credentials, reserved id
	}}
}

func (c *fakeCreds) AuthenticateAgent(_ context.Context, agentID, secret string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.agents[agentID]
	if !ok || a[0] != secret {
		return "", errBadSecret
	}
	return a[1], nil
}

func (c *fakeCreds) add(agentID, secret, homeID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.agents[agentID] = [2]string{secret, homeID}
}

func (c *fakeCreds) revoke(agentID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.agents, agentID)
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startBroker runs a broker on a free local port until the test ends.
func startBroker(tb testing.TB, creds broker.Credentials, reg prometheus.Registerer, tune ...func(*broker.Options)) *broker.Broker {
	tb.Helper()
	opts := broker.Options{
		Addr:       "127.0.0.1:0",
		Logger:     testLogger(),
		Registerer: reg,
	}
	for _, f := range tune {
		f(&opts)
	}
	b, err := broker.New(creds, opts)
	if err != nil {
		tb.Fatalf("broker.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := b.Start(ctx); err != nil {
		cancel()
		tb.Fatalf("Start: %v", err)
	}
	tb.Cleanup(func() {
		cancel()
		_ = b.Close()
	})
	return b
}

type clientConfig struct {
	agentID, clientID, secret string
	will                      *will
	onLost                    func()
	onMessage                 func(paho.Message)
	conn                      *net.Conn // receives the raw connection, to kill it
	localIP                   string    // source address, e.g. 127.0.0.2; default any
	noAck                     bool      // acknowledge no QoS 1 message
}

type will struct {
	topic   string
	retain  bool
	payload []byte // default "gone"
}

// waitTime bounds a wait for one broker answer.
const waitTime = 10 * time.Second

// connect dials b as an MQTT 3.1.1 paho client and returns it with the
// CONNECT outcome. The client is disconnected when the test ends.
func connect(tb testing.TB, b *broker.Broker, cfg clientConfig) (paho.Client, error) {
	tb.Helper()
	return dial(tb, "tcp://"+b.Addr().String(), cfg)
}

// dial connects to the broker at url (tcp://host:port) as connect does.
func dial(tb testing.TB, url string, cfg clientConfig) (paho.Client, error) {
	tb.Helper()
	if cfg.clientID == "" {
		cfg.clientID = cfg.agentID
	}
	opts := paho.NewClientOptions().
		AddBroker(url).
		SetClientID(cfg.clientID).
		SetUsername(cfg.agentID).
		SetPassword(cfg.secret).
		SetProtocolVersion(4).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(5 * time.Second).
		SetKeepAlive(30 * time.Second)
	if cfg.noAck {
		opts.SetAutoAckDisabled(true)
	}
	if cfg.will != nil {
		payload := cfg.will.payload
		if payload == nil {
			payload = []byte("gone")
		}
		opts.SetBinaryWill(cfg.will.topic, payload, 1, cfg.will.retain)
	}
	if cfg.onLost != nil {
		opts.SetConnectionLostHandler(func(paho.Client, error) { cfg.onLost() })
	}
	if cfg.onMessage != nil {
		opts.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { cfg.onMessage(m) })
	}
	if cfg.conn != nil || cfg.localIP != "" {
		d := net.Dialer{Timeout: 5 * time.Second}
		if cfg.localIP != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(cfg.localIP)}
		}
		opts.SetCustomOpenConnectionFn(func(u *neturl.URL, _ paho.ClientOptions) (net.Conn, error) {
			c, err := d.Dial("tcp", u.Host)
			if cfg.conn != nil {
				*cfg.conn = c
			}
			return c, err
		})
	}
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(waitTime) {
		tb.Fatalf("connect %s: no CONNACK", cfg.clientID)
	}
	if err := tok.Error(); err != nil {
		return c, err
	}
	tb.Cleanup(func() { c.Disconnect(0) })
	return c, nil
}

// mustConnect connects an agent that must be admitted.
func mustConnect(tb testing.TB, b *broker.Broker, cfg clientConfig) paho.Client {
	tb.Helper()
	return mustDial(tb, "tcp://"+b.Addr().String(), cfg)
}

// mustDial dials a client that must be admitted.
func mustDial(tb testing.TB, url string, cfg clientConfig) paho.Client {
	tb.Helper()
	c, err := dial(tb, url, cfg)
	if err != nil {
		tb.Fatalf("connect %s: %v", cfg.agentID, err)
	}
	return c
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	polltest.Until(tb, 10*time.Second, what, cond)
}

// waitWithin polls cond until it holds or d passes.
func waitWithin(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	polltest.Until(tb, d, what, cond)
}

// recorder keeps every message central's inline client receives.
type recorder struct {
	mu   sync.Mutex
	msgs []msg
}

type msg struct {
	topic   string
	payload string
}

func (r *recorder) record(topic string, payload []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, msg{topic, string(payload)})
}

func (r *recorder) has(topic, payload string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.msgs {
		if m.topic == topic && m.payload == payload {
			return true
		}
	}
	return false
}

func (r *recorder) all() []msg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]msg(nil), r.msgs...)
}

// metricValue reads one sample from reg; labels are name, value pairs.
func metricValue(tb testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	tb.Helper()
	return metrictest.Value(tb, reg, name, labels...)
}
