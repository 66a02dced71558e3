package dispatch

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	commands   *prometheus.CounterVec
	duplicates prometheus.Counter
	haSeconds  prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "homeplane_agent_commands_total",
			Help: "Commands run, by outcome (ok or the result's error code).",
		}, []string{"outcome"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "homeplane_agent_command_duplicates_total",
			Help: "Command deliveries answered from the recent-command cache instead of being run.",
		}),
		haSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "homeplane_agent_service_call_seconds",
			Help:    "Time Home Assistant took per service call.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
	}
	if reg != nil {
		reg.MustRegister(m.commands, m.duplicates, m.haSeconds)
	}
	return m
}

func (m *metrics) outcome(o string) { m.commands.WithLabelValues(o).Inc() }
