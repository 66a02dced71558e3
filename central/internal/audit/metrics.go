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
		reg.MustRegister(m.batch, m.commit, m.wait, m.queue, m.failures, m.records)
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
