package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/homeplane/homeplane/central/internal/timer"
)

// TimerStore keeps voice timers in PostgreSQL so that they survive a
// restart of central.
type TimerStore struct {
	pool *pgxpool.Pool
}

var _ timer.Store = (*TimerStore)(nil)

// NewTimerStore returns a TimerStore on pool.
func NewTimerStore(pool *pgxpool.Pool) *TimerStore { return &TimerStore{pool: pool} }

// Save implements timer.Store.
func (s *TimerStore) Save(ctx context.Context, t timer.Timer) error {
	if !isHomeUUID(t.Owner.HomeID) {
		return fmt.Errorf("store timer: home %q: not a home id", t.Owner.HomeID)
	}
	var endsAt *time.Time
	var left *int64
	if t.Paused {
		ms := t.Left.Milliseconds()
		left = &ms
	} else {
		endsAt = &t.EndsAt
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO timers (id, home_id, owner, name, area, start_ms, ends_at, left_ms, command, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now())
		ON CONFLICT (id) DO UPDATE SET home_id = EXCLUDED.home_id, owner = EXCLUDED.owner, name = EXCLUDED.name,
			area = EXCLUDED.area, start_ms = EXCLUDED.start_ms, ends_at = EXCLUDED.ends_at, left_ms = EXCLUDED.left_ms,
			command = EXCLUDED.command, updated_at = EXCLUDED.updated_at`,
		t.ID, t.Owner.HomeID, t.Owner.DeviceID, t.Name, t.Area, t.Start.Milliseconds(), endsAt, left, t.Command)
	if err != nil {
		return fmt.Errorf("store timer: %w", err)
	}
	return nil
}

// Delete implements timer.Store.
func (s *TimerStore) Delete(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, "DELETE FROM timers WHERE id = $1", id)
	if err != nil {
		return fmt.Errorf("delete timer: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete timer %s: %w", id, timer.ErrNotFound)
	}
	return nil
}

// DeleteDue implements timer.Store.
func (s *TimerStore) DeleteDue(ctx context.Context, id string, now time.Time) error {
	tag, err := s.pool.Exec(ctx, "DELETE FROM timers WHERE id = $1 AND ends_at IS NOT NULL AND ends_at <= $2", id, now)
	if err != nil {
		return fmt.Errorf("delete due timer: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete due timer %s: %w", id, timer.ErrNotFound)
	}
	return nil
}

// Load implements timer.Store.
func (s *TimerStore) Load(ctx context.Context) ([]timer.Timer, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, home_id::text, owner, name, area, start_ms, ends_at, left_ms, command
		FROM timers ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("load timers: %w", err)
	}
	defer rows.Close()
	var out []timer.Timer
	for rows.Next() {
		var t timer.Timer
		var startMS int64
		var endsAt *time.Time
		var left *int64
		if err := rows.Scan(&t.ID, &t.Owner.HomeID, &t.Owner.DeviceID, &t.Name, &t.Area, &startMS, &endsAt, &left, &t.Command); err != nil {
			return nil, fmt.Errorf("load timers: %w", err)
		}
		t.Start = time.Duration(startMS) * time.Millisecond
		if left != nil {
			t.Paused, t.Left = true, time.Duration(*left)*time.Millisecond
		} else if endsAt != nil {
			t.EndsAt = *endsAt
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load timers: %w", err)
	}
	return out, nil
}
