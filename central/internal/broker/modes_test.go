package broker_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/homeplane/homeplane/central/internal/mosquittotest"
	"github.com/homeplane/homeplane/central/internal/mqttauth"
)

// The two ways agents reach central (ADR 0024): the embedded broker, and
// Mosquitto with the Homeplane plugin asking central's contract.
const (
	embedded = "embedded"
	external = "external"
)

// mode is a broker agents connect to, and central's side of it.
type mode struct {
	name string
	url  string // tcp://host:port, for agents
	// reg holds the embedded broker's metrics; nil in external mode.
	reg *prometheus.Registry
	// central records what reaches central's side: every topic, $SYS and
	// $CONTROL included.
	central *recorder
	// publish sends as central (the inline client, or a replica's
	// superuser connection).
	publish func(t *testing.T, topic string, payload []byte, retain bool)
	// retained returns the messages the broker retains on topic.
	retained func(t *testing.T, topic string) []msg
}

// centralFilters are what central's side subscribes to: the spec keeps
// $-topics out of "#".
var centralFilters = []string{"#", "$SYS/#", "$CONTROL/#"}

// eachMode runs fn against the embedded broker and against Mosquitto; the
// latter skips when Mosquitto or the plugin cannot be had (and fails under
// HOMEPLANE_REQUIRE_SERVICES=1).
func eachMode(t *testing.T, fn func(t *testing.T, m *mode)) {
	t.Run(embedded, func(t *testing.T) { fn(t, startEmbedded(t, newCreds())) })
	t.Run(external, func(t *testing.T) { fn(t, startExternal(t, newCreds())) })
}

func startEmbedded(t *testing.T, creds *fakeCreds) *mode {
	reg := prometheus.NewRegistry()
	b := startBroker(t, creds, reg)
	m := &mode{name: embedded, url: "tcp://" + b.Addr().String(), reg: reg, central: &recorder{}}
	for _, f := range centralFilters {
		if err := b.Subscribe(f, m.central.record); err != nil {
			t.Fatal(err)
		}
	}
	m.publish = func(t *testing.T, tp string, payload []byte, retain bool) {
		if err := b.Publish(tp, payload, retain); err != nil {
			t.Fatal(err)
		}
	}
	m.retained = func(t *testing.T, tp string) []msg {
		// The inline client gets retained messages within Subscribe.
		r := &recorder{}
		if err := b.Subscribe(tp, r.record); err != nil {
			t.Fatal(err)
		}
		return r.all()
	}
	return m
}

// serviceUser is central's user at the external broker.
const serviceUser = "homeplane-central"

func startExternal(t *testing.T, creds *fakeCreds) *mode {
	token, password := randomHex(t), randomHex(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := mqttauth.NewHandler(creds, mqttauth.Options{Token: token, ServiceUser: serviceUser, ServicePassword: password})
	if err != nil {
		t.Fatal(err)
	}
	contract := httptest.NewServer(h)
	t.Cleanup(contract.Close)
	mq := mosquittotest.Start(t, mosquittotest.Options{AuthURL: contract.URL + mqttauth.Path, TokenFile: tokenFile})

	m := &mode{name: external, url: mq.URL, central: &recorder{}}
	var n atomic.Int32
	replica := func(t *testing.T, onMessage func(paho.Message)) paho.Client {
		return mustDial(t, m.url, clientConfig{clientID: fmt.Sprintf("central-test-%d", n.Add(1)), agentID: serviceUser,
			secret: password, onMessage: onMessage})
	}
	side := replica(t, func(msg paho.Message) { m.central.record(msg.Topic(), msg.Payload()) })
	for _, f := range centralFilters {
		if tok := side.Subscribe(f, 1, nil); !tok.WaitTimeout(waitTime) || tok.Error() != nil || tok.(*paho.SubscribeToken).Result()[f] == subackFailure {
			t.Fatalf("central's side could not subscribe to %s: %v", f, tok.Error())
		}
	}
	m.publish = func(t *testing.T, tp string, payload []byte, retain bool) {
		if tok := side.Publish(tp, 1, retain, payload); !tok.WaitTimeout(waitTime) || tok.Error() != nil {
			t.Fatalf("central's publish on %s: %v", tp, tok.Error())
		}
	}
	m.retained = func(t *testing.T, tp string) []msg {
		// Retained messages arrive right after the SUBACK, before anything
		// published later: a marker on the same topic closes the list.
		r := &recorder{}
		c := replica(t, func(msg paho.Message) { r.record(msg.Topic(), msg.Payload()) })
		defer c.Disconnect(0)
		if tok := c.Subscribe(tp, 1, nil); !tok.WaitTimeout(waitTime) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", tp, tok.Error())
		}
		marker := "retained-marker-" + randomHex(t)
		if tok := c.Publish(tp, 1, false, marker); !tok.WaitTimeout(waitTime) || tok.Error() != nil {
			t.Fatalf("marker on %s: %v", tp, tok.Error())
		}
		waitFor(t, "retained marker", func() bool { return r.has(tp, marker) })
		var out []msg
		for _, x := range r.all() {
			if x.payload != marker {
				out = append(out, x)
			}
		}
		return out
	}
	return m
}

func randomHex(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
