package ingest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/central/internal/ingest"
	"github.com/homeplane/homeplane/central/internal/presence"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
)

// gate records what is applied, per home and in order, and holds the
// workers while it is closed.
type gate struct {
	mu      sync.Mutex
	open    chan struct{}
	entered chan struct{}       // one per call, before it waits for open
	applied map[string][]string // home → "sync:<first entity>" / "tel:<cpu>" / "event:<kind>"
	all     []string            // every home's, in the order applied
	writes  int                 // ApplySync calls
	patch   bool                // Patch takes results' states
	patched map[string][]string // home → "patch:<first entity>"
}

func newGate() *gate {
	return &gate{open: make(chan struct{}), entered: make(chan struct{}, 1000), applied: map[string][]string{}}
}

func (g *gate) record(home, what string) {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-g.open
	g.mu.Lock()
	defer g.mu.Unlock()
	g.applied[home] = append(g.applied[home], what)
	g.all = append(g.all, what)
}

func (g *gate) got(home string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.applied[home]...)
}

func (g *gate) ApplySync(_ context.Context, home string, syncs ...*homeplanev1.EntitySync) error {
	g.mu.Lock()
	g.writes++
	g.mu.Unlock()
	for _, s := range syncs {
		g.record(home, "sync:"+s.GetEntities()[0].GetEntityId())
	}
	return nil
}

func (g *gate) Patch(home string, changed []*homeplanev1.Entity) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.patch {
		return false
	}
	if g.patched == nil {
		g.patched = map[string][]string{}
	}
	g.patched[home] = append(g.patched[home], "patch:"+changed[0].GetEntityId())
	return true
}

func (g *gate) ApplyTelemetry(_ context.Context, home string, t *homeplanev1.Telemetry) error {
	g.record(home, fmt.Sprintf("tel:%g", t.GetCpuPercent()))
	return nil
}

func (g *gate) ApplyEvent(_ context.Context, home string, ev *homeplanev1.InstanceEvent) error {
	g.record(home, "event:"+ev.GetKind())
	return nil
}

// delivered records results, and the registry as it was when each came.
type delivered struct {
	g  *gate
	mu sync.Mutex
	at map[string][]string // command id → what the home had applied then
}

func (d *delivered) Waiting(string, string) bool { return true }
func (d *delivered) Deliver(home string, r *homeplanev1.Result) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.at[r.CommandId] = d.g.got(home)
}

// queued wires an intake to the gate without draining after each send.
func queued(t *testing.T, opts ingest.Options) (*fakeTransport, *gate, *delivered, *ingest.Intake, *prometheus.Registry) {
	t.Helper()
	tr, g, reg := &fakeTransport{}, newGate(), prometheus.NewRegistry()
	d := &delivered{g: g, at: map[string][]string{}}
	p, err := presence.New(presence.Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	opts.Registerer = reg
	in, err := ingest.New(tr, ingest.Targets{Results: d, Presence: p, Entities: g, Instances: []ingest.InstanceSink{g}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Close)
	return tr, g, d, in, reg
}

func syncOf(full bool, id string) *homeplanev1.EntitySync {
	return &homeplanev1.EntitySync{Full: full, Entities: []*homeplanev1.Entity{{EntityId: id}}}
}

func sample(cpu float64) *homeplanev1.Telemetry {
	return &homeplanev1.Telemetry{Time: timestamppb.Now(), CpuPercent: cpu}
}

func drain(t *testing.T, in *ingest.Intake) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := in.Drain(ctx); err != nil {
		t.Fatal(err)
	}
}

func equal(a, b []string) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

func TestQueueKeepsHomeOrderAndCoalesces(t *testing.T) {
	tr, g, d, in, reg := queued(t, ingest.Options{Workers: 1})
	const homeB = "0b9c8d7e-6f5a-4b3c-2d1e-0f9a8b7c6d5e"
	// The worker takes the first sync and is held in it; the rest waits.
	tr.send(t, homeA, topic.Entities, syncOf(true, "first"))
	<-g.entered
	tr.send(t, homeA, topic.Entities, syncOf(false, "delta1"))
	tr.send(t, homeA, topic.Telemetry, sample(1))
	tr.send(t, homeA, topic.Events, &homeplanev1.InstanceEvent{Kind: "started", Time: timestamppb.Now()})
	tr.send(t, homeA, topic.Entities, syncOf(false, "delta2"))
	tr.send(t, homeA, topic.Telemetry, sample(2))
	tr.send(t, homeB, topic.Entities, syncOf(false, "b1"))
	tr.send(t, homeA, topic.Entities, syncOf(true, "full2")) // replaces delta1 and delta2
	tr.send(t, homeA, topic.Entities, syncOf(false, "delta3"))
	tr.send(t, homeA, topic.Result, &homeplanev1.Result{CommandId: "c1", Changed: []*homeplanev1.Entity{{EntityId: "changed"}}})
	tr.send(t, homeA, topic.Telemetry, sample(3))
	close(g.open)
	drain(t, in)

	want := []string{"sync:first", "tel:3", "event:started", "sync:full2", "sync:delta3", "sync:changed"}
	if got := g.got(homeA); !equal(got, want) {
		t.Errorf("home A applied %v, want %v", got, want)
	}
	if got := g.got(homeB); !equal(got, []string{"sync:b1"}) {
		t.Errorf("home B applied %v", got)
	}
	// The result came after its own changed states and everything before it.
	if got := d.at["c1"]; !equal(got, want[:6]) {
		t.Errorf("result delivered when home A had %v, want %v", got, want[:6])
	}
	if n := metric(t, reg, "homeplane_central_ingest_coalesced_total", "kind", "entities"); n != 2 {
		t.Errorf("coalesced{entities} = %v, want 2", n)
	}
	if n := metric(t, reg, "homeplane_central_ingest_coalesced_total", "kind", "telemetry"); n != 2 {
		t.Errorf("coalesced{telemetry} = %v, want 2", n)
	}
	if n := metric(t, reg, "homeplane_central_ingest_queue_bytes"); n != 0 {
		t.Errorf("queue bytes %v after draining, want 0", n)
	}
}

func TestQueueFullDropsSamplesAndHoldsSyncs(t *testing.T) {
	const bound = 4 << 10
	tr, g, _, in, reg := queued(t, ingest.Options{Workers: 1, QueueBytes: bound, QueueWait: 200 * time.Millisecond,
		Samples: ingest.Rate{PerSecond: 1000, Burst: 1000}, Syncs: ingest.Rate{PerSecond: 1000, Burst: 1000}})
	homes := make([]string, 20)
	for i := range homes {
		homes[i] = fmt.Sprintf("0b9c8d7e-6f5a-4b3c-2d1e-%012d", i)
	}
	// One sync holds the worker; the bound fills with the next ones.
	for _, h := range homes {
		tr.send(t, h, topic.Telemetry, sample(1))
	}
	if n := metric(t, reg, "homeplane_central_ingest_queue_bytes"); n > bound {
		t.Fatalf("queue holds %v bytes, over its bound of %d", n, bound)
	}
	dropped := metric(t, reg, "homeplane_central_ingest_dropped_total", "kind", "telemetry")
	if dropped == 0 {
		t.Fatal("no sample dropped with the queue full")
	}
	// A sync finding the queue full waits for room, and gets in once the
	// workers move.
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		tr.send(t, homes[0], topic.Entities, syncOf(false, "kept"))
	}()
	select {
	case <-done:
		t.Fatal("a sync got into a full queue without waiting")
	case <-time.After(50 * time.Millisecond):
	}
	close(g.open)
	<-done
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("the sync waited %s", waited)
	}
	drain(t, in)
	got := g.got(homes[0])
	if len(got) == 0 || got[len(got)-1] != "sync:kept" {
		t.Errorf("home 0 applied %v, want the sync last", got)
	}
	if n := metric(t, reg, "homeplane_central_ingest_dropped_total", "kind", "entities"); n != 0 {
		t.Errorf("dropped{entities} = %v, want 0", n)
	}
	applied := 0
	for _, h := range homes {
		for _, w := range g.got(h) {
			if w == "tel:1" {
				applied++
			}
		}
	}
	if applied+int(dropped) != len(homes) {
		t.Errorf("%d samples applied and %v dropped, want %d in all", applied, dropped, len(homes))
	}
}

func TestQueueFullSyncDroppedAfterWaitIsCounted(t *testing.T) {
	tr, g, _, _, reg := queued(t, ingest.Options{Workers: 1, QueueBytes: 1, QueueWait: 50 * time.Millisecond})
	defer close(g.open)
	tr.send(t, homeA, topic.Entities, syncOf(false, "held"))
	tr.send(t, homeA, topic.Entities, syncOf(false, "lost"))
	if n := metric(t, reg, "homeplane_central_ingest_dropped_total", "kind", "entities"); n != 1 {
		t.Errorf("dropped{entities} = %v, want 1", n)
	}
}

// Many agents at once, each sending its syncs in order: every one is
// applied, in each home's order.
func TestQueueLosesNothingUnderConcurrency(t *testing.T) {
	tr, g, _, in, reg := queued(t, ingest.Options{Workers: 3, Syncs: ingest.Rate{PerSecond: 1000, Burst: 1000}})
	close(g.open)
	const homes, each = 50, 40
	var wg sync.WaitGroup
	for h := range homes {
		wg.Go(func() {
			id := fmt.Sprintf("0b9c8d7e-6f5a-4b3c-2d1e-%012d", h)
			for i := range each {
				b, _ := proto.Marshal(syncOf(false, fmt.Sprint(i)))
				tr.sendRaw(id, topic.Entities, b)
			}
		})
	}
	wg.Wait()
	drain(t, in)
	for h := range homes {
		got := g.got(fmt.Sprintf("0b9c8d7e-6f5a-4b3c-2d1e-%012d", h))
		if len(got) != each {
			t.Fatalf("home %d: %d of %d syncs applied", h, len(got), each)
		}
		for i, w := range got {
			if w != fmt.Sprintf("sync:%d", i) {
				t.Fatalf("home %d: applied %v, out of order", h, got)
			}
		}
	}
	if n := metric(t, reg, "homeplane_central_ingest_dropped_total", "kind", "entities"); n != 0 {
		t.Errorf("dropped{entities} = %v", n)
	}
}

// A result someone waits for goes before the syncs of other homes queued
// earlier, yet after its own home's.
func TestQueueResultsGoFirst(t *testing.T) {
	tr, g, d, in, _ := queued(t, ingest.Options{Workers: 1})
	home := func(i int) string { return fmt.Sprintf("0b9c8d7e-6f5a-4b3c-2d1e-%012d", i) }
	tr.send(t, home(0), topic.Entities, syncOf(true, "held"))
	<-g.entered
	for i := 1; i <= 3; i++ {
		tr.send(t, home(i), topic.Entities, syncOf(true, fmt.Sprint("other", i)))
	}
	tr.send(t, home(4), topic.Entities, syncOf(false, "before"))
	tr.send(t, home(5), topic.Result, &homeplanev1.Result{CommandId: "c5", Changed: []*homeplanev1.Entity{{EntityId: "r5"}}})
	tr.send(t, home(4), topic.Result, &homeplanev1.Result{CommandId: "c4", Changed: []*homeplanev1.Entity{{EntityId: "r4"}}})
	close(g.open)
	drain(t, in)
	g.mu.Lock()
	got := append([]string(nil), g.all...)
	g.mu.Unlock()
	want := []string{"sync:held", "sync:r5", "sync:before", "sync:r4", "sync:other1", "sync:other2", "sync:other3"}
	if !equal(got, want) {
		t.Errorf("applied %v, want %v", got, want)
	}
	if got := d.at["c4"]; !equal(got, []string{"sync:before", "sync:r4"}) {
		t.Errorf("result c4 delivered when its home had %v", got)
	}
}

// A result whose states the registry serves at once is delivered without
// waiting for the queue, and costs no write of its own: the agent's delta
// stores them. What a home has queued is stored in one write.
func TestQueuePatchedResultIsDeliveredAtOnce(t *testing.T) {
	tr, g, d, in, reg := queued(t, ingest.Options{Workers: 1})
	g.mu.Lock()
	g.patch = true
	g.mu.Unlock()
	tr.send(t, homeA, topic.Entities, syncOf(true, "first"))
	<-g.entered
	tr.send(t, homeA, topic.Entities, syncOf(false, "d1"))
	tr.send(t, homeA, topic.Entities, syncOf(false, "d2"))
	tr.send(t, homeA, topic.Result, &homeplanev1.Result{CommandId: "c1", Changed: []*homeplanev1.Entity{{EntityId: "r1"}}})
	tr.send(t, homeA, topic.Entities, syncOf(false, "d3"))

	// The worker is still held in the first sync, yet c1 has its answer.
	d.mu.Lock()
	at, ok := d.at["c1"]
	d.mu.Unlock()
	if !ok || len(at) != 0 {
		t.Fatalf("c1 delivered = %v (home had %v), want delivered before anything was stored", ok, at)
	}
	g.mu.Lock()
	patched := append([]string(nil), g.patched[homeA]...)
	g.mu.Unlock()
	if !equal(patched, []string{"patch:r1"}) {
		t.Errorf("patched %v, want [patch:r1]", patched)
	}

	close(g.open)
	drain(t, in)
	if got, want := g.got(homeA), []string{"sync:first", "sync:d1", "sync:d2", "sync:d3"}; !equal(got, want) {
		t.Errorf("stored %v, want %v", got, want)
	}
	g.mu.Lock()
	writes := g.writes
	g.mu.Unlock()
	if writes != 2 {
		t.Errorf("%d registry writes, want 2: the held one, then everything queued behind it in one", writes)
	}
	if n := metric(t, reg, "homeplane_central_ingest_queue_bytes"); n != 0 {
		t.Errorf("queue bytes %v after draining, want 0", n)
	}
}
