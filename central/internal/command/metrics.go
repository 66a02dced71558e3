package command

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	commands     *prometheus.CounterVec
	seconds      prometheus.Histogram
	pending      prometheus.Gauge
	online       prometheus.Gauge
	badPayloads  *prometheus.CounterVec
	ignored      *prometheus.CounterVec
	syncFailures prometheus.Counter

	instanceFailures *prometheus.CounterVec
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
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "homeplane_central_commands_pending",
			Help: "Commands waiting for their results.",
		}),
		online: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "homeplane_central_homes_online",
			Help: "Homes whose agent is online.",
		}),
		badPayloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "homeplane_central_mqtt_bad_payloads_total",
			Help: "MQTT messages dropped as undecodable or on an unknown topic, by kind.",
		}, []string{"kind"}),
		ignored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "homeplane_central_command_results_ignored_total",
			Help: "Results matching no waiting command (late, duplicate, or from another home), by reason.",
		}, []string{"reason"}),
		syncFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "homeplane_central_entity_sync_failures_total",
			Help: "Entity syncs the registry did not apply.",
		}),
		instanceFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "homeplane_central_instance_sink_failures_total",
			Help: "Telemetry samples and supervisor events a sink did not apply, by kind.",
		}, []string{"kind"}),
	}
	for _, o := range []string{outcomeOK, outcomeFailed, outcomeOffline, outcomeTimeout, outcomeCanceled, outcomeBusy, outcomeError} {
		m.commands.WithLabelValues(o)
	}
	for _, k := range []string{"topic", "result", "presence", "entities", "telemetry", "events"} {
		m.badPayloads.WithLabelValues(k)
	}
	for _, k := range []string{"telemetry", "events"} {
		m.instanceFailures.WithLabelValues(k)
	}
	for _, r := range []string{"unknown_command", "wrong_home"} {
		m.ignored.WithLabelValues(r)
	}
	for _, c := range []prometheus.Collector{m.commands, m.seconds, m.pending, m.online, m.badPayloads, m.ignored, m.syncFailures, m.instanceFailures} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) outcome(o string) { m.commands.WithLabelValues(o).Inc() }
