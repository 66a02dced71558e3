package registry

import (
	"context"

	"github.com/homeplane/homeplane/central/internal/intent"
)

var _ intent.RegistrySource = (*Store)(nil)

// Registry returns the home's registry indexed for the intent engine. The
// index is built once per snapshot and shared by every request until the
// next sync replaces the snapshot.
func (r *Store) Registry(ctx context.Context, homeID string) (*intent.Registry, error) {
	snap, err := r.Snapshot(ctx, homeID)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if e, ok := r.cache[homeID]; ok && e.snap == snap && e.index != nil {
		idx := e.index
		r.mu.Unlock()
		return idx, nil
	}
	r.mu.Unlock()

	idx := intent.NewRegistry(snap.Entities, snap.Areas, snap.Floors)
	r.mu.Lock()
	if e, ok := r.cache[homeID]; ok && e.snap == snap {
		e.index = idx
	}
	r.mu.Unlock()
	return idx, nil
}
