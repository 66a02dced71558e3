package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/homeplane/homeplane/central/internal/idempotency"
)

// IdempotencyStore keeps idempotency keys in PostgreSQL, shared by every
// replica of central.
type IdempotencyStore struct {
	pool *pgxpool.Pool
}

var _ idempotency.Store = (*IdempotencyStore)(nil)

// NewIdempotencyStore returns an IdempotencyStore on pool.
func NewIdempotencyStore(pool *pgxpool.Pool) *IdempotencyStore { return &IdempotencyStore{pool: pool} }

// Claim implements idempotency.Store. The insert is the claim: of two
// concurrent ones the primary key lets exactly one through; a key whose TTL
// passed, or whose run's lease lapsed, is taken over by the same statement.
func (s *IdempotencyStore) Claim(ctx context.Context, c idempotency.Claim) (idempotency.State, []byte, error) {
	if _, err := s.pool.Exec(ctx, "DELETE FROM idempotency_keys WHERE scope = $1 AND expires_at <= now()", string(c.Scope)); err != nil {
		return 0, nil, fmt.Errorf("claim idempotency key: %w", err)
	}
	state, answer, found, err := s.look(ctx, c)
	if err != nil || found && state != idempotency.Claimed {
		return state, answer, err
	}
	if !found {
		var live int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM idempotency_keys
			WHERE scope = $1 LIMIT $2) AS k`, string(c.Scope), c.MaxKeys).Scan(&live); err != nil {
			return 0, nil, fmt.Errorf("claim idempotency key: %w", err)
		}
		if live >= c.MaxKeys {
			return 0, nil, idempotency.ErrTooMany
		}
	}
	var claimed bool
	err = s.pool.QueryRow(ctx, `INSERT INTO idempotency_keys AS k (scope, key, fingerprint, locked_until, expires_at)
		VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond', now() + $5 * interval '1 millisecond')
		ON CONFLICT (scope, key) DO UPDATE SET locked_until = EXCLUDED.locked_until
		WHERE k.answer IS NULL AND k.locked_until <= now() AND k.fingerprint = EXCLUDED.fingerprint
		RETURNING true`,
		string(c.Scope), c.Key, c.Fingerprint, c.Lease.Milliseconds(), c.TTL.Milliseconds()).Scan(&claimed)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		// Someone else claimed it between the look and the insert.
		state, answer, _, err = s.look(ctx, c)
		if state == idempotency.Claimed {
			state = idempotency.Running
		}
		return state, answer, err
	case err != nil:
		return 0, nil, fmt.Errorf("claim idempotency key: %w", err)
	}
	return idempotency.Claimed, nil, nil
}

// look reads the key's row: found false when there is none; Claimed when
// its run's lease lapsed and it may be taken over.
func (s *IdempotencyStore) look(ctx context.Context, c idempotency.Claim) (idempotency.State, []byte, bool, error) {
	var fp, answer []byte
	var lapsed bool
	err := s.pool.QueryRow(ctx, `SELECT fingerprint, answer, locked_until <= now() FROM idempotency_keys
		WHERE scope = $1 AND key = $2`, string(c.Scope), c.Key).Scan(&fp, &answer, &lapsed)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, nil, false, nil
	case err != nil:
		return 0, nil, false, fmt.Errorf("claim idempotency key: %w", err)
	case !bytes.Equal(fp, c.Fingerprint):
		return idempotency.Mismatch, nil, true, nil
	case answer != nil:
		return idempotency.Done, answer, true, nil
	case lapsed:
		return idempotency.Claimed, nil, true, nil
	}
	return idempotency.Running, nil, true, nil
}

// Complete implements idempotency.Store.
func (s *IdempotencyStore) Complete(ctx context.Context, scope idempotency.Scope, key string, answer []byte) error {
	if answer == nil {
		answer = []byte{} // NULL means still running
	}
	if _, err := s.pool.Exec(ctx, "UPDATE idempotency_keys SET answer = $3 WHERE scope = $1 AND key = $2",
		string(scope), key, answer); err != nil {
		return fmt.Errorf("complete idempotency key: %w", err)
	}
	return nil
}

// Extend implements idempotency.Store.
func (s *IdempotencyStore) Extend(ctx context.Context, scope idempotency.Scope, key string, lease time.Duration) error {
	if _, err := s.pool.Exec(ctx, `UPDATE idempotency_keys SET locked_until = now() + $3 * interval '1 millisecond'
		WHERE scope = $1 AND key = $2 AND answer IS NULL`, string(scope), key, lease.Milliseconds()); err != nil {
		return fmt.Errorf("extend idempotency key: %w", err)
	}
	return nil
}

// Release implements idempotency.Store.
func (s *IdempotencyStore) Release(ctx context.Context, scope idempotency.Scope, key string) error {
	if _, err := s.pool.Exec(ctx, "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND answer IS NULL",
		string(scope), key); err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

// PurgeIdempotencyKeys deletes up to limit expired keys and returns how
// many; central calls it periodically so keys of callers that never come
// back do not pile up.
func (s *IdempotencyStore) PurgeIdempotencyKeys(ctx context.Context, limit int) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE ctid IN (
		SELECT ctid FROM idempotency_keys WHERE expires_at <= now() LIMIT $1)`, limit)
	if err != nil {
		return 0, fmt.Errorf("purge idempotency keys: %w", err)
	}
	return tag.RowsAffected(), nil
}
