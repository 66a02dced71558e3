package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mochi-mqtt/server/v2/packets"
)

// mqtt5 is a raw MQTT 5 connection of an enrolled agent, for what paho's
// client does not send: topic aliases, user properties on a publish.
type mqtt5 struct {
	conn   net.Conn
	nextID uint16
}

// dial5 connects to central's broker as a's agent with MQTT 5; the
// connection takes over the agent's session, which a.publish opens again.
func dial5(t *testing.T, c *central, a *handAgent) *mqtt5 {
	t.Helper()
	conn := c.dialBroker(t)
	m := &mqtt5{conn: conn}
	pk := &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 5,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30,
			ClientIdentifier: a.user, UsernameFlag: true, Username: []byte(a.user),
			PasswordFlag: true, Password: []byte(a.pass)}}
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	typ, _, err := m.read(5 * time.Second)
	if err != nil || typ != packets.Connack {
		conn.Close()
		t.Fatalf("raw MQTT 5 connection refused (%d, %v)", typ, err)
	}
	return m
}

// read reads one packet's type and body.
func (m *mqtt5) read(wait time.Duration) (byte, []byte, error) {
	_ = m.conn.SetReadDeadline(time.Now().Add(wait))
	var hdr [1]byte
	if _, err := io.ReadFull(m.conn, hdr[:]); err != nil {
		return 0, nil, err
	}
	n, mult := 0, 1
	for {
		var b [1]byte
		if _, err := io.ReadFull(m.conn, b[:]); err != nil {
			return 0, nil, err
		}
		n += int(b[0]&127) * mult
		mult *= 128
		if b[0]&128 == 0 {
			break
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(m.conn, body); err != nil {
		return 0, nil, err
	}
	return hdr[0] >> 4, body, nil
}

func (m *mqtt5) write(t *testing.T, pk *packets.Packet) {
	t.Helper()
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Pingreq:
		err = pk.PingreqEncode(&buf)
	}
	if err != nil {
		t.Fatal(err)
	}
	_, _ = m.conn.Write(buf.Bytes())
}

// publish sends payload on tp (empty: by the alias alone) with topic
// alias 1.
func (m *mqtt5) publish(t *testing.T, tp string, qos byte, payload []byte) {
	t.Helper()
	m.nextID++
	m.write(t, &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos}, ProtocolVersion: 5,
		PacketID: m.nextID, TopicName: tp, Payload: payload,
		Properties: packets.Properties{TopicAlias: 1, TopicAliasFlag: true}})
}

// publishProps sends a publish on tp carrying n user properties.
func (m *mqtt5) publishProps(t *testing.T, tp string, n int) {
	t.Helper()
	pk := &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, ProtocolVersion: 5, TopicName: tp, Payload: []byte("x")}
	for i := range n {
		pk.Properties.User = append(pk.Properties.User, packets.UserProperty{Key: fmt.Sprintf("k%d", i), Val: strings.Repeat("v", 100)})
	}
	m.write(t, pk)
}

// alive reports whether the broker still answers a PINGREQ.
func (m *mqtt5) alive(t *testing.T) bool {
	t.Helper()
	m.write(t, &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		typ, _, err := m.read(time.Until(deadline))
		if err != nil {
			return false
		}
		if typ == packets.Pingresp {
			return true
		}
	}
	return false
}

func (m *mqtt5) close() { m.conn.Close() }

// countRows runs a count query on central's database.
func countRows(t *testing.T, c *central, query string, args ...any) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}
