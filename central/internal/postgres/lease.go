package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/homeplane/homeplane/central/internal/timer"
)

// Lease is a named lease in PostgreSQL: one replica of central holds it at
// a time, judged by the database's clock so that replicas' clocks need not
// agree.
type Lease struct {
	pool *pgxpool.Pool
	name string
}

var _ timer.Lease = (*Lease)(nil)

// NewLease returns the lease name on pool ("timers").
func NewLease(pool *pgxpool.Pool, name string) *Lease { return &Lease{pool: pool, name: name} }

// Hold implements timer.Lease.
func (l *Lease) Hold(ctx context.Context, holder string, ttl time.Duration) (bool, error) {
	var got string
	err := l.pool.QueryRow(ctx, `INSERT INTO leases AS l (name, holder, expires_at)
		VALUES ($1, $2, now() + $3 * interval '1 millisecond')
		ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
		WHERE l.holder = EXCLUDED.holder OR l.expires_at <= now()
		RETURNING holder`, l.name, holder, ttl.Milliseconds()).Scan(&got)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("hold lease %s: %w", l.name, err)
	}
	return got == holder, nil
}

// Release implements timer.Lease.
func (l *Lease) Release(ctx context.Context, holder string) error {
	if _, err := l.pool.Exec(ctx, "DELETE FROM leases WHERE name = $1 AND holder = $2", l.name, holder); err != nil {
		return fmt.Errorf("release lease %s: %w", l.name, err)
	}
	return nil
}
