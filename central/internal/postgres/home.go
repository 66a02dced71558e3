package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/central/internal/intent"
)

// HomeStore keeps homes, devices, enrollment tokens and agents. Every
// owner-scoped statement names the owner in its WHERE clause.
type HomeStore struct {
	pool *pgxpool.Pool
	// logins, when set, serves agents' logins (AgentSecret).
	logins *pgxpool.Pool
}

// WithLoginPool returns the store with agents' logins on a pool of their
// own. On the shared pool a reconnect storm's entity syncs take every
// connection and the logins queue behind them until the broker gives up on
// them; a login is one indexed read, so a few connections serve thousands.
func (s *HomeStore) WithLoginPool(logins *pgxpool.Pool) *HomeStore {
	c := *s
	c.logins = logins
	return &c
}

var _ home.Store = (*HomeStore)(nil)

// NewHomeStore returns a HomeStore on pool.
func NewHomeStore(pool *pgxpool.Pool) *HomeStore { return &HomeStore{pool: pool} }

const homeColumns = `h.id, h.owner_id, h.name, h.created_at,
	EXISTS (SELECT 1 FROM agents a WHERE a.home_id = h.id), h.sensitive_policy`

func scanHome(row pgx.Row) (home.Home, error) {
	var h home.Home
	err := row.Scan(&h.ID, &h.OwnerID, &h.Name, &h.CreatedAt, &h.Enrolled, &h.SensitivePolicy)
	return h, err
}

// SetSensitivePolicy implements home.Store.
func (s *HomeStore) SetSensitivePolicy(ctx context.Context, ownerID, homeID string, p home.Policy) error {
	tag, err := s.pool.Exec(ctx, "UPDATE homes SET sensitive_policy = $3 WHERE id = $2 AND owner_id = $1", ownerID, homeID, string(p))
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return home.ErrNotFound
	}
	return nil
}

var _ intent.SensitivePolicies = (*HomeStore)(nil)

// SensitivePolicy implements intent.SensitivePolicies: the policy of any
// home, for the engine. A home that does not exist allows, as it can have
// no devices.
func (s *HomeStore) SensitivePolicy(ctx context.Context, homeID string) (intent.SensitivePolicy, error) {
	if !isHomeUUID(homeID) {
		return intent.PolicyAllow, nil
	}
	var p string
	err := s.pool.QueryRow(ctx, "SELECT sensitive_policy FROM homes WHERE id = $1", homeID).Scan(&p)
	if errors.Is(err, pgx.ErrNoRows) {
		return intent.PolicyAllow, nil
	}
	if err != nil {
		return "", fmt.Errorf("load sensitive policy: %w", err)
	}
	return intent.SensitivePolicy(p), nil
}

// CreateHome implements home.Store.
func (s *HomeStore) CreateHome(ctx context.Context, h home.Home, max int) (home.Home, error) {
	err := inTx(ctx, s.pool, func(tx pgx.Tx) error {
		// Locking the owner serializes their creations so the limit holds.
		var n int
		err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM homes WHERE owner_id = u.id)
			FROM users u WHERE u.id = $1 FOR UPDATE`, h.OwnerID).Scan(&n)
		if errors.Is(err, pgx.ErrNoRows) {
			return home.ErrNotFound
		}
		if err != nil {
			return err
		}
		if n >= max {
			return fmt.Errorf("%w: at most %d homes per account", home.ErrInvalidInput, max)
		}
		_, err = tx.Exec(ctx, `INSERT INTO homes (id, owner_id, name, created_at) VALUES ($1, $2, $3, $4)`,
			h.ID, h.OwnerID, h.Name, h.CreatedAt)
		return err
	})
	if err != nil {
		return home.Home{}, err
	}
	return h, nil
}

// ListHomes implements home.Store.
func (s *HomeStore) ListHomes(ctx context.Context, ownerID string) ([]home.Home, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+homeColumns+` FROM homes h
		WHERE h.owner_id = $1 ORDER BY h.created_at, h.id`, ownerID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (home.Home, error) { return scanHome(r) })
}

// GetHome implements home.Store.
func (s *HomeStore) GetHome(ctx context.Context, ownerID, homeID string) (home.Home, error) {
	h, err := scanHome(s.pool.QueryRow(ctx, `SELECT `+homeColumns+` FROM homes h
		WHERE h.id = $2 AND h.owner_id = $1`, ownerID, homeID))
	if errors.Is(err, pgx.ErrNoRows) {
		return home.Home{}, home.ErrNotFound
	}
	return h, err
}

// DeleteHome implements home.Store.
func (s *HomeStore) DeleteHome(ctx context.Context, ownerID, homeID string) error {
	tag, err := s.pool.Exec(ctx, "DELETE FROM homes WHERE id = $2 AND owner_id = $1", ownerID, homeID)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return home.ErrNotFound
	}
	return nil
}

// CreateEnrollmentToken implements home.Store.
func (s *HomeStore) CreateEnrollmentToken(ctx context.Context, ownerID, homeID string, hash []byte, now, expires time.Time) error {
	return inTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM enrollment_tokens e USING homes h
			WHERE e.home_id = h.id AND h.id = $2 AND h.owner_id = $1
			  AND (e.used_at IS NOT NULL OR e.expires_at <= $3)`, ownerID, homeID, now); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO enrollment_tokens (token_hash, home_id, created_at, expires_at)
			SELECT $3, h.id, $4, $5 FROM homes h WHERE h.id = $2 AND h.owner_id = $1`,
			ownerID, homeID, hash, now, expires)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return home.ErrNotFound
		}
		return nil
	})
}

// Enroll implements home.Store. The conditional UPDATE is the single-use
// guarantee: of two racing agents the second waits on the row lock, then
// finds the token used. A token of a home whose owner is disabled is as
// unknown, and stays unused for when the owner is enabled again.
func (s *HomeStore) Enroll(ctx context.Context, hash []byte, now time.Time, a home.AgentRecord) (string, []string, error) {
	var homeID string
	var replaced []string
	err := inTx(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE enrollment_tokens e SET used_at = $2
			FROM homes h JOIN users u ON u.id = h.owner_id
			WHERE e.token_hash = $1 AND e.used_at IS NULL AND e.expires_at > $2
				AND h.id = e.home_id AND NOT u.disabled
			RETURNING e.home_id`, hash, now).Scan(&homeID)
		if errors.Is(err, pgx.ErrNoRows) {
			return home.ErrUnauthenticated
		}
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "DELETE FROM agents WHERE home_id = $1 RETURNING id", homeID)
		if err != nil {
			return err
		}
		if replaced, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO agents (id, home_id, secret_hash, hostname, version, enrolled_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, a.ID, homeID, a.SecretHash, a.Hostname, a.Version, a.EnrolledAt)
		return err
	})
	if err != nil {
		return "", nil, err
	}
	return homeID, replaced, nil
}

var _ home.AgentSecretsStore = (*HomeStore)(nil)

// AgentSecrets implements home.AgentSecretsStore, on the login pool.
func (s *HomeStore) AgentSecrets(ctx context.Context, agentIDs []string) (map[string]home.AgentSecret, error) {
	pool := s.pool
	if s.logins != nil {
		pool = s.logins
	}
	rows, err := pool.Query(ctx, "SELECT id::text, home_id::text, secret_hash FROM agents WHERE id = ANY($1::uuid[])", agentIDs)
	if err != nil {
		return nil, err
	}
	found := make(map[string]home.AgentSecret, len(agentIDs))
	var id string
	var sec home.AgentSecret
	_, err = pgx.ForEachRow(rows, []any{&id, &sec.HomeID, &sec.Hash}, func() error {
		found[id] = home.AgentSecret{HomeID: sec.HomeID, Hash: append([]byte(nil), sec.Hash...)}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return found, nil
}

// AgentSecret implements home.Store.
func (s *HomeStore) AgentSecret(ctx context.Context, agentID string) (string, []byte, error) {
	var homeID string
	var hash []byte
	pool := s.pool
	if s.logins != nil {
		pool = s.logins
	}
	err := pool.QueryRow(ctx, "SELECT home_id, secret_hash FROM agents WHERE id = $1", agentID).Scan(&homeID, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil, home.ErrNotFound
	}
	if err != nil {
		return "", nil, err
	}
	return homeID, hash, nil
}

// CreateDevice implements home.Store.
func (s *HomeStore) CreateDevice(ctx context.Context, ownerID string, d home.Device, tokenHash []byte, max int) (home.Device, error) {
	err := inTx(ctx, s.pool, func(tx pgx.Tx) error {
		// Locking the home serializes registrations so the limit holds.
		var n int
		err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM devices WHERE home_id = h.id AND revoked_at IS NULL)
			FROM homes h WHERE h.id = $2 AND h.owner_id = $1 FOR UPDATE`, ownerID, d.HomeID).Scan(&n)
		if errors.Is(err, pgx.ErrNoRows) {
			return home.ErrNotFound
		}
		if err != nil {
			return err
		}
		if n >= max {
			return fmt.Errorf("%w: at most %d active devices per home", home.ErrInvalidInput, max)
		}
		_, err = tx.Exec(ctx, `INSERT INTO devices (id, home_id, name, area, token_hash, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, d.ID, d.HomeID, d.Name, d.Area, tokenHash, d.CreatedAt)
		return err
	})
	if err != nil {
		return home.Device{}, err
	}
	return d, nil
}

const deviceColumns = "d.id, d.home_id, d.name, d.area, d.created_at, d.revoked_at IS NOT NULL"

func scanDevice(row pgx.Row) (home.Device, error) {
	var d home.Device
	err := row.Scan(&d.ID, &d.HomeID, &d.Name, &d.Area, &d.CreatedAt, &d.Revoked)
	return d, err
}

// ListDevices implements home.Store.
func (s *HomeStore) ListDevices(ctx context.Context, ownerID, homeID string) ([]home.Device, error) {
	var ds []home.Device
	err := inTx(ctx, s.pool, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM homes WHERE id = $2 AND owner_id = $1)",
			ownerID, homeID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return home.ErrNotFound
		}
		rows, err := tx.Query(ctx, `SELECT `+deviceColumns+` FROM devices d JOIN homes h ON h.id = d.home_id
			WHERE d.home_id = $2 AND h.owner_id = $1 ORDER BY d.created_at, d.id`, ownerID, homeID)
		if err != nil {
			return err
		}
		ds, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (home.Device, error) { return scanDevice(r) })
		return err
	})
	return ds, err
}

// RevokeDevice implements home.Store.
func (s *HomeStore) RevokeDevice(ctx context.Context, ownerID, homeID, deviceID string, now time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE devices d SET revoked_at = COALESCE(d.revoked_at, $4)
		FROM homes h WHERE h.id = d.home_id AND d.id = $3 AND d.home_id = $2 AND h.owner_id = $1`,
		ownerID, homeID, deviceID, now)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return home.ErrNotFound
	}
	return nil
}

// DeviceByToken implements home.Store. A device speaks for its home's
// owner: while an admin has the owner disabled, it is as unknown.
func (s *HomeStore) DeviceByToken(ctx context.Context, tokenHash []byte) (home.Device, error) {
	d, err := scanDevice(s.pool.QueryRow(ctx, `SELECT `+deviceColumns+` FROM devices d
		JOIN homes h ON h.id = d.home_id JOIN users u ON u.id = h.owner_id
		WHERE d.token_hash = $1 AND d.revoked_at IS NULL AND NOT u.disabled`, tokenHash))
	if errors.Is(err, pgx.ErrNoRows) {
		return home.Device{}, home.ErrNotFound
	}
	return d, err
}
