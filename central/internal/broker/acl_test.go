package broker_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/homeplane/homeplane/protocol/topic"
)

// subackFailure is the MQTT 3.1.1 SUBACK return code for a refused filter.
const subackFailure = 0x80

func TestConnectAttacks(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := startBroker(t, newCreds(), reg)

	ownPresence := &will{topic: topic.For(homeA, topic.Presence), retain: true}
	cases := []struct {
		name   string
		cfg    clientConfig
		refuse string // auth failure reason; "" when admitted
	}{
		{"valid agent with presence will", clientConfig{agentID: "agent-a", secret: "secret-a", will: ownPresence}, ""},
		{"valid agent without will", clientConfig{agentID: "agent-b", secret: "secret-b"}, ""},
		{"wrong secret", clientConfig{agentID: "agent-a", secret: "secret-b"}, "credentials"},
		{"unknown agent", clientConfig{agentID: "agent-x", secret: "secret-a"}, "credentials"},
		{"no credentials", clientConfig{clientID: "anonymous"}, "no_credentials"},
		{"client id is another agent", clientConfig{agentID: "agent-a", clientID: "agent-b", secret: "secret-a"}, "client_id"},
		{"client id differs from username", clientConfig{agentID: "agent-a", clientID: "agent-a-2", secret: "secret-a"}, "client_id"},
		{"reserved inline client id", clientConfig{agentID: "inline", secret: "secret-inline"}, "client_id"},
		{"will on another home's presence", clientConfig{agentID: "agent-a", secret: "secret-a",
			will: &will{topic: topic.For(homeB, topic.Presence), retain: true}}, "will"},
		{"will not retained", clientConfig{agentID: "agent-a", secret: "secret-a",
			will: &will{topic: topic.For(homeA, topic.Presence), retain: false}}, "will"},
		{"will on own result", clientConfig{agentID: "agent-a", secret: "secret-a",
			will: &will{topic: topic.For(homeA, topic.Result), retain: true}}, "will"},
		{"will outside the schema", clientConfig{agentID: "agent-a", secret: "secret-a",
			will: &will{topic: "homeassistant/status", retain: true}}, "will"},
		{"will on sys", clientConfig{agentID: "agent-a", secret: "secret-a",
			will: &will{topic: "$SYS/broker/clients", retain: true}}, "will"},
		{"will over 1 KiB", clientConfig{agentID: "agent-a", secret: "secret-a",
			will: &will{topic: topic.For(homeA, topic.Presence), retain: true, payload: make([]byte, 1025)}}, "will"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := 0.0
			if c.refuse != "" {
				before = metricValue(t, reg, "homeplane_central_mqtt_auth_failures_total", "reason", c.refuse)
			}
			cl, err := connect(t, b, c.cfg)
			if c.refuse == "" {
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
			after := metricValue(t, reg, "homeplane_central_mqtt_auth_failures_total", "reason", c.refuse)
			if after != before+1 {
				t.Fatalf("auth failures{reason=%q} = %v, want %v", c.refuse, after, before+1)
			}
		})
	}

	// The refused "inline" login must not have displaced central's inline client.
	var got atomic.Int32
	if err := b.Subscribe(topic.For(homeA, topic.Command), func(string, []byte) { got.Add(1) }); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(topic.For(homeA, topic.Command), []byte("x"), false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "inline delivery", func() bool { return got.Load() == 1 })
}

func TestSubscribeAttacks(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := startBroker(t, newCreds(), reg)

	rec := &recorder{}
	// Messages go to the default handler: a per-subscription handler would
	// see one message once per matching local route, refused or not.
	agent := mustConnect(t, b, clientConfig{agentID: "agent-a", secret: "secret-a",
		onMessage: func(m paho.Message) { rec.record(m.Topic(), m.Payload()) }})

	cases := []struct {
		name   string
		filter string
		want   byte
	}{
		{"own command", topic.For(homeA, topic.Command), 1},
		{"another home's command", topic.For(homeB, topic.Command), subackFailure},
		{"everything", "#", subackFailure},
		{"every home's command", topic.Prefix + "+/cmd", subackFailure},
		{"everything under own home", topic.Prefix + homeA + "/#", subackFailure},
		{"any kind of own home", topic.Prefix + homeA + "/+", subackFailure},
		{"sys", "$SYS/#", subackFailure},
		{"shared subscription to own command", "$share/g/" + topic.For(homeA, topic.Command), subackFailure},
		{"shared subscription to every command", "$share/g/" + topic.Prefix + "+/cmd", subackFailure},
		{"own result", topic.For(homeA, topic.Result), subackFailure},
		{"another home's result", topic.For(homeB, topic.Result), subackFailure},
		{"own presence", topic.For(homeA, topic.Presence), subackFailure},
	}
	denied := 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok := agent.Subscribe(c.filter, 1, nil)
			tok.Wait()
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
	if got := metricValue(t, reg, "homeplane_central_mqtt_acl_denials_total", "action", "subscribe"); got != float64(denied) {
		t.Fatalf("acl denials{subscribe} = %v, want %d", got, denied)
	}

	// Central publishes to another home and to $SYS, then to the agent's own
	// command topic; only the last may arrive.
	for _, tp := range []string{topic.For(homeB, topic.Command), topic.For(homeB, topic.Result), "$SYS/broker/leak"} {
		if err := b.Publish(tp, []byte("secret"), false); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Publish(topic.For(homeA, topic.Command), []byte("mine"), false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "own command", func() bool { return rec.has(topic.For(homeA, topic.Command), "mine") })
	if msgs := rec.all(); len(msgs) != 1 {
		t.Fatalf("agent received %v, want only its own command", msgs)
	}
}

func TestPublishAttacks(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := startBroker(t, newCreds(), reg)
	central := &recorder{}
	if err := b.Subscribe("#", central.record); err != nil {
		t.Fatal(err)
	}
	agent := mustConnect(t, b, clientConfig{agentID: "agent-a", secret: "secret-a"})

	cases := []struct {
		name    string
		topic   string
		retain  bool
		deliver bool
		size    int // payload bytes; 0: a short marker
	}{
		{"own result", topic.For(homeA, topic.Result), false, true, 0},
		// Refused before any presence is retained, so the check below sees none.
		{"own presence over 1 KiB", topic.For(homeA, topic.Presence), true, false, 1<<10 + 1},
		{"own presence of 1 KiB", topic.For(homeA, topic.Presence), true, true, 1 << 10},
		{"own presence retained", topic.For(homeA, topic.Presence), true, true, 0},
		{"own entities", topic.For(homeA, topic.Entities), false, true, 0},
		{"another home's result", topic.For(homeB, topic.Result), false, false, 0},
		{"another home's presence", topic.For(homeB, topic.Presence), true, false, 0},
		{"command to itself", topic.For(homeA, topic.Command), false, false, 0},
		{"command to another home", topic.For(homeB, topic.Command), false, false, 0},
		{"retained result", topic.For(homeA, topic.Result), true, false, 0},
		{"retained entities", topic.For(homeA, topic.Entities), true, false, 0},
		{"unretained presence", topic.For(homeA, topic.Presence), false, false, 0},
		{"outside the schema", "homeassistant/status", false, false, 0},
		{"unknown kind", topic.Prefix + homeA + "/shell", false, false, 0},
		{"sys", "$SYS/broker/version", false, false, 0},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			payload := fmt.Sprintf("attempt-%d", i)
			if c.size > 0 {
				payload += strings.Repeat("x", c.size-len(payload))
			}
			if tok := agent.Publish(c.topic, 0, c.retain, payload); tok.Wait() && tok.Error() != nil {
				t.Fatalf("publish: %v", tok.Error())
			}
			// A marker on an allowed topic, sent after the attempt on the
			// same connection: once central has it, it has the attempt too
			// if the attempt got through.
			marker := fmt.Sprintf("marker-%d", i)
			if tok := agent.Publish(topic.For(homeA, topic.Telemetry), 0, false, marker); tok.Wait() && tok.Error() != nil {
				t.Fatalf("publish marker: %v", tok.Error())
			}
			waitFor(t, "marker", func() bool { return central.has(topic.For(homeA, topic.Telemetry), marker) })

			if got := central.has(c.topic, payload); got != c.deliver {
				t.Fatalf("delivered to central = %v, want %v", got, c.deliver)
			}
			if c.retain && !c.deliver {
				retained := &recorder{}
				if err := b.Subscribe(c.topic, retained.record); err != nil {
					t.Fatal(err)
				}
				if msgs := retained.all(); len(msgs) != 0 {
					t.Fatalf("refused publish was retained: %v", msgs)
				}
			}
			if !agent.IsConnected() {
				t.Fatal("QoS 0 attempt cost the agent its connection")
			}
		})
	}
}

// An MQTT 3.1.1 client cannot be told a QoS 1 publish was refused, so the
// broker drops its connection; nothing reaches central either way.
func TestPublishQoS1AttacksDisconnect(t *testing.T) {
	cases := []struct {
		name   string
		topic  string
		retain bool
	}{
		{"another home's result", topic.For(homeB, topic.Result), false},
		{"retained result", topic.For(homeA, topic.Result), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			b := startBroker(t, newCreds(), reg)
			central := &recorder{}
			if err := b.Subscribe("#", central.record); err != nil {
				t.Fatal(err)
			}
			var lost atomic.Bool
			agent := mustConnect(t, b, clientConfig{agentID: "agent-a", secret: "secret-a", onLost: func() { lost.Store(true) }})
			agent.Publish(c.topic, 1, c.retain, "attempt")
			waitFor(t, "disconnect", lost.Load)
			waitFor(t, "session gone", func() bool {
				return metricValue(t, reg, "homeplane_central_mqtt_clients") == 0
			})
			if msgs := central.all(); len(msgs) != 0 {
				t.Fatalf("central received %v", msgs)
			}
			if got := metricValue(t, reg, "homeplane_central_mqtt_acl_denials_total", "action", "publish"); got != 1 {
				t.Fatalf("acl denials{publish} = %v, want 1", got)
			}
		})
	}
}
