package postgres_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/homeplane/homeplane/central/internal/fleet"
	"github.com/homeplane/homeplane/central/internal/instance"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
	"github.com/homeplane/homeplane/central/internal/usage"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

const (
	fleetUser  = "00000000-0000-0000-0000-00000000000f"
	fleetUser2 = "00000000-0000-0000-0000-00000000001f"
	fleetHomeA = "00000000-0000-0000-0000-0000000000f1"
	fleetHomeB = "00000000-0000-0000-0000-0000000000f2"
	fleetHomeC = "00000000-0000-0000-0000-0000000000f3"
)

// seedFleet makes two users: the first owns homes A and B, the second C.
func seedFleet(tb testing.TB, pool *pgxpool.Pool) {
	tb.Helper()
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO users (id, email, password_hash, created_at) VALUES ('` + fleetUser + `', 'f@example.com', 'x', now())`,
		`INSERT INTO users (id, email, password_hash, created_at) VALUES ('` + fleetUser2 + `', 'g@example.com', 'x', now())`,
		`INSERT INTO homes (id, owner_id, name, created_at) VALUES ('` + fleetHomeA + `', '` + fleetUser + `', 'A', now())`,
		`INSERT INTO homes (id, owner_id, name, created_at) VALUES ('` + fleetHomeB + `', '` + fleetUser + `', 'B', now())`,
		`INSERT INTO homes (id, owner_id, name, created_at) VALUES ('` + fleetHomeC + `', '` + fleetUser2 + `', 'C', now())`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			tb.Fatal(err)
		}
	}
}

// A snapshot counts the homes, clamps what presence says to them, counts
// running and crash-looping instances from their stored status, and each
// restart once, in the window after the previous snapshot it was recorded in.
func TestFleetSnapshotCountsOnce(t *testing.T) {
	pool := pgtest.New(t)
	seedFleet(t, pool)
	ctx := context.Background()
	instances := postgres.NewInstanceStore(pool)
	now := time.Now()
	if err := instances.SaveInstance(ctx, fleetHomeA, &homeplanev1.Instance{State: "running", Health: "healthy"},
		[]instance.Restart{{Time: now.Add(-time.Hour), Reason: "old"}}, 20); err != nil {
		t.Fatal(err)
	}
	if err := instances.SaveInstance(ctx, fleetHomeB, &homeplanev1.Instance{State: "crash_loop", Health: "unhealthy"},
		[]instance.Restart{{Time: now.Add(-3 * time.Minute), Reason: "died"}, {Time: now.Add(-2 * time.Minute), Reason: "died"}}, 20); err != nil {
		t.Fatal(err)
	}
	// The previous snapshot was five minutes ago; the old restart was
	// learnt of before it, the two others after it.
	for _, q := range []string{
		`INSERT INTO fleet_snapshots (at, homes, online, running, crash_loops, restarts)
			VALUES (date_trunc('minute', now()) - interval '5 minutes', 3, 0, 0, 0, 0)`,
		`UPDATE instance_restarts SET recorded_at = now() - interval '10 minutes' WHERE reason = 'old'`,
		`UPDATE instance_restarts SET recorded_at = now() - interval '2 minutes' WHERE reason = 'died'`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	store := postgres.NewFleetStore(pool)
	// Two replicas at once: one row a minute, each restart counted once.
	errs := make(chan error, 2)
	for _, online := range []int{5, 1} {
		go func() { errs <- store.Record(ctx, online) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var homes, running, loops, restarts, rows int
	if err := pool.QueryRow(ctx, `SELECT max(homes), max(running), max(crash_loops), sum(restarts), count(*)
		FROM fleet_snapshots WHERE at > date_trunc('minute', now()) - interval '5 minutes'`).Scan(&homes, &running, &loops, &restarts, &rows); err != nil {
		t.Fatal(err)
	}
	if homes != 3 || running != 1 || loops != 1 || restarts != 2 || rows < 1 || rows > 2 {
		t.Fatalf("snapshots: homes %d, running %d, crash loops %d, restarts %d over %d rows; want 3, 1, 1, 2",
			homes, running, loops, restarts, rows)
	}
	var online int
	if err := pool.QueryRow(ctx, `SELECT online FROM fleet_snapshots ORDER BY at DESC LIMIT 1`).Scan(&online); err != nil {
		t.Fatal(err)
	}
	if online != 3 && online != 1 {
		t.Fatalf("online = %d: want presence's count, at most the 3 homes", online)
	}
}

// Two samplers on one database: only the lease's holder records.
func TestFleetSamplersOneRecords(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	store := postgres.NewFleetStore(pool)
	lease := postgres.NewLease(pool, "fleet")
	one := func() int { return 0 }
	a := fleet.NewSampler(store, lease, one, fleet.Options{Holder: "a"})
	b := fleet.NewSampler(store, lease, one, fleet.Options{Holder: "b"})
	recA, err := a.Sample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recB, err := b.Sample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !recA || recB {
		t.Fatalf("a recorded %v, b recorded %v: want a alone", recA, recB)
	}
	if err := lease.Release(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if recB, err = b.Sample(ctx); err != nil || !recB {
		t.Fatalf("after a gave the lease up, b recorded %v (%v)", recB, err)
	}
}

// History averages the minutes of a bucket and sums their restarts; the
// range's buckets without a snapshot come back empty; Prune keeps the
// retention.
func TestFleetHistoryAndPrune(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 10 { // 12:00 to 12:09
		if _, err := pool.Exec(ctx, `INSERT INTO fleet_snapshots (at, homes, online, running, crash_loops, restarts)
			VALUES ($1, 10, $2, 8, $3, 1)`, base.Add(time.Duration(i)*time.Minute), i, i%2); err != nil {
			t.Fatal(err)
		}
	}
	store := postgres.NewFleetStore(pool)
	r := fleet.Range{Name: "test", Span: 30 * time.Minute, Bucket: 5 * time.Minute}
	points, err := fleet.History(ctx, store, r, base.Add(10*time.Minute+30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// 11:45 to 12:15 in six buckets: three empty, 12:00 and 12:05 full, 12:10 empty.
	if len(points) != 6 || !points[0].At.Equal(base.Add(-15*time.Minute)) {
		t.Fatalf("points = %+v", points)
	}
	first, second := points[3], points[4]
	if first.Minutes != 5 || first.Homes != 10 || first.Online != 2 || first.Restarts != 5 || math.Abs(first.CrashLoops-0.4) > 1e-9 ||
		second.Minutes != 5 || second.Online != 7 || points[5].Minutes != 0 || points[0].Minutes != 0 {
		t.Fatalf("buckets = %+v", points)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO fleet_snapshots (at, homes, online, running, crash_loops, restarts)
		VALUES (now() - interval '100 days', 1, 1, 1, 0, 0), (now() - interval '1 day', 1, 1, 1, 0, 0)`); err != nil {
		t.Fatal(err)
	}
	n, err := store.Prune(ctx, 90*24*time.Hour)
	if err != nil || n != 11 { // the ten of March 2026 are older too
		var left int
		_ = pool.QueryRow(ctx, "SELECT count(*) FROM fleet_snapshots").Scan(&left)
		t.Fatalf("pruned %d (%v), %d left", n, err, left)
	}
}

// DailyUsage sums per UTC day for every home, one user's or one home's;
// another user's home under a user's scope looks like no home at all.
func TestDailyUsageScopes(t *testing.T) {
	pool := pgtest.New(t)
	seedFleet(t, pool)
	ctx := context.Background()
	store := postgres.NewUsageStore(pool)
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	// Hourly rows as the recorder's roll-up leaves them.
	for _, h := range []struct {
		home     string
		hour     time.Time
		cpu, mem float64
	}{
		{fleetHomeA, day.Add(10 * time.Hour), 3600, 7200},
		{fleetHomeB, day.Add(23 * time.Hour), 1800, 3600},
		{fleetHomeC, day.Add(24 * time.Hour), 360, 360},
	} {
		if _, err := pool.Exec(ctx, `INSERT INTO usage_hourly (home_id, hour, cpu_core_seconds, memory_gib_seconds, samples)
			VALUES ($1, $2, $3, $4, 60)`, h.home, h.hour, h.cpu, h.mem); err != nil {
			t.Fatal(err)
		}
	}
	rep := usage.NewReporter(store, usage.Rates{CPUCoreHour: 1, MemoryGiBHour: 0.5, Currency: "EUR"})
	cases := []struct {
		name string
		sc   usage.Scope
		cpu  [2]float64
	}{
		{"every home", usage.Scope{}, [2]float64{1.5, 0.1}},
		{"a user's homes", usage.Scope{UserID: fleetUser}, [2]float64{1.5, 0}},
		{"one home", usage.Scope{HomeID: fleetHomeB}, [2]float64{0.5, 0}},
		{"another's home in a user's scope", usage.Scope{UserID: fleetUser, HomeID: fleetHomeC}, [2]float64{0, 0}},
		{"no such home", usage.Scope{HomeID: "not-a-uuid"}, [2]float64{0, 0}},
	}
	for _, c := range cases {
		days, err := rep.Daily(ctx, day.Add(time.Hour), day.Add(48*time.Hour), c.sc)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(days) != 2 || !days[0].Day.Equal(day) || math.Abs(days[0].CPUCoreHours-c.cpu[0]) > 1e-9 || math.Abs(days[1].CPUCoreHours-c.cpu[1]) > 1e-9 {
			t.Errorf("%s: days = %+v, want CPU %v", c.name, days, c.cpu)
		}
	}
	days, _ := rep.Daily(ctx, day, day.Add(24*time.Hour), usage.Scope{HomeID: fleetHomeA})
	if len(days) != 1 || days[0].MemoryGiBHours != 2 || days[0].Price != 2 {
		t.Errorf("home A's day = %+v, want 2 GiB-hours priced 1 + 1", days)
	}
	if _, err := rep.Daily(ctx, day, day.Add(100*24*time.Hour), usage.Scope{}); err == nil {
		t.Error("a 100-day series was accepted")
	}
}
