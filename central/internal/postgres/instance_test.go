package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/central/internal/instance"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

const (
	instUser = "00000000-0000-0000-0000-00000000000b"
	instHome = "00000000-0000-0000-0000-0000000000b1"
	instGone = "00000000-0000-0000-0000-0000000000bf"
)

func seedInstanceHome(tb testing.TB, pool *pgxpool.Pool) {
	tb.Helper()
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, 'i@example.com', 'x', now())`, instUser); err != nil {
		tb.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO homes (id, owner_id, name, created_at) VALUES ($1, $2, 'Home', now())`, instHome, instUser); err != nil {
		tb.Fatal(err)
	}
}

func restartsOf(base time.Time, n int) []*homeplanev1.Restart {
	var out []*homeplanev1.Restart
	for i := range n {
		out = append(out, &homeplanev1.Restart{Time: timestamppb.New(base.Add(time.Duration(i) * time.Second)), Reason: fmt.Sprintf("reason %d", i)})
	}
	return out
}

func TestInstanceStoreRoundTrip(t *testing.T) {
	pool := pgtest.New(t)
	seedInstanceHome(t, pool)
	ctx := t.Context()
	store := postgres.NewInstanceStore(pool)
	base := time.Date(2026, 11, 1, 10, 0, 0, 123456789, time.UTC)
	started := base.Add(-time.Hour)

	svc, err := instance.New(store, instance.Options{HistoryLen: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.ApplyTelemetry(ctx, instHome, &homeplanev1.Telemetry{
		Time: timestamppb.New(base), CpuPercent: 42.5, MemoryBytes: 512 << 20, MemoryLimitBytes: 1 << 30,
		Instance: &homeplanev1.Instance{State: "running", Health: "healthy", Image: "ha:2026.1", Version: "2026.1.0",
			Mode: "managed", StartedAt: timestamppb.New(started), Restarts: 5, RecentRestarts: restartsOf(base.Add(-time.Minute), 5),
			UpdatedAt: timestamppb.New(base)},
	}); err != nil {
		t.Fatalf("ApplyTelemetry: %v", err)
	}
	if err := svc.ApplyEvent(ctx, instHome, &homeplanev1.InstanceEvent{Time: timestamppb.New(base.Add(time.Second)), Kind: "rolled_back", Reason: "not healthy within 10m", Image: "ha:2026.1"}); err != nil {
		t.Fatalf("ApplyEvent: %v", err)
	}

	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM instance_restarts WHERE home_id = $1", instHome).Scan(&n); err != nil || n != 3 {
		t.Fatalf("restart rows = %d (%v), want the history bound 3", n, err)
	}

	// A fresh service reads back what the first one wrote.
	again, err := instance.New(store, instance.Options{HistoryLen: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Load(ctx); err != nil {
		t.Fatalf("Load: %v", err)
	}
	got, ok := again.Get(instHome)
	if !ok {
		t.Fatal("no status after Load")
	}
	if got.State != "running" || got.Health != "healthy" || got.Image != "ha:2026.1" || got.Version != "2026.1.0" ||
		got.Mode != "managed" || got.Restarts != 5 || got.CpuPercent != 42.5 || got.MemoryBytes != 512<<20 ||
		got.MemoryLimitBytes != 1<<30 || !got.StartedAt.AsTime().Equal(started.Truncate(time.Microsecond)) {
		t.Fatalf("loaded status = %v", got)
	}
	if got.LastEvent != "rolled_back" || got.LastEventReason != "not healthy within 10m" {
		t.Fatalf("last event = %q %q", got.LastEvent, got.LastEventReason)
	}
	// Newest first, only the newest three.
	var reasons []string
	for _, r := range got.RecentRestarts {
		reasons = append(reasons, r.Reason)
	}
	if fmt.Sprint(reasons) != "[reason 4 reason 3 reason 2]" {
		t.Fatalf("restarts = %v", reasons)
	}

	// Deleting the home deletes its status and history.
	if _, err := pool.Exec(ctx, "DELETE FROM homes WHERE id = $1", instHome); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"instance_status", "instance_restarts"} {
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%s rows after the home was deleted = %d (%v)", table, n, err)
		}
	}
	if n, err := again.Prune(ctx, 0); err != nil || n != 1 {
		t.Fatalf("Prune after the home was deleted = %d, %v", n, err)
	}
	if _, ok := again.Get(instHome); ok {
		t.Fatal("a deleted home's status is still served")
	}
}

func TestInstanceStoreUnknownHome(t *testing.T) {
	pool := pgtest.New(t)
	store := postgres.NewInstanceStore(pool)
	cases := []struct{ name, home string }{
		{"deleted home", instGone},
		{"not a uuid", "not-a-uuid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := store.SaveInstance(t.Context(), c.home, &homeplanev1.Instance{State: "running", Health: "healthy"}, nil, 20)
			if !errors.Is(err, instance.ErrUnknownHome) {
				t.Fatalf("SaveInstance = %v, want ErrUnknownHome", err)
			}
			svc, err := instance.New(store, instance.Options{})
			if err != nil {
				t.Fatal(err)
			}
			// The service drops a status the store refuses for a missing home.
			if err := svc.ApplyStatus(t.Context(), c.home, &homeplanev1.Instance{State: "running"}); err != nil {
				t.Fatalf("ApplyStatus = %v, want nil", err)
			}
			if _, ok := svc.Get(c.home); ok {
				t.Fatal("status kept for a home that does not exist")
			}
		})
	}
}
