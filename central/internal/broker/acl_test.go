package broker_test

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/homeplane/homeplane/protocol/topic"
)

// The MQTT attacks: one table each for CONNECT, SUBSCRIBE and PUBLISH, run
// against both modes (eachMode). What must hold in both is what reaches
// central and the other homes; how a refusal looks may differ (the embedded
// broker refuses a bad Will at CONNECT, the plugin drops it when it is sent;
// the embedded broker ends a connection whose QoS 1 publish it refuses,
// Mosquitto acknowledges and drops it). The embedded broker's metrics are
// checked where it has them.

// subackFailure is the MQTT 3.1.1 SUBACK return code for a refused filter.
const subackFailure = 0x80

// onlyIn marks a row that applies to one mode, with the reason.
type onlyIn struct{ mode, why string }

func (o onlyIn) skip(t *testing.T, m *mode) {
	t.Helper()
	if o.mode != "" && o.mode != m.name {
		t.Skip(o.why)
	}
}

func TestMQTTConnectAttacks(t *testing.T) {
	eachMode(t, func(t *testing.T, m *mode) {
		cases := []struct {
			name    string
			cfg     clientConfig
			refused bool
			reason  string // the embedded broker's auth failure reason, where one is certain
			only    onlyIn
		}{
			{name: "valid agent", cfg: clientConfig{agentID: "agent-b", secret: "secret-b"}},
			{name: "wrong secret", cfg: clientConfig{agentID: "agent-a", secret: "secret-b"}, refused: true, reason: "credentials"},
			{name: "unknown agent", cfg: clientConfig{agentID: "agent-x", secret: "secret-a"}, refused: true, reason: "credentials"},
			{name: "no credentials", cfg: clientConfig{clientID: "anonymous"}, refused: true, reason: "no_credentials"},
			{name: "client id is another agent", cfg: clientConfig{agentID: "agent-a", clientID: "agent-b", secret: "secret-a"}, refused: true, reason: "client_id"},
			{name: "client id differs from username", cfg: clientConfig{agentID: "agent-a", clientID: "agent-a-2", secret: "secret-a"}, refused: true, reason: "client_id"},
			{name: "client id of a central replica", cfg: clientConfig{agentID: "agent-a", clientID: "central-a", secret: "secret-a"}, refused: true, reason: "client_id"},
			{name: "central's user with an agent's secret", cfg: clientConfig{agentID: serviceUser, clientID: "central-x", secret: "secret-a"}, refused: true},
			{name: "reserved inline client id", cfg: clientConfig{agentID: "inline", secret: "secret-inline"}, refused: true, reason: "client_id",
				only: onlyIn{embedded, "\"inline\" is the embedded broker's own client; external brokers reserve central- ids (the rows above)"}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				c.only.skip(t, m)
				before := m.authFailures(t, c.reason)
				cl, err := dial(t, m.url, c.cfg)
				if !c.refused {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					cl.Disconnect(0)
					return
				}
				if err == nil {
					t.Fatal("connection admitted")
				}
				if cl.IsConnected() {
					t.Fatal("client reports connected")
				}
				if m.reg != nil && c.reason != "" {
					if after := m.authFailures(t, c.reason); after != before+1 {
						t.Fatalf("auth failures{reason=%q} = %v, want %v", c.reason, after, before+1)
					}
				}
			})
		}
	})
}

// authFailures reads the embedded broker's auth failures for reason (0
// in external mode).
func (m *mode) authFailures(t *testing.T, reason string) float64 {
	if m.reg == nil || reason == "" {
		return 0
	}
	return metricValue(t, m.reg, "homeplane_central_mqtt_auth_failures_total", "reason", reason)
}

// TestMQTTWillAttacks: an agent's Will reaches central only on the agent's
// own retained presence. The connection is cut without a DISCONNECT, so the
// broker sends whatever Will it accepted.
func TestMQTTWillAttacks(t *testing.T) {
	eachMode(t, func(t *testing.T, m *mode) {
		own := topic.For(homeA, topic.Presence)
		cases := []struct {
			name    string
			will    will
			deliver bool
			only    onlyIn
		}{
			{name: "own presence retained", will: will{topic: own, retain: true}, deliver: true},
			{name: "another home's presence", will: will{topic: topic.For(homeB, topic.Presence), retain: true}},
			{name: "not retained", will: will{topic: own, retain: false}},
			{name: "own result", will: will{topic: topic.For(homeA, topic.Result), retain: true}},
			{name: "another home's command", will: will{topic: topic.For(homeB, topic.Command)}},
			{name: "outside the schema", will: will{topic: "homeassistant/status", retain: true}},
			{name: "sys", will: will{topic: "$SYS/broker/clients", retain: true}},
			{name: "kick", will: will{topic: "$CONTROL/homeplane/v1/kick", payload: []byte(`{"home":"` + homeB + `"}`)}},
			{name: "over 1 KiB", will: will{topic: own, retain: true, payload: make([]byte, 1025)}},
		}
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				c.only.skip(t, m)
				if c.will.payload == nil {
					c.will.payload = []byte(fmt.Sprintf("will-%d", i))
				}
				var conn net.Conn
				_, err := dial(t, m.url, clientConfig{agentID: "agent-a", secret: "secret-a", will: &c.will, conn: &conn})
				switch {
				case err != nil && (c.deliver || m.name == external):
					t.Fatalf("refused: %v", err)
				case err != nil:
					// The embedded broker refuses a bad Will at CONNECT.
					if got := m.authFailures(t, "will"); got < 1 {
						t.Fatalf("auth failures{reason=will} = %v", got)
					}
					return
				case !c.deliver && m.name == embedded:
					t.Fatal("the embedded broker admitted a bad Will")
				}
				// Cut the connection: the broker sends the Will it holds.
				conn.Close()
				if c.deliver {
					waitFor(t, "the Will", func() bool { return m.central.has(c.will.topic, string(c.will.payload)) })
					return
				}
				// A marker from another agent, sent after the cut was seen.
				marker := fmt.Sprintf("will-marker-%d", i)
				b := mustDial(t, m.url, clientConfig{agentID: "agent-b", secret: "secret-b"})
				if tok := b.Publish(topic.For(homeB, topic.Telemetry), 1, false, marker); !tok.WaitTimeout(waitTime) || tok.Error() != nil {
					t.Fatalf("marker: %v", tok.Error())
				}
				waitFor(t, "marker", func() bool { return m.central.has(topic.For(homeB, topic.Telemetry), marker) })
				if m.central.has(c.will.topic, string(c.will.payload)) {
					t.Fatalf("the Will on %s reached central", c.will.topic)
				}
				// $-topics are the broker's own: no client retains there.
				if c.will.retain && !strings.HasPrefix(c.will.topic, "$") {
					if slices.Contains(m.retained(t, c.will.topic), msg{c.will.topic, string(c.will.payload)}) {
						t.Fatal("the refused Will was retained")
					}
				}
			})
		}
	})
}

func TestMQTTSubscribeAttacks(t *testing.T) {
	eachMode(t, func(t *testing.T, m *mode) {
		rec := &recorder{}
		// Messages go to the default handler: a per-subscription handler would
		// see one message once per matching local route, refused or not.
		agent := mustDial(t, m.url, clientConfig{agentID: "agent-a", secret: "secret-a",
			onMessage: func(msg paho.Message) { rec.record(msg.Topic(), msg.Payload()) }})

		cases := []struct {
			name   string
			filter string
			want   byte
		}{
			{"own command", topic.For(homeA, topic.Command), 1},
			{"another home's command", topic.For(homeB, topic.Command), subackFailure},
			{"everything", "#", subackFailure},
			{"every home's command", topic.Filter(topic.Command), subackFailure},
			{"every home", "homeplane/#", subackFailure},
			{"everything under own home", topic.Prefix + homeA + "/#", subackFailure},
			{"any kind of own home", topic.Prefix + homeA + "/+", subackFailure},
			{"sys", "$SYS/#", subackFailure},
			{"control", "$CONTROL/#", subackFailure},
			{"shared subscription to own command", "$share/g/" + topic.For(homeA, topic.Command), subackFailure},
			{"shared subscription to every command", "$share/g/" + topic.Filter(topic.Command), subackFailure},
			{"central's ingest group", "$share/homeplane-central/" + topic.Filter(topic.Entities), subackFailure},
			{"own result", topic.For(homeA, topic.Result), subackFailure},
			{"another home's result", topic.For(homeB, topic.Result), subackFailure},
			{"own presence", topic.For(homeA, topic.Presence), subackFailure},
		}
		denied, before := 0, m.aclDenials(t, "subscribe")
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				tok := agent.Subscribe(c.filter, 1, nil)
				if !tok.WaitTimeout(waitTime) {
					t.Fatal("no SUBACK")
				}
				if err := tok.Error(); err != nil {
					t.Fatalf("subscribe: %v", err)
				}
				// One filter per SUBSCRIBE; paho keys the result by the filter
				// without any $share/ prefix.
				res := tok.(*paho.SubscribeToken).Result()
				if len(res) != 1 {
					t.Fatalf("SUBACK results %v, want one", res)
				}
				for _, got := range res {
					if got != c.want {
						t.Fatalf("SUBACK for %q = %#x, want %#x", c.filter, got, c.want)
					}
				}
			})
			if c.want == subackFailure {
				denied++
			}
		}
		if m.reg != nil {
			if got := m.aclDenials(t, "subscribe") - before; got != float64(denied) {
				t.Fatalf("acl denials{subscribe} = %v, want %d", got, denied)
			}
		}

		// Central publishes to another home and to $SYS, then to the agent's
		// own command topic; only the last may arrive.
		for _, tp := range []string{topic.For(homeB, topic.Command), topic.For(homeB, topic.Result), "$SYS/broker/leak"} {
			m.publish(t, tp, []byte("secret"), false)
		}
		m.publish(t, topic.For(homeA, topic.Command), []byte("mine"), false)
		waitFor(t, "own command", func() bool { return rec.has(topic.For(homeA, topic.Command), "mine") })
		if msgs := rec.all(); len(msgs) != 1 {
			t.Fatalf("agent received %v, want only its own command", msgs)
		}
	})
}

// aclDenials reads the embedded broker's ACL denials for action (0 in
// external mode).
func (m *mode) aclDenials(t *testing.T, action string) float64 {
	if m.reg == nil {
		return 0
	}
	return metricValue(t, m.reg, "homeplane_central_mqtt_acl_denials_total", "action", action)
}

// publishAttacks are an agent of home A publishing where it may and may not.
var publishAttacks = []struct {
	name    string
	topic   string
	retain  bool
	deliver bool
	size    int // payload bytes; 0: a short marker
	only    onlyIn
}{
	{name: "own result", topic: topic.For(homeA, topic.Result), deliver: true},
	{name: "own presence over 1 KiB", topic: topic.For(homeA, topic.Presence), retain: true, size: 1<<10 + 1},
	{name: "own presence of 1 KiB", topic: topic.For(homeA, topic.Presence), retain: true, deliver: true, size: 1 << 10},
	{name: "own presence retained", topic: topic.For(homeA, topic.Presence), retain: true, deliver: true},
	{name: "own entities", topic: topic.For(homeA, topic.Entities), deliver: true},
	{name: "another home's result", topic: topic.For(homeB, topic.Result)},
	{name: "another home's entities", topic: topic.For(homeB, topic.Entities)},
	{name: "another home's presence", topic: topic.For(homeB, topic.Presence), retain: true},
	{name: "command to itself", topic: topic.For(homeA, topic.Command)},
	{name: "command to another home", topic: topic.For(homeB, topic.Command)},
	{name: "retained result", topic: topic.For(homeA, topic.Result), retain: true},
	{name: "retained entities", topic: topic.For(homeA, topic.Entities), retain: true},
	{name: "unretained presence", topic: topic.For(homeA, topic.Presence)},
	{name: "outside the schema", topic: "homeassistant/status"},
	{name: "unknown kind", topic: topic.Prefix + homeA + "/shell"},
	{name: "sys", topic: "$SYS/broker/version"},
	{name: "kick another agent", topic: "$CONTROL/homeplane/v1/kick"},
}

func TestMQTTPublishAttacks(t *testing.T) {
	eachMode(t, func(t *testing.T, m *mode) {
		agent := mustDial(t, m.url, clientConfig{agentID: "agent-a", secret: "secret-a"})
		// The other home's agent, whom the kick names: it must stay connected.
		var victimLost atomic.Bool
		victim := mustDial(t, m.url, clientConfig{agentID: "agent-b", secret: "secret-b", onLost: func() { victimLost.Store(true) }})

		for i, c := range publishAttacks {
			t.Run(c.name, func(t *testing.T) {
				c.only.skip(t, m)
				payload := fmt.Sprintf(`{"client_id":"agent-b","home":%q,"attempt":%d}`, homeB, i)
				if c.size > 0 {
					payload += strings.Repeat("x", c.size-len(payload))
				}
				if tok := agent.Publish(c.topic, 0, c.retain, payload); !tok.WaitTimeout(waitTime) || tok.Error() != nil {
					t.Fatalf("publish: %v", tok.Error())
				}
				// A marker on an allowed topic, sent after the attempt on the
				// same connection: once central has it, it has the attempt too
				// if the attempt got through.
				marker := fmt.Sprintf("marker-%d", i)
				if tok := agent.Publish(topic.For(homeA, topic.Telemetry), 0, false, marker); !tok.WaitTimeout(waitTime) || tok.Error() != nil {
					t.Fatalf("publish marker: %v", tok.Error())
				}
				waitFor(t, "marker", func() bool { return m.central.has(topic.For(homeA, topic.Telemetry), marker) })

				if got := m.central.has(c.topic, payload); got != c.deliver {
					t.Fatalf("delivered to central = %v, want %v", got, c.deliver)
				}
				if c.retain && !c.deliver {
					if slices.Contains(m.retained(t, c.topic), msg{c.topic, payload}) {
						t.Fatal("refused publish was retained")
					}
				}
				if !agent.IsConnected() {
					t.Fatal("QoS 0 attempt cost the agent its connection")
				}
			})
		}

		// The victim's own publish still arrives: no agent's kick was obeyed.
		if tok := victim.Publish(topic.For(homeB, topic.Telemetry), 1, false, "still here"); !tok.WaitTimeout(waitTime) || tok.Error() != nil {
			t.Fatalf("victim publish: %v", tok.Error())
		}
		waitFor(t, "the victim's publish", func() bool { return m.central.has(topic.For(homeB, topic.Telemetry), "still here") })
		if victimLost.Load() {
			t.Fatal("an agent's kick disconnected another agent")
		}
	})
}

// An MQTT 3.1.1 client cannot be told a QoS 1 publish was refused: the
// embedded broker ends the connection, Mosquitto acknowledges and drops
// the message. Nothing reaches central either way.
func TestMQTTPublishQoS1Attacks(t *testing.T) {
	eachMode(t, func(t *testing.T, m *mode) {
		cases := []struct {
			name   string
			topic  string
			retain bool
		}{
			{"another home's result", topic.For(homeB, topic.Result), false},
			{"command to another home", topic.For(homeB, topic.Command), false},
			{"retained result", topic.For(homeA, topic.Result), true},
			{"kick", "$CONTROL/homeplane/v1/kick", false},
		}
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				before := m.aclDenials(t, "publish")
				var lost atomic.Bool
				agent := mustDial(t, m.url, clientConfig{agentID: "agent-a", secret: "secret-a", onLost: func() { lost.Store(true) }})
				attempt := fmt.Sprintf(`{"home":%q,"attempt":%d}`, homeB, i)
				tok := agent.Publish(c.topic, 1, c.retain, attempt)
				switch m.name {
				case embedded:
					waitFor(t, "disconnect", lost.Load)
					if got := m.aclDenials(t, "publish") - before; got != 1 {
						t.Fatalf("acl denials{publish} = %v, want 1", got)
					}
					// The same agent connects again and sends a marker.
					agent = mustDial(t, m.url, clientConfig{agentID: "agent-a", secret: "secret-a"})
				case external:
					if !tok.WaitTimeout(waitTime) || tok.Error() != nil {
						t.Fatalf("no PUBACK: %v", tok.Error())
					}
				}
				marker := fmt.Sprintf("qos1-marker-%d", i)
				if tok := agent.Publish(topic.For(homeA, topic.Telemetry), 1, false, marker); !tok.WaitTimeout(waitTime) || tok.Error() != nil {
					t.Fatalf("marker: %v", tok.Error())
				}
				waitFor(t, "marker", func() bool { return m.central.has(topic.For(homeA, topic.Telemetry), marker) })
				if m.central.has(c.topic, attempt) {
					t.Fatalf("central received the attempt on %s", c.topic)
				}
			})
		}
	})
}

// A packet over the 1 MiB limit ends the connection in both modes.
func TestMQTTOversizePacket(t *testing.T) {
	eachMode(t, func(t *testing.T, m *mode) {
		var lost atomic.Bool
		agent := mustDial(t, m.url, clientConfig{agentID: "agent-a", secret: "secret-a", onLost: func() { lost.Store(true) }})
		agent.Publish(topic.For(homeA, topic.Events), 1, false, make([]byte, 1<<20+1024))
		waitFor(t, "the oversize packet to end the connection", lost.Load)
		if m.central.has(topic.For(homeA, topic.Events), string(make([]byte, 1<<20+1024))) {
			t.Fatal("central received the oversize packet")
		}
	})
}
