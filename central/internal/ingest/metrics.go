package ingest

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/homeplane/homeplane/protocol/topic"
)

// Reasons a message is refused, as counted in
// homeplane_central_mqtt_refused_total.
const (
	reasonTooLarge  = "too_large"  // over topic.MaxPayload
	reasonRate      = "rate"       // over the home's rate
	reasonNonFinite = "non_finite" // a value that is not a finite number, or out of range
	reasonClock     = "clock"      // dated too far from now
)

type metrics struct {
	badPayloads      *prometheus.CounterVec
	refused          *prometheus.CounterVec
	syncFailures     prometheus.Counter
	instanceFailures *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		badPayloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "homeplane_central_mqtt_bad_payloads_total",
			Help: "MQTT messages dropped as undecodable or on an unknown topic, by kind.",
		}, []string{"kind"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "homeplane_central_mqtt_refused_total",
			Help: "Agent messages refused: too large, over the home's rate, not finite, or dated too far from now; by kind and reason.",
		}, []string{"kind", "reason"}),
		syncFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "homeplane_central_entity_sync_failures_total",
			Help: "Entity syncs the registry did not apply.",
		}),
		instanceFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "homeplane_central_instance_sink_failures_total",
			Help: "Telemetry samples and supervisor events a sink did not apply, by kind.",
		}, []string{"kind"}),
	}
	for _, k := range []string{"topic", "result", "presence", "entities", "telemetry", "events"} {
		m.badPayloads.WithLabelValues(k)
	}
	for _, k := range topic.Kinds {
		if k.FromAgent() {
			m.refused.WithLabelValues(string(k), reasonTooLarge)
		}
	}
	m.refused.WithLabelValues(string(topic.Entities), reasonRate)
	for _, k := range []topic.Kind{topic.Telemetry, topic.Events} {
		m.instanceFailures.WithLabelValues(string(k))
		for _, r := range []string{reasonRate, reasonNonFinite, reasonClock} {
			m.refused.WithLabelValues(string(k), r)
		}
	}
	for _, c := range []prometheus.Collector{m.badPayloads, m.refused, m.syncFailures, m.instanceFailures} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
