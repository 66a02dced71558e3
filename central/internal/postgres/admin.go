package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/homeplane/homeplane/central/internal/admin"
	"github.com/homeplane/homeplane/central/internal/auth"
)

// AdminStore serves operators: every user and every home, unscoped.
type AdminStore struct {
	pool *pgxpool.Pool
}

var _ admin.Store = (*AdminStore)(nil)

// NewAdminStore returns an AdminStore on pool.
func NewAdminStore(pool *pgxpool.Pool) *AdminStore { return &AdminStore{pool: pool} }

func scanUser(row pgx.Row) (auth.User, error) {
	var u auth.User
	err := row.Scan(&u.ID, &u.Email, &u.Role, &u.Disabled, &u.CreatedAt)
	return u, err
}

// ListUsers implements admin.Store.
func (s *AdminStore) ListUsers(ctx context.Context, query, afterEmail string, limit int) ([]auth.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT id::text, email, role, disabled, created_at FROM users
		WHERE ($1 = '' OR strpos(email, $1) > 0) AND email > $2 ORDER BY email LIMIT $3`, query, afterEmail, limit)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.User, error) { return scanUser(r) })
}

// User implements admin.Store.
func (s *AdminStore) User(ctx context.Context, userID string) (auth.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT id::text, email, role, disabled, created_at FROM users
		WHERE id::text = $1`, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.User{}, admin.ErrNotFound
	}
	if err != nil {
		return auth.User{}, fmt.Errorf("user: %w", err)
	}
	return u, nil
}

// SetUserRole implements admin.Store: the role changes, the session version
// moves on and the refresh tokens are revoked in one transaction.
func (s *AdminStore) SetUserRole(ctx context.Context, userID, role string, now time.Time) error {
	return inTx(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET role = $2, session_version = session_version + 1
			WHERE id::text = $1`, userID, role)
		if err != nil {
			return fmt.Errorf("set role: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return admin.ErrNotFound
		}
		_, err = tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id::text = $1 AND revoked_at IS NULL`,
			userID, now)
		return err
	})
}

// ListHomes implements admin.Store.
func (s *AdminStore) ListHomes(ctx context.Context, afterID string, limit int) ([]admin.FleetHome, error) {
	rows, err := s.pool.Query(ctx, `SELECT h.id::text, h.owner_id::text, h.name, h.created_at, a.id IS NOT NULL,
			coalesce(a.hostname, ''), coalesce(a.version, ''),
			u.id::text, u.email, u.role, u.disabled, u.created_at
		FROM homes h JOIN users u ON u.id = h.owner_id LEFT JOIN agents a ON a.home_id = h.id
		WHERE h.id::text > $1 ORDER BY h.id::text LIMIT $2`, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("list homes: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (admin.FleetHome, error) {
		var f admin.FleetHome
		err := r.Scan(&f.Home.ID, &f.Home.OwnerID, &f.Home.Name, &f.Home.CreatedAt, &f.Home.Enrolled,
			&f.AgentHostname, &f.AgentVersion, &f.Owner.ID, &f.Owner.Email, &f.Owner.Role, &f.Owner.Disabled, &f.Owner.CreatedAt)
		return f, err
	})
}
