package uplink

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/agent/internal/command"
	"github.com/homeplane/homeplane/agent/internal/identity"
	"github.com/homeplane/homeplane/agent/internal/metrics"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
)

const (
	testHome  = "3f2a7c9e-1b4d-4e8f-9a6b-0c1d2e3f4a5b"
	testAgent = "7c0e5d3a-2f1b-4c8d-9e6f-a1b2c3d4e5f6"
)

// countingHA is Home Assistant as the command runner sees it, counting calls.
type countingHA struct{ calls atomic.Int32 }

func (h *countingHA) CallService(_ context.Context, domain, service string, data map[string]any) ([]*homeplanev1.Entity, error) {
	h.calls.Add(1)
	ids, _ := data["entity_id"].([]string)
	var out []*homeplanev1.Entity
	for _, id := range ids {
		out = append(out, &homeplanev1.Entity{EntityId: id, State: "on"})
	}
	return out, nil
}

// handler wires the real command runner to the uplink, as main does.
type handler struct {
	d        *command.Runner
	connects atomic.Int32
}

func (h *handler) HandleCommand(ctx context.Context, cmd *homeplanev1.Command) *homeplanev1.Result {
	return h.d.Handle(ctx, cmd)
}

func (h *handler) OnConnect(context.Context) { h.connects.Add(1) }

type harness struct {
	b    *testBroker
	u    *Uplink
	h    *handler
	ha   *countingHA
	reg  *metrics.Registry
	stop func() // cancels Run and waits for it
}

func newHook() *recordHook {
	return &recordHook{agentID: testAgent, password: "secret", home: testHome}
}

func testIdentity(addr string) identity.Identity {
	return identity.Identity{
		AgentID: testAgent, HomeID: testHome,
		MQTTUsername: testAgent, MQTTPassword: "secret",
		MQTTURL: "tcp://" + addr, CentralURL: "http://127.0.0.1:1",
	}
}

// start runs an uplink against b; opts gets fast test defaults.
func start(tb testing.TB, b *testBroker, opts Options) *harness {
	tb.Helper()
	ha := &countingHA{}
	h := &handler{d: command.New(command.NewServices(ha, command.ServicesOptions{}), nil, command.Options{})}
	reg := metrics.NewRegistry()
	opts.Metrics = reg
	opts.AgentVersion = "test-1"
	if opts.MinBackoff == 0 {
		opts.MinBackoff = 10 * time.Millisecond
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 100 * time.Millisecond
	}
	opts.HomeAssistantVersion = func() string { return "2025.1.0" }
	u := New(testIdentity(b.addr), h, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					tb.Errorf("Run = %v", err)
				}
			case <-time.After(10 * time.Second):
				tb.Error("Run did not return after cancel")
			}
		})
	}
	tb.Cleanup(stop)
	return &harness{b: b, u: u, h: h, ha: ha, reg: reg, stop: stop}
}

func lightCommand(id string) *homeplanev1.Command {
	return &homeplanev1.Command{
		Id: id, RequestId: "req-" + id,
		Deadline: timestamppb.New(time.Now().Add(time.Minute)),
		Calls:    []*homeplanev1.ServiceCall{{Domain: "light", Service: "turn_on", EntityIds: []string{"light.kitchen"}}},
	}
}

func online(b *testBroker, tb testing.TB) func() bool {
	return func() bool { p := b.retainedPresence(tb); return p != nil && p.GetOnline() }
}

func TestConnectCommandsAndShutdown(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0", newHook())
	hn := start(t, b, Options{MaxPayload: 1024})

	eventually(t, "retained presence online", online(b, t))
	p := b.retainedPresence(t)
	if p.GetAgentId() != testAgent || p.GetAgentVersion() != "test-1" || p.GetHomeAssistantVersion() != "2025.1.0" || p.GetTime() == nil {
		t.Fatalf("presence = %v", p)
	}
	eventually(t, "OnConnect", func() bool { return hn.h.connects.Load() == 1 })
	if !hn.u.Connected() {
		t.Fatal("Connected() = false while connected")
	}

	// Undecodable and oversized commands are dropped; later ones still run.
	b.sendRaw(t, []byte{0xff, 0xff, 0xff})
	big := lightCommand("big")
	big.RequestId = strings.Repeat("x", 2048)
	b.sendCommand(t, big)

	b.sendCommand(t, lightCommand("c1"))
	eventually(t, "result of c1", func() bool { return len(b.resultsFor("c1")) == 1 })
	r := b.resultsFor("c1")[0]
	if !r.GetOk() || r.GetRequestId() != "req-c1" || len(r.GetChanged()) != 1 {
		t.Fatalf("result = %v", r)
	}

	// Delivered twice (as after a redelivery): runs once, answered twice.
	b.sendCommand(t, lightCommand("c2"))
	b.sendCommand(t, lightCommand("c2"))
	eventually(t, "two results of c2", func() bool { return len(b.resultsFor("c2")) == 2 })
	if n := hn.ha.calls.Load(); n != 2 {
		t.Fatalf("Home Assistant calls = %d, want 2 (c1 once, c2 once)", n)
	}
	for _, r := range b.resultsFor("c2") {
		if !r.GetOk() {
			t.Fatalf("c2 result = %v", r)
		}
	}
	eventually(t, "two dropped messages counted", func() bool { return counter(t, hn.reg, "homeplane_agent_mqtt_dropped_total") == 2 })
	if len(b.resultsFor("big")) != 0 {
		t.Fatal("oversized command was answered")
	}

	// A publish from the application side.
	err := hn.u.Publish(context.Background(), topic.Entities, &homeplanev1.EntitySync{Full: true})
	if err != nil {
		t.Fatalf("Publish entities: %v", err)
	}
	if err := hn.u.Publish(context.Background(), topic.Command, &homeplanev1.Command{}); err == nil {
		t.Fatal("Publish on the command topic allowed")
	}

	hn.stop()
	if p := b.retainedPresence(t); p == nil || p.GetOnline() {
		t.Fatalf("after shutdown retained presence = %v, want offline", p)
	}
	if hn.u.Connected() {
		t.Fatal("Connected() = true after shutdown")
	}
	if err := hn.u.Publish(context.Background(), topic.Events, &homeplanev1.Presence{}); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("Publish after shutdown = %v, want ErrDisconnected", err)
	}
	if v := b.hook.problems(); len(v) > 0 {
		t.Fatalf("central's ACL would refuse: %v", v)
	}
}

func TestWillMarksOfflineAndReconnects(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0", newHook())
	// The gate holds the agent in its backoff so the Will's effect can be seen.
	gate := make(chan struct{})
	var gated atomic.Bool
	hn := start(t, b, Options{Jitter: func(d time.Duration) time.Duration {
		if gated.Load() {
			<-gate
		}
		return d
	}})
	eventually(t, "online", online(b, t))

	gated.Store(true)
	cl, ok := b.srv.Clients.Get(testAgent)
	if !ok {
		t.Fatal("agent not among the broker's clients")
	}
	cl.Stop(errors.New("connection killed by test"))

	eventually(t, "Will marks offline", func() bool { p := b.retainedPresence(t); return p != nil && !p.GetOnline() })
	eventually(t, "uplink notices the loss", func() bool { return !hn.u.Connected() })
	if err := hn.u.Publish(context.Background(), topic.Telemetry, &homeplanev1.Presence{}); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("Publish while disconnected = %v, want ErrDisconnected", err)
	}
	// A command sent while the agent is away waits in its persistent session.
	b.sendCommand(t, lightCommand("queued"))

	gated.Store(false)
	close(gate)
	eventually(t, "back online", online(b, t))
	eventually(t, "queued command answered", func() bool { return len(b.resultsFor("queued")) >= 1 })
	eventually(t, "OnConnect again", func() bool { return hn.h.connects.Load() == 2 })
	seen := b.presenceSeen()
	if len(seen) < 3 || !seen[0] || seen[1] || !seen[len(seen)-1] {
		t.Fatalf("presence sequence = %v, want online, offline (Will), online", seen)
	}
	if v := b.hook.problems(); len(v) > 0 {
		t.Fatalf("central's ACL would refuse: %v", v)
	}
}

func TestReconnectAfterBrokerRestart(t *testing.T) {
	hook := newHook()
	b := startBroker(t, "127.0.0.1:0", hook)
	var mu sync.Mutex
	var ceilings []time.Duration
	maxBackoff := 80 * time.Millisecond
	hn := start(t, b, Options{MinBackoff: 5 * time.Millisecond, MaxBackoff: maxBackoff, Jitter: func(d time.Duration) time.Duration {
		mu.Lock()
		ceilings = append(ceilings, d)
		mu.Unlock()
		return d / 2
	}})
	eventually(t, "online", online(b, t))

	b.stop()
	eventually(t, "uplink notices the broker is gone", func() bool { return !hn.u.Connected() })
	// Let a few attempts fail against the closed port so the backoff grows.
	eventually(t, "failed attempts", func() bool { return counter(t, hn.reg, "homeplane_agent_mqtt_connects_total") >= 5 })

	b2 := startBroker(t, b.addr, hook)
	eventually(t, "online on the restarted broker", online(b2, t))
	eventually(t, "OnConnect after restart", func() bool { return hn.h.connects.Load() == 2 })
	b2.sendCommand(t, lightCommand("after-restart"))
	eventually(t, "result after restart", func() bool { return len(b2.resultsFor("after-restart")) == 1 })

	mu.Lock()
	defer mu.Unlock()
	grew := false
	for i, d := range ceilings {
		if d <= 0 || d > maxBackoff {
			t.Fatalf("backoff ceiling %v outside (0, %v]", d, maxBackoff)
		}
		if i > 0 && d > ceilings[i-1] {
			grew = true
		}
	}
	if !grew {
		t.Fatalf("backoff ceilings %v never grew", ceilings)
	}
}

func TestBackoff(t *testing.T) {
	u := New(identity.Identity{}, nil, Options{
		MinBackoff: time.Second, MaxBackoff: 10 * time.Second,
		Jitter: func(d time.Duration) time.Duration { return d },
	})
	cases := []struct {
		name    string
		attempt int
		want    time.Duration
	}{
		{"first", 1, time.Second},
		{"second doubles", 2, 2 * time.Second},
		{"fourth", 4, 8 * time.Second},
		{"capped", 5, 10 * time.Second},
		{"far out stays capped", 500, 10 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := u.backoff(c.attempt); got != c.want {
				t.Fatalf("backoff(%d) ceiling = %v, want %v", c.attempt, got, c.want)
			}
		})
	}
	// The default jitter stays within [0, ceiling] and actually varies.
	u = New(identity.Identity{}, nil, Options{MinBackoff: time.Second, MaxBackoff: time.Second})
	seen := map[time.Duration]bool{}
	for range 100 {
		d := u.backoff(3)
		if d < 0 || d > time.Second {
			t.Fatalf("jittered backoff %v outside [0, 1s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 50 {
		t.Fatalf("jitter produced only %d distinct delays in 100 draws", len(seen))
	}
}

func TestRunRejectsBadIdentity(t *testing.T) {
	u := New(identity.Identity{AgentID: "a"}, &handler{}, Options{})
	if err := u.Run(context.Background()); err == nil {
		t.Fatal("Run accepted an invalid identity")
	}
}

func FuzzDecodeCommand(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x02, 'c', '1'})
	f.Add([]byte{0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		cmd, err := decodeCommand(b, 1024)
		if err == nil && cmd == nil {
			t.Fatal("nil command without error")
		}
		if len(b) > 1024 && err == nil {
			t.Fatal("oversized payload accepted")
		}
	})
}

// counter sums every sample of the named counter family, read back from
// the exposition the agent serves.
func counter(tb testing.TB, reg *metrics.Registry, name string) float64 {
	tb.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(reg.String()))
	if err != nil {
		tb.Fatal(err)
	}
	var sum float64
	for _, m := range mfs[name].GetMetric() {
		sum += m.GetCounter().GetValue()
	}
	return sum
}
