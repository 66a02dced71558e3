package uplink

import (
	"bytes"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"google.golang.org/protobuf/proto"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/polltest"
	"github.com/homeplane/homeplane/protocol/topic"
)

// testBroker is a real mochi broker on loopback with a permissive hook that
// records what central's hook would have refused, so tests can assert the
// agent keeps to its ACL.
type testBroker struct {
	srv  *mqtt.Server
	addr string
	hook *recordHook

	stopOnce sync.Once
	mu       sync.Mutex
	presence []*homeplanev1.Presence // every presence publish seen, Will included
	results  []*homeplanev1.Result
}

type recordHook struct {
	mqtt.HookBase
	agentID, password, home string

	refuse atomic.Bool // while set, every connect is turned away
	// maxPacket, when set, bounds packets as central's broker does (1 MiB).
	maxPacket uint32

	mu         sync.Mutex
	connects   int
	violations []string
}

func (h *recordHook) ID() string { return "record" }

func (h *recordHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnPublish}, []byte{b})
}

func (h *recordHook) violate(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.violations = append(h.violations, fmt.Sprintf(format, args...))
}

func (h *recordHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	if h.refuse.Load() {
		return false
	}
	h.mu.Lock()
	h.connects++
	h.mu.Unlock()
	c := pk.Connect
	if cl.ID != h.agentID || string(c.Username) != h.agentID || string(c.Password) != h.password {
		h.violate("connect as client %q user %q", cl.ID, c.Username)
	}
	if c.Clean {
		h.violate("clean session requested")
	}
	if !c.WillFlag || !topic.AgentWillMay(h.home, c.WillTopic, c.WillRetain) || c.WillQos != 1 {
		h.violate("will on %q retain=%v qos=%d", c.WillTopic, c.WillRetain, c.WillQos)
	}
	var p homeplanev1.Presence
	if err := proto.Unmarshal(c.WillPayload, &p); err != nil || p.GetOnline() || p.GetAgentId() != h.agentID {
		h.violate("will payload %v (%v)", &p, err)
	}
	return true
}

func (h *recordHook) OnACLCheck(cl *mqtt.Client, name string, write bool) bool {
	access := topic.Subscribe
	if write {
		access = topic.Publish
	}
	// Retain is checked in OnPublish, which sees the flag.
	_, k, _ := topic.Parse(name)
	if !cl.Net.Inline && !topic.AgentMay(h.home, access, name, k.Retained()) {
		h.violate("acl write=%v %q", write, name)
	}
	return true
}

func (h *recordHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if !cl.Net.Inline && !topic.AgentMay(h.home, topic.Publish, pk.TopicName, pk.FixedHeader.Retain) {
		h.violate("publish %q retain=%v", pk.TopicName, pk.FixedHeader.Retain)
	}
	return pk, nil
}

func (h *recordHook) problems() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.violations...)
}

// startBroker starts a broker on addr ("127.0.0.1:0" for any port) and stops
// it at cleanup.
func startBroker(tb testing.TB, addr string, hook *recordHook) *testBroker {
	tb.Helper()
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = hook.maxPacket
	srv := mqtt.New(&mqtt.Options{
		InlineClient: true,
		Capabilities: caps,
		Logger:       slog.New(slog.DiscardHandler),
	})
	if err := srv.AddHook(hook, nil); err != nil {
		tb.Fatal(err)
	}
	l := listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})
	var err error
	// The port of a restarted broker can take a moment to be free again.
	for deadline := time.Now().Add(5 * time.Second); ; {
		if err = srv.AddListener(l); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		tb.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		tb.Fatal(err)
	}
	b := &testBroker{srv: srv, addr: l.Address(), hook: hook}
	err = srv.Subscribe(topic.For(hook.home, topic.Presence), 1, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		var p homeplanev1.Presence
		if proto.Unmarshal(pk.Payload, &p) == nil {
			b.mu.Lock()
			b.presence = append(b.presence, &p)
			b.mu.Unlock()
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	err = srv.Subscribe(topic.For(hook.home, topic.Result), 2, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		var r homeplanev1.Result
		if proto.Unmarshal(pk.Payload, &r) == nil {
			b.mu.Lock()
			b.results = append(b.results, &r)
			b.mu.Unlock()
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(b.stop)
	return b
}

func (b *testBroker) stop() {
	b.stopOnce.Do(func() { b.srv.Close() })
}

// retainedPresence is the presence message the broker retains now, or nil.
func (b *testBroker) retainedPresence(tb testing.TB) *homeplanev1.Presence {
	tb.Helper()
	msgs := b.srv.Topics.Messages(topic.For(b.hook.home, topic.Presence))
	if len(msgs) == 0 {
		return nil
	}
	var p homeplanev1.Presence
	if err := proto.Unmarshal(msgs[0].Payload, &p); err != nil {
		tb.Fatalf("retained presence undecodable: %v", err)
	}
	return &p
}

// presenceSeen returns the online flags of every presence published so far.
func (b *testBroker) presenceSeen() []bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]bool, len(b.presence))
	for i, p := range b.presence {
		out[i] = p.GetOnline()
	}
	return out
}

func (b *testBroker) resultsFor(commandID string) []*homeplanev1.Result {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*homeplanev1.Result
	for _, r := range b.results {
		if r.GetCommandId() == commandID {
			out = append(out, r)
		}
	}
	return out
}

func (b *testBroker) sendCommand(tb testing.TB, cmd *homeplanev1.Command) {
	tb.Helper()
	p, err := proto.Marshal(cmd)
	if err != nil {
		tb.Fatal(err)
	}
	b.sendRaw(tb, p)
}

func (b *testBroker) sendRaw(tb testing.TB, payload []byte) {
	tb.Helper()
	if err := b.srv.Publish(topic.For(b.hook.home, topic.Command), payload, false, 1); err != nil {
		tb.Fatal(err)
	}
}

// eventually polls cond until it holds; the bound is for a hang, and
// generous, since the tests share a loaded machine under the race detector.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	polltest.Until(tb, 30*time.Second, what, cond)
}
