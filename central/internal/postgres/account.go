package postgres

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/homeplane/homeplane/central/internal/auth"
)

var _ auth.KeyRotator = (*AuthStore)(nil)

// UserByID implements auth.Store.
func (s *AuthStore) UserByID(ctx context.Context, userID string) (auth.User, string, error) {
	var u auth.User
	var hash string
	err := s.pool.QueryRow(ctx, `SELECT id, email, role, disabled, created_at, session_version, password_hash
		FROM users WHERE id::text = $1`, userID).Scan(&u.ID, &u.Email, &u.Role, &u.Disabled, &u.CreatedAt, &u.SessionVersion, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.User{}, "", auth.ErrNotFound
	}
	if err != nil {
		return auth.User{}, "", fmt.Errorf("user by id: %w", err)
	}
	return u, hash, nil
}

// SessionState implements auth.Store.
func (s *AuthStore) SessionState(ctx context.Context, userID string) (auth.SessionState, error) {
	var st auth.SessionState
	err := s.pool.QueryRow(ctx, "SELECT session_version, disabled FROM users WHERE id::text = $1", userID).
		Scan(&st.Version, &st.Disabled)
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.SessionState{}, auth.ErrNotFound
	}
	if err != nil {
		return auth.SessionState{}, fmt.Errorf("session state: %w", err)
	}
	return st, nil
}

// ReplacePasswordHash implements auth.Store.
func (s *AuthStore) ReplacePasswordHash(ctx context.Context, userID, old, new string) error {
	tag, err := s.pool.Exec(ctx, "UPDATE users SET password_hash = $3 WHERE id::text = $1 AND password_hash = $2", userID, old, new)
	if err != nil {
		return fmt.Errorf("replace password hash: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return auth.ErrNotFound
	}
	return nil
}

// endSessions bumps the user's session version and revokes their refresh tokens.
func endSessions(ctx context.Context, tx pgx.Tx, userID string, now time.Time) error {
	if _, err := tx.Exec(ctx, "UPDATE users SET session_version = session_version + 1 WHERE id::text = $1", userID); err != nil {
		return fmt.Errorf("bump session version: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $2
		WHERE user_id::text = $1 AND revoked_at IS NULL`, userID, now); err != nil {
		return fmt.Errorf("revoke sessions: %w", err)
	}
	return nil
}

// SetPassword implements auth.Store.
func (s *AuthStore) SetPassword(ctx context.Context, userID, passwordHash string, now time.Time) error {
	return inTx(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE users SET password_hash = $2 WHERE id::text = $1", userID, passwordHash)
		if err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return auth.ErrNotFound
		}
		return endSessions(ctx, tx, userID, now)
	})
}

// CreatePasswordReset implements auth.Store.
func (s *AuthStore) CreatePasswordReset(ctx context.Context, r auth.PasswordReset) error {
	return inTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM password_resets WHERE user_id = $1", r.UserID); err != nil {
			return fmt.Errorf("drop older resets: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO password_resets (token_hash, user_id, created_at, expires_at)
			VALUES ($1, $2, $3, $4)`, r.Hash, r.UserID, r.Created, r.Expires); err != nil {
			return fmt.Errorf("create password reset: %w", err)
		}
		return nil
	})
}

// UsePasswordReset implements auth.Store. The conditional UPDATE makes the
// token single-use even when two requests race.
func (s *AuthStore) UsePasswordReset(ctx context.Context, hash []byte, passwordHash string, now time.Time) (string, error) {
	var userID string
	err := inTx(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE password_resets SET used_at = $2
			WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
			RETURNING user_id::text`, hash, now).Scan(&userID)
		if errors.Is(err, pgx.ErrNoRows) {
			return auth.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("use password reset: %w", err)
		}
		if _, err := tx.Exec(ctx, "UPDATE users SET password_hash = $2 WHERE id::text = $1", userID, passwordHash); err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		return endSessions(ctx, tx, userID, now)
	})
	if err != nil {
		return "", err
	}
	return userID, nil
}

// SetRoleByEmail gives the user with the email the role, for the operator's
// "users promote"; the user's sessions end so that no token keeps the old
// role. It returns auth.ErrNotFound for an unknown email.
func (s *AuthStore) SetRoleByEmail(ctx context.Context, email, role string, now time.Time) error {
	return inTx(ctx, s.pool, func(tx pgx.Tx) error {
		var id string
		err := tx.QueryRow(ctx, "UPDATE users SET role = $2 WHERE email = $1 RETURNING id::text", email, role).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return auth.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("set role: %w", err)
		}
		return endSessions(ctx, tx, id, now)
	})
}

func scanKeys(rows pgx.Rows) ([]auth.SigningKey, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.SigningKey, error) {
		var k auth.SigningKey
		var seed []byte
		if err := r.Scan(&k.ID, &seed, &k.CreatedAt); err != nil {
			return k, err
		}
		if len(seed) != ed25519.SeedSize {
			return k, fmt.Errorf("signing key %q: bad seed length", k.ID)
		}
		k.Private = ed25519.NewKeyFromSeed(seed)
		return k, nil
	})
}

// SigningKeys implements auth.KeyStore.
func (s *AuthStore) SigningKeys(ctx context.Context) ([]auth.SigningKey, error) {
	rows, err := s.pool.Query(ctx, "SELECT kid, seed, created_at FROM signing_keys ORDER BY created_at")
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	keys, err := scanKeys(rows)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	return keys, nil
}

// AddSigningKey implements auth.KeyRotator.
func (s *AuthStore) AddSigningKey(ctx context.Context, k auth.SigningKey) error {
	if _, err := s.pool.Exec(ctx, "INSERT INTO signing_keys (kid, seed, created_at) VALUES ($1, $2, $3)",
		k.ID, k.Private.Seed(), k.CreatedAt); err != nil {
		return fmt.Errorf("add signing key: %w", err)
	}
	return nil
}

// PruneSigningKeys implements auth.KeyRotator: a key goes once a newer key
// started signing before supersededBefore.
func (s *AuthStore) PruneSigningKeys(ctx context.Context, supersededBefore time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM signing_keys k WHERE EXISTS (
		SELECT 1 FROM signing_keys n WHERE n.created_at > k.created_at AND n.created_at <= $1)`, supersededBefore)
	if err != nil {
		return 0, fmt.Errorf("prune signing keys: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// Outbox is the default auth.Notifier: notices wait in a table that admins
// read (ListNotices) until a mail transport is configured.
type Outbox struct {
	pool *pgxpool.Pool
}

var _ auth.Notifier = (*Outbox)(nil)

// NewOutbox returns an Outbox on pool.
func NewOutbox(pool *pgxpool.Pool) *Outbox { return &Outbox{pool: pool} }

// Notify implements auth.Notifier.
func (o *Outbox) Notify(ctx context.Context, n auth.Notice) error {
	var userID *string
	if n.UserID != "" {
		userID = &n.UserID
	}
	if _, err := o.pool.Exec(ctx, `INSERT INTO notification_outbox (user_id, email, kind, body, created_at)
		VALUES ($1, $2, $3, $4, now())`, userID, n.Email, n.Kind, n.Body); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

// OutboxNotice is one notice as admins read it.
type OutboxNotice struct {
	ID int64
	auth.Notice
	CreatedAt time.Time
}

// ListNotices returns up to limit notices newer than afterID, oldest first.
func (o *Outbox) ListNotices(ctx context.Context, afterID int64, limit int) ([]OutboxNotice, error) {
	rows, err := o.pool.Query(ctx, `SELECT id, COALESCE(user_id::text, ''), email, kind, body, created_at
		FROM notification_outbox WHERE id > $1 ORDER BY id LIMIT $2`, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("list notices: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (OutboxNotice, error) {
		var n OutboxNotice
		err := r.Scan(&n.ID, &n.UserID, &n.Email, &n.Kind, &n.Body, &n.CreatedAt)
		return n, err
	})
}

// CreatePendingRegistration implements auth.Store.
func (s *AuthStore) CreatePendingRegistration(ctx context.Context, p auth.PendingRegistration) error {
	return inTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM pending_registrations WHERE expires_at <= $1", p.Created); err != nil {
			return fmt.Errorf("drop expired registrations: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO pending_registrations (token_hash, email, password_hash, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5)`, p.Hash, p.Email, p.PasswordHash, p.Created, p.Expires); err != nil {
			return fmt.Errorf("create pending registration: %w", err)
		}
		return nil
	})
}

// ConfirmRegistration implements auth.Store. The DELETE makes the token
// single-use even when two requests race; the other pending registrations
// of the address go with it.
func (s *AuthStore) ConfirmRegistration(ctx context.Context, hash []byte, u auth.User, now time.Time) (auth.User, error) {
	err := inTx(ctx, s.pool, func(tx pgx.Tx) error {
		var phc string
		err := tx.QueryRow(ctx, `DELETE FROM pending_registrations WHERE token_hash = $1 AND expires_at > $2
			RETURNING email, password_hash`, hash, now).Scan(&u.Email, &phc)
		if errors.Is(err, pgx.ErrNoRows) {
			return auth.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("confirm registration: %w", err)
		}
		if _, err := tx.Exec(ctx, "DELETE FROM pending_registrations WHERE email = $1", u.Email); err != nil {
			return fmt.Errorf("confirm registration: %w", err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO users (id, email, password_hash, role, disabled, created_at)
			VALUES ($1, $2, $3, $4, false, $5)`, u.ID, u.Email, phc, u.Role, u.CreatedAt)
		if isCode(err, codeUniqueViolation) {
			return auth.ErrEmailTaken
		}
		if err != nil {
			return fmt.Errorf("confirm registration: %w", err)
		}
		return nil
	})
	if err != nil {
		return auth.User{}, err
	}
	return u, nil
}
