package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/homeplane/homeplane/central/internal/usage"
)

// UsageStore keeps the hourly resource rollups and sums them for reports.
type UsageStore struct {
	pool *pgxpool.Pool
}

var (
	_ usage.Store       = (*UsageStore)(nil)
	_ usage.ReportStore = (*UsageStore)(nil)
)

// NewUsageStore returns a UsageStore on pool.
func NewUsageStore(pool *pgxpool.Pool) *UsageStore { return &UsageStore{pool: pool} }

// AddHourly implements usage.Store in one batch.
func (s *UsageStore) AddHourly(ctx context.Context, rows []usage.Hourly) error {
	b := &pgx.Batch{}
	for _, r := range rows {
		b.Queue(`INSERT INTO usage_hourly (home_id, hour, cpu_core_seconds, memory_gib_seconds, samples)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (home_id, hour) DO UPDATE SET
				cpu_core_seconds = usage_hourly.cpu_core_seconds + excluded.cpu_core_seconds,
				memory_gib_seconds = usage_hourly.memory_gib_seconds + excluded.memory_gib_seconds,
				samples = usage_hourly.samples + excluded.samples`,
			r.HomeID, r.Hour, r.CPUCoreSeconds, r.MemoryGiBSeconds, r.Samples)
	}
	return inTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("add usage: %w", err)
		}
		return nil
	})
}

// HomeUsage implements usage.ReportStore: the rollups of every existing
// home plus its intents counted from the audit log.
func (s *UsageStore) HomeUsage(ctx context.Context, since, until time.Time) ([]usage.HomeUsage, error) {
	rows, err := s.pool.Query(ctx, `
		WITH r AS (
			SELECT home_id, sum(cpu_core_seconds) / 3600 AS cpu, sum(memory_gib_seconds) / 3600 AS mem
			FROM usage_hourly WHERE hour >= $1 AND hour < $2 GROUP BY home_id
		), i AS (
			SELECT home_id, count(*) AS n FROM audit_records
			WHERE kind = 'intent' AND time >= $1 AND time < $2 AND home_id <> '' GROUP BY home_id
		)
		SELECT h.id::text, u.id::text, u.email, coalesce(r.cpu, 0), coalesce(r.mem, 0), coalesce(i.n, 0)
		FROM homes h JOIN users u ON u.id = h.owner_id
		LEFT JOIN r ON r.home_id = h.id LEFT JOIN i ON i.home_id = h.id::text
		ORDER BY u.email, h.id`, since, until)
	if err != nil {
		return nil, fmt.Errorf("home usage: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (usage.HomeUsage, error) {
		var h usage.HomeUsage
		err := r.Scan(&h.HomeID, &h.UserID, &h.Email, &h.CPUCoreHours, &h.MemoryGiBHours, &h.Intents)
		return h, err
	})
}

// DailyUsage implements usage.ReportStore: the homes of the scope that
// exist now, their rollups and intents summed per UTC day.
func (s *UsageStore) DailyUsage(ctx context.Context, since, until time.Time, sc usage.Scope) ([]usage.DayUsage, error) {
	rows, err := s.pool.Query(ctx, `
		WITH sel AS (
			SELECT id FROM homes WHERE ($3 = '' OR owner_id::text = $3) AND ($4 = '' OR id::text = $4)
		), r AS (
			SELECT date_bin('1 day', hour, 'epoch'::timestamptz) AS day,
				sum(cpu_core_seconds) / 3600 AS cpu, sum(memory_gib_seconds) / 3600 AS mem
			FROM usage_hourly WHERE hour >= $1 AND hour < $2 AND home_id IN (SELECT id FROM sel) GROUP BY 1
		), i AS (
			SELECT date_bin('1 day', time, 'epoch'::timestamptz) AS day, count(*) AS n FROM audit_records
			WHERE kind = 'intent' AND time >= $1 AND time < $2 AND home_id IN (SELECT id::text FROM sel) GROUP BY 1
		)
		SELECT coalesce(r.day, i.day), coalesce(r.cpu, 0), coalesce(r.mem, 0), coalesce(i.n, 0)
		FROM r FULL JOIN i ON i.day = r.day ORDER BY 1`, since, until, sc.UserID, sc.HomeID)
	if err != nil {
		return nil, fmt.Errorf("daily usage: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (usage.DayUsage, error) {
		var d usage.DayUsage
		err := r.Scan(&d.Day, &d.CPUCoreHours, &d.MemoryGiBHours, &d.Intents)
		d.Day = d.Day.UTC()
		return d, err
	})
}

// History returns a home's hourly rollups since the given time, oldest first.
func (s *UsageStore) History(ctx context.Context, homeID string, since time.Time) ([]usage.Hourly, error) {
	rows, err := s.pool.Query(ctx, `SELECT home_id::text, hour, cpu_core_seconds, memory_gib_seconds, samples
		FROM usage_hourly WHERE home_id::text = $1 AND hour >= $2 ORDER BY hour`, homeID, since)
	if err != nil {
		return nil, fmt.Errorf("usage history: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (usage.Hourly, error) {
		var h usage.Hourly
		err := r.Scan(&h.HomeID, &h.Hour, &h.CPUCoreSeconds, &h.MemoryGiBSeconds, &h.Samples)
		return h, err
	})
}
