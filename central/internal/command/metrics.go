package command

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	commands *prometheus.CounterVec
	seconds  prometheus.Histogram
	pending  prometheus.Gauge
	ignored  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "homeplane_central_commands_total",
			Help: "Commands sent to homes, by outcome.",
		}, []string{"outcome"}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "homeplane_central_command_seconds",
			Help:    "Time from publishing a command to its result or timeout.",
			Buckets: []float64{.0005, .001, .0015, .002, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "homeplane_central_commands_pending",
			Help: "Commands waiting for their results.",
		}),
		ignored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "homeplane_central_command_results_ignored_total",
			Help: "Results matching no waiting command (late, duplicate, or from another home), by reason.",
		}, []string{"reason"}),
	}
	for _, o := range []string{outcomeOK, outcomeFailed, outcomeOffline, outcomeTimeout, outcomeCanceled, outcomeBusy, outcomeError} {
		m.commands.WithLabelValues(o)
	}
	for _, r := range []string{"unknown_command", "wrong_home"} {
		m.ignored.WithLabelValues(r)
	}
	for _, c := range []prometheus.Collector{m.commands, m.seconds, m.pending, m.ignored} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) outcome(o string) { m.commands.WithLabelValues(o).Inc() }
