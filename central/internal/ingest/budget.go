package ingest

import (
	"fmt"
	"sync"
	"time"
)

// maxTracked bounds the homes whose rates are remembered; past it, homes
// whose buckets are full again (idle ones) are forgotten.
const maxTracked = 100000

// logEvery spaces the refusal log lines of one home.
const logEvery = time.Minute

// bucket is a token bucket.
type bucket struct {
	tokens float64
	at     time.Time
}

// take refills b for the time since it was last used and takes n tokens if
// it holds them.
func (b *bucket) take(r Rate, n float64, now time.Time) bool {
	if b.at.IsZero() {
		b.tokens = r.Burst
	} else if dt := now.Sub(b.at).Seconds(); dt > 0 {
		b.tokens = min(r.Burst, b.tokens+dt*r.PerSecond)
	}
	b.at = now
	if n > b.tokens {
		return false
	}
	b.tokens -= n
	return true
}

func (b *bucket) full(r Rate, now time.Time) bool {
	return b.at.IsZero() || b.tokens+now.Sub(b.at).Seconds()*r.PerSecond >= r.Burst
}

// home is one home's budget.
type home struct {
	syncs, syncBytes, samples bucket
	logged                    time.Time
}

// budgets holds every home's rates.
type budgets struct {
	syncs, syncBytes, samples Rate

	mu    sync.Mutex
	homes map[string]*home
}

func newBudgets(o Options) *budgets {
	return &budgets{syncs: o.Syncs, syncBytes: o.SyncBytes, samples: o.Samples, homes: make(map[string]*home)}
}

func (b *budgets) homeLocked(id string, now time.Time) *home {
	h := b.homes[id]
	if h != nil {
		return h
	}
	if len(b.homes) >= maxTracked {
		for k, o := range b.homes {
			if o.syncs.full(b.syncs, now) && o.syncBytes.full(b.syncBytes, now) && o.samples.full(b.samples, now) {
				delete(b.homes, k)
			}
		}
	}
	h = &home{}
	b.homes[id] = h
	return h
}

// sync takes one entity sync of n bytes from the home's budget.
func (b *budgets) sync(homeID string, n int, now time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.homeLocked(homeID, now)
	// Both buckets are checked before either is charged.
	probeSyncs, probeBytes := h.syncs, h.syncBytes
	if !probeSyncs.take(b.syncs, 1, now) {
		return fmt.Errorf("more than %g syncs a second (bursts of %g)", b.syncs.PerSecond, b.syncs.Burst)
	}
	if !probeBytes.take(b.syncBytes, float64(n), now) {
		return fmt.Errorf("more than %g sync bytes a second (bursts of %g)", b.syncBytes.PerSecond, b.syncBytes.Burst)
	}
	h.syncs, h.syncBytes = probeSyncs, probeBytes
	return nil
}

// sample takes one sample or event from the home's budget.
func (b *budgets) sample(homeID string, now time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.homeLocked(homeID, now)
	if !h.samples.take(b.samples, 1, now) {
		return fmt.Errorf("more than %g samples and events a second (bursts of %g)", b.samples.PerSecond, b.samples.Burst)
	}
	return nil
}

// shouldLog reports whether a refusal of the home may be logged now.
func (b *budgets) shouldLog(homeID string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.homeLocked(homeID, now)
	if !h.logged.IsZero() && now.Sub(h.logged) < logEvery {
		return false
	}
	h.logged = now
	return true
}
