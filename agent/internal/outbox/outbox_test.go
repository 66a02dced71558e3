package outbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
)

var errOffline = errors.New("not connected")

// link is a hand-written uplink that can be taken offline.
type link struct {
	mu      sync.Mutex
	offline bool
	got     []proto.Message
	kinds   []topic.Kind
}

func (l *link) Publish(_ context.Context, kind topic.Kind, msg proto.Message) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.offline {
		return fmt.Errorf("uplink: %w", errOffline)
	}
	l.got = append(l.got, proto.Clone(msg))
	l.kinds = append(l.kinds, kind)
	return nil
}

func (l *link) setOffline(v bool) {
	l.mu.Lock()
	l.offline = v
	l.mu.Unlock()
}

func (l *link) received() []proto.Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]proto.Message(nil), l.got...)
}

func sample(i int) *homeplanev1.Telemetry {
	return &homeplanev1.Telemetry{ContainerId: fmt.Sprint(i), CpuPercent: float64(i)}
}

func open(t testing.TB, dir string, l *link, max int) *Outbox {
	t.Helper()
	o, err := Open(dir, l, Options{Offline: errOffline, MaxMessages: max, RetryInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// telemetryIDs lists the sample numbers received, and the drop reports.
func telemetryIDs(msgs []proto.Message) (ids []string, dropped []uint64) {
	for _, m := range msgs {
		switch m := m.(type) {
		case *homeplanev1.Telemetry:
			ids = append(ids, m.ContainerId)
		case *homeplanev1.InstanceEvent:
			dropped = append(dropped, m.Dropped)
		}
	}
	return ids, dropped
}

func TestOutbox(t *testing.T) {
	tests := []struct {
		name        string
		max         int
		before      int // sent while online
		during      int // sent while offline
		reopen      bool
		wantFirst   int // first sample kept after the ones sent online; 0: none lost
		wantDropped []uint64
	}{
		{name: "delivered in order after reconnect", max: 100, before: 3, during: 20, wantFirst: 0},
		{name: "survives an agent restart", max: 100, before: 2, during: 10, reopen: true, wantFirst: 0},
		{name: "bound drops the oldest and reports it", max: 5, before: 1, during: 12, wantFirst: 9, wantDropped: []uint64{8}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := &link{}
			o := open(t, dir, l, tc.max)
			ctx := context.Background()
			n := 0
			for range tc.before {
				if err := o.Publish(ctx, topic.Telemetry, sample(n)); err != nil {
					t.Fatal(err)
				}
				n++
			}
			if o.Len() != 0 {
				t.Fatalf("%d kept while online", o.Len())
			}
			l.setOffline(true)
			for range tc.during {
				if err := o.Publish(ctx, topic.Telemetry, sample(n)); err != nil {
					t.Fatal(err)
				}
				n++
			}
			if want := min(tc.during, tc.max); o.Len() != want {
				t.Fatalf("%d kept while offline, want %d", o.Len(), want)
			}
			if tc.reopen {
				o = open(t, dir, l, tc.max)
			}
			l.setOffline(false)
			// Sent after reconnect but before the flush: must queue behind.
			if err := o.Publish(ctx, topic.Telemetry, sample(n)); err != nil {
				t.Fatal(err)
			}
			n++
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); o.Run(rctx) }()
			t.Cleanup(func() { cancel(); <-done })
			deadline := time.Now().Add(5 * time.Second)
			for o.Len() > 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if o.Len() != 0 {
				t.Fatalf("%d still waiting after reconnect", o.Len())
			}
			ids, dropped := telemetryIDs(l.received())
			// The sample sent right after reconnect queues behind the
			// others, so with a full outbox it pushes out one more.
			var want []string
			for i := range n {
				if i < tc.before || i >= max(tc.wantFirst, tc.before) {
					want = append(want, fmt.Sprint(i))
				}
			}
			if fmt.Sprint(ids) != fmt.Sprint(want) {
				t.Errorf("delivered %v, want %v", ids, want)
			}
			if fmt.Sprint(dropped) != fmt.Sprint(tc.wantDropped) {
				t.Errorf("drop reports %v, want %v", dropped, tc.wantDropped)
			}
			// The drop report comes before the first kept message.
			if len(tc.wantDropped) > 0 {
				msgs := l.received()
				if _, ok := msgs[tc.before].(*homeplanev1.InstanceEvent); !ok {
					t.Errorf("message after reconnect is %T, want the drop report", msgs[tc.before])
				}
			}
		})
	}
}

func TestPublishReturnsOtherErrors(t *testing.T) {
	boom := errors.New("boom")
	o, err := Open(t.TempDir(), publisherFunc(func() error { return boom }), Options{Offline: errOffline})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Publish(context.Background(), topic.Telemetry, sample(1)); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if o.Len() != 0 {
		t.Errorf("a message refused for another reason than offline was kept")
	}
}

type publisherFunc func() error

func (f publisherFunc) Publish(context.Context, topic.Kind, proto.Message) error { return f() }
