package registry

import (
	"context"

	"github.com/homeplane/homeplane/central/internal/intent"
)

var _ intent.IndexSource = (*Store)(nil)

// Index returns the home's registry indexed for the intent engine. The
// index is built once per snapshot and shared by every request until the
// next sync replaces the snapshot.
func (r *Store) Index(ctx context.Context, homeID string) (*intent.Index, error) {
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

	idx := intent.NewIndex(snap.Entities, snap.Areas, snap.Floors)
	r.mu.Lock()
	if e, ok := r.cache[homeID]; ok && e.snap == snap {
		e.index = idx
	}
	r.mu.Unlock()
	return idx, nil
}
