package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/homeplane/homeplane/central/internal/home"
)

// DeleteAgent implements home.Store.
func (s *HomeStore) DeleteAgent(ctx context.Context, ownerID, homeID string) (string, error) {
	var agentID string
	err := inTx(ctx, s.pool, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM homes WHERE id = $2 AND owner_id = $1)",
			ownerID, homeID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return home.ErrNotFound
		}
		err := tx.QueryRow(ctx, "DELETE FROM agents WHERE home_id = $1 RETURNING id::text", homeID).Scan(&agentID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	return agentID, err
}

// RevokeEnrollmentTokens implements home.Store: a revoked token is marked
// used, which Enroll already refuses.
func (s *HomeStore) RevokeEnrollmentTokens(ctx context.Context, ownerID, homeID string, now time.Time) (int, error) {
	var n int
	err := inTx(ctx, s.pool, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM homes WHERE id = $2 AND owner_id = $1)",
			ownerID, homeID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return home.ErrNotFound
		}
		tag, err := tx.Exec(ctx, `UPDATE enrollment_tokens SET used_at = $2
			WHERE home_id = $1 AND used_at IS NULL AND expires_at > $2`, homeID, now)
		n = int(tag.RowsAffected())
		return err
	})
	return n, err
}
