package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/homeplane/homeplane/central/internal/pairing"
)

// PairingStore keeps device pairings (RFC 8628) by the hashes of their codes.
type PairingStore struct{ pool *pgxpool.Pool }

var _ pairing.Store = (*PairingStore)(nil)

// NewPairingStore returns a PairingStore on pool.
func NewPairingStore(pool *pgxpool.Pool) *PairingStore { return &PairingStore{pool: pool} }

// Create implements pairing.Store.
func (s *PairingStore) Create(ctx context.Context, p pairing.Pairing, purgeBefore time.Time) error {
	err := inTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM device_pairings WHERE expires_at < $1", purgeBefore); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO device_pairings (device_code_hash, user_code_hash, client_name,
			interval_seconds, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			p.DeviceCodeHash, p.UserCodeHash, p.ClientName, int(p.Interval/time.Second), p.CreatedAt, p.ExpiresAt)
		return err
	})
	if isCode(err, codeUniqueViolation) {
		return pairing.ErrCodeTaken
	}
	return err
}

// Poll implements pairing.Store.
func (s *PairingStore) Poll(ctx context.Context, deviceCodeHash []byte, now time.Time, step, max time.Duration) (pairing.Polled, error) {
	var out pairing.Polled
	err := inTx(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			state                     pairing.State
			intervalS                 int
			expires                   time.Time
			lastPoll                  *time.Time
			owner, homeID, name, area *string
		)
		err := tx.QueryRow(ctx, `SELECT state, interval_seconds, expires_at, last_poll_at, decided_by::text, home_id::text,
			device_name, area FROM device_pairings WHERE device_code_hash = $1 FOR UPDATE`, deviceCodeHash).
			Scan(&state, &intervalS, &expires, &lastPoll, &owner, &homeID, &name, &area)
		if errors.Is(err, pgx.ErrNoRows) || err == nil && state == pairing.StateRedeemed {
			return pairing.ErrInvalidGrant
		}
		if err != nil {
			return err
		}
		interval := time.Duration(intervalS) * time.Second
		out.Interval = interval
		if !now.Before(expires) {
			out.Status = pairing.StatusExpired
			return nil
		}
		if lastPoll != nil && now.Sub(*lastPoll) < interval {
			out.Status, out.Interval = pairing.StatusSlowDown, min(interval+step, max)
			_, err := tx.Exec(ctx, "UPDATE device_pairings SET last_poll_at = $2, interval_seconds = $3 WHERE device_code_hash = $1",
				deviceCodeHash, now, int(out.Interval/time.Second))
			return err
		}
		next := state
		switch state {
		case pairing.StatePending:
			out.Status = pairing.StatusPending
		case pairing.StateDenied:
			out.Status = pairing.StatusDenied
		case pairing.StateApproved:
			next, out.Status = pairing.StateRedeemed, pairing.StatusApproved
			out.OwnerID, out.HomeID, out.Name, out.Area = deref(owner), deref(homeID), deref(name), deref(area)
		}
		_, err = tx.Exec(ctx, "UPDATE device_pairings SET last_poll_at = $2, state = $3 WHERE device_code_hash = $1",
			deviceCodeHash, now, next)
		return err
	})
	return out, err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Decide implements pairing.Store.
func (s *PairingStore) Decide(ctx context.Context, userCodeHash []byte, d pairing.Decision) (string, string, error) {
	state, homeID := pairing.StateDenied, (*string)(nil)
	if d.Approve {
		state, homeID = pairing.StateApproved, &d.HomeID
	}
	var client, name string
	err := s.pool.QueryRow(ctx, `UPDATE device_pairings SET state = $2, decided_by = $3, decided_at = $4, home_id = $5,
			device_name = COALESCE(NULLIF($6, ''), NULLIF(client_name, ''), 'Voice device'), area = $7
		WHERE user_code_hash = $1 AND state = 'pending' AND expires_at > $4
		RETURNING client_name, device_name`,
		userCodeHash, state, d.By, d.At, homeID, d.Name, d.Area).Scan(&client, &name)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", pairing.ErrNotFound
	}
	return client, name, err
}
