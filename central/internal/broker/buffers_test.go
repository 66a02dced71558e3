package broker_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/homeplane/homeplane/central/internal/broker"
	"github.com/homeplane/homeplane/protocol/topic"
)

// Packets of any size up to the limit pass through a read buffer far
// smaller than them, and the stream stays in step around its edges.
func TestLargePacketsPassSmallReadBuffer(t *testing.T) {
	const limit = 1 << 20
	for _, tc := range []struct {
		name   string
		buffer int
	}{
		{"default buffer", 0},
		{"smallest buffer", 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := startBroker(t, newCreds(), prometheus.NewRegistry(), func(o *broker.Options) { o.ClientReadBuffer = tc.buffer })
			read := broker.Options{ClientReadBuffer: tc.buffer}.Defaults().ClientReadBuffer
			central := &recorder{}
			syncs := topic.For(homeA, topic.Entities)
			if err := b.Subscribe(topic.Filter(topic.Entities), central.record); err != nil {
				t.Fatal(err)
			}
			agent := mustConnect(t, b, clientConfig{agentID: "agent-a", secret: "secret-a"})
			// The largest payload the packet limit leaves room for: fixed
			// header byte, topic and packet id are counted in it.
			largest := limit - 1 - (2 + len(syncs)) - 2
			var want []string
			for i, n := range []int{largest, 1, read - 1, read, read + 1, 2*read + 3, 64 << 10, largest, 7} {
				p := bytes.Repeat([]byte{byte('a' + i)}, n)
				want = append(want, string(p))
				tok := agent.Publish(syncs, 1, false, p)
				if !tok.WaitTimeout(waitTime) || tok.Error() != nil {
					t.Fatalf("publish %d (%d bytes): %v", i, n, tok.Error())
				}
			}
			waitFor(t, "every sync delivered", func() bool { return len(central.all()) == len(want) })
			for i, m := range central.all() {
				if m.topic != syncs || m.payload != want[i] {
					t.Fatalf("message %d: %d bytes on %q, want %d bytes on %q", i, len(m.payload), m.topic, len(want[i]), syncs)
				}
			}
			if !agent.IsConnected() {
				t.Fatal("agent dropped")
			}
		})
	}
}

func TestReadBufferBounds(t *testing.T) {
	for _, n := range []int{-1, 15, 64<<10 + 1} {
		if _, err := broker.New(newCreds(), broker.Options{ClientReadBuffer: n}); err == nil || !strings.Contains(err.Error(), "read buffer") {
			t.Errorf("ClientReadBuffer %d: New error = %v, want a read buffer problem", n, err)
		}
	}
}

// An agent that acknowledges nothing holds at most MaxInflight of central's
// publishes: the rest are dropped and counted, never queued without bound,
// and those it holds arrive in order.
func TestUnacknowledgedPublishesAreBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	const inflight = 8
	b := startBroker(t, newCreds(), reg, func(o *broker.Options) { o.MaxInflight = inflight })
	if got := (broker.Options{MaxInflight: inflight}).Defaults().ClientWriteBuffer; got != inflight {
		t.Fatalf("write buffer %d, want max inflight %d", got, inflight)
	}
	cmds := topic.For(homeA, topic.Command)
	got := &recorder{}
	agent := mustConnect(t, b, clientConfig{agentID: "agent-a", secret: "secret-a", noAck: true})
	if tok := agent.Subscribe(cmds, 1, func(_ paho.Client, m paho.Message) { got.record(m.Topic(), m.Payload()) }); !tok.WaitTimeout(waitTime) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	const sent = 3 * inflight
	for i := range sent {
		if err := b.Publish(cmds, fmt.Appendf(nil, "command %d", i), false); err != nil {
			t.Fatal(err)
		}
	}
	dropped := metricValue(t, reg, "homeplane_central_mqtt_messages_dropped_total", "reason", "inflight")
	if dropped != sent-inflight {
		t.Fatalf("%v publishes dropped for the inflight window, want %d", dropped, sent-inflight)
	}
	waitFor(t, "the publishes within the window", func() bool { return len(got.all()) == inflight })
	for i, m := range got.all() {
		if m.payload != fmt.Sprintf("command %d", i) {
			t.Fatalf("message %d is %q, want command %d", i, m.payload, i)
		}
	}
	if n := len(got.all()); n != inflight {
		t.Fatalf("%d publishes delivered, want %d", n, inflight)
	}
}

// When the client's write queue is full (its connection stalled), a publish
// is dropped and counted rather than blocking central. The queue is reached
// only by publishes the client takes at QoS 0: a QoS 1 one first needs a
// packet id, which mochi hands out under the lock its writer holds while
// blocked on the connection, so central's publish waits for that write
// (at most until the keepalive deadline closes the connection) instead.
func TestFullWriteQueueDropsAndCounts(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := startBroker(t, newCreds(), reg, func(o *broker.Options) { o.ClientWriteBuffer = 1 })
	cmds := topic.For(homeA, topic.Command)

	// An agent on a bare connection that logs in, subscribes at QoS 0 and
	// then reads nothing.
	conn, err := net.Dial("tcp", b.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetReadBuffer(4 << 10) // stalls the broker's writes sooner
	}
	var login bytes.Buffer
	connect := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 4,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 60, ClientIdentifier: "agent-a",
			UsernameFlag: true, Username: []byte("agent-a"), PasswordFlag: true, Password: []byte("secret-a")},
	}
	subscribe := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, ProtocolVersion: 4, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: cmds, Qos: 0}},
	}
	if err := errors.Join(connect.ConnectEncode(&login), subscribe.SubscribeEncode(&login)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(login.Bytes()); err != nil {
		t.Fatal(err)
	}

	// Large publishes fill the socket buffers; the writer then blocks and
	// the queue of one fills behind it. Until the subscription is in
	// place they go nowhere.
	payload := bytes.Repeat([]byte("x"), 256<<10)
	start := time.Now()
	for metricValue(t, reg, "homeplane_central_mqtt_messages_dropped_total", "reason", "write_queue") == 0 {
		if time.Since(start) > waitTime {
			t.Fatal("no publish dropped for a stalled agent")
		}
		if err := b.Publish(cmds, payload, false); err != nil {
			t.Fatal(err)
		}
	}
	if n := metricValue(t, reg, "homeplane_central_mqtt_clients"); n != 1 {
		t.Fatalf("%v agents connected, want the stalled one still connected", n)
	}
}

// An agent that stops reading while central publishes to it at QoS 1 is
// dropped once a write to it has waited WriteTimeout, and central's
// publishes return, instead of waiting for its keepalive deadline (90 s
// here), which every packet it sends would push on.
func TestStalledAgentIsDroppedAfterWriteTimeout(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := startBroker(t, newCreds(), reg, func(o *broker.Options) { o.WriteTimeout = 300 * time.Millisecond })
	cmds := topic.For(homeA, topic.Command)

	conn, err := net.Dial("tcp", b.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetReadBuffer(4 << 10)
	}
	var login bytes.Buffer
	connect := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 4,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 60, ClientIdentifier: "agent-a",
			UsernameFlag: true, Username: []byte("agent-a"), PasswordFlag: true, Password: []byte("secret-a")},
	}
	subscribe := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, ProtocolVersion: 4, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: cmds, Qos: 1}},
	}
	if err := errors.Join(connect.ConnectEncode(&login), subscribe.SubscribeEncode(&login)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(login.Bytes()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the agent connected", func() bool { return metricValue(t, reg, "homeplane_central_mqtt_clients") == 1 })

	// Keep publishing until the agent is gone; every call must return.
	payload := bytes.Repeat([]byte("x"), 256<<10)
	published := make(chan struct{})
	go func() {
		defer close(published)
		for metricValue(t, reg, "homeplane_central_mqtt_clients") > 0 {
			_ = b.Publish(cmds, payload, false)
		}
	}()
	select {
	case <-published:
	case <-time.After(15 * time.Second):
		t.Fatal("central's publishes to a stalled agent still blocked after 15 s")
	}
	if n := metricValue(t, reg, "homeplane_central_mqtt_clients"); n != 0 {
		t.Fatalf("%v agents connected, want the stalled one dropped", n)
	}
}

// A handler may keep the topic it is given (ingest keys its per-home state
// by the home id cut from it) without keeping the packet it came in alive:
// with 15,000 homes, each pinned entity sync is kilobytes a home.
func TestKeptTopicsHoldNoPackets(t *testing.T) {
	b := startBroker(t, newCreds(), prometheus.NewRegistry())
	const n, size = 64, 256 << 10
	var (
		mu   sync.Mutex
		kept []string
	)
	if err := b.Subscribe(topic.Filter(topic.Entities), func(tp string, _ []byte) {
		mu.Lock()
		defer mu.Unlock()
		kept = append(kept, tp)
	}); err != nil {
		t.Fatal(err)
	}
	agent := mustConnect(t, b, clientConfig{agentID: "agent-a", secret: "secret-a"})
	before := liveHeap()
	payload := bytes.Repeat([]byte{'x'}, size)
	for i := range n {
		tok := agent.Publish(topic.For(homeA, topic.Entities), 1, false, payload)
		if !tok.WaitTimeout(waitTime) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
	}
	waitFor(t, "every sync delivered", func() bool { mu.Lock(); defer mu.Unlock(); return len(kept) == n })
	// Pinned, the packets would hold n*size = 16 MiB.
	if grew := int64(liveHeap()) - int64(before); grew > n*size/4 {
		t.Fatalf("live heap grew by %d KiB while %d topics were kept: the packets they came in are still reachable", grew>>10, n)
	}
	mu.Lock()
	defer mu.Unlock()
	if kept[0] != topic.For(homeA, topic.Entities) {
		t.Fatalf("kept topic %q", kept[0])
	}
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
