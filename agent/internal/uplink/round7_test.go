package uplink

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"google.golang.org/protobuf/proto"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/polltest"
	"github.com/homeplane/homeplane/protocol/topic"
)

// TestAttacksRound7OversizedPublish is the seventh attack round's part on
// the uplink (docs/benchmarks.md, "Attacks, round 7"): an event past the 1
// MiB packet bound of central's broker (mochi, as central configures it).
// The publish must fail clearly and at once, the connection must stay up,
// and the events before and after it must arrive.
func TestAttacksRound7OversizedPublish(t *testing.T) {
	hook := newHook()
	hook.maxPacket = 1 << 20
	b := startBroker(t, "127.0.0.1:0", hook)
	var mu sync.Mutex
	var got []string
	if err := b.srv.Subscribe(topic.For(hook.home, topic.Events), 3, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		var ev homeplanev1.InstanceEvent
		if proto.Unmarshal(pk.Payload, &ev) == nil {
			mu.Lock()
			got = append(got, ev.GetReason())
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	h := start(t, b, Options{})
	// The broker holds the agent's presence a moment before the uplink
	// takes the connection as its own.
	polltest.Until(t, 10*time.Second, "agent online", func() bool { return online(b, t)() && h.u.Connected() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	send := func(reason string) error {
		return h.u.Publish(ctx, topic.Events, &homeplanev1.InstanceEvent{Reason: reason})
	}
	if err := send("before"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := send(strings.Repeat("x", 2<<20))
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("oversized publish = %v after %v; want a clear error at once", err, time.Since(start))
	}
	if err := send("after"); err != nil {
		t.Fatalf("the publish after the oversized one: %v", err)
	}
	polltest.Until(t, 5*time.Second, "before and after delivered, nothing else", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 2 && got[0] == "before" && got[1] == "after"
	})
	hook.mu.Lock()
	n := hook.connects
	hook.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d connects; the oversized publish must not cost the connection", n)
	}
}
