package uplink

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"google.golang.org/protobuf/proto"

	"github.com/homeplane/homeplane/agent/internal/outbox"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
)

// outage is how long TestNothingLostWhileBrokerIsDown keeps the broker
// away while the agent goes on producing. A few seconds hold several
// failed reconnects at the uplink's longest backoff and a few hundred
// messages; -outage=1m is the longer soak.
var outage = flag.Duration("outage", 5*time.Second, "how long TestNothingLostWhileBrokerIsDown keeps the broker down")

// outageMessages is how many messages the producer sends during the outage,
// whatever its length.
const outageMessages = 300

// arrival is one message as central received it: the producer's sequence
// number, or a drop report.
type arrival struct {
	kind    topic.Kind
	seq     int
	dropped uint64 // for a drop report
}

func (a arrival) String() string {
	if a.dropped > 0 {
		return fmt.Sprintf("dropped(%d)", a.dropped)
	}
	return fmt.Sprintf("%s#%d", a.kind, a.seq)
}

type arrivals struct {
	mu   sync.Mutex
	list []arrival
}

func (a *arrivals) all() []arrival {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]arrival(nil), a.list...)
}

// record subscribes to everything the agent sends central besides
// presence, in the order the broker receives it.
func (a *arrivals) record(tb testing.TB, b *testBroker) {
	tb.Helper()
	for i, k := range []topic.Kind{topic.Telemetry, topic.Events, topic.Result} {
		err := b.srv.Subscribe(topic.For(testHome, k), 10+i, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
			got, err := decodeArrival(k, pk.Payload)
			if err != nil {
				tb.Errorf("undecodable %s message: %v", k, err)
				return
			}
			a.mu.Lock()
			a.list = append(a.list, got)
			a.mu.Unlock()
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
}

func decodeArrival(k topic.Kind, b []byte) (arrival, error) {
	var id string
	switch k {
	case topic.Telemetry:
		var m homeplanev1.Telemetry
		if err := proto.Unmarshal(b, &m); err != nil {
			return arrival{}, err
		}
		id = m.GetContainerId()
	case topic.Events:
		var m homeplanev1.InstanceEvent
		if err := proto.Unmarshal(b, &m); err != nil {
			return arrival{}, err
		}
		if m.GetKind() == "outbox_dropped" {
			return arrival{kind: k, dropped: m.GetDropped()}, nil
		}
		id = m.GetReason()
	case topic.Result:
		var m homeplanev1.Result
		if err := proto.Unmarshal(b, &m); err != nil {
			return arrival{}, err
		}
		id = m.GetCommandId()
	}
	seq, err := strconv.Atoi(id)
	return arrival{kind: k, seq: seq}, err
}

// message n of the producer: mostly telemetry, every tenth an event and
// every tenth (offset by five) a result.
func message(n int) (topic.Kind, proto.Message) {
	id := strconv.Itoa(n)
	switch n % 10 {
	case 0:
		return topic.Events, &homeplanev1.InstanceEvent{Kind: "healthy", Reason: id}
	case 5:
		return topic.Result, &homeplanev1.Result{CommandId: id, Ok: true}
	}
	return topic.Telemetry, &homeplanev1.Telemetry{ContainerId: id, CpuPercent: float64(n)}
}

func kindOf(n int) topic.Kind {
	k, _ := message(n)
	return k
}

// kickHandler lets the outbox deliver as soon as the uplink connects, as
// the agent does.
type kickHandler struct{ ob *outbox.Outbox }

func (h *kickHandler) HandleCommand(context.Context, *homeplanev1.Command) *homeplanev1.Result {
	return nil
}
func (h *kickHandler) OnConnect(context.Context) { h.ob.Kick() }

// outageRig is the agent's delivery path (outbox over uplink) against a
// real broker that the test can take away.
type outageRig struct {
	hook *recordHook
	b    *testBroker
	u    *Uplink
	ob   *outbox.Outbox
	got  *arrivals
}

func startOutageRig(t *testing.T, maxMessages int) *outageRig {
	t.Helper()
	r := &outageRig{hook: newHook(), got: &arrivals{}}
	r.b = startBroker(t, "127.0.0.1:0", r.hook)
	r.got.record(t, r.b)
	h := &kickHandler{}
	r.u = New(testIdentity(r.b.addr), h, Options{MinBackoff: 10 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
	ob, err := outbox.Open(t.TempDir(), r.u, outbox.Options{Offline: ErrDisconnected, MaxMessages: maxMessages, RetryInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r.ob, h.ob = ob, ob
	r.u.SetResultSpool(ob)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { ob.Run(ctx) })
	wg.Go(func() { _ = r.u.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	eventually(t, "online", online(r.b, t))
	return r
}

// restartBroker brings the broker back on the same address; connects are
// refused until the recorder is subscribed, so nothing slips past it.
func (r *outageRig) restartBroker(t *testing.T) {
	t.Helper()
	r.hook.refuse.Store(true)
	r.b = startBroker(t, r.b.addr, r.hook)
	r.got.record(t, r.b)
	r.hook.refuse.Store(false)
}

func (r *outageRig) publish(t *testing.T, n int) {
	kind, msg := message(n)
	if err := r.ob.Publish(context.Background(), kind, msg); err != nil {
		t.Errorf("message %d lost: Publish = %v", n, err)
	}
}

// dedupe drops the repeats QoS 1 allows after a lost acknowledgement: a
// message sent again right after itself. It returns how many it dropped.
func dedupe(list []arrival) ([]arrival, int) {
	var out []arrival
	for _, a := range list {
		if len(out) > 0 && out[len(out)-1] == a {
			continue
		}
		out = append(out, a)
	}
	return out, len(list) - len(out)
}

func TestNothingLostWhileBrokerIsDown(t *testing.T) {
	if testing.Short() {
		t.Skipf("skipping in -short: the broker stays down for %v", *outage)
	}
	brokerDownFor := *outage
	every := max(brokerDownFor/outageMessages, 5*time.Millisecond)
	r := startOutageRig(t, 0)
	var produced int
	var mu sync.Mutex
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			mu.Lock()
			n := produced
			produced++
			mu.Unlock()
			r.publish(t, n)
		}
	}()
	stopProducer := sync.OnceFunc(func() { close(stop); <-done })
	t.Cleanup(stopProducer)
	count := func() int { mu.Lock(); defer mu.Unlock(); return produced }
	eventually(t, "messages flowing", func() bool { return len(r.got.all()) >= 20 })

	r.b.stop()
	eventually(t, "uplink notices the broker is gone", func() bool { return !r.u.Connected() })
	before := count()
	time.Sleep(brokerDownFor) // the outage itself, not a wait for an event
	waiting := r.ob.Len()
	if held := count() - before; waiting < held-5 || held < int(brokerDownFor/every)/2 {
		t.Fatalf("%d messages produced during the outage, %d kept in the outbox", held, waiting)
	}

	r.restartBroker(t)
	eventually(t, "online again", online(r.b, t))
	// Go on producing while the backlog drains: new messages queue behind.
	target := count() + 30
	eventually(t, "30 more messages produced", func() bool { return count() >= target })
	stopProducer()
	total := count()
	deadline := time.Now().Add(30 * time.Second)
	for r.ob.Len() > 0 || len(r.got.all()) < total {
		if time.Now().After(deadline) {
			t.Fatalf("after 30s: %d of %d arrived, %d still in the outbox", len(r.got.all()), total, r.ob.Len())
		}
		time.Sleep(20 * time.Millisecond)
	}

	got, repeats := dedupe(r.got.all())
	if repeats > 1 {
		t.Errorf("%d repeated messages; one lost acknowledgement allows at most one", repeats)
	}
	if len(got) != total {
		t.Errorf("%d distinct messages arrived, %d produced", len(got), total)
	}
	for i, a := range got {
		if a.seq != i || a.kind != kindOf(i) || a.dropped != 0 {
			t.Fatalf("arrival %d is %v, want %s#%d (around it: %v)", i, a, kindOf(i), i, got[max(i-3, 0):min(i+4, len(got))])
		}
	}
	t.Logf("%d messages, %d kept through a %v outage, %d repeated", total, waiting, brokerDownFor, repeats)
}

func TestFullOutboxDropsOldestAndReportsIt(t *testing.T) {
	const bound, online, offline = 20, 3, 50
	r := startOutageRig(t, bound)
	for n := range online {
		r.publish(t, n)
	}
	eventually(t, "online messages delivered", func() bool { return len(r.got.all()) == online })
	r.b.stop()
	eventually(t, "uplink notices the broker is gone", func() bool { return !r.u.Connected() })
	for n := online; n < online+offline; n++ {
		r.publish(t, n)
	}
	if r.ob.Len() != bound || r.ob.Dropped() != offline-bound {
		t.Fatalf("outbox keeps %d and dropped %d, want %d and %d", r.ob.Len(), r.ob.Dropped(), bound, offline-bound)
	}

	r.restartBroker(t)
	want := []arrival{}
	for n := range online {
		want = append(want, arrival{kind: kindOf(n), seq: n})
	}
	want = append(want, arrival{kind: topic.Events, dropped: offline - bound})
	for n := online + offline - bound; n < online+offline; n++ {
		want = append(want, arrival{kind: kindOf(n), seq: n})
	}
	eventually(t, "the kept messages delivered", func() bool { return len(r.got.all()) >= len(want) && r.ob.Len() == 0 })
	got, _ := dedupe(r.got.all())
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("arrived %v\nwant    %v", got, want)
	}
}

func message0(n int) topic.Kind { k, _ := message(n); return k }
