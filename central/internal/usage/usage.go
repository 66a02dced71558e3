// Package usage turns the resource samples agents report about their Home
// Assistant containers into per-home Prometheus gauges and hourly rollups
// (CPU core-seconds, memory GiB-seconds), and computes the billing report
// from the rollups and the audited intents.
//
// Several replicas may receive one home's samples, some twice, some out of
// order (ADR 0031): the Store records each (home, time) once and recomputes
// the hours a new sample touches from everything recorded, so a sample is
// billed once whichever replica, and however often, it arrived.
package usage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/homeplane/homeplane/central/internal/home"
)

// ErrInvalidInput is returned for a bad period or rate.
var ErrInvalidInput = errors.New("invalid input")

// Sample is one resource sample of a home's Home Assistant container.
type Sample struct {
	Time        time.Time
	CPUPercent  float64 // 100 is one full core
	MemoryBytes uint64
}

// Hourly is the resource use of one home in one hour.
type Hourly struct {
	HomeID           string
	Hour             time.Time
	CPUCoreSeconds   float64
	MemoryGiBSeconds float64
	Samples          int64
}

// HomeSample is a sample of one home.
type HomeSample struct {
	HomeID string
	Sample
}

// Store keeps the samples and the hourly rollups (postgres.UsageStore).
type Store interface {
	// AddSamples records the samples, ignoring those recorded already (the
	// same home and time), and recomputes from every recorded sample the
	// hourly rollups a new one changes: a sample stands for the time since
	// its home's previous one, at most maxGap, billed to the hour it falls
	// in; a home's first sample stands for nothing.
	AddSamples(ctx context.Context, samples []HomeSample, maxGap time.Duration) error
	// PurgeSamples deletes the samples older than before; the rollups stay.
	PurgeSamples(ctx context.Context, before time.Time) error
}

// Options tunes a Recorder. Zero fields take the defaults shown.
type Options struct {
	// MaxGap caps the time one sample stands for (5m), so an agent that was
	// away does not bill its absence at its last rate.
	MaxGap time.Duration
	// Recent is how many samples per home are kept for charts (120).
	Recent int
	Every  time.Duration // flush interval of Run (1m)
	// MaxLate is how old a sample may be and still be billed (6h): an
	// agent's outbox delivers what it kept while central was away. The
	// Store keeps samples MaxLate plus an hour and MaxGap, so that a late
	// sample finds its neighbours.
	MaxLate time.Duration
	// MaxPending bounds the samples waiting for the Store (100,000); past
	// it, while the Store fails, the newest are dropped and counted.
	MaxPending int
	Now        func() time.Time // time.Now
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Recorder batches samples to the Store, which bills them; it also exports
// the latest sample per home it received as gauges.
type Recorder struct {
	store Store
	opts  Options

	mu      sync.Mutex
	last    map[string]Sample
	recent  map[string][]Sample
	pending []HomeSample
	purged  time.Time

	cpu, mem *prometheus.GaugeVec
	seen     *prometheus.GaugeVec
	dropped  *prometheus.CounterVec
}

// NewRecorder returns a Recorder on store.
func NewRecorder(store Store, opts Options) *Recorder {
	if opts.MaxGap <= 0 {
		opts.MaxGap = 5 * time.Minute
	}
	if opts.Recent <= 0 {
		opts.Recent = 120
	}
	if opts.Every <= 0 {
		opts.Every = time.Minute
	}
	if opts.MaxLate <= 0 {
		opts.MaxLate = 6 * time.Hour
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = 100_000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Recorder{
		store: store, opts: opts,
		last: map[string]Sample{}, recent: map[string][]Sample{},
		cpu: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "homeplane_central_home_cpu_cores", Help: "CPU cores the home's Home Assistant container uses, latest sample.",
		}, []string{"home_id"}),
		mem: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "homeplane_central_home_memory_bytes", Help: "Memory the home's Home Assistant container uses, latest sample.",
		}, []string{"home_id"}),
		seen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "homeplane_central_home_telemetry_timestamp_seconds", Help: "Time of the home's latest resource sample.",
		}, []string{"home_id"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "homeplane_central_usage_samples_dropped_total", Help: "Resource samples not billed: too late, or while the store failed and too many waited.",
		}, []string{"reason"}),
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(r.cpu, r.mem, r.seen, r.dropped)
	}
	return r
}

// Add records one sample of homeID for the Store's next Flush. Only a
// sample newer than the latest this Recorder saw moves the gauges; billing
// is the Store's, over the samples of every replica.
func (r *Recorder) Add(_ context.Context, homeID string, s Sample) error {
	if !home.ValidID(homeID) || s.Time.IsZero() || s.CPUPercent < 0 || s.CPUPercent > 100*4096 || s.MemoryBytes > 1<<53 {
		return fmt.Errorf("%w: sample needs a home, a time and sane cpu and memory values", ErrInvalidInput)
	}
	// The Store keeps microseconds: two times that differ by less are one sample.
	s.Time = s.Time.UTC().Truncate(time.Microsecond)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case s.Time.Before(r.opts.Now().Add(-r.opts.MaxLate)):
		r.dropped.WithLabelValues("late").Inc()
	case len(r.pending) >= r.opts.MaxPending:
		r.dropped.WithLabelValues("backlog").Inc()
	default:
		r.pending = append(r.pending, HomeSample{HomeID: homeID, Sample: s})
	}
	if prev, seen := r.last[homeID]; seen && !s.Time.After(prev.Time) {
		return nil
	}
	r.last[homeID] = s
	rec := append(r.recent[homeID], s)
	if len(rec) > r.opts.Recent {
		rec = rec[len(rec)-r.opts.Recent:]
	}
	r.recent[homeID] = rec
	r.cpu.WithLabelValues(homeID).Set(s.CPUPercent / 100)
	r.mem.WithLabelValues(homeID).Set(float64(s.MemoryBytes))
	r.seen.WithLabelValues(homeID).Set(float64(s.Time.UnixMilli()) / 1000)
	return nil
}

// Recent returns the home's latest samples, oldest first.
func (r *Recorder) Recent(homeID string) []Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Sample(nil), r.recent[homeID]...)
}

// Forget drops a home's gauges and samples, for a deleted home.
func (r *Recorder) Forget(homeID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.last, homeID)
	delete(r.recent, homeID)
	r.cpu.DeleteLabelValues(homeID)
	r.mem.DeleteLabelValues(homeID)
	r.seen.DeleteLabelValues(homeID)
}

// Flush hands the pending samples to the Store. On failure they are kept
// for the next try (up to MaxPending). About once an hour it also purges
// the samples too old to matter.
func (r *Recorder) Flush(ctx context.Context) error {
	r.mu.Lock()
	batch := r.pending
	r.pending = nil
	purge := r.opts.Now().Sub(r.purged) >= time.Hour
	r.mu.Unlock()
	if len(batch) > 0 {
		if err := r.store.AddSamples(ctx, batch, r.opts.MaxGap); err != nil {
			r.mu.Lock()
			keep := min(len(batch), max(0, r.opts.MaxPending-len(r.pending)))
			r.dropped.WithLabelValues("backlog").Add(float64(len(batch) - keep))
			r.pending = append(batch[:keep:keep], r.pending...)
			r.mu.Unlock()
			return fmt.Errorf("usage: flush: %w", err)
		}
	}
	if purge {
		if err := r.store.PurgeSamples(ctx, r.opts.Now().Add(-r.Retention())); err != nil {
			return fmt.Errorf("usage: purge samples: %w", err)
		}
		r.mu.Lock()
		r.purged = r.opts.Now()
		r.mu.Unlock()
	}
	return nil
}

// Retention is how long the Store must keep samples: a sample MaxLate old
// still finds its predecessor (up to MaxGap before it) and every sample of
// its hour.
func (r *Recorder) Retention() time.Duration { return r.opts.MaxLate + time.Hour + r.opts.MaxGap }

// Run flushes every opts.Every until ctx ends, then once more.
func (r *Recorder) Run(ctx context.Context) {
	t := time.NewTicker(r.opts.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if err := r.Flush(fctx); err != nil {
				r.opts.Logger.Error("usage flush failed", "err", err)
			}
			cancel()
			return
		case <-t.C:
			if err := r.Flush(ctx); err != nil {
				r.opts.Logger.ErrorContext(ctx, "usage flush failed", "err", err)
			}
		}
	}
}

// Dropped is the counter of samples not billed for reason (late, backlog),
// for tests and diagnostics.
func (r *Recorder) Dropped(reason string) prometheus.Counter {
	return r.dropped.WithLabelValues(reason)
}

// CPUGauge is the CPU gauge of a home, for tests and diagnostics.
func (r *Recorder) CPUGauge(homeID string) prometheus.Gauge { return r.cpu.WithLabelValues(homeID) }
