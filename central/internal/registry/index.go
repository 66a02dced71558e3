package registry

import (
	"context"

	"github.com/homeplane/homeplane/central/internal/intent"
)

var _ intent.IndexSource = (*Store)(nil)

// Index returns the home's registry indexed for the intent engine. The
// index is built once per snapshot and shared by every request until the
// next sync replaces the snapshot; a sync or Patch that changes only
// states carries it over to the new snapshot (restated).
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

// restated returns e's index carried over to next when next differs from
// e's snapshot only in states (the same shape), and nil otherwise: the
// index is then built on first use.
func restated(e *entry, next *Snapshot) *intent.Index {
	if e.index == nil || next.shape == 0 || e.snap.shape != next.shape {
		return nil
	}
	return e.index.WithStates(next.Entities, next.Areas, next.Floors)
}
