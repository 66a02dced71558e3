package uplink

import "github.com/homeplane/homeplane/agent/internal/metrics"

type uplinkMetrics struct {
	connected     *metrics.Gauge
	connects      *metrics.CounterVec
	commands      *metrics.Counter
	dropped       *metrics.CounterVec
	published     *metrics.CounterVec
	publishErrors *metrics.CounterVec

	spooledResults *metrics.Counter
}

func newMetrics(reg *metrics.Registry) *uplinkMetrics {
	return &uplinkMetrics{
		connected: reg.Gauge("homeplane_agent_mqtt_connected",
			"1 while the agent is connected to central's MQTT broker."),
		connects: reg.CounterVec("homeplane_agent_mqtt_connects_total",
			"MQTT connection attempts, by result.", "result"),
		commands: reg.Counter("homeplane_agent_mqtt_commands_received_total",
			"Commands received and decoded, duplicates included."),
		dropped: reg.CounterVec("homeplane_agent_mqtt_dropped_total",
			"Incoming messages dropped, by reason.", "reason"),
		published: reg.CounterVec("homeplane_agent_mqtt_published_total",
			"Messages published and acknowledged, by topic kind.", "kind"),
		publishErrors: reg.CounterVec("homeplane_agent_mqtt_publish_errors_total",
			"Publishes that failed, by topic kind.", "kind"),
		spooledResults: reg.Counter("homeplane_agent_results_spooled_total",
			"Results kept in the outbox because the connection their command came on was lost."),
	}
}
