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

// AuthStore keeps users, refresh tokens and signing keys.
type AuthStore struct {
	pool *pgxpool.Pool
}

var _ auth.Store = (*AuthStore)(nil)

// NewAuthStore returns an AuthStore on pool.
func NewAuthStore(pool *pgxpool.Pool) *AuthStore { return &AuthStore{pool: pool} }

// signingKeyLock serializes the first-key insert across replicas.
const signingKeyLock int64 = 0x686f6d65_6b657973

// EnsureSigningKey implements auth.KeyStore.
func (s *AuthStore) EnsureSigningKey(ctx context.Context, candidate auth.SigningKey) ([]auth.SigningKey, error) {
	var keys []auth.SigningKey
	err := inTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", signingKeyLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO signing_keys (kid, seed, created_at)
			SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM signing_keys)`,
			candidate.ID, candidate.Private.Seed(), candidate.CreatedAt); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT kid, seed, created_at FROM signing_keys ORDER BY created_at")
		if err != nil {
			return err
		}
		keys, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.SigningKey, error) {
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
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	return keys, nil
}

// CreateUser implements auth.Store.
func (s *AuthStore) CreateUser(ctx context.Context, u auth.User, passwordHash string) (auth.User, error) {
	err := s.pool.QueryRow(ctx, `INSERT INTO users (id, email, password_hash, role, disabled, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING created_at`,
		u.ID, u.Email, passwordHash, u.Role, u.Disabled, u.CreatedAt).Scan(&u.CreatedAt)
	if isCode(err, codeUniqueViolation) {
		return auth.User{}, auth.ErrEmailTaken
	}
	if err != nil {
		return auth.User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// UserByEmail implements auth.Store.
func (s *AuthStore) UserByEmail(ctx context.Context, email string) (auth.User, string, error) {
	var u auth.User
	var hash string
	err := s.pool.QueryRow(ctx, `SELECT id, email, role, disabled, created_at, session_version, password_hash
		FROM users WHERE email = $1`, email).Scan(&u.ID, &u.Email, &u.Role, &u.Disabled, &u.CreatedAt, &u.SessionVersion, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.User{}, "", auth.ErrNotFound
	}
	if err != nil {
		return auth.User{}, "", fmt.Errorf("user by email: %w", err)
	}
	return u, hash, nil
}

// SetUserDisabled disables or re-enables a user; disabling also ends their
// sessions (refresh tokens revoked, session version bumped so that access
// tokens stop working). It returns auth.ErrNotFound for an unknown id.
func (s *AuthStore) SetUserDisabled(ctx context.Context, userID string, disabled bool, now time.Time) error {
	return inTx(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET disabled = $2,
			session_version = session_version + CASE WHEN $2 THEN 1 ELSE 0 END
			WHERE id::text = $1`, userID, disabled)
		if err != nil {
			return fmt.Errorf("set user disabled: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return auth.ErrNotFound
		}
		if disabled {
			if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $2
				WHERE user_id::text = $1 AND revoked_at IS NULL`, userID, now); err != nil {
				return fmt.Errorf("revoke sessions: %w", err)
			}
		}
		return nil
	})
}

// CreateRefreshToken implements auth.Store.
func (s *AuthStore) CreateRefreshToken(ctx context.Context, t auth.RefreshToken) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO refresh_tokens
		(token_hash, family_id, user_id, created_at, expires_at, family_expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		t.Hash, t.FamilyID, t.UserID, t.Created, t.Expires, t.FamilyExpires)
	if err != nil {
		return fmt.Errorf("create refresh token: %w", err)
	}
	return nil
}

// RotateRefreshToken implements auth.Store. The row lock makes concurrent
// refreshes with one token queue up: the first rotates it, the others then
// see it used.
func (s *AuthStore) RotateRefreshToken(ctx context.Context, hash []byte, now time.Time,
	decide func(auth.RefreshState) (auth.Rotation, error)) error {
	var decision error
	err := inTx(ctx, s.pool, func(tx pgx.Tx) error {
		var st auth.RefreshState
		var rotated, revoked *time.Time
		err := tx.QueryRow(ctx, `SELECT r.family_id, r.user_id, r.created_at, r.expires_at, r.family_expires_at,
				r.rotated_at, r.revoked_at, u.id, u.email, u.role, u.disabled, u.created_at, u.session_version
			FROM refresh_tokens r JOIN users u ON u.id = r.user_id
			WHERE r.token_hash = $1 FOR UPDATE OF r`, hash).Scan(
			&st.Token.FamilyID, &st.Token.UserID, &st.Token.Created, &st.Token.Expires, &st.Token.FamilyExpires,
			&rotated, &revoked, &st.User.ID, &st.User.Email, &st.User.Role, &st.User.Disabled, &st.User.CreatedAt,
			&st.User.SessionVersion)
		if errors.Is(err, pgx.ErrNoRows) {
			return auth.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("lock refresh token: %w", err)
		}
		st.Token.Hash = hash
		if rotated != nil {
			st.Rotated = *rotated
		}
		if revoked != nil {
			st.Revoked = *revoked
		}
		rot, derr := decide(st)
		decision = derr
		switch {
		case rot.RevokeFamily:
			if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $2
				WHERE family_id = $1 AND revoked_at IS NULL`, st.Token.FamilyID, now); err != nil {
				return fmt.Errorf("revoke refresh family: %w", err)
			}
		case rot.Next != nil && derr == nil:
			if _, err := tx.Exec(ctx, "UPDATE refresh_tokens SET rotated_at = $2 WHERE token_hash = $1", hash, now); err != nil {
				return fmt.Errorf("mark refresh token used: %w", err)
			}
			n := rot.Next
			if _, err := tx.Exec(ctx, `INSERT INTO refresh_tokens
				(token_hash, family_id, user_id, created_at, expires_at, family_expires_at)
				VALUES ($1, $2, $3, $4, $5, $6)`,
				n.Hash, n.FamilyID, n.UserID, n.Created, n.Expires, n.FamilyExpires); err != nil {
				return fmt.Errorf("store rotated refresh token: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return decision
}

// RevokeRefreshFamily implements auth.Store.
func (s *AuthStore) RevokeRefreshFamily(ctx context.Context, hash []byte, now time.Time) (string, error) {
	var family string
	err := s.pool.QueryRow(ctx, `SELECT family_id::text FROM refresh_tokens WHERE token_hash = $1`, hash).Scan(&family)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err == nil {
		_, err = s.pool.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $2
			WHERE family_id = $1 AND revoked_at IS NULL`, family, now)
	}
	if err != nil {
		return "", fmt.Errorf("revoke refresh family: %w", err)
	}
	return family, nil
}

// RefreshFamilyLive implements auth.Store.
func (s *AuthStore) RefreshFamilyLive(ctx context.Context, familyID string) (bool, error) {
	var live bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM refresh_tokens
		WHERE family_id = $1::uuid AND revoked_at IS NULL)`, familyID).Scan(&live)
	if err != nil {
		return false, fmt.Errorf("refresh family: %w", err)
	}
	return live, nil
}
