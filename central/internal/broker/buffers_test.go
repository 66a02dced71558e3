package broker_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

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

// rawAgent is an agent on a bare TCP connection: it reads only when the
// test says so, and never acknowledges what it is sent.
type rawAgent struct {
	conn net.Conn
	r    *bufio.Reader
}

func dialRaw(tb testing.TB, b *broker.Broker, agentID, secret, filter string, qos byte) *rawAgent {
	tb.Helper()
	conn, err := net.Dial("tcp", b.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	a := &rawAgent{conn: conn, r: bufio.NewReader(conn)}
	a.send(tb, &packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 4,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 60, ClientIdentifier: agentID,
			UsernameFlag: true, Username: []byte(agentID), PasswordFlag: true, Password: []byte(secret)},
	})
	if pk := a.read(tb); pk.FixedHeader.Type != packets.Connack || pk.ReasonCode != 0 {
		tb.Fatalf("CONNACK: type %d code %d", pk.FixedHeader.Type, pk.ReasonCode)
	}
	a.send(tb, &packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, ProtocolVersion: 4, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: filter, Qos: qos}},
	})
	if pk := a.read(tb); pk.FixedHeader.Type != packets.Suback || len(pk.ReasonCodes) != 1 || pk.ReasonCodes[0] != qos {
		tb.Fatalf("SUBACK: type %d codes %v", pk.FixedHeader.Type, pk.ReasonCodes)
	}
	return a
}

func (a *rawAgent) send(tb testing.TB, pk *packets.Packet) {
	tb.Helper()
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&buf)
	}
	if err == nil {
		_, err = a.conn.Write(buf.Bytes())
	}
	if err != nil {
		tb.Fatal(err)
	}
}

func (a *rawAgent) read(tb testing.TB) packets.Packet {
	tb.Helper()
	_ = a.conn.SetReadDeadline(time.Now().Add(waitTime))
	var pk packets.Packet
	hb, err := a.r.ReadByte()
	if err == nil {
		err = pk.FixedHeader.Decode(hb)
	}
	if err == nil {
		pk.FixedHeader.Remaining, _, err = packets.DecodeLength(a.r)
	}
	body := make([]byte, pk.FixedHeader.Remaining)
	if err == nil {
		_, err = io.ReadFull(a.r, body)
	}
	if err != nil {
		tb.Fatalf("read: %v", err)
	}
	pk.ProtocolVersion = 4
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	}
	if err != nil {
		tb.Fatalf("decode packet type %d: %v", pk.FixedHeader.Type, err)
	}
	return pk
}

// An agent that acknowledges nothing holds at most MaxInflight of central's
// publishes: the rest are dropped and counted, never queued without bound,
// and those held are delivered in order once it reads.
func TestUnacknowledgedPublishesAreBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	const inflight = 8
	b := startBroker(t, newCreds(), reg, func(o *broker.Options) { o.MaxInflight = inflight })
	if got := (broker.Options{MaxInflight: inflight}).Defaults().ClientWriteBuffer; got != inflight {
		t.Fatalf("write buffer %d, want max inflight %d", got, inflight)
	}
	cmds := topic.For(homeA, topic.Command)
	agent := dialRaw(t, b, "agent-a", "secret-a", cmds, 1)

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
	for i := range inflight {
		pk := agent.read(t)
		if pk.FixedHeader.Type != packets.Publish || string(pk.Payload) != fmt.Sprintf("command %d", i) {
			t.Fatalf("packet %d: type %d payload %q, want command %d", i, pk.FixedHeader.Type, pk.Payload, i)
		}
	}
	_ = agent.conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := agent.r.ReadByte(); err == nil {
		t.Fatal("a dropped publish was delivered")
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
	agent := dialRaw(t, b, "agent-a", "secret-a", cmds, 0)
	if tcp, ok := agent.conn.(*net.TCPConn); ok {
		_ = tcp.SetReadBuffer(4 << 10) // stalls the broker's writes sooner
	}

	// Large publishes fill the socket buffers; the writer then blocks and
	// the queue of one fills behind it.
	payload := bytes.Repeat([]byte("x"), 256<<10)
	start := time.Now()
	published := 0
	for metricValue(t, reg, "homeplane_central_mqtt_messages_dropped_total", "reason", "write_queue") == 0 {
		if time.Since(start) > waitTime {
			t.Fatalf("no publish dropped after %d sent to a stalled agent", published)
		}
		if err := b.Publish(cmds, payload, false); err != nil {
			t.Fatal(err)
		}
		published++
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("publishing to a stalled agent took %v", el)
	}
}
