package broker_test

import (
	"bytes"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/homeplane/homeplane/central/internal/broker"
	"github.com/homeplane/homeplane/protocol/topic"
)

// events records OnConnection calls.
type events struct {
	mu  sync.Mutex
	got []string
}

func (e *events) record(home string, connected bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, fmt.Sprintf("%s=%v", home, connected))
}

func (e *events) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.got)
}

func TestConnectionEvents(t *testing.T) {
	reg := prometheus.NewRegistry()
	b, err := broker.New(newCreds(), broker.Options{Addr: "127.0.0.1:0", Logger: testLogger(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ev := &events{}
	b.OnConnection(ev.record)
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	clients := func() float64 { return metricValue(t, reg, "homeplane_central_mqtt_clients") }

	// Two agents of the same home: one event when the first arrives.
	var lostFirst atomic.Bool
	first := mustConnect(t, b, clientConfig{agentID: "agent-a", secret: "secret-a", onLost: func() { lostFirst.Store(true) }})
	second := mustConnect(t, b, clientConfig{agentID: "agent-a2", secret: "secret-a2"})
	waitFor(t, "two clients", func() bool { return clients() == 2 })
	if got, want := ev.list(), []string{homeA + "=true"}; !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}

	// The same agent logging in again takes the session over: the old
	// connection goes, the home never looks disconnected.
	takeover := mustConnect(t, b, clientConfig{agentID: "agent-a", secret: "secret-a"})
	waitFor(t, "old session dropped", lostFirst.Load)
	waitFor(t, "old session forgotten", func() bool { return clients() == 2 })
	if got, want := ev.list(), []string{homeA + "=true"}; !slices.Equal(got, want) {
		t.Fatalf("after takeover events = %v, want %v", got, want)
	}
	if first.IsConnected() {
		t.Fatal("taken-over client still connected")
	}

	second.Disconnect(0)
	waitFor(t, "one client", func() bool { return clients() == 1 })
	if got := ev.list(); len(got) != 1 {
		t.Fatalf("events after one of two left = %v", got)
	}
	takeover.Disconnect(0)
	waitFor(t, "disconnect event", func() bool { return len(ev.list()) == 2 })
	if got, want := ev.list(), []string{homeA + "=true", homeA + "=false"}; !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	if clients() != 0 {
		t.Fatalf("clients gauge = %v after all left", clients())
	}
}

func TestWillFiresWhenConnectionDies(t *testing.T) {
	b := startBroker(t, newCreds(), prometheus.NewRegistry())
	central := &recorder{}
	if err := b.Subscribe(topic.Filter(topic.Presence), central.record); err != nil {
		t.Fatal(err)
	}
	var conn net.Conn
	mustConnect(t, b, clientConfig{agentID: "agent-a", secret: "secret-a", conn: &conn,
		will: &will{topic: topic.For(homeA, topic.Presence), retain: true}})
	if central.has(topic.For(homeA, topic.Presence), "gone") {
		t.Fatal("will delivered while connected")
	}
	_ = conn.Close() // a crash: no DISCONNECT packet
	waitFor(t, "will", func() bool { return central.has(topic.For(homeA, topic.Presence), "gone") })
}

// Agents publish their presence, and their Wills, retained, as the protocol
// has them do for brokers that replicas share. The embedded broker's only
// subscriber is central, subscribed from the start: it gets every message,
// and the broker keeps none (ADR 0041).
func TestEmbeddedBrokerKeepsNothingRetained(t *testing.T) {
	b := startBroker(t, newCreds(), prometheus.NewRegistry())
	central := &recorder{}
	if err := b.Subscribe(topic.Filter(topic.Presence), central.record); err != nil {
		t.Fatal(err)
	}
	presence := topic.For(homeA, topic.Presence)
	var conn net.Conn
	agent := mustConnect(t, b, clientConfig{agentID: "agent-a", secret: "secret-a", conn: &conn,
		will: &will{topic: presence, retain: true}})
	if tok := agent.Publish(presence, 1, true, "online"); !tok.WaitTimeout(waitTime) || tok.Error() != nil {
		t.Fatalf("publish presence: %v", tok.Error())
	}
	waitFor(t, "presence", func() bool { return central.has(presence, "online") })
	_ = conn.Close()
	waitFor(t, "will", func() bool { return central.has(presence, "gone") })

	late := &recorder{}
	if err := b.Subscribe(topic.Filter(topic.Presence), late.record); err != nil {
		t.Fatal(err)
	}
	if got := late.all(); len(got) != 0 {
		t.Fatalf("a later subscriber got retained %v", got)
	}
}

func TestDisconnectRevokedAgent(t *testing.T) {
	creds := newCreds()
	b, err := broker.New(creds, broker.Options{Addr: "127.0.0.1:0", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ev := &events{}
	b.OnConnection(ev.record)
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	central := &recorder{}
	if err := b.Subscribe(topic.Filter(topic.Presence), central.record); err != nil {
		t.Fatal(err)
	}

	var lost atomic.Bool
	mustConnect(t, b, clientConfig{agentID: "agent-a", secret: "secret-a", onLost: func() { lost.Store(true) },
		will: &will{topic: topic.For(homeA, topic.Presence), retain: true}})
	other := mustConnect(t, b, clientConfig{agentID: "agent-b", secret: "secret-b"})

	creds.revoke("agent-a")
	b.Disconnect("agent-a")
	b.Disconnect("agent-never-connected") // ignored
	b.Disconnect("inline")                // central's own client is not an agent
	waitFor(t, "agent dropped", lost.Load)
	waitFor(t, "disconnect event", func() bool { return slices.Contains(ev.list(), homeA+"=false") })
	waitFor(t, "will", func() bool { return central.has(topic.For(homeA, topic.Presence), "gone") })
	if !other.IsConnected() {
		t.Fatal("another agent was dropped too")
	}
	if _, err := connect(t, b, clientConfig{agentID: "agent-a", secret: "secret-a"}); err == nil {
		t.Fatal("revoked agent reconnected")
	}
	// Central's inline client still works.
	if err := b.Publish(topic.For(homeB, topic.Presence), []byte("still here"), true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "inline publish", func() bool { return central.has(topic.For(homeB, topic.Presence), "still here") })
}

func TestLimits(t *testing.T) {
	t.Run("logins beyond max clients are refused", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		b := startBroker(t, newCreds(), reg, func(o *broker.Options) { o.MaxClients = 2 })
		a := mustConnect(t, b, clientConfig{agentID: "agent-a", secret: "secret-a"})
		mustConnect(t, b, clientConfig{agentID: "agent-b", secret: "secret-b"})
		if _, err := connect(t, b, clientConfig{agentID: "agent-a2", secret: "secret-a2"}); err == nil {
			t.Fatal("third client admitted")
		}
		if !a.IsConnected() {
			t.Fatal("an admitted agent was dropped")
		}
		waitFor(t, "the refused connection leaves the pending pool", func() bool {
			return metricValue(t, reg, "homeplane_central_mqtt_pending_connections") == 0
		})
	})

	t.Run("silent connection is closed after the connect timeout", func(t *testing.T) {
		b := startBroker(t, newCreds(), prometheus.NewRegistry(), func(o *broker.Options) {
			o.ConnectTimeout = 200 * time.Millisecond
		})
		conn, err := net.Dial("tcp", b.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		start := time.Now()
		n, err := conn.Read(make([]byte, 1))
		if err == nil || n != 0 {
			t.Fatalf("read %d bytes, err %v; want the broker to close", n, err)
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Fatalf("connection held for %v", el)
		}
	})

	t.Run("oversized packet drops the connection", func(t *testing.T) {
		b := startBroker(t, newCreds(), prometheus.NewRegistry(), func(o *broker.Options) { o.MaxPacketSize = 4096 })
		central := &recorder{}
		if err := b.Subscribe(topic.Filter(topic.Telemetry), central.record); err != nil {
			t.Fatal(err)
		}
		var lost atomic.Bool
		agent := mustConnect(t, b, clientConfig{agentID: "agent-a", secret: "secret-a", onLost: func() { lost.Store(true) }})
		agent.Publish(topic.For(homeA, topic.Telemetry), 0, false, bytes.Repeat([]byte("x"), 8192))
		waitFor(t, "disconnect", lost.Load)
		if msgs := central.all(); len(msgs) != 0 {
			t.Fatalf("oversized message delivered: %d messages", len(msgs))
		}
	})

	t.Run("invalid options are reported together", func(t *testing.T) {
		_, err := broker.New(newCreds(), broker.Options{MaxClients: -1, MaxKeepalive: time.Millisecond})
		if err == nil || !strings.Contains(err.Error(), "max clients") || !strings.Contains(err.Error(), "keepalive") {
			t.Fatalf("New error = %v, want both problems", err)
		}
		if _, err := broker.New(nil, broker.Options{}); err == nil {
			t.Fatal("nil credentials accepted")
		}
	})
}

func TestCloseEndsEverything(t *testing.T) {
	b := startBroker(t, newCreds(), prometheus.NewRegistry())
	var lost atomic.Bool
	mustConnect(t, b, clientConfig{agentID: "agent-a", secret: "secret-a", onLost: func() { lost.Store(true) }})
	// A connection stuck before CONNECT must not hold Close up.
	idle, err := net.Dial("tcp", b.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()

	done := make(chan struct{})
	go func() { _ = b.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	waitFor(t, "agent dropped", lost.Load)
	if err := b.Publish(topic.For(homeA, topic.Command), nil, false); err == nil {
		t.Fatal("publish after close succeeded")
	}
	if _, err := net.DialTimeout("tcp", b.Addr().String(), time.Second); err == nil {
		t.Fatal("listener still accepting")
	}
}
