package ingest_test

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/central/internal/ingest"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
	"github.com/homeplane/homeplane/central/internal/presence"
	"github.com/homeplane/homeplane/central/internal/usage"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
)

// countingSink counts the syncs it is given.
type countingSink struct {
	mu sync.Mutex
	n  int
}

func (s *countingSink) ApplySync(_ context.Context, _ string, syncs ...*homeplanev1.EntitySync) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n += len(syncs)
	return nil
}

func (s *countingSink) Patch(string, []*homeplanev1.Entity) bool { return false }

func (s *countingSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newIntake wires an intake to a fake transport whose handlers the test calls.
func newIntake(t *testing.T, opts ingest.Options, sinks ...ingest.InstanceSink) (*fakeTransport, *countingSink, *prometheus.Registry) {
	t.Helper()
	tr, entities, reg := &fakeTransport{}, &countingSink{}, prometheus.NewRegistry()
	p, err := presence.New(presence.Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	opts.Registerer = reg
	in, err := ingest.New(tr, ingest.Targets{Results: noResults{}, Presence: p, Entities: entities, Instances: sinks}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Close)
	// Each send returns once it is applied, as these tests count what was.
	tr.after = func() {
		if err := in.Drain(context.Background()); err != nil {
			t.Error(err)
		}
	}
	return tr, entities, reg
}

func (f *fakeTransport) send(t *testing.T, home string, k topic.Kind, m proto.Message) {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	f.sendRaw(home, k, b)
}

func (f *fakeTransport) sendRaw(home string, k topic.Kind, b []byte) {
	f.mu.Lock()
	fn := f.subs[topic.Filter(k)]
	f.mu.Unlock()
	fn(topic.For(home, k), b)
	if f.after != nil {
		f.after()
	}
}

func TestSyncRatePerHome(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	tr, entities, reg := newIntake(t, ingest.Options{Now: clk.Now, Syncs: ingest.Rate{PerSecond: 1, Burst: 2}})
	const homeB = "0b9c8d7e-6f5a-4b3c-2d1e-0f9a8b7c6d5e"
	delta := &homeplanev1.EntitySync{Entities: []*homeplanev1.Entity{{EntityId: "light.a"}}}
	for range 3 {
		tr.send(t, homeA, topic.Entities, delta)
	}
	if n := entities.count(); n != 2 {
		t.Fatalf("%d of 3 syncs in a burst of 2 applied", n)
	}
	if n := metric(t, reg, "homeplane_central_mqtt_refused_total", "kind", "entities", "reason", "rate"); n != 1 {
		t.Fatalf("refused{rate} = %v, want 1", n)
	}
	tr.send(t, homeB, topic.Entities, delta) // another home has its own budget
	clk.Advance(time.Second)
	tr.send(t, homeA, topic.Entities, delta)
	if n := entities.count(); n != 4 {
		t.Fatalf("%d syncs applied, want 4 once a second passed and for the other home", n)
	}
}

func TestSyncBytesPerHome(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	tr, entities, reg := newIntake(t, ingest.Options{Now: clk.Now, SyncBytes: ingest.Rate{PerSecond: 1000, Burst: 3000}})
	payload, _ := proto.Marshal(&homeplanev1.EntitySync{Entities: []*homeplanev1.Entity{{EntityId: "light.a", Name: string(make([]byte, 1400))}}})
	for range 3 {
		tr.sendRaw(homeA, topic.Entities, payload)
	}
	if n := entities.count(); n != 2 {
		t.Fatalf("%d syncs of %d bytes within 3000 bytes applied, want 2", n, len(payload))
	}
	clk.Advance(2 * time.Second)
	tr.sendRaw(homeA, topic.Entities, payload)
	if n := entities.count(); n != 3 {
		t.Fatalf("%d syncs applied after the bucket refilled, want 3", n)
	}
	if n := metric(t, reg, "homeplane_central_mqtt_refused_total", "kind", "entities", "reason", "rate"); n != 1 {
		t.Fatalf("refused{rate} = %v, want 1", n)
	}
}

func TestPayloadBudgetPerKind(t *testing.T) {
	tr, entities, reg := newIntake(t, ingest.Options{})
	for _, k := range []topic.Kind{topic.Presence, topic.Result, topic.Entities, topic.Telemetry, topic.Events} {
		tr.sendRaw(homeA, k, make([]byte, topic.MaxPayload(k)+1))
		if n := metric(t, reg, "homeplane_central_mqtt_refused_total", "kind", string(k), "reason", "too_large"); n != 1 {
			t.Errorf("refused{%s, too_large} = %v, want 1", k, n)
		}
	}
	if entities.count() != 0 {
		t.Fatal("an oversized sync reached the registry")
	}
}

type noStore struct{}

func (noStore) AddSamples(context.Context, []usage.HomeSample, time.Duration) error { return nil }
func (noStore) PurgeSamples(context.Context, time.Time) error                       { return nil }

// TestAttackTelemetryPoison: a sample with a value that is not a number, or
// dated in the year 9999, is refused and counted, and real samples after it
// are still taken. Duplicates and samples delivered out of order change
// nothing.
func TestAttackTelemetryPoison(t *testing.T) {
	rec := usage.NewRecorder(noStore{}, usage.Options{Registerer: prometheus.NewRegistry()})
	tr, _, reg := newIntake(t, ingest.Options{}, rec)
	now := time.Now()
	year9999 := timestamppb.New(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	sample := func(at time.Time, cpu float64) *homeplanev1.Telemetry {
		return &homeplanev1.Telemetry{Time: timestamppb.New(at), CpuPercent: cpu, MemoryBytes: 300 << 20}
	}
	attacks := []struct {
		name   string
		msg    *homeplanev1.Telemetry
		reason string
	}{
		{"NaN CPU", sample(now, math.NaN()), "non_finite"},
		{"infinite CPU", sample(now, math.Inf(1)), "non_finite"},
		{"negative CPU", sample(now, -1), "non_finite"},
		{"NaN instance CPU", &homeplanev1.Telemetry{Time: timestamppb.New(now), Instance: &homeplanev1.Instance{CpuPercent: math.NaN()}}, "non_finite"},
		{"year 9999", &homeplanev1.Telemetry{Time: year9999, CpuPercent: 5}, "clock"},
		{"an hour ahead", sample(now.Add(time.Hour), 5), "clock"},
		{"a month old", sample(now.Add(-30*24*time.Hour), 5), "clock"},
		{"status from 9999", &homeplanev1.Telemetry{Time: timestamppb.New(now), Instance: &homeplanev1.Instance{State: "running", UpdatedAt: year9999}}, "clock"},
	}
	for _, a := range attacks {
		before := metric(t, reg, "homeplane_central_mqtt_refused_total", "kind", "telemetry", "reason", a.reason)
		tr.send(t, homeA, topic.Telemetry, a.msg)
		if n := metric(t, reg, "homeplane_central_mqtt_refused_total", "kind", "telemetry", "reason", a.reason); n != before+1 {
			t.Errorf("%s: refused{%s} = %v, want %v", a.name, a.reason, n, before+1)
		}
	}
	tr.send(t, homeA, topic.Events, &homeplanev1.InstanceEvent{Time: year9999, Kind: "started"})
	if n := metric(t, reg, "homeplane_central_mqtt_refused_total", "kind", "events", "reason", "clock"); n != 1 {
		t.Errorf("event from 9999: refused{clock} = %v, want 1", n)
	}
	if got := rec.Recent(homeA); len(got) != 0 {
		t.Fatalf("refused samples were recorded: %+v", got)
	}

	first, second := sample(now.Add(-20*time.Second), 12.5), sample(now.Add(-10*time.Second), 25)
	for _, m := range []*homeplanev1.Telemetry{first, second, second, first} { // a duplicate, then one out of order
		tr.send(t, homeA, topic.Telemetry, m)
	}
	got := rec.Recent(homeA)
	if len(got) != 2 || got[0].CPUPercent != 12.5 || got[1].CPUPercent != 25 {
		t.Fatalf("recorded %+v, want the two real samples once each, in order", got)
	}
	if n := metric(t, reg, "homeplane_central_instance_sink_failures_total", "kind", "telemetry"); n != 0 {
		t.Fatalf("sink failures = %v", n)
	}
}

func TestOptionsValidated(t *testing.T) {
	p, _ := presence.New(presence.Options{})
	for i, o := range []ingest.Options{
		{SinkTimeout: -1}, {Workers: -1}, {QueueBytes: -1}, {Syncs: ingest.Rate{PerSecond: 1}}, {Samples: ingest.Rate{Burst: 5}},
	} {
		if _, err := ingest.New(&fakeTransport{}, ingest.Targets{Results: noResults{}, Presence: p, Entities: &countingSink{}}, o); err == nil {
			t.Errorf("options %d (%+v) accepted", i, o)
		}
	}
	if _, err := ingest.New(&fakeTransport{}, ingest.Targets{Presence: p, Entities: &countingSink{}}, ingest.Options{}); err == nil {
		t.Error("missing results accepted")
	}
}

// Telemetry redelivered, reordered and spread over two replicas (two
// intakes and recorders on one PostgreSQL, as shared subscriptions deliver
// it) is billed once: the usage rolled up is that of each interval once.
func TestTelemetryRedeliveryBillsOnce(t *testing.T) {
	store := postgres.NewUsageStore(pgtest.New(t))
	var recs []*usage.Recorder
	var intakes []*fakeTransport
	for range 2 {
		rec := usage.NewRecorder(store, usage.Options{Registerer: prometheus.NewRegistry()})
		tr, _, _ := newIntake(t, ingest.Options{}, rec)
		recs, intakes = append(recs, rec), append(intakes, tr)
	}
	base := time.Now().Truncate(time.Hour).Add(time.Minute)
	if time.Now().Before(base.Add(time.Minute)) {
		base = base.Add(-time.Hour) // keep every sample in the past, in one hour
	}
	sample := func(s int) *homeplanev1.Telemetry {
		return &homeplanev1.Telemetry{Time: timestamppb.New(base.Add(time.Duration(s) * time.Second)), CpuPercent: 100, MemoryBytes: 1 << 30}
	}
	// Replica 0 gets 0, 10 twice, 20; replica 1 gets 10 and 0 late, 30
	// twice, and 20 again; each flushes after every sample.
	for i, s := range []int{0, 10, 10, 20, 10, 0, 30, 30, 20} {
		r := min(i/4, 1)
		intakes[r].send(t, homeA, topic.Telemetry, sample(s))
		if err := recs[r].Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := store.History(context.Background(), homeA, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var cpu, mem float64
	var n int64
	for _, r := range rows {
		cpu, mem, n = cpu+r.CPUCoreSeconds, mem+r.MemoryGiBSeconds, n+r.Samples
	}
	if math.Abs(cpu-30) > 1e-9 || math.Abs(mem-30) > 1e-9 || n != 3 {
		t.Fatalf("billed %v core-s, %v GiB-s from %d samples; want 30, 30 from 3 (30 s at one core and 1 GiB)", cpu, mem, n)
	}
}
