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
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/pack"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

var (
	ErrNotFound     = errors.New("not found")
	ErrInvalidInput = errors.New("invalid input")
	// ErrOverBudget marks a sync refused because the home's registry would
	// pass its byte budget (Limits.MaxBytes); it comes with ErrInvalidInput.
	ErrOverBudget = errors.New("over the home's byte budget")
)

// Snapshot is one home's registry: entities, areas and floors sorted by id.
// A snapshot handed out by the Store is shared and must not be modified.
// Its entities are packed (ADR 0054): their attributes and last_changed
// are read through package pack (pack.Attribute, pack.LastChanged,
// pack.Unpack), not GetAttributes and GetLastChanged, which return nil.
type Snapshot struct {
	Entities []*homeplanev1.Entity
	Areas    []*homeplanev1.Area
	Floors   []*homeplanev1.Floor
	// SyncedAt is the time of the sync that made it (the agent's clock);
	// zero when the home never synced.
	SyncedAt time.Time

	// size is Size()+1 once known (0: not yet), set by apply from the
	// previous snapshot's or on first use; atomic because snapshots are
	// shared between goroutines.
	size int64
	// shape names the snapshot's names, aliases, domains, device classes,
	// areas, floors and entity set: snapshots with the same shape (not 0)
	// differ at most in states, attributes and last_changed, so that one's
	// name index serves the other (see Store.Index).
	shape uint64
}

// shapes hands out the shapes of snapshots.
var shapes atomic.Uint64

// Size is the snapshot's encoded size in bytes, the unit of the byte
// budgets. It is computed once per snapshot, or carried over by apply.
func (s *Snapshot) Size() int {
	if s == nil {
		return 0
	}
	if n := atomic.LoadInt64(&s.size); n > 0 {
		return int(n - 1)
	}
	n := 0
	for _, e := range s.Entities {
		n += proto.Size(e)
	}
	for _, a := range s.Areas {
		n += proto.Size(a)
	}
	for _, f := range s.Floors {
		n += proto.Size(f)
	}
	atomic.StoreInt64(&s.size, int64(n)+1)
	return n
}

// Backend persists one registry snapshot per home, with a version that grows
// on every write.
type Backend interface {
	// LoadRegistry returns the home's snapshot and version; (nil, 0) when the
	// home has never synced.
	LoadRegistry(ctx context.Context, homeID string) (*Snapshot, int64, error)
	// RegistryVersion returns the stored version alone (0 when none).
	RegistryVersion(ctx context.Context, homeID string) (int64, error)
	// UpdateRegistry locks the home's registry and stores what apply returns
	// as the next version. apply gets the current version and a function
	// that decodes the stored snapshot (nil when none) into a fresh copy, so
	// that a caller with that version cached need not decode it. It returns
	// ErrNotFound for an unknown home.
	UpdateRegistry(ctx context.Context, homeID string,
		apply func(version int64, load func() (*Snapshot, error)) (*Snapshot, error),
	) (int64, error)
	// SwapRegistry stores snap as version+1 if the stored version is still
	// version, in one round trip, and reports whether it did.
	SwapRegistry(ctx context.Context, homeID string, version int64, snap *Snapshot) (bool, error)
}

// Options tunes a Store. Zero fields take the defaults shown.
type Options struct {
	Limits Limits
	// Recheck is how long a cached snapshot is served before its version is
	// compared with the database again, to pick up other replicas' writes (2s).
	Recheck time.Duration
	// MaxCachedHomes bounds the in-memory cache (10000 homes).
	MaxCachedHomes int
	// MaxCacheBytes bounds the encoded size of every cached snapshot
	// together (256 MiB); past it, homes are evicted and reload on demand.
	MaxCacheBytes int
	Now           func() time.Time
	Logger        *slog.Logger
}

func (o Options) withDefaults() Options {
	o.Limits = o.Limits.withDefaults()
	if o.Recheck <= 0 {
		o.Recheck = 2 * time.Second
	}
	if o.MaxCachedHomes <= 0 {
		o.MaxCachedHomes = 10000
	}
	if o.MaxCacheBytes <= 0 {
		o.MaxCacheBytes = 256 << 20
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
	snap    *Snapshot
	size    int // encoded bytes, counted against Options.MaxCacheBytes
	version int64
	checked time.Time
	// index is snap indexed for the intent engine, built on first use.
	index *intent.Index
}

// Store serves and updates the homes' entity registries.
type Store struct {
	backend Backend
	opts    Options

	mu         sync.Mutex
	cache      map[string]*entry
	cacheBytes int // encoded bytes of the cached snapshots
	hooks      []func(homeID string)
}

// New returns a Store on backend.
func New(backend Backend, opts Options) *Store {
	return &Store{backend: backend, opts: opts.withDefaults(), cache: make(map[string]*entry)}
}

// OnChange registers fn to be called, after the change is stored, whenever a
// home's registry changes: through ApplySync here or, noticed by Snapshot,
// through another replica. fn runs in the caller's goroutine and must be quick.
func (r *Store) OnChange(fn func(homeID string)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hooks = append(r.hooks, fn)
}

func (r *Store) changed(homeID string) {
	r.mu.Lock()
	hooks := slices.Clone(r.hooks)
	r.mu.Unlock()
	for _, fn := range hooks {
		fn(homeID)
	}
}

// ApplySync validates syncs from the home's agent and applies them in
// order, in one write: a full sync replaces the registry, a delta upserts
// its entities, areas and floors and removes removed_entity_ids. A sync that
// is malformed or would pass a limit is skipped and the others still apply;
// the error names each one skipped.
func (r *Store) ApplySync(ctx context.Context, homeID string, syncs ...*homeplanev1.EntitySync) error {
	if !home.ValidID(homeID) {
		return fmt.Errorf("apply sync: %w", ErrNotFound)
	}
	var refused []error
	valid := make([]*homeplanev1.EntitySync, 0, len(syncs))
	for _, s := range syncs {
		if err := r.opts.Limits.check(s); err != nil {
			refused = append(refused, err)
			continue
		}
		valid = append(valid, s)
	}
	if len(valid) == 0 {
		return fmt.Errorf("apply sync: %w", errors.Join(refused...))
	}
	now := r.opts.Now()
	if done, err := r.swap(ctx, homeID, valid, refused, now); done {
		return err
	}
	var next *Snapshot
	version, err := r.backend.UpdateRegistry(ctx, homeID, func(version int64, load func() (*Snapshot, error)) (*Snapshot, error) {
		// A full sync needs the registry too: one that arrives late
		// (ADR 0031) must not replace it.
		cur, ok := r.cached(homeID, version)
		if !ok {
			var err error
			if cur, err = load(); err != nil {
				return nil, err
			}
		}
		var rejected []error
		next, rejected = applyAll(cur, valid, r.opts.Limits, now)
		if next == cur {
			// Nothing applied: keep the stored version.
			return nil, errors.Join(append(refused, rejected...)...)
		}
		refused = append(refused, rejected...)
		return next, nil
	})
	if err != nil {
		return fmt.Errorf("apply sync: %w", err)
	}
	return r.stored(homeID, next, version, now, refused)
}

// swap is ApplySync's fast path: on the cached snapshot, stored only if
// nobody wrote since it was cached, in one round trip and without a row
// lock. It reports false, having changed nothing, when the locked path must
// run instead.
func (r *Store) swap(ctx context.Context, homeID string, syncs []*homeplanev1.EntitySync, refused []error, now time.Time) (bool, error) {
	r.mu.Lock()
	e, ok := r.cache[homeID]
	var cur *Snapshot
	var version int64
	if ok {
		cur, version = e.snap, e.version
	}
	r.mu.Unlock()
	if !ok || version == 0 {
		return false, nil
	}
	next, rejected := applyAll(cur, syncs, r.opts.Limits, now)
	refused = append(refused, rejected...)
	if next == cur {
		return true, fmt.Errorf("apply sync: %w", errors.Join(refused...))
	}
	swapped, err := r.backend.SwapRegistry(ctx, homeID, version, next)
	if err != nil || !swapped {
		return false, nil
	}
	return true, r.stored(homeID, next, version+1, now, refused)
}

// applyAll applies syncs in order to cur, skipping each that apply refuses;
// it returns cur itself when none applied.
func applyAll(cur *Snapshot, syncs []*homeplanev1.EntitySync, l Limits, now time.Time) (*Snapshot, []error) {
	var refused []error
	next := cur
	for _, s := range syncs {
		n, err := apply(next, s, l, now)
		if err != nil {
			refused = append(refused, err)
			continue
		}
		next = n
	}
	return next, refused
}

// stored caches what was written and tells the hooks.
func (r *Store) stored(homeID string, next *Snapshot, version int64, now time.Time, refused []error) error {
	r.put(homeID, next, version, now)
	r.changed(homeID)
	if len(refused) > 0 {
		return fmt.Errorf("apply sync: %w", errors.Join(refused...))
	}
	return nil
}

// Patch puts a command result's changed states into the cached registry at
// once, before any write, so that a question right after an action is
// answered from the new states. The database gets them from the agent's own
// delta (or with the next write of this home, which starts from the patched
// snapshot); apply keeps the newer of two states of an entity (by
// last_changed), so a sync stored in between cannot set an entity back.
// Patch does not change the cached version. It reports false, changing
// nothing, when the home's registry is not cached or the states are
// refused: the caller then stores them first.
func (r *Store) Patch(homeID string, changed []*homeplanev1.Entity) bool {
	delta := &homeplanev1.EntitySync{Entities: changed}
	if len(changed) == 0 || r.opts.Limits.check(delta) != nil {
		return false
	}
	r.mu.Lock()
	e, ok := r.cache[homeID]
	var cur *Snapshot
	if ok {
		cur = e.snap
	}
	r.mu.Unlock()
	if !ok {
		return false
	}
	next, err := apply(cur, delta, r.opts.Limits, r.opts.Now())
	if err != nil {
		return false
	}
	r.mu.Lock()
	e, ok = r.cache[homeID]
	if !ok || e.snap != cur {
		// Replaced while we applied: the caller stores first instead.
		r.mu.Unlock()
		return false
	}
	size := next.Size()
	r.cacheBytes += size - e.size
	e.snap, e.size, e.index = next, size, restated(e, next)
	r.mu.Unlock()
	r.changed(homeID)
	return true
}

// Snapshot returns the home's registry: an empty one when the home never
// synced. The result is shared and must not be modified. It does not check
// who may see the home: callers scope the home id first.
func (r *Store) Snapshot(ctx context.Context, homeID string) (*Snapshot, error) {
	if !home.ValidID(homeID) {
		return nil, fmt.Errorf("registry snapshot: %w", ErrNotFound)
	}
	now := r.opts.Now()
	r.mu.Lock()
	e, ok := r.cache[homeID]
	var snap *Snapshot
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
		v, err := r.backend.RegistryVersion(ctx, homeID)
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
	loaded, v, err := r.backend.LoadRegistry(ctx, homeID)
	if err != nil {
		return nil, fmt.Errorf("registry snapshot: %w", err)
	}
	if loaded == nil {
		loaded = &Snapshot{}
	}
	// Cached entities are packed (ADR 0054), so that the cache holds few
	// objects for the garbage collector to mark.
	pack.Entities(loaded.Entities)
	r.put(homeID, loaded, v, now)
	if ok && v != version {
		r.changed(homeID)
	}
	return loaded, nil
}

// cached returns the cached snapshot if it is at the given version.
func (r *Store) cached(homeID string, version int64) (*Snapshot, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.cache[homeID]
	if !ok || e.version != version || version == 0 {
		return nil, false
	}
	return e.snap, true
}

// put caches snap unless a newer version is cached already.
func (r *Store) put(homeID string, snap *Snapshot, version int64, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var index *intent.Index
	if e, ok := r.cache[homeID]; ok {
		if e.version > version {
			return
		}
		index = restated(e, snap)
	}
	r.dropLocked(homeID)
	size := snap.Size()
	// Evict arbitrary homes until the new one fits; they reload on demand.
	for k := range r.cache {
		if len(r.cache) < r.opts.MaxCachedHomes && r.cacheBytes+size <= r.opts.MaxCacheBytes {
			break
		}
		r.dropLocked(k)
	}
	r.cache[homeID] = &entry{snap: snap, size: size, version: version, checked: now, index: index}
	r.cacheBytes += size
}

func (r *Store) dropLocked(homeID string) {
	if e, ok := r.cache[homeID]; ok {
		r.cacheBytes -= e.size
		delete(r.cache, homeID)
	}
}

// Forget drops a home from the cache, for example after the home is deleted.
func (r *Store) Forget(homeID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dropLocked(homeID)
}
