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
	dropped          *prometheus.CounterVec
	coalesced        *prometheus.CounterVec
	queueBytes       prometheus.Gauge
	queueWait        prometheus.Histogram
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
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "homeplane_central_ingest_dropped_total",
			Help: "Agent messages dropped because the ingest queue was full (or closed), by kind.",
		}, []string{"kind"}),
		coalesced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "homeplane_central_ingest_coalesced_total",
			Help: "Queued agent messages replaced by a newer one of the same home before being applied: syncs by a full sync, samples by a sample.",
		}, []string{"kind"}),
		queueBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "homeplane_central_ingest_queue_bytes",
			Help: "Bytes of agent messages queued or being applied (payloads plus a fixed cost each).",
		}),
		queueWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "homeplane_central_ingest_queue_seconds",
			Help:    "Time agent messages waited in the ingest queue before being applied.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}),
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
	for _, k := range []topic.Kind{topic.Entities, topic.Result, topic.Telemetry, topic.Events} {
		m.dropped.WithLabelValues(string(k))
	}
	m.coalesced.WithLabelValues(string(topic.Entities))
	m.coalesced.WithLabelValues(string(topic.Telemetry))
	for _, c := range []prometheus.Collector{m.badPayloads, m.refused, m.syncFailures, m.instanceFailures,
		m.dropped, m.coalesced, m.queueBytes, m.queueWait} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
