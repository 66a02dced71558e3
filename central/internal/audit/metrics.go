package audit

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// writerMetrics describe the group commit; all are no-ops without a Registerer.
type writerMetrics struct {
	batch    prometheus.Histogram
	commit   prometheus.Histogram
	wait     prometheus.Histogram
	queued   prometheus.Histogram
	wake     prometheus.Histogram
	queue    prometheus.Gauge
	failures prometheus.Counter
	records  prometheus.Counter
}

func newWriterMetrics(reg prometheus.Registerer) writerMetrics {
	m := writerMetrics{
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "homeplane_central_audit_batch_records", Help: "Records committed together in one audit commit.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 7),
		}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "homeplane_central_audit_commit_seconds", Help: "Duration of one audit commit.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 12),
		}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "homeplane_central_audit_write_seconds", Help: "Time a request waits for its record: the queue, then the commit.",
			Buckets: prometheus.ExponentialBuckets(0.00025, 2, 14),
		}),
		queued: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "homeplane_central_audit_queued_seconds", Help: "Time a record waits for its commit to begin.",
			Buckets: prometheus.ExponentialBuckets(0.00025, 2, 14),
		}),
		wake: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "homeplane_central_audit_wake_seconds", Help: "Time from a record's commit to its request running again.",
			Buckets: prometheus.ExponentialBuckets(0.00025, 2, 14),
		}),
		queue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "homeplane_central_audit_queue_records", Help: "Records waiting for an audit commit.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "homeplane_central_audit_commit_failures_total", Help: "Audit commits that failed.",
		}),
		records: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "homeplane_central_audit_records_total", Help: "Audit records committed.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.batch, m.commit, m.wait, m.queued, m.wake, m.queue, m.failures, m.records)
	}
	return m
}

func (m writerMetrics) observe(n int, d time.Duration, queued int, err error) {
	m.queue.Set(float64(queued))
	m.commit.Observe(d.Seconds())
	if err != nil {
		m.failures.Inc()
		return
	}
	m.batch.Observe(float64(n))
	m.records.Add(float64(n))
}

// waited observes a committed record's wait, taken apart: the queue before
// its commit, and the time its request took to run again after it, which
// on a saturated host is the scheduler's and not the database's.
func (m writerMetrics) waited(p *pending, now int64) {
	m.wait.Observe(time.Duration(now - p.queued).Seconds())
	m.queued.Observe(time.Duration(p.began - p.queued).Seconds())
	m.wake.Observe(time.Duration(now - p.ended).Seconds())
}
