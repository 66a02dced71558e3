package mqttclient

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/homeplane/homeplane/protocol/topic"
)

// startBroker runs a plain mochi broker on loopback that lets anyone in.
func startBroker(t *testing.T) string {
	t.Helper()
	s := mqtt.New(&mqtt.Options{InlineClient: false})
	if err := s.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	l := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	if err := s.AddListener(l); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return "tcp://" + l.Address()
}

// inbox counts what one replica's subscriptions received.
type inbox struct {
	mu  sync.Mutex
	got map[string]int // topic+payload → times
}

func (b *inbox) fn(tp string, payload []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got[tp+" "+string(payload)]++
}

func (b *inbox) count(prefix string) (n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, v := range b.got {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			n += v
		}
	}
	return n
}

func startReplica(t *testing.T, url, id string) (*Client, *inbox) {
	t.Helper()
	c, err := New(Options{URL: url, ReplicaID: id, Username: "svc", Password: "pw", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	box := &inbox{got: map[string]int{}}
	for _, k := range []topic.Kind{topic.Result, topic.Presence, topic.Entities, topic.Telemetry} {
		if err := c.Subscribe(topic.Filter(k), box.fn); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Subscribe("x", box.fn); err == nil {
		t.Fatal("subscribe after Start accepted")
	}
	return c, box
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Two replicas: results and presence reach both, entity syncs and telemetry
// exactly one of them; commands published by a replica reach the agent.
func TestReplicasShareIngestAndSeeResults(t *testing.T) {
	url := startBroker(t)
	a, boxA := startReplica(t, url, "a")
	_, boxB := startReplica(t, url, "b")

	agent := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID("agent1"))
	if tok := agent.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("agent connect: %v", tok.Error())
	}
	defer agent.Disconnect(0)
	cmds := make(chan string, 1)
	if tok := agent.Subscribe(topic.For("h1", topic.Command), 1, func(_ paho.Client, m paho.Message) { cmds <- string(m.Payload()) }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("agent subscribe: %v", tok.Error())
	}
	// The subscriptions are made from paho's connect handler; wait until
	// both replicas receive a result, so the rest are not published early.
	pub := func(k topic.Kind, payload string, retain bool) {
		if tok := agent.Publish(topic.For("h1", k), 1, retain, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	waitFor(t, "both replicas subscribed to results", func() bool {
		pub(topic.Result, "probe", false)
		return boxA.count(topic.For("h1", topic.Result)) > 0 && boxB.count(topic.For("h1", topic.Result)) > 0
	})
	waitFor(t, "shared subscriptions", func() bool {
		pub(topic.Telemetry, "probe", false)
		return boxA.count(topic.For("h1", topic.Telemetry))+boxB.count(topic.For("h1", topic.Telemetry)) > 0
	})
	const n = 40
	for i := range n {
		pub(topic.Entities, fmt.Sprint(i), false)
	}
	pub(topic.Presence, "online", true)
	pub(topic.Result, "r1", false)
	entities := topic.For("h1", topic.Entities)
	waitFor(t, "every entity sync ingested", func() bool { return boxA.count(entities)+boxB.count(entities) >= n })
	for i := range n {
		key := fmt.Sprintf("%s %d", entities, i)
		boxA.mu.Lock()
		got := boxA.got[key]
		boxA.mu.Unlock()
		boxB.mu.Lock()
		got += boxB.got[key]
		boxB.mu.Unlock()
		if got != 1 {
			t.Errorf("entity sync %d ingested %d times, want once", i, got)
		}
	}
	result := topic.For("h1", topic.Result) + " r1"
	presence := topic.For("h1", topic.Presence) + " online"
	waitFor(t, "result and presence on both replicas", func() bool {
		return boxA.count(result) == 1 && boxB.count(result) == 1 && boxA.count(presence) == 1 && boxB.count(presence) == 1
	})

	if err := a.Publish(topic.For("h1", topic.Command), []byte("cmd1"), false); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-cmds:
		if got != "cmd1" {
			t.Fatalf("agent got %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("command never reached the agent")
	}
}

func TestOptions(t *testing.T) {
	for name, o := range map[string]Options{
		"no url":       {ReplicaID: "a", Username: "u", Password: "p"},
		"http url":     {URL: "http://x:1", ReplicaID: "a", Username: "u", Password: "p"},
		"bad replica":  {URL: "tcp://x:1", ReplicaID: "A_1", Username: "u", Password: "p"},
		"long replica": {URL: "tcp://x:1", ReplicaID: "abcdefghijabcdefghijabcdefghijabc", Username: "u", Password: "p"},
		"no password":  {URL: "tcp://x:1", ReplicaID: "a", Username: "u"},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
