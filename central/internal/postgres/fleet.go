package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/homeplane/homeplane/central/internal/fleet"
)

// FleetStore keeps the fleet's snapshots, one row per minute.
type FleetStore struct {
	pool *pgxpool.Pool
}

var _ fleet.Store = (*FleetStore)(nil)

// NewFleetStore returns a FleetStore on pool.
func NewFleetStore(pool *pgxpool.Pool) *FleetStore { return &FleetStore{pool: pool} }

// Record implements fleet.Store in one statement, by the database's clock:
// the restarts are those recorded since the previous snapshot's minute up
// to this one, so each counts once however snapshots are spaced.
func (s *FleetStore) Record(ctx context.Context, online int) error {
	_, err := s.pool.Exec(ctx, `
		WITH m AS (SELECT date_trunc('minute', now()) AS at),
		prev AS (SELECT coalesce((SELECT max(at) FROM fleet_snapshots WHERE at < m.at), m.at) AS at FROM m),
		h AS (SELECT count(*) AS n FROM homes)
		INSERT INTO fleet_snapshots (at, homes, online, running, crash_loops, restarts)
		SELECT m.at, h.n, least(greatest($1::int, 0), h.n),
			(SELECT count(*) FROM instance_status WHERE state = 'running' AND health <> 'unhealthy'),
			(SELECT count(*) FROM instance_status WHERE state = 'crash_loop'),
			(SELECT count(*) FROM instance_restarts WHERE recorded_at >= prev.at AND recorded_at < m.at)
		FROM m, prev, h
		ON CONFLICT (at) DO NOTHING`, online)
	if err != nil {
		return fmt.Errorf("record fleet snapshot: %w", err)
	}
	return nil
}

// Prune implements fleet.Store.
func (s *FleetStore) Prune(ctx context.Context, keep time.Duration) (int64, error) {
	tag, err := s.pool.Exec(ctx, "DELETE FROM fleet_snapshots WHERE at < now() - $1 * interval '1 millisecond'", keep.Milliseconds())
	if err != nil {
		return 0, fmt.Errorf("prune fleet snapshots: %w", err)
	}
	return tag.RowsAffected(), nil
}

// History implements fleet.Store; buckets start at multiples of bucket
// since the Unix epoch.
func (s *FleetStore) History(ctx context.Context, since, until time.Time, bucket time.Duration) ([]fleet.Point, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT date_bin($3 * interval '1 millisecond', at, 'epoch'::timestamptz) AS b, count(*),
			avg(homes)::float8, avg(online)::float8, avg(running)::float8, avg(crash_loops)::float8, sum(restarts)
		FROM fleet_snapshots WHERE at >= $1 AND at < $2
		GROUP BY b ORDER BY b`, since, until, bucket.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("fleet history: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (fleet.Point, error) {
		var p fleet.Point
		err := r.Scan(&p.At, &p.Minutes, &p.Homes, &p.Online, &p.Running, &p.CrashLoops, &p.Restarts)
		p.At = p.At.UTC()
		return p, err
	})
}
