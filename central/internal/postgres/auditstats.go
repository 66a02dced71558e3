package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/homeplane/homeplane/central/internal/audit"
)

// IntentStats sums up the intent records of [since, until) per hour: how
// many, how many not ok, and the median and 95th percentile latency. Hours
// without requests are left out.
func (s *AuditStore) IntentStats(ctx context.Context, since, until time.Time) ([]audit.HourStats, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT date_trunc('hour', time) AS hour, count(*), count(*) FILTER (WHERE outcome <> 'ok'),
		       percentile_cont(0.5) WITHIN GROUP (ORDER BY total_us),
		       percentile_cont(0.95) WITHIN GROUP (ORDER BY total_us)
		FROM audit_records
		WHERE kind = $1 AND time >= $2 AND time < $3
		GROUP BY 1 ORDER BY 1`, audit.KindIntent, since, until)
	if err != nil {
		return nil, fmt.Errorf("intent stats: %w", err)
	}
	stats, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (audit.HourStats, error) {
		var h audit.HourStats
		err := r.Scan(&h.Hour, &h.Requests, &h.NotOK, &h.P50US, &h.P95US)
		h.Hour = h.Hour.UTC()
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("intent stats: %w", err)
	}
	return stats, nil
}
