package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/homeplane/homeplane/central/internal/limits"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// LimitsStore keeps the instance limits operators set, one row per home.
type LimitsStore struct {
	pool *pgxpool.Pool
}

var _ limits.Store = (*LimitsStore)(nil)

// NewLimitsStore returns a LimitsStore on pool.
func NewLimitsStore(pool *pgxpool.Pool) *LimitsStore { return &LimitsStore{pool: pool} }

// Limits implements limits.Store; a home id that is no uuid has none.
func (s *LimitsStore) Limits(ctx context.Context, homeID string) (*homeplanev1.InstanceLimits, bool, error) {
	var l homeplanev1.InstanceLimits
	err := s.pool.QueryRow(ctx, `SELECT memory_bytes, nano_cpus FROM instance_limits WHERE home_id = $1`, homeID).
		Scan(&l.MemoryBytes, &l.NanoCpus)
	switch {
	case errors.Is(err, pgx.ErrNoRows), isCode(err, codeInvalidText):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("instance limits: %w", err)
	}
	return &l, true, nil
}

// SetLimits implements limits.Store.
func (s *LimitsStore) SetLimits(ctx context.Context, homeID string, l *homeplanev1.InstanceLimits) error {
	var err error
	if l == nil {
		var exists bool
		err = s.pool.QueryRow(ctx, `WITH gone AS (DELETE FROM instance_limits WHERE home_id = $1)
			SELECT EXISTS (SELECT 1 FROM homes WHERE id = $1)`, homeID).Scan(&exists)
		if err == nil && !exists {
			return limits.ErrNotFound
		}
	} else {
		_, err = s.pool.Exec(ctx, `INSERT INTO instance_limits (home_id, memory_bytes, nano_cpus, updated_at)
			VALUES ($1, $2, $3, now())
			ON CONFLICT (home_id) DO UPDATE SET memory_bytes = EXCLUDED.memory_bytes,
				nano_cpus = EXCLUDED.nano_cpus, updated_at = EXCLUDED.updated_at`,
			homeID, l.GetMemoryBytes(), l.GetNanoCpus())
	}
	if isCode(err, codeForeignKeyViolation) || isCode(err, codeInvalidText) {
		return limits.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("instance limits: %w", err)
	}
	return nil
}
