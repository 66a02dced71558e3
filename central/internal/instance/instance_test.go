package instance_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/central/internal/instance"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/vocab"
)

const home = "3f2a7c9e-1b4d-4e8f-9a6b-0c1d2e3f4a5b"

// store is a hand-written instance.Store counting writes.
type store struct {
	mu     sync.Mutex
	saves  int
	added  []instance.Restart
	forgot []string
	saved  map[string]bool
}

func (s *store) LoadInstances(context.Context) ([]instance.Record, error) { return nil, nil }

func (s *store) SaveInstance(_ context.Context, homeID string, _ *homeplanev1.Instance, added []instance.Restart, _ int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.saved == nil {
		s.saved = map[string]bool{}
	}
	s.saved[homeID] = true
	s.saves++
	s.added = append(s.added, added...)
	return nil
}

func (s *store) ForgetInstance(_ context.Context, homeID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgot = append(s.forgot, homeID)
	delete(s.saved, homeID)
	return nil
}

func (s *store) InstanceHomes(context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id := range s.saved {
		ids = append(ids, id)
	}
	return ids, nil
}

// clock is a settable clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newService(t *testing.T) (*instance.Service, *store, *clock, *prometheus.Registry) {
	t.Helper()
	st := &store{}
	c := &clock{t: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)}
	reg := prometheus.NewRegistry()
	s, err := instance.New(st, instance.Options{Now: c.now, Registerer: reg, HistoryLen: 3})
	if err != nil {
		t.Fatal(err)
	}
	return s, st, c, reg
}

func sample(at time.Time, state string, cpu float64, restarts ...*homeplanev1.Restart) *homeplanev1.Telemetry {
	return &homeplanev1.Telemetry{Time: timestamppb.New(at), CpuPercent: cpu, MemoryBytes: 100 << 20,
		Instance: &homeplanev1.Instance{State: state, Health: "healthy", UpdatedAt: timestamppb.New(at),
			Restarts: int32(len(restarts)), RecentRestarts: restarts}}
}

func restart(at time.Time, reason string) *homeplanev1.Restart {
	return &homeplanev1.Restart{Time: timestamppb.New(at), Reason: reason}
}

func TestTelemetryAndRestarts(t *testing.T) {
	s, st, c, reg := newService(t)
	ctx := t.Context()
	t0 := c.t
	r1, r2 := restart(t0.Add(-2*time.Minute), "died: exit code 1"), restart(t0.Add(-time.Minute), "restart requested")
	if err := s.ApplyTelemetry(ctx, home, sample(t0, "running", 20, r1)); err != nil {
		t.Fatal(err)
	}
	// The agent sends its whole recent list every time: only r2 is new.
	if err := s.ApplyTelemetry(ctx, home, sample(t0.Add(time.Second), "running", 30, r1, r2)); err != nil {
		t.Fatal(err)
	}
	got, ok := s.Get(home)
	if !ok {
		t.Fatal("no status")
	}
	if got.State != "running" || got.CpuPercent != 30 || len(got.RecentRestarts) != 2 ||
		got.RecentRestarts[0].Reason != "restart requested" || got.RecentRestarts[1].Reason != "died: exit code 1" {
		t.Fatalf("status = %v", got)
	}
	if len(st.added) != 2 {
		t.Fatalf("restarts written = %v, want each once", st.added)
	}
	if v := gaugeValue(t, reg, "homeplane_central_instance_cpu_percent"); v != 30 {
		t.Fatalf("cpu gauge = %v", v)
	}
	if v := gaugeValue(t, reg, "homeplane_central_instance_up"); v != 1 {
		t.Fatalf("up gauge = %v", v)
	}

	// A sample delivered late from the agent's outbox does not roll the
	// status back.
	if err := s.ApplyTelemetry(ctx, home, sample(t0.Add(-time.Hour), "stopped", 1)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(home); got.State != "running" {
		t.Fatalf("state after a late sample = %q", got.State)
	}

	if err := s.Forget(ctx, home); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Get(home); ok || len(st.forgot) != 1 {
		t.Fatalf("home not forgotten (store forgot %v)", st.forgot)
	}
	if n := testutil.CollectAndCount(reg, "homeplane_central_instance_cpu_percent"); n != 0 {
		t.Fatalf("%d cpu series left for a forgotten home", n)
	}
}

func TestPersistThrottled(t *testing.T) {
	s, st, c, _ := newService(t)
	ctx := t.Context()
	steps := []struct {
		name      string
		advance   time.Duration
		state     string
		wantSaves int
	}{
		{"first sample", 0, "running", 1},
		{"new numbers only", 10 * time.Second, "running", 1},
		{"state change", 10 * time.Second, "stopped", 2},
		{"numbers after the persist interval", time.Minute, "stopped", 3},
	}
	for i, step := range steps {
		c.t = c.t.Add(step.advance)
		if err := s.ApplyTelemetry(ctx, home, sample(c.t, step.state, float64(i))); err != nil {
			t.Fatal(err)
		}
		if st.saves != step.wantSaves {
			t.Fatalf("%s: %d saves, want %d", step.name, st.saves, step.wantSaves)
		}
	}
}

func TestOperationAndPullProgress(t *testing.T) {
	s, _, c, _ := newService(t)
	ctx := t.Context()
	s.Begin(home, homeplanev1.InstanceAction_INSTANCE_ACTION_UPGRADE, "ha:2026.2")
	pull := func(cur, total uint64, pct float64) *homeplanev1.InstanceEvent {
		return &homeplanev1.InstanceEvent{Time: timestamppb.New(c.t), Kind: "pull_progress",
			Pull: &homeplanev1.PullProgress{Image: "ha:2026.2", CurrentBytes: cur, TotalBytes: total, Percent: pct}}
	}
	if err := s.ApplyEvent(ctx, home, pull(50, 200, 25)); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Get(home)
	op := got.GetOperation()
	if op.GetAction() != homeplanev1.InstanceAction_INSTANCE_ACTION_UPGRADE || op.GetPullPercent() != 25 || op.GetPullTotalBytes() != 200 {
		t.Fatalf("operation = %v", op)
	}
	// An event of the operation itself does not end it; the call's end does.
	if err := s.ApplyEvent(ctx, home, &homeplanev1.InstanceEvent{Time: timestamppb.New(c.t), Kind: "upgraded", Image: "ha:2026.2"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(home); got.Operation == nil || got.Image != "ha:2026.2" || got.LastEvent != "upgraded" {
		t.Fatalf("after upgraded: %v", got)
	}
	s.End(home)
	if got, _ := s.Get(home); got.Operation != nil {
		t.Fatalf("operation after End: %v", got.Operation)
	}

	// A pull the agent started by itself (provisioning at its start) shows
	// until its next event; an absurd percent is clamped.
	if err := s.ApplyEvent(ctx, home, pull(1, 0, 900)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(home); got.GetOperation().GetPullPercent() != 100 {
		t.Fatalf("agent's own pull: %v", got.Operation)
	}
	if err := s.ApplyEvent(ctx, home, &homeplanev1.InstanceEvent{Time: timestamppb.New(c.t), Kind: "provisioned"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(home); got.Operation != nil {
		t.Fatalf("agent's operation after provisioned: %v", got.Operation)
	}
}

func TestEventsMoveTheState(t *testing.T) {
	cases := []struct {
		kind, state, health string
	}{
		{"stopped", "stopped", "unknown"},
		{"started", "running", "starting"},
		{"died", "stopped", "unhealthy"},
		{"crash_loop", "crash_loop", "unhealthy"},
		{"removed", "missing", "unknown"},
	}
	for _, c := range cases {
		// An older agent names the kind in text only; a newer one sets the enum.
		for _, typed := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/typed=%v", c.kind, typed), func(t *testing.T) {
				s, _, clk, _ := newService(t)
				if err := s.ApplyTelemetry(t.Context(), home, sample(clk.t, "running", 1)); err != nil {
					t.Fatal(err)
				}
				ev := &homeplanev1.InstanceEvent{Kind: c.kind}
				if typed {
					ev = &homeplanev1.InstanceEvent{Type: vocab.KindOf(ev)}
				}
				ev.Time, ev.Reason = timestamppb.New(clk.t.Add(time.Second)), "because"
				if err := s.ApplyEvent(t.Context(), home, ev); err != nil {
					t.Fatal(err)
				}
				got, _ := s.Get(home)
				if got.State != c.state || got.Health != c.health || got.LastEvent != c.kind || got.LastEventReason != "because" {
					t.Fatalf("after %s: state %q health %q last event %q %q", c.kind, got.State, got.Health, got.LastEvent, got.LastEventReason)
				}
			})
		}
	}
}

// gaugeValue reads the home's sample of a per-home gauge.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "home" && l.GetValue() == home {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{home=%q}", name, home)
	return 0
}

func TestPruneForgetsDeletedHomes(t *testing.T) {
	s, st, c, reg := newService(t)
	if err := s.ApplyTelemetry(t.Context(), home, sample(c.t, "running", 5)); err != nil {
		t.Fatal(err)
	}
	s.Begin("00000000-0000-0000-0000-00000000000f", homeplanev1.InstanceAction_INSTANCE_ACTION_START, "") // young, never saved
	if n, err := s.Prune(t.Context(), time.Minute); err != nil || n != 0 {
		t.Fatalf("Prune with every home stored = %d, %v", n, err)
	}
	// Deleting the home deletes its stored status.
	st.mu.Lock()
	delete(st.saved, home)
	st.mu.Unlock()
	c.t = c.t.Add(time.Minute)
	if n, err := s.Prune(t.Context(), time.Minute); err != nil || n != 2 {
		t.Fatalf("Prune = %d, %v; want both homes forgotten", n, err)
	}
	if _, ok := s.Get(home); ok {
		t.Fatal("deleted home still known")
	}
	if n := testutil.CollectAndCount(reg, "homeplane_central_instance_up"); n != 0 {
		t.Fatalf("%d up series left", n)
	}
}

// TestRefusedTokenShowsUntilAccepted: a running, probe-healthy instance
// that refuses the agent's token shows auth_failed until the agent says
// the token is taken again; the last successful call travels along.
func TestRefusedTokenShowsUntilAccepted(t *testing.T) {
	s, _, c, _ := newService(t)
	ctx := context.Background()
	ok := timestamppb.New(c.t.Add(-time.Minute))
	healthy := func() *homeplanev1.Telemetry {
		c.t = c.t.Add(time.Second)
		tel := sample(c.t, "running", 1)
		tel.Instance.Health, tel.Instance.LastSuccessAt = "healthy", ok
		return tel
	}
	if err := s.ApplyTelemetry(ctx, home, healthy()); err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(time.Second)
	if err := s.ApplyEvent(ctx, home, &homeplanev1.InstanceEvent{Time: timestamppb.New(c.t), Kind: "ha_auth_failed", Reason: "HTTP 401"}); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyTelemetry(ctx, home, healthy()); err != nil {
		t.Fatal(err)
	}
	in, _ := s.Get(home)
	if in.GetHealth() != instance.HealthAuthFailed || in.GetLastEvent() != "ha_auth_failed" || !in.GetLastSuccessAt().AsTime().Equal(ok.AsTime()) {
		t.Fatalf("after a refusal and a healthy sample: %v", in)
	}
	c.t = c.t.Add(time.Second)
	if err := s.ApplyEvent(ctx, home, &homeplanev1.InstanceEvent{Time: timestamppb.New(c.t), Kind: "ha_auth_ok"}); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyTelemetry(ctx, home, healthy()); err != nil {
		t.Fatal(err)
	}
	if in, _ := s.Get(home); in.GetHealth() != "healthy" {
		t.Fatalf("after ha_auth_ok: health %q", in.GetHealth())
	}
}
