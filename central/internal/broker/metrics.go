package broker

import (
	"sync/atomic"

	"github.com/mochi-mqtt/server/v2/system"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	clients      prometheus.Gauge
	authFailures *prometheus.CounterVec
	aclDenials   *prometheus.CounterVec
	rejectedConn *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		clients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "homeplane_central_mqtt_clients",
			Help: "Authenticated MQTT clients connected to the embedded broker.",
		}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "homeplane_central_mqtt_auth_failures_total",
			Help: "MQTT connections refused, by reason.",
		}, []string{"reason"}),
		aclDenials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "homeplane_central_mqtt_acl_denials_total",
			Help: "MQTT subscriptions and publishes refused by the ACL, by action.",
		}, []string{"action"}),
		rejectedConn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "homeplane_central_mqtt_connections_rejected_total",
			Help: "TCP connections closed at accept by the broker's admission limits, by reason.",
		}, []string{"reason"}),
	}
	for _, r := range []string{refuseNoCredentials, refuseClientID, refuseCredentials, refuseUnavailable, refuseWill} {
		m.authFailures.WithLabelValues(r)
	}
	for _, r := range rejectReasons {
		m.rejectedConn.WithLabelValues(r)
	}
	for _, a := range []string{actionSubscribe, actionPublish} {
		m.aclDenials.WithLabelValues(a)
	}
	for _, c := range []prometheus.Collector{m.clients, m.authFailures, m.aclDenials, m.rejectedConn} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) rejected(reason string) { m.rejectedConn.WithLabelValues(reason).Inc() }

// watchPending exports the number of connections not yet authenticated.
func watchPending(reg prometheus.Registerer, pending func() int) error {
	return reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "homeplane_central_mqtt_pending_connections",
		Help: "MQTT connections accepted whose agent has not authenticated yet.",
	}, func() float64 { return float64(pending()) }))
}

// watchDropped exports mochi's counts of publishes to clients it dropped:
// those finding the client's write queue full (ClientWriteBuffer), and the
// QoS 1/2 ones finding its inflight window full (MaxInflight) or no packet
// id left. Either way the message is gone, and central's command to that
// agent times out.
func watchDropped(reg prometheus.Registerer, info *system.Info) error {
	for _, d := range []struct {
		reason string
		n      *int64
	}{
		{"write_queue", &info.MessagesDropped},
		{"inflight", &info.InflightDropped},
	} {
		err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "homeplane_central_mqtt_messages_dropped_total",
			Help:        "Publishes to MQTT clients the embedded broker dropped, by reason.",
			ConstLabels: prometheus.Labels{"reason": d.reason},
		}, func() float64 { return float64(atomic.LoadInt64(d.n)) }))
		if err != nil {
			return err
		}
	}
	return nil
}
