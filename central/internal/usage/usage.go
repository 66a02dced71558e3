// Package usage turns the resource samples agents report about their Home
// Assistant containers into per-home Prometheus gauges and hourly rollups
// (CPU core-seconds, memory GiB-seconds), and computes the billing report
// from the rollups and the audited intents.
package usage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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

// Store keeps the hourly rollups (postgres.UsageStore).
type Store interface {
	// AddHourly adds the rows to what is stored for their home and hour.
	AddHourly(ctx context.Context, rows []Hourly) error
}

// Options tunes a Recorder. Zero fields take the defaults shown.
type Options struct {
	// MaxGap caps the time one sample stands for (5m), so an agent that was
	// away does not bill its absence at its last rate.
	MaxGap time.Duration
	// Recent is how many samples per home are kept for charts (120).
	Recent     int
	Every      time.Duration // flush interval of Run (1m)
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Recorder integrates samples into hourly rollups in memory and flushes them
// to the Store; it also exports the latest sample per home as gauges.
type Recorder struct {
	store Store
	opts  Options

	mu      sync.Mutex
	last    map[string]Sample
	recent  map[string][]Sample
	pending map[hourKey]*Hourly

	cpu, mem *prometheus.GaugeVec
	seen     *prometheus.GaugeVec
}

type hourKey struct {
	home string
	hour int64
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
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Recorder{
		store: store, opts: opts,
		last: map[string]Sample{}, recent: map[string][]Sample{}, pending: map[hourKey]*Hourly{},
		cpu: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "homeplane_central_home_cpu_cores", Help: "CPU cores the home's Home Assistant container uses, latest sample.",
		}, []string{"home_id"}),
		mem: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "homeplane_central_home_memory_bytes", Help: "Memory the home's Home Assistant container uses, latest sample.",
		}, []string{"home_id"}),
		seen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "homeplane_central_home_telemetry_timestamp_seconds", Help: "Time of the home's latest resource sample.",
		}, []string{"home_id"}),
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(r.cpu, r.mem, r.seen)
	}
	return r
}

// Add records one sample of homeID. The sample stands for the time since
// the home's previous one (at most MaxGap); a home's first sample only sets
// the gauges. Samples older than the previous one are ignored.
func (r *Recorder) Add(_ context.Context, homeID string, s Sample) error {
	if homeID == "" || s.Time.IsZero() || s.CPUPercent < 0 || s.CPUPercent > 100*4096 {
		return fmt.Errorf("%w: sample needs a home, a time and a sane cpu value", ErrInvalidInput)
	}
	s.Time = s.Time.UTC()
	r.mu.Lock()
	defer r.mu.Unlock()
	prev, seen := r.last[homeID]
	if seen && !s.Time.After(prev.Time) {
		return nil
	}
	r.last[homeID] = s
	rec := append(r.recent[homeID], s)
	if len(rec) > r.opts.Recent {
		rec = rec[len(rec)-r.opts.Recent:]
	}
	r.recent[homeID] = rec
	cores := s.CPUPercent / 100
	r.cpu.WithLabelValues(homeID).Set(cores)
	r.mem.WithLabelValues(homeID).Set(float64(s.MemoryBytes))
	r.seen.WithLabelValues(homeID).Set(float64(s.Time.UnixMilli()) / 1000)
	if !seen {
		return nil
	}
	dt := min(s.Time.Sub(prev.Time), r.opts.MaxGap).Seconds()
	hour := s.Time.Truncate(time.Hour)
	k := hourKey{homeID, hour.Unix()}
	h := r.pending[k]
	if h == nil {
		h = &Hourly{HomeID: homeID, Hour: hour}
		r.pending[k] = h
	}
	h.CPUCoreSeconds += cores * dt
	h.MemoryGiBSeconds += float64(s.MemoryBytes) / (1 << 30) * dt
	h.Samples++
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

// Flush writes the pending rollups. On failure they are kept for the next try.
func (r *Recorder) Flush(ctx context.Context) error {
	r.mu.Lock()
	rows := make([]Hourly, 0, len(r.pending))
	for _, h := range r.pending {
		rows = append(rows, *h)
	}
	r.pending = map[hourKey]*Hourly{}
	r.mu.Unlock()
	if len(rows) == 0 {
		return nil
	}
	if err := r.store.AddHourly(ctx, rows); err != nil {
		r.mu.Lock()
		for _, h := range rows {
			k := hourKey{h.HomeID, h.Hour.Unix()}
			if p := r.pending[k]; p != nil {
				p.CPUCoreSeconds += h.CPUCoreSeconds
				p.MemoryGiBSeconds += h.MemoryGiBSeconds
				p.Samples += h.Samples
			} else {
				r.pending[k] = &h
			}
		}
		r.mu.Unlock()
		return fmt.Errorf("usage: flush: %w", err)
	}
	return nil
}

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

// CPUGauge is the CPU gauge of a home, for tests and diagnostics.
func (r *Recorder) CPUGauge(homeID string) prometheus.Gauge { return r.cpu.WithLabelValues(homeID) }
