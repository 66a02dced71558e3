// Package registry keeps each home's entity registry as its agent syncs it:
// full snapshots replace it, deltas patch it. The registry is persisted in
// PostgreSQL, so any replica can serve it, and cached in memory, because every
// intent request resolves against it.
package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/central/internal/intent"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

var (
	ErrNotFound     = errors.New("not found")
	ErrInvalidInput = errors.New("invalid input")
)

// Store persists one registry snapshot per home, with a version that grows on
// every write.
type Store interface {
	// LoadRegistry returns the home's snapshot and version; (nil, 0) when the
	// home has never synced.
	LoadRegistry(ctx context.Context, homeID string) (*homeplanev1.ListEntitiesResponse, int64, error)
	// RegistryVersion returns the stored version alone (0 when none).
	RegistryVersion(ctx context.Context, homeID string) (int64, error)
	// UpdateRegistry locks the home's registry and stores what apply returns
	// as the next version. apply gets the current version and a function
	// that decodes the stored snapshot (nil when none) into a fresh copy, so
	// that a caller with that version cached need not decode it. It returns
	// ErrNotFound for an unknown home.
	UpdateRegistry(ctx context.Context, homeID string,
		apply func(version int64, load func() (*homeplanev1.ListEntitiesResponse, error)) (*homeplanev1.ListEntitiesResponse, error),
	) (int64, error)
}

// Options tunes a Registry. Zero fields take the defaults shown.
type Options struct {
	Limits Limits
	// Recheck is how long a cached snapshot is served before its version is
	// compared with the database again, to pick up other replicas' writes (2s).
	Recheck time.Duration
	// MaxCachedHomes bounds the in-memory cache (10000 homes).
	MaxCachedHomes int
	Now            func() time.Time
	Logger         *slog.Logger
}

func (o Options) withDefaults() Options {
	o.Limits = o.Limits.withDefaults()
	if o.Recheck <= 0 {
		o.Recheck = 2 * time.Second
	}
	if o.MaxCachedHomes <= 0 {
		o.MaxCachedHomes = 10000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

type entry struct {
	snap    *homeplanev1.ListEntitiesResponse
	version int64
	checked time.Time
	// index is snap indexed for the intent engine, built on first use.
	index *intent.Index
}

// Registry serves and updates the homes' entity registries.
type Registry struct {
	store Store
	opts  Options

	mu    sync.Mutex
	cache map[string]*entry
	hooks []func(homeID string)
}

// New returns a Registry on store.
func New(store Store, opts Options) *Registry {
	return &Registry{store: store, opts: opts.withDefaults(), cache: make(map[string]*entry)}
}

// OnChange registers fn to be called, after the change is stored, whenever a
// home's registry changes: through ApplySync here or, noticed by Snapshot,
// through another replica. fn runs in the caller's goroutine and must be quick.
func (r *Registry) OnChange(fn func(homeID string)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hooks = append(r.hooks, fn)
}

func (r *Registry) changed(homeID string) {
	r.mu.Lock()
	hooks := slices.Clone(r.hooks)
	r.mu.Unlock()
	for _, fn := range hooks {
		fn(homeID)
	}
}

// ApplySync validates a sync from the home's agent and applies it: a full
// sync replaces the registry, a delta upserts its entities, areas and floors
// and removes removed_entity_ids.
func (r *Registry) ApplySync(ctx context.Context, homeID string, sync *homeplanev1.EntitySync) error {
	if !home.ValidID(homeID) {
		return fmt.Errorf("apply sync: %w", ErrNotFound)
	}
	if err := r.opts.Limits.check(sync); err != nil {
		return fmt.Errorf("apply sync: %w", err)
	}
	now := r.opts.Now()
	var next *homeplanev1.ListEntitiesResponse
	version, err := r.store.UpdateRegistry(ctx, homeID, func(version int64, load func() (*homeplanev1.ListEntitiesResponse, error)) (*homeplanev1.ListEntitiesResponse, error) {
		var cur *homeplanev1.ListEntitiesResponse
		if !sync.GetFull() {
			if cached, ok := r.cached(homeID, version); ok {
				cur = cached
			} else {
				var err error
				if cur, err = load(); err != nil {
					return nil, err
				}
			}
		}
		var err error
		next, err = apply(cur, sync, r.opts.Limits, now)
		return next, err
	})
	if err != nil {
		return fmt.Errorf("apply sync: %w", err)
	}
	r.put(homeID, next, version, now)
	r.changed(homeID)
	return nil
}

// Snapshot returns the home's registry: an empty one when the home never
// synced. The result is shared and must not be modified. It does not check
// who may see the home: callers scope the home id first.
func (r *Registry) Snapshot(ctx context.Context, homeID string) (*homeplanev1.ListEntitiesResponse, error) {
	if !home.ValidID(homeID) {
		return nil, fmt.Errorf("registry snapshot: %w", ErrNotFound)
	}
	now := r.opts.Now()
	r.mu.Lock()
	e, ok := r.cache[homeID]
	var snap *homeplanev1.ListEntitiesResponse
	var version int64
	if ok {
		snap, version = e.snap, e.version
		if now.Sub(e.checked) < r.opts.Recheck {
			r.mu.Unlock()
			return snap, nil
		}
	}
	r.mu.Unlock()

	if ok {
		v, err := r.store.RegistryVersion(ctx, homeID)
		if err != nil {
			return nil, fmt.Errorf("registry snapshot: %w", err)
		}
		if v == version {
			r.mu.Lock()
			if e, ok := r.cache[homeID]; ok && e.version == v {
				e.checked = now
			}
			r.mu.Unlock()
			return snap, nil
		}
	}
	loaded, v, err := r.store.LoadRegistry(ctx, homeID)
	if err != nil {
		return nil, fmt.Errorf("registry snapshot: %w", err)
	}
	if loaded == nil {
		loaded = &homeplanev1.ListEntitiesResponse{}
	}
	r.put(homeID, loaded, v, now)
	if ok && v != version {
		r.changed(homeID)
	}
	return loaded, nil
}

// cached returns the cached snapshot if it is at the given version.
func (r *Registry) cached(homeID string, version int64) (*homeplanev1.ListEntitiesResponse, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.cache[homeID]
	if !ok || e.version != version || version == 0 {
		return nil, false
	}
	return e.snap, true
}

// put caches snap unless a newer version is cached already.
func (r *Registry) put(homeID string, snap *homeplanev1.ListEntitiesResponse, version int64, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.cache[homeID]; ok && e.version > version {
		return
	}
	if _, ok := r.cache[homeID]; !ok && len(r.cache) >= r.opts.MaxCachedHomes {
		for k := range r.cache { // evict an arbitrary home; it reloads on demand
			delete(r.cache, k)
			break
		}
	}
	r.cache[homeID] = &entry{snap: snap, version: version, checked: now}
}

// Forget drops a home from the cache, for example after the home is deleted.
func (r *Registry) Forget(homeID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.cache, homeID)
}
