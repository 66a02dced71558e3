package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/central/internal/instance"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// codeInvalidText is what a home id that is no uuid gets from PostgreSQL.
const codeInvalidText = "22P02"

// InstanceStore keeps each home's latest Home Assistant status (one row) and
// its recent restarts.
type InstanceStore struct {
	pool *pgxpool.Pool
}

var _ instance.Store = (*InstanceStore)(nil)

// NewInstanceStore returns an InstanceStore on pool.
func NewInstanceStore(pool *pgxpool.Pool) *InstanceStore { return &InstanceStore{pool: pool} }

// LoadInstances implements instance.Store.
func (s *InstanceStore) LoadInstances(ctx context.Context) ([]instance.Record, error) {
	rows, err := s.pool.Query(ctx, `SELECT home_id::text, state, health, mode, image, version, started_at, restarts,
		cpu_percent, memory_bytes, memory_limit_bytes, last_event, last_event_reason, last_event_at, updated_at
		FROM instance_status`)
	if err != nil {
		return nil, fmt.Errorf("load instances: %w", err)
	}
	byHome := map[string]*homeplanev1.Instance{}
	var out []instance.Record
	for rows.Next() {
		var (
			id                  string
			in                  homeplanev1.Instance
			started, event      *time.Time
			updated             time.Time
			memory, memoryLimit int64
		)
		if err := rows.Scan(&id, &in.State, &in.Health, &in.Mode, &in.Image, &in.Version, &started, &in.Restarts,
			&in.CpuPercent, &memory, &memoryLimit, &in.LastEvent, &in.LastEventReason, &event, &updated); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load instances: %w", err)
		}
		in.MemoryBytes, in.MemoryLimitBytes = uint64(max(memory, 0)), uint64(max(memoryLimit, 0))
		in.StartedAt, in.LastEventTime, in.UpdatedAt = optTime(started), optTime(event), timestamppb.New(updated)
		byHome[id] = &in
		out = append(out, instance.Record{HomeID: id, Status: &in})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load instances: %w", err)
	}
	// Oldest first, as the service keeps them; it lists them newest first.
	rows, err = s.pool.Query(ctx, "SELECT home_id::text, at, reason FROM instance_restarts ORDER BY home_id, at")
	if err != nil {
		return nil, fmt.Errorf("load restarts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, reason string
		var at time.Time
		if err := rows.Scan(&id, &at, &reason); err != nil {
			return nil, fmt.Errorf("load restarts: %w", err)
		}
		if in := byHome[id]; in != nil {
			in.RecentRestarts = append(in.RecentRestarts, &homeplanev1.Restart{Time: timestamppb.New(at), Reason: reason})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load restarts: %w", err)
	}
	return out, nil
}

func optTime(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}

func tsOrNil(ts *timestamppb.Timestamp) *time.Time {
	if !ts.IsValid() || ts.AsTime().IsZero() {
		return nil
	}
	t := ts.AsTime()
	return &t
}

// clampInt64 keeps a uint64 from the wire inside bigint.
func clampInt64(v uint64) int64 {
	const maxInt64 = 1<<63 - 1
	if v > maxInt64 {
		return maxInt64
	}
	return int64(v)
}

// SaveInstance implements instance.Store.
func (s *InstanceStore) SaveInstance(ctx context.Context, homeID string, in *homeplanev1.Instance, added []instance.Restart, keep int) error {
	updated := time.Now()
	if t := tsOrNil(in.GetUpdatedAt()); t != nil {
		updated = *t
	}
	err := inTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO instance_status (home_id, state, health, mode, image, version, started_at,
			restarts, cpu_percent, memory_bytes, memory_limit_bytes, last_event, last_event_reason, last_event_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
			ON CONFLICT (home_id) DO UPDATE SET state = $2, health = $3, mode = $4, image = $5, version = $6,
			started_at = $7, restarts = $8, cpu_percent = $9, memory_bytes = $10, memory_limit_bytes = $11,
			last_event = $12, last_event_reason = $13, last_event_at = $14, updated_at = $15`,
			homeID, in.GetState(), in.GetHealth(), in.GetMode(), in.GetImage(), in.GetVersion(), tsOrNil(in.GetStartedAt()),
			in.GetRestarts(), in.GetCpuPercent(), clampInt64(in.GetMemoryBytes()), clampInt64(in.GetMemoryLimitBytes()),
			in.GetLastEvent(), in.GetLastEventReason(), tsOrNil(in.GetLastEventTime()), updated); err != nil {
			return err
		}
		if len(added) == 0 {
			return nil
		}
		b := &pgx.Batch{}
		for _, r := range added {
			b.Queue("INSERT INTO instance_restarts (home_id, at, reason) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
				homeID, r.Time, r.Reason)
		}
		b.Queue(`DELETE FROM instance_restarts WHERE home_id = $1 AND at < (
			SELECT at FROM instance_restarts WHERE home_id = $1 ORDER BY at DESC OFFSET $2 LIMIT 1)`, homeID, keep-1)
		return tx.SendBatch(ctx, b).Close()
	})
	if isCode(err, codeForeignKeyViolation) || isCode(err, codeInvalidText) {
		return fmt.Errorf("save instance: %w", instance.ErrUnknownHome)
	}
	if err != nil {
		return fmt.Errorf("save instance: %w", err)
	}
	return nil
}

// ForgetInstance implements instance.Store.
func (s *InstanceStore) ForgetInstance(ctx context.Context, homeID string) error {
	err := inTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM instance_restarts WHERE home_id = $1", homeID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "DELETE FROM instance_status WHERE home_id = $1", homeID)
		return err
	})
	if isCode(err, codeInvalidText) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("forget instance: %w", err)
	}
	return nil
}

// InstanceHomes implements instance.Store.
func (s *InstanceStore) InstanceHomes(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, "SELECT home_id::text FROM instance_status")
	if err != nil {
		return nil, fmt.Errorf("list instance homes: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list instance homes: %w", err)
	}
	return ids, nil
}
