package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/homeplane/homeplane/central/internal/fleet"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
)

// BenchmarkFleet measures a snapshot with 10,000 homes (half with a status,
// 20 restarts each) and the dashboard's query for each range over a full
// 90 days of snapshots.
func BenchmarkFleet(b *testing.B) {
	pool := pgtest.New(b)
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO users (id, email, password_hash, created_at) VALUES ('` + fleetUser + `', 'f@example.com', 'x', now())`,
		`INSERT INTO homes (id, owner_id, name, created_at) SELECT gen_random_uuid(), '` + fleetUser + `', 'h' || i, now() FROM generate_series(1, 10000) i`,
		`INSERT INTO instance_status (home_id, state, health, updated_at)
			SELECT id, CASE WHEN random() < 0.01 THEN 'crash_loop' ELSE 'running' END, 'healthy', now() FROM homes LIMIT 5000`,
		`INSERT INTO instance_restarts (home_id, at, reason, recorded_at)
			SELECT home_id, now() - i * interval '1 hour', 'died', now() - i * interval '1 hour' FROM instance_status, generate_series(1, 20) i`,
		`INSERT INTO fleet_snapshots (at, homes, online, running, crash_loops, restarts)
			SELECT date_trunc('minute', now()) - i * interval '1 minute', 10000, 9000, 4900, 50, 3 FROM generate_series(1, 129600) i`,
		`ANALYZE`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	store := postgres.NewFleetStore(pool)
	b.Run("record", func(b *testing.B) {
		for b.Loop() {
			if err := store.Record(ctx, 9000); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, r := range fleet.Ranges {
		b.Run("history-"+r.Name, func(b *testing.B) {
			for b.Loop() {
				if _, err := fleet.History(ctx, store, r, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
