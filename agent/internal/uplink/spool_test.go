package uplink

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/homeplane/homeplane/agent/internal/metrics"
	"github.com/homeplane/homeplane/agent/internal/outbox"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// gatedHandler holds every command until released, like a long instance
// action during which the connection drops.
type gatedHandler struct {
	once    sync.Once
	started chan struct{}
	release chan struct{}
}

func (h *gatedHandler) HandleCommand(_ context.Context, cmd *homeplanev1.Command) *homeplanev1.Result {
	h.once.Do(func() { close(h.started) })
	<-h.release
	return &homeplanev1.Result{CommandId: cmd.GetId(), RequestId: cmd.GetRequestId(), Ok: true}
}

func (h *gatedHandler) OnConnect(context.Context) {}

func TestResultOfALostConnectionGoesThroughTheOutbox(t *testing.T) {
	hook := newHook()
	b := startBroker(t, "127.0.0.1:0", hook)
	h := &gatedHandler{started: make(chan struct{}), release: make(chan struct{})}
	reg := metrics.NewRegistry()
	u := New(testIdentity(b.addr), h, Options{Metrics: reg, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	ob, err := outbox.Open(t.TempDir(), u, outbox.Options{Offline: ErrDisconnected, RetryInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	u.SetResultSpool(ob)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { ob.Run(ctx) })
	wg.Go(func() { _ = u.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	eventually(t, "online", online(b, t))

	b.sendCommand(t, lightCommand("slow"))
	select {
	case <-h.started:
	case <-time.After(10 * time.Second):
		t.Fatal("command never reached the handler")
	}
	cl, ok := b.srv.Clients.Get(testAgent)
	if !ok {
		t.Fatal("agent not among the broker's clients")
	}
	// The broker turns the agent away until the result has been spooled, so
	// the result is finished while there is no connection at all.
	hook.refuse.Store(true)
	cl.Stop(errors.New("connection killed by test"))
	eventually(t, "uplink notices the loss", func() bool { return !u.Connected() })
	close(h.release)
	eventually(t, "the result spooled", func() bool {
		return counter(t, reg, "homeplane_agent_results_spooled_total") >= 1
	})
	if n := len(b.resultsFor("slow")); n != 0 {
		t.Fatalf("%d results reached the broker while it refused the agent", n)
	}
	hook.refuse.Store(false)

	eventually(t, "the result delivered after the reconnect", func() bool { return len(b.resultsFor("slow")) >= 1 })
	if r := b.resultsFor("slow")[0]; !r.GetOk() || r.GetRequestId() != "req-slow" {
		t.Fatalf("result = %v", r)
	}
}

// A publish refused because the connection just dropped must read as
// offline, or the outbox would discard the message instead of keeping it.
func TestPublishOnADroppedConnectionIsOffline(t *testing.T) {
	c := &conn{client: mqtt.NewClient(mqtt.NewClientOptions()), lost: make(chan struct{})}
	if err := c.publish(context.Background(), "t", false, []byte("x")); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("publish on a connection that is down = %v, want ErrDisconnected", err)
	}
}
