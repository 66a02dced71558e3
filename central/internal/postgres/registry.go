package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/homeplane/homeplane/central/internal/registry"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// RegistryStore keeps each home's entity registry as one jsonb document
// (the protojson form of the snapshot), which stays readable from SQL.
type RegistryStore struct {
	pool *pgxpool.Pool
}

var _ registry.Backend = (*RegistryStore)(nil)

// NewRegistryStore returns a RegistryStore on pool.
func NewRegistryStore(pool *pgxpool.Pool) *RegistryStore { return &RegistryStore{pool: pool} }

// The document keeps the field names of the wire's ListEntitiesResponse, so
// rows written before the registry had a Go type of its own still read.
func decodeSnapshot(doc []byte) (*registry.Snapshot, error) {
	if doc == nil {
		return nil, nil
	}
	var m homeplanev1.ListEntitiesResponse
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(doc, &m); err != nil {
		return nil, fmt.Errorf("decode registry: %w", err)
	}
	snap := &registry.Snapshot{Entities: m.Entities, Areas: m.Areas, Floors: m.Floors}
	if m.SyncedAt.IsValid() {
		snap.SyncedAt = m.SyncedAt.AsTime()
	}
	return snap, nil
}

// LoadRegistry implements registry.Backend.
func (s *RegistryStore) LoadRegistry(ctx context.Context, homeID string) (*registry.Snapshot, int64, error) {
	var doc []byte
	var version int64
	err := s.pool.QueryRow(ctx, "SELECT snapshot, version FROM entity_registries WHERE home_id = $1", homeID).Scan(&doc, &version)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("load registry: %w", err)
	}
	snap, err := decodeSnapshot(doc)
	if err != nil {
		return nil, 0, err
	}
	return snap, version, nil
}

// RegistryVersion implements registry.Backend.
func (s *RegistryStore) RegistryVersion(ctx context.Context, homeID string) (int64, error) {
	var version int64
	err := s.pool.QueryRow(ctx, "SELECT version FROM entity_registries WHERE home_id = $1", homeID).Scan(&version)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("registry version: %w", err)
	}
	return version, nil
}

// UpdateRegistry implements registry.Backend. The row is created empty first
// so that even the very first syncs of a home serialize on its lock.
func (s *RegistryStore) UpdateRegistry(ctx context.Context, homeID string,
	apply func(int64, func() (*registry.Snapshot, error)) (*registry.Snapshot, error),
) (int64, error) {
	var next int64
	err := inTx(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO entity_registries (home_id) VALUES ($1) ON CONFLICT (home_id) DO NOTHING", homeID)
		if isCode(err, codeForeignKeyViolation) {
			return registry.ErrNotFound
		}
		if err != nil {
			return err
		}
		var version int64
		if err := tx.QueryRow(ctx, "SELECT version FROM entity_registries WHERE home_id = $1 FOR UPDATE",
			homeID).Scan(&version); err != nil {
			return err
		}
		load := func() (*registry.Snapshot, error) {
			var doc []byte
			if err := tx.QueryRow(ctx, "SELECT snapshot FROM entity_registries WHERE home_id = $1", homeID).Scan(&doc); err != nil {
				return nil, err
			}
			return decodeSnapshot(doc)
		}
		snap, err := apply(version, load)
		if err != nil {
			return err
		}
		doc, err := encodeSnapshot(snap)
		if err != nil {
			return err
		}
		defer doc.release()
		next = version + 1
		_, err = tx.Exec(ctx, `UPDATE entity_registries SET snapshot = $2, version = $3, updated_at = now()
			WHERE home_id = $1`, homeID, doc.b, next)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("update registry: %w", err)
	}
	return next, nil
}

// SwapRegistry implements registry.Backend: one UPDATE that matches only
// while the row is still at version, so no lock is held across round trips.
func (s *RegistryStore) SwapRegistry(ctx context.Context, homeID string, version int64, snap *registry.Snapshot) (bool, error) {
	doc, err := encodeSnapshot(snap)
	if err != nil {
		return false, err
	}
	defer doc.release()
	tag, err := s.pool.Exec(ctx, `UPDATE entity_registries SET snapshot = $3, version = $2 + 1, updated_at = now()
		WHERE home_id = $1 AND version = $2`, homeID, version, doc.b)
	if err != nil {
		return false, fmt.Errorf("swap registry: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}
