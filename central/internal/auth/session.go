package auth

import (
	"context"
	"sync"
	"time"
)

// maxSessionEntries bounds the session cache.
const maxSessionEntries = 100_000

// sessionCache keeps what Verify last read about a user's sessions for a
// short while, so that verifying a token stays a memory operation nearly
// always. Changes made through this process drop the entry at once.
type sessionCache struct {
	mu      sync.Mutex
	ttl     time.Duration
	max     int
	entries map[string]sessionEntry
	gen     uint64 // counts invalidations; see put
}

type sessionEntry struct {
	st      SessionState
	expires time.Time
}

func newSessionCache(ttl time.Duration, max int) *sessionCache {
	return &sessionCache{ttl: ttl, max: max, entries: make(map[string]sessionEntry)}
}

func (c *sessionCache) get(userID string, now time.Time) (SessionState, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[userID]
	if !ok || !now.Before(e.expires) {
		return SessionState{}, c.gen, false
	}
	return e.st, c.gen, true
}

// put stores st unless an invalidation happened since get returned gen, so
// a read that raced a password change cannot put the old version back.
func (c *sessionCache) put(userID string, st SessionState, now time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.entries) >= c.max {
		for k, e := range c.entries {
			if !now.Before(e.expires) || len(c.entries) >= c.max {
				delete(c.entries, k)
			}
		}
	}
	c.entries[userID] = sessionEntry{st: st, expires: now.Add(c.ttl)}
}

func (c *sessionCache) invalidate(userID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.entries, userID)
}

func (s *Service) sessionState(ctx context.Context, userID string) (SessionState, error) {
	now := s.opts.Now()
	st, gen, ok := s.sessions.get(userID, now)
	if ok {
		return st, nil
	}
	st, err := s.store.SessionState(ctx, userID)
	if err != nil {
		return SessionState{}, err
	}
	s.sessions.put(userID, st, now, gen)
	return st, nil
}
