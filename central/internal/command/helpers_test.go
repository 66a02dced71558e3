package command_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/homeplane/homeplane/central/internal/broker"
	"github.com/homeplane/homeplane/central/internal/command"
	"github.com/homeplane/homeplane/central/internal/ingest"
	"github.com/homeplane/homeplane/central/internal/metrictest"
	"github.com/homeplane/homeplane/central/internal/presence"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/polltest"
	"github.com/homeplane/homeplane/protocol/topic"
)

const (
	homeA = "3f2a7c9e-1b4d-4e8f-9a6b-0c1d2e3f4a5b"
	homeB = "0b9c8d7e-6f5a-4b3c-2d1e-0f9a8b7c6d5e"
)

// agents maps agent id → home; every agent's secret is "s-" + its id.
var agents = map[string]string{"agent-a": homeA, "agent-b": homeB}

type creds struct{}

func (creds) AuthenticateAgent(_ context.Context, agentID, secret string) (string, error) {
	if h, ok := agents[agentID]; ok && secret == "s-"+agentID {
		return h, nil
	}
	return "", errors.New("bad credentials")
}

// sink is a hand-written ingest.EntitySink recording what it is given.
type sink struct {
	mu    sync.Mutex
	got   map[string][]*homeplanev1.EntitySync
	fail  error
	calls int
}

func (s *sink) Patch(string, []*homeplanev1.Entity) bool { return false }

func (s *sink) ApplySync(ctx context.Context, homeID string, syncs ...*homeplanev1.EntitySync) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if _, ok := ctx.Deadline(); !ok {
		return errors.New("sink called without a deadline")
	}
	if s.fail != nil {
		return s.fail
	}
	if s.got == nil {
		s.got = make(map[string][]*homeplanev1.EntitySync)
	}
	s.got[homeID] = append(s.got[homeID], syncs...)
	return nil
}

func (s *sink) syncs(homeID string) []*homeplanev1.EntitySync {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*homeplanev1.EntitySync(nil), s.got[homeID]...)
}

func (s *sink) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

type env struct {
	b    *broker.Broker
	r    *command.Router
	p    *presence.Tracker
	sink *sink
	reg  *prometheus.Registry
}

type envConfig struct {
	noConnectionEvents bool // rely on presence alone, like an external broker
	opts               command.Options
	instances          []ingest.InstanceSink
}

// newEnv runs a real broker with a router, the presence tracker and the
// intake on its inline client.
func newEnv(tb testing.TB, cfg envConfig) *env {
	tb.Helper()
	reg := prometheus.NewRegistry()
	b, err := broker.New(creds{}, broker.Options{Addr: "127.0.0.1:0", Logger: testLogger(), Registerer: reg})
	if err != nil {
		tb.Fatal(err)
	}
	s := &sink{}
	opts := cfg.opts
	opts.Logger = testLogger()
	opts.Registerer = reg
	p, err := presence.New(presence.Options{Logger: opts.Logger, Registerer: reg})
	if err != nil {
		tb.Fatal(err)
	}
	r, err := command.New(b, p, opts)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := ingest.New(b, ingest.Targets{Results: r, Presence: p, Entities: s, Instances: cfg.instances},
		ingest.Options{Logger: opts.Logger, Registerer: reg}); err != nil {
		tb.Fatal(err)
	}
	if !cfg.noConnectionEvents {
		b.OnConnection(p.SetConnected)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := b.Start(ctx); err != nil {
		cancel()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cancel()
		_ = b.Close()
	})
	return &env{b: b, r: r, p: p, sink: s, reg: reg}
}

// agent is a paho client playing a home's agent.
type agent struct {
	tb     testing.TB
	c      paho.Client
	home   string
	conn   net.Conn
	mu     sync.Mutex
	cmds   []*homeplanev1.Command
	answer func(*homeplanev1.Command) *homeplanev1.Result // nil result: stay silent
}

// startAgent connects agentID with a presence Will, subscribes to its
// command topic, and announces itself online.
func startAgent(tb testing.TB, e *env, agentID string, answer func(*homeplanev1.Command) *homeplanev1.Result) *agent {
	tb.Helper()
	a := &agent{tb: tb, home: agents[agentID], answer: answer}
	offline, _ := proto.Marshal(&homeplanev1.Presence{AgentId: agentID, Online: false})
	opts := paho.NewClientOptions().
		AddBroker("tcp://"+e.b.Addr().String()).
		SetClientID(agentID).
		SetUsername(agentID).
		SetPassword("s-"+agentID).
		SetProtocolVersion(4).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectTimeout(5*time.Second).
		SetBinaryWill(topic.For(a.home, topic.Presence), offline, 1, true).
		SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
			c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
			a.conn = c
			return c, err
		})
	a.c = paho.NewClient(opts)
	if tok := a.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		tb.Fatalf("agent %s connect: %v", agentID, tok.Error())
	}
	tb.Cleanup(func() { a.c.Disconnect(0) })
	if tok := a.c.Subscribe(topic.For(a.home, topic.Command), 1, a.onCommand); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		tb.Fatalf("agent %s subscribe: %v", agentID, tok.Error())
	}
	a.publish(topic.Presence, &homeplanev1.Presence{
		AgentId: agentID, Online: true, AgentVersion: "1.2.3", HomeAssistantVersion: "2025.1.0",
	}, true)
	return a
}

func (a *agent) onCommand(_ paho.Client, m paho.Message) {
	cmd := &homeplanev1.Command{}
	if err := proto.Unmarshal(m.Payload(), cmd); err != nil {
		a.tb.Errorf("agent got undecodable command: %v", err)
		return
	}
	a.mu.Lock()
	a.cmds = append(a.cmds, cmd)
	a.mu.Unlock()
	if a.answer == nil {
		return
	}
	if res := a.answer(cmd); res != nil {
		b, err := proto.Marshal(res)
		if err != nil {
			a.tb.Errorf("marshal result: %v", err)
			return
		}
		// Not waiting for the PUBACK: paho's handler must not block on its
		// own acknowledgements, and the test may end once central has the
		// result.
		a.c.Publish(topic.For(a.home, topic.Result), 1, false, b)
	}
}

func (a *agent) commands() []*homeplanev1.Command {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*homeplanev1.Command(nil), a.cmds...)
}

func (a *agent) publish(kind topic.Kind, m proto.Message, retain bool) {
	b, err := proto.Marshal(m)
	if err != nil {
		a.tb.Errorf("marshal: %v", err)
		return
	}
	a.publishRaw(topic.For(a.home, kind), b, retain)
}

func (a *agent) publishRaw(t string, payload []byte, retain bool) {
	tok := a.c.Publish(t, 1, retain, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		a.tb.Errorf("publish %s: %v", t, tok.Error())
	}
}

// ok answers every command with success.
func ok(cmd *homeplanev1.Command) *homeplanev1.Result {
	return &homeplanev1.Result{CommandId: cmd.Id, RequestId: cmd.RequestId, Ok: true}
}

func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	polltest.Until(tb, 10*time.Second, what, cond)
}

func (e *env) waitOnline(tb testing.TB, home string, want bool) {
	tb.Helper()
	waitFor(tb, home+" online="+map[bool]string{true: "true", false: "false"}[want], func() bool {
		return e.p.Online(home) == want
	})
}

// metric reads one sample from reg.
func metric(tb testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	tb.Helper()
	return metrictest.Value(tb, reg, name, labels...)
}
