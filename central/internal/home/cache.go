package home

import (
	"sync"
	"time"
)

// cache is a small bounded map with expiry for the hot authentication paths.
// Entries are dropped at once on revocation in this process; other replicas
// notice within the TTL.
type cache[K comparable, V any] struct {
	mu      sync.Mutex
	ttl     time.Duration
	max     int
	entries map[K]cacheEntry[V]
	// gen counts invalidations, so that a lookup that read the store before
	// a revocation cannot put its stale answer back afterwards.
	gen uint64
}

type cacheEntry[V any] struct {
	v       V
	expires time.Time
}

func newCache[K comparable, V any](ttl time.Duration, max int) *cache[K, V] {
	return &cache[K, V]{ttl: ttl, max: max, entries: make(map[K]cacheEntry[V])}
}

func (c *cache[K, V]) enabled() bool { return c.ttl > 0 && c.max > 0 }

func (c *cache[K, V]) get(k K, now time.Time) (V, bool) {
	var zero V
	if !c.enabled() {
		return zero, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok || !now.Before(e.expires) {
		return zero, false
	}
	return e.v, true
}

// generation returns the invalidation count to pass to put.
func (c *cache[K, V]) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put stores v unless an invalidation happened since generation returned gen.
func (c *cache[K, V]) put(k K, v V, now time.Time, gen uint64) {
	if !c.enabled() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.entries) >= c.max {
		// Drop expired entries; if none, drop an arbitrary one.
		for key, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, key)
			}
		}
		for key := range c.entries {
			if len(c.entries) < c.max {
				break
			}
			delete(c.entries, key)
		}
	}
	c.entries[k] = cacheEntry[V]{v: v, expires: now.Add(c.ttl)}
}

// deleteIf drops every entry for which drop returns true.
func (c *cache[K, V]) deleteIf(drop func(K, V) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.entries {
		if drop(k, e.v) {
			delete(c.entries, k)
		}
	}
}
