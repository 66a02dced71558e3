package entitysync

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/homeplane/homeplane/agent/internal/homeassistant"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/polltest"
	"github.com/homeplane/homeplane/protocol/topic"
)

// fakeHA serves a fixed registry and emits changes the test feeds it.
type fakeHA struct {
	mu        sync.Mutex
	registry  homeassistant.Registry
	registryN int
	watchN    int
	changes   chan homeassistant.Change
	fail      chan error
}

func newFakeHA() *fakeHA {
	return &fakeHA{
		registry: homeassistant.Registry{
			Entities: []homeassistant.Entity{{
				EntityID: "light.kitchen", Name: "Kitchen light", Domain: "light", AreaID: "kitchen",
				Aliases: []string{"worktop"},
				State: homeassistant.State{EntityID: "light.kitchen", State: "off", Attributes: map[string]any{
					"brightness": 128.0, "supported": []any{"onoff"}, "bad": make(chan int),
				}, LastChanged: time.Unix(1700000000, 0)},
			}},
			Areas:  []homeassistant.Area{{ID: "kitchen", Name: "Kitchen", FloorID: "ground"}},
			Floors: []homeassistant.Floor{{ID: "ground", Name: "Ground floor", Level: 0}},
		},
		changes: make(chan homeassistant.Change),
		fail:    make(chan error),
	}
}

func (f *fakeHA) Config(context.Context) (homeassistant.Config, error) {
	return homeassistant.Config{Version: "2025.1.0"}, nil
}

func (f *fakeHA) Registry(context.Context) (homeassistant.Registry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.registryN++
	return f.registry, nil
}

func (f *fakeHA) Watch(ctx context.Context, fn func(homeassistant.Change)) error {
	f.mu.Lock()
	f.watchN++
	f.mu.Unlock()
	for {
		select {
		case c := <-f.changes:
			fn(c)
		case err := <-f.fail:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// fakePub records what would go to central.
type fakePub struct {
	mu   sync.Mutex
	msgs []*homeplanev1.EntitySync
}

func (p *fakePub) Publish(_ context.Context, kind topic.Kind, msg proto.Message) error {
	if kind != topic.Entities {
		return errors.New("unexpected kind " + string(kind))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, proto.CloneOf(msg.(*homeplanev1.EntitySync)))
	return nil
}

func (p *fakePub) all() []*homeplanev1.EntitySync {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.msgs)
}

func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	polltest.Until(tb, 5*time.Second, what, cond)
}

func startSyncer(tb testing.TB) (*Syncer, *fakeHA, *fakePub) {
	tb.Helper()
	ha, pub := newFakeHA(), &fakePub{}
	s := New(ha, pub, &homeassistant.Facts{}, slog.New(slog.DiscardHandler))
	s.debounce = 30 * time.Millisecond
	s.retryMin, s.retryMax = time.Millisecond, 5*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done })
	return s, ha, pub
}

func countFull(msgs []*homeplanev1.EntitySync) int {
	n := 0
	for _, m := range msgs {
		if m.GetFull() {
			n++
		}
	}
	return n
}

func TestFullSyncConverts(t *testing.T) {
	s, _, pub := startSyncer(t)
	eventually(t, "full sync", func() bool { return countFull(pub.all()) >= 1 })
	m := pub.all()[0]
	if !m.GetFull() || len(m.GetEntities()) != 1 || len(m.GetAreas()) != 1 || len(m.GetFloors()) != 1 {
		t.Fatalf("sync = %v", m)
	}
	e := m.GetEntities()[0]
	if e.GetEntityId() != "light.kitchen" || e.GetName() != "Kitchen light" || e.GetAreaId() != "kitchen" ||
		e.GetState() != "off" || e.GetAliases()[0] != "worktop" || e.GetLastChanged().AsTime().Unix() != 1700000000 {
		t.Fatalf("entity = %v", e)
	}
	attrs := e.GetAttributes().GetFields()
	if attrs["brightness"].GetNumberValue() != 128 || len(attrs["supported"].GetListValue().GetValues()) != 1 {
		t.Fatalf("attributes = %v", attrs)
	}
	if _, ok := attrs["bad"]; ok {
		t.Fatal("an attribute a Struct cannot hold was kept")
	}
	if a := m.GetAreas()[0]; a.GetFloorId() != "ground" || a.GetName() != "Kitchen" {
		t.Fatalf("area = %v", a)
	}
	if s.facts.Version() != "2025.1.0" {
		t.Fatalf("version = %q", s.facts.Version())
	}
}

func TestDeltasAreBatched(t *testing.T) {
	_, ha, pub := startSyncer(t)
	eventually(t, "initial full sync", func() bool { return countFull(pub.all()) >= 1 })
	before := len(pub.all())

	on := &homeassistant.State{EntityID: "light.kitchen", State: "on"}
	ha.changes <- homeassistant.Change{EntityID: "light.kitchen", New: &homeassistant.State{EntityID: "light.kitchen", State: "dim"}}
	ha.changes <- homeassistant.Change{EntityID: "light.kitchen", New: on}
	ha.changes <- homeassistant.Change{EntityID: "sensor.new", New: &homeassistant.State{EntityID: "sensor.new", State: "3", Attributes: map[string]any{"friendly_name": "New sensor"}}}
	ha.changes <- homeassistant.Change{EntityID: "switch.gone"}

	eventually(t, "one delta", func() bool { return len(pub.all()) > before })
	d := pub.all()[before]
	if d.GetFull() {
		t.Fatalf("got a full sync, want a delta: %v", d)
	}
	got := map[string]*homeplanev1.Entity{}
	for _, e := range d.GetEntities() {
		got[e.GetEntityId()] = e
	}
	if len(got) != 2 || got["light.kitchen"].GetState() != "on" || got["light.kitchen"].GetAreaId() != "kitchen" {
		t.Fatalf("delta entities = %v, want kitchen on (latest, with registry facts) and the new sensor", d.GetEntities())
	}
	if got["sensor.new"].GetName() != "New sensor" || got["sensor.new"].GetDomain() != "sensor" {
		t.Fatalf("new entity = %v", got["sensor.new"])
	}
	if !slices.Equal(d.GetRemovedEntityIds(), []string{"switch.gone"}) {
		t.Fatalf("removed = %v", d.GetRemovedEntityIds())
	}
}

func TestRegistryChangeAndWatchLossResync(t *testing.T) {
	_, ha, pub := startSyncer(t)
	eventually(t, "initial full sync", func() bool { return countFull(pub.all()) >= 1 })
	n := countFull(pub.all())

	ha.changes <- homeassistant.Change{RegistryChanged: true}
	eventually(t, "full sync after registry change", func() bool { return countFull(pub.all()) > n })
	n = countFull(pub.all())

	ha.fail <- errors.New("websocket closed")
	eventually(t, "watch restarted", func() bool { ha.mu.Lock(); defer ha.mu.Unlock(); return ha.watchN >= 2 })
	eventually(t, "full sync after watch loss", func() bool { return countFull(pub.all()) > n })
}
