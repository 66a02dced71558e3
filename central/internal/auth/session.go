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

// sessionLive reports whether the login session (refresh-token family) id
// has not ended, reading the database at most once per SessionCheckTTL.
func (s *Service) sessionLive(ctx context.Context, id string) (bool, error) {
	now := s.opts.Now()
	st, gen, ok := s.families.get(id, now)
	if ok {
		return !st.Disabled, nil
	}
	live, err := s.store.RefreshFamilyLive(ctx, id)
	if err != nil {
		return false, err
	}
	s.families.put(id, SessionState{Disabled: !live}, now, gen)
	return live, nil
}

// OnSessionsEnded registers fn to hear of every session this Service ends:
// password changes and resets, disabling, role changes, logouts. The API
// closes the ended sessions' open streams with it. fn must not block.
func (s *Service) OnSessionsEnded(fn func(SessionEnd)) {
	s.listenersMu.Lock()
	defer s.listenersMu.Unlock()
	s.listeners = append(s.listeners, fn)
}

func (s *Service) notify(e SessionEnd) {
	s.listenersMu.Lock()
	ls := s.listeners
	s.listenersMu.Unlock()
	for _, fn := range ls {
		fn(e)
	}
}

// SessionsEnded is told that a change made outside this Service (a role
// change, which bumps the session version in the store) ended every session
// of the user: what was cached about them is dropped, so their tokens stop
// working at once here, and listeners hear of it.
func (s *Service) SessionsEnded(userID string) {
	s.sessions.invalidate(userID)
	s.notify(SessionEnd{UserID: userID})
}
