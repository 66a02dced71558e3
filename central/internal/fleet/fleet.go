// Package fleet keeps the fleet's history: every minute one replica of
// central records how many homes there are, how many are online, running
// and in a crash loop, and how many restarts were reported; the dashboard
// draws it over a chosen range. Which replica records is settled by a lease
// in the database (ADR 0035), and the store writes each minute once
// whoever asks.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// ErrInvalidInput is returned for an unknown range.
var ErrInvalidInput = errors.New("invalid input")

// Point is the fleet in one bucket of a range: the homes, online, running
// and crash-looping ones averaged over its minutes, the restarts summed.
// Minutes is how many minutes were recorded; 0 is a gap (no replica ran).
type Point struct {
	At         time.Time
	Minutes    int64
	Homes      float64
	Online     float64
	Running    float64
	CrashLoops float64
	Restarts   int64
}

// Reader reads the snapshots (postgres.FleetStore).
type Reader interface {
	// History returns the buckets of width bucket in [since, until), oldest
	// first, those with no snapshot left out.
	History(ctx context.Context, since, until time.Time, bucket time.Duration) ([]Point, error)
}

// Store keeps the snapshots (postgres.FleetStore).
type Store interface {
	Reader
	// Record writes the snapshot of the current minute, by the store's
	// clock, with online homes as given; a minute already written stays.
	Record(ctx context.Context, online int) error
	// Prune deletes the snapshots older than keep.
	Prune(ctx context.Context, keep time.Duration) (int64, error)
}

// Lease elects the replica that records (postgres.Lease, as for timers).
type Lease interface {
	Hold(ctx context.Context, holder string, ttl time.Duration) (bool, error)
	Release(ctx context.Context, holder string) error
}

// Range is a span the dashboard offers, with the bucket that keeps its
// picture under about a hundred points.
type Range struct {
	Name   string
	Span   time.Duration
	Bucket time.Duration
}

// Ranges are the spans offered, shortest first; the second is the default.
var Ranges = []Range{
	{"6h", 6 * time.Hour, 5 * time.Minute},
	{"24h", 24 * time.Hour, 15 * time.Minute},
	{"7d", 7 * 24 * time.Hour, 2 * time.Hour},
	{"30d", 30 * 24 * time.Hour, 6 * time.Hour},
	{"90d", 90 * 24 * time.Hour, 24 * time.Hour},
}

// RangeNamed returns the range called name, the default for "".
func RangeNamed(name string) (Range, error) {
	if name == "" {
		return Ranges[1], nil
	}
	for _, r := range Ranges {
		if r.Name == name {
			return r, nil
		}
	}
	return Range{}, fmt.Errorf("%w: range %q (6h, 24h, 7d, 30d or 90d)", ErrInvalidInput, name)
}

// Options tunes a Sampler; zero values take the defaults in brackets.
type Options struct {
	Every  time.Duration // between snapshots (1m)
	Keep   time.Duration // retention (90 days, the longest range)
	Holder string        // this replica's name in the lease; required with a lease
	Logger *slog.Logger  // (discard)
}

// Sampler records the fleet while it holds the lease.
type Sampler struct {
	store  Store
	lease  Lease
	online func() int
	opts   Options
	pruned time.Time
}

// NewSampler returns a Sampler; online counts the homes whose agent is
// connected now. With a nil lease it records on every call.
func NewSampler(store Store, lease Lease, online func() int, opts Options) *Sampler {
	if opts.Every <= 0 {
		opts.Every = time.Minute
	}
	if opts.Keep <= 0 {
		opts.Keep = 90 * 24 * time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Sampler{store: store, lease: lease, online: online, opts: opts}
}

// leaseTTL outlives two missed ticks, so a busy holder keeps the lease and
// a dead one is replaced within three minutes.
func (s *Sampler) leaseTTL() time.Duration { return 3 * s.opts.Every }

// Sample records one snapshot if this replica holds the lease, and prunes
// once an hour; it reports whether it recorded.
func (s *Sampler) Sample(ctx context.Context) (bool, error) {
	if s.lease != nil {
		held, err := s.lease.Hold(ctx, s.opts.Holder, s.leaseTTL())
		if err != nil || !held {
			return false, err
		}
	}
	if err := s.store.Record(ctx, s.online()); err != nil {
		return false, fmt.Errorf("fleet: record: %w", err)
	}
	if time.Since(s.pruned) >= time.Hour {
		if _, err := s.store.Prune(ctx, s.opts.Keep); err != nil {
			return true, fmt.Errorf("fleet: prune: %w", err)
		}
		s.pruned = time.Now()
	}
	return true, nil
}

// Run samples at once and then every opts.Every until ctx ends, then
// gives the lease up.
func (s *Sampler) Run(ctx context.Context) {
	t := time.NewTicker(s.opts.Every)
	defer t.Stop()
	if _, err := s.Sample(ctx); err != nil && ctx.Err() == nil {
		s.opts.Logger.Warn("fleet snapshot not recorded", "err", err)
	}
	for {
		select {
		case <-ctx.Done():
			if s.lease != nil {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				if err := s.lease.Release(rctx, s.opts.Holder); err != nil {
					s.opts.Logger.Warn("fleet lease not released; another replica records when it expires", "err", err)
				}
				cancel()
			}
			return
		case <-t.C:
			if _, err := s.Sample(ctx); err != nil && ctx.Err() == nil {
				s.opts.Logger.Warn("fleet snapshot not recorded", "err", err)
			}
		}
	}
}

// History returns the fleet over r ending at until (rounded up to r's
// bucket), one point per bucket, empty where nothing was recorded.
func History(ctx context.Context, store Reader, r Range, until time.Time) ([]Point, error) {
	until = until.UTC().Truncate(r.Bucket).Add(r.Bucket)
	since := until.Add(-r.Span)
	got, err := store.History(ctx, since, until, r.Bucket)
	if err != nil {
		return nil, fmt.Errorf("fleet history: %w", err)
	}
	byAt := make(map[time.Time]Point, len(got))
	for _, p := range got {
		byAt[p.At.UTC()] = p
	}
	out := make([]Point, 0, r.Span/r.Bucket)
	for at := since; at.Before(until); at = at.Add(r.Bucket) {
		p, ok := byAt[at]
		if !ok {
			p = Point{At: at}
		}
		out = append(out, p)
	}
	return out, nil
}
