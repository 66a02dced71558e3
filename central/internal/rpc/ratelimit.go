package rpc

import (
	"errors"
	"sync"
	"time"
)

// RateLimit is a token bucket: Burst calls at once, then PerSecond calls a
// second sustained.
type RateLimit struct {
	Burst     int
	PerSecond float64
}

// Default rate limits, per device and per user, over every authenticated
// call: a voice device speaks a few sentences a minute, a person's tools
// (homectl, the dashboard) a few calls a second.
var (
	DefaultDeviceRate = RateLimit{Burst: 30, PerSecond: 5}
	DefaultUserRate   = RateLimit{Burst: 100, PerSecond: 20}
)

func (r RateLimit) orDefault(def RateLimit) RateLimit {
	if r.Burst <= 0 || r.PerSecond <= 0 {
		return def
	}
	return r
}

var errRateLimited = errors.New("too many requests; slow down and try again")

// maxBuckets bounds each limiter's memory; keys are authenticated callers,
// so only real users and devices fill it.
const maxBuckets = 100_000

// reportEvery is how often one caller's refusals are audited: the first
// refusal, then at most one record a minute, so a flood cannot turn into a
// flood of audit writes.
const reportEvery = time.Minute

// limiter keeps one token bucket per key.
type limiter struct {
	mu      sync.Mutex
	rate    RateLimit
	buckets map[string]*bucket
}

type bucket struct {
	tokens   float64
	last     time.Time
	reported time.Time // last audited refusal
	refused  int       // refusals since then
}

func newLimiter(rate RateLimit) *limiter {
	return &limiter{rate: rate, buckets: make(map[string]*bucket)}
}

// allow takes a token of key's bucket. When it refuses, report says whether
// this refusal is to be audited, with the number of refusals it stands for.
func (l *limiter) allow(key string, now time.Time) (ok bool, report int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, found := l.buckets[key]
	if !found {
		if len(l.buckets) >= maxBuckets {
			l.evictLocked(now)
		}
		b = &bucket{tokens: float64(l.rate.Burst), last: now}
		l.buckets[key] = b
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(float64(l.rate.Burst), b.tokens+elapsed.Seconds()*l.rate.PerSecond)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	b.refused++
	if now.Sub(b.reported) < reportEvery {
		return false, 0
	}
	n := b.refused
	b.reported, b.refused = now, 0
	return false, n
}

// evictLocked drops the buckets that are full again, which behave like
// new ones; if none is, it drops arbitrary ones.
func (l *limiter) evictLocked(now time.Time) {
	refill := time.Duration(float64(l.rate.Burst) / l.rate.PerSecond * float64(time.Second))
	for k, b := range l.buckets {
		if now.Sub(b.last) >= refill {
			delete(l.buckets, k)
		}
	}
	for k := range l.buckets {
		if len(l.buckets) < maxBuckets {
			break
		}
		delete(l.buckets, k)
	}
}
