package postgres

import (
	"context"
	"fmt"
	"maps"
	"slices"
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

// usageChunk bounds the homes whose samples one transaction records: each
// takes an advisory lock, and those share PostgreSQL's lock table.
const usageChunk = 500

// AddSamples implements usage.Store. Per chunk of homes, in one transaction:
// lock the homes (replicas recording samples of one home take turns, so
// the last to commit recomputes from every sample), insert the samples
// that are new, and recompute the hours they touch. Recomputing overwrites
// the rollup, so running it again, on any replica, changes nothing.
func (s *UsageStore) AddSamples(ctx context.Context, samples []usage.HomeSample, maxGap time.Duration) error {
	byHome := map[string][]usage.HomeSample{}
	for _, x := range samples {
		byHome[x.HomeID] = append(byHome[x.HomeID], x)
	}
	homes := slices.Sorted(maps.Keys(byHome))
	for len(homes) > 0 {
		n := min(len(homes), usageChunk)
		var chunk []usage.HomeSample
		for _, h := range homes[:n] {
			chunk = append(chunk, byHome[h]...)
		}
		if err := s.addSamples(ctx, homes[:n], chunk, maxGap); err != nil {
			return err
		}
		homes = homes[n:]
	}
	return nil
}

func (s *UsageStore) addSamples(ctx context.Context, homes []string, samples []usage.HomeSample, maxGap time.Duration) error {
	ids := make([]string, len(samples))
	times := make([]time.Time, len(samples))
	cpu := make([]float64, len(samples))
	mem := make([]int64, len(samples))
	for i, x := range samples {
		ids[i], times[i], cpu[i], mem[i] = x.HomeID, x.Time, x.CPUPercent, int64(x.MemoryBytes)
	}
	gap := maxGap.Seconds()
	return inTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(k)
			FROM (SELECT DISTINCT hashtextextended('usage:' || h, 0) AS k FROM unnest($1::text[]) h ORDER BY k) l`, homes); err != nil {
			return fmt.Errorf("add usage samples: lock: %w", err)
		}
		// The hours a new sample changes: its own, and the one its
		// successor (at most maxGap later) may fall in.
		rows, err := tx.Query(ctx, `WITH n AS (
				INSERT INTO usage_samples (home_id, time, cpu_percent, memory_bytes)
				SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::float8[], $4::int8[])
				ON CONFLICT DO NOTHING RETURNING home_id, time)
			SELECT DISTINCT home_id, h FROM n, LATERAL (VALUES (date_trunc('hour', n.time)),
				(date_trunc('hour', n.time + $5 * interval '1 second'))) v(h)`, ids, times, cpu, mem, gap)
		if err != nil {
			return fmt.Errorf("add usage samples: %w", err)
		}
		var dirtyHomes []string
		var dirtyHours []time.Time
		var h string
		var hour time.Time
		if _, err := pgx.ForEachRow(rows, []any{&h, &hour}, func() error {
			dirtyHomes, dirtyHours = append(dirtyHomes, h), append(dirtyHours, hour)
			return nil
		}); err != nil {
			return fmt.Errorf("add usage samples: %w", err)
		}
		if len(dirtyHomes) == 0 {
			return nil
		}
		// A sample stands for the time since the home's previous one, at
		// most maxGap; without one that recent, for maxGap, unless it is
		// the first sample kept.
		if _, err := tx.Exec(ctx, `WITH d AS (
				SELECT * FROM unnest($1::uuid[], $2::timestamptz[]) AS d(home_id, hour)
			), s AS (
				SELECT d.home_id, d.hour, x.time, x.cpu_percent, x.memory_bytes,
					extract(epoch FROM x.time - lag(x.time) OVER (PARTITION BY d.home_id, d.hour ORDER BY x.time)) AS gap
				FROM d JOIN usage_samples x ON x.home_id = d.home_id
					AND x.time >= d.hour - $3 * interval '1 second' AND x.time < d.hour + interval '1 hour'
			), b AS (
				SELECT home_id, hour, cpu_percent, memory_bytes,
					CASE WHEN gap IS NOT NULL THEN least(gap, $3)
						WHEN EXISTS (SELECT 1 FROM usage_samples p WHERE p.home_id = s.home_id AND p.time < s.time) THEN $3
					END AS secs
				FROM s WHERE time >= hour
			)
			INSERT INTO usage_hourly (home_id, hour, cpu_core_seconds, memory_gib_seconds, samples)
			SELECT home_id, hour, sum(cpu_percent / 100 * secs), sum(memory_bytes / 1073741824.0 * secs), count(*)
			FROM b WHERE secs IS NOT NULL GROUP BY home_id, hour
			ON CONFLICT (home_id, hour) DO UPDATE SET cpu_core_seconds = excluded.cpu_core_seconds,
				memory_gib_seconds = excluded.memory_gib_seconds, samples = excluded.samples`,
			dirtyHomes, dirtyHours, gap); err != nil {
			return fmt.Errorf("roll up usage: %w", err)
		}
		return nil
	})
}

// PurgeSamples implements usage.Store, in batches so that a large backlog
// does not hold one long transaction.
func (s *UsageStore) PurgeSamples(ctx context.Context, before time.Time) error {
	for {
		tag, err := s.pool.Exec(ctx, `DELETE FROM usage_samples WHERE ctid = ANY (ARRAY(
			SELECT ctid FROM usage_samples WHERE time < $1 LIMIT 10000))`, before)
		if err != nil {
			return fmt.Errorf("purge usage samples: %w", err)
		}
		if tag.RowsAffected() < 10000 {
			return nil
		}
	}
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
