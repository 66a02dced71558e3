package auth

import (
	"context"
	"net/netip"
	"sync"
	"time"
)

// Throttle counts failures per key (an account, a client address) in fixed
// windows and refuses a key once it reached its limit, until the window
// ends. It lives in memory: each replica throttles on its own, which bounds
// guessing per replica, and a restart forgets it.
type Throttle struct {
	mu      sync.Mutex
	limit   int
	window  time.Duration
	max     int
	entries map[string]throttleEntry
}

type throttleEntry struct {
	failures int
	until    time.Time
	busy     bool // an attempt admitted by Begin is being checked
}

// NewThrottle allows limit failures per key in each window, tracking at
// most max keys (the oldest windows go first when full).
func NewThrottle(limit int, window time.Duration, max int) *Throttle {
	return &Throttle{limit: limit, window: window, max: max, entries: make(map[string]throttleEntry)}
}

// Allowed reports whether key may try now.
func (t *Throttle) Allowed(key string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.entries[key]
	if !ok || !now.Before(e.until) {
		return true
	}
	return e.failures < t.limit
}

// Fail records a failure of key.
func (t *Throttle) Fail(key string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entryLocked(key, now)
	e.failures++
	t.entries[key] = e
}

// entryLocked is key's entry in the window running at now, a new one when
// the last window ended.
func (t *Throttle) entryLocked(key string, now time.Time) throttleEntry {
	e, ok := t.entries[key]
	if !ok || !now.Before(e.until) {
		if !ok && len(t.entries) >= t.max {
			t.evictLocked(now)
		}
		e = throttleEntry{until: now.Add(t.window)}
	}
	return e
}

// Begin admits one attempt of key, counting it as a failure before it is
// checked: however many attempts arrive at once, no more than the limit are
// ever checked. It refuses a key over its limit, and a key with an attempt
// still in flight, so at most one check per key runs at a time. End must
// follow every admitted attempt.
func (t *Throttle) Begin(key string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entryLocked(key, now)
	if e.busy || e.failures >= t.limit {
		return false
	}
	e.failures++
	e.busy = true
	t.entries[key] = e
	return true
}

// End finishes an attempt Begin admitted. A refunded attempt (it succeeded,
// or was never checked) no longer counts as a failure.
func (t *Throttle) End(key string, refund bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.entries[key]
	if !ok {
		return
	}
	e.busy = false
	if refund && e.failures > 0 {
		e.failures--
	}
	t.entries[key] = e
}

// Reset forgets key, after a success.
func (t *Throttle) Reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, key)
}

// evictLocked drops expired windows, then, if still full, the windows
// ending soonest.
func (t *Throttle) evictLocked(now time.Time) {
	for k, e := range t.entries {
		if !now.Before(e.until) {
			delete(t.entries, k)
		}
	}
	for len(t.entries) >= t.max {
		var oldest string
		var at time.Time
		for k, e := range t.entries {
			if oldest == "" || e.until.Before(at) {
				oldest, at = k, e.until
			}
		}
		delete(t.entries, oldest)
	}
}

type clientAddrKey struct{}

// WithClientAddr returns a context carrying the address of the client a
// request came from, as the API layer established it.
func WithClientAddr(ctx context.Context, addr netip.Addr) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

// ClientAddrFrom returns the client address carried by ctx, if any.
func ClientAddrFrom(ctx context.Context) (netip.Addr, bool) {
	a, ok := ctx.Value(clientAddrKey{}).(netip.Addr)
	return a, ok && a.IsValid()
}

// AddrKey is the throttle key of a client address: IPv6 clients are
// counted per /64, which is what one subscriber usually holds.
func AddrKey(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return "addr:" + p.String()
	}
	return "addr:" + a.String()
}
