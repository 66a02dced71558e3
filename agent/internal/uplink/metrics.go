package uplink

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	connected     prometheus.Gauge
	connects      *prometheus.CounterVec
	commands      prometheus.Counter
	dropped       *prometheus.CounterVec
	published     *prometheus.CounterVec
	publishErrors *prometheus.CounterVec

	spooledResults prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "homeplane_agent_mqtt_connected",
			Help: "1 while the agent is connected to central's MQTT broker.",
		}),
		connects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "homeplane_agent_mqtt_connects_total",
			Help: "MQTT connection attempts, by result.",
		}, []string{"result"}),
		commands: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "homeplane_agent_mqtt_commands_received_total",
			Help: "Commands received and decoded, duplicates included.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "homeplane_agent_mqtt_dropped_total",
			Help: "Incoming messages dropped, by reason.",
		}, []string{"reason"}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "homeplane_agent_mqtt_published_total",
			Help: "Messages published and acknowledged, by topic kind.",
		}, []string{"kind"}),
		publishErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "homeplane_agent_mqtt_publish_errors_total",
			Help: "Publishes that failed, by topic kind.",
		}, []string{"kind"}),
		spooledResults: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "homeplane_agent_results_spooled_total",
			Help: "Results kept in the outbox because the connection their command came on was lost.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.connected, m.connects, m.commands, m.dropped, m.published, m.publishErrors, m.spooledResults)
	}
	return m
}
