package instance

import (
	"github.com/prometheus/client_golang/prometheus"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/vocab"
)

// eventKinds are the supervisor event kinds counted by name, those of
// mqtt.proto's InstanceEventKind; any other kind counts as "other", so an
// agent cannot grow the label set.
var eventKinds = func() []string {
	kinds := []string{"other"}
	for v := range len(homeplanev1.InstanceEventKind_name) {
		if name := vocab.KindName(homeplanev1.InstanceEventKind(v)); name != "" {
			kinds = append(kinds, name)
		}
	}
	return kinds
}()

type metrics struct {
	cpu    *prometheus.GaugeVec
	memory *prometheus.GaugeVec
	up     *prometheus.GaugeVec
	events *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		cpu: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "homeplane_central_instance_cpu_percent",
			Help: "CPU use of the home's Home Assistant container in its latest sample (100 is one core).",
		}, []string{"home"}),
		memory: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "homeplane_central_instance_memory_bytes",
			Help: "Memory use of the home's Home Assistant container in its latest sample, without page cache.",
		}, []string{"home"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "homeplane_central_instance_up",
			Help: "1 when the home's Home Assistant container runs and is not unhealthy, else 0.",
		}, []string{"home"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "homeplane_central_instance_events_total",
			Help: "Supervisor events reported by agents, by kind.",
		}, []string{"kind"}),
	}
	for _, k := range eventKinds {
		m.events.WithLabelValues(k)
	}
	for _, c := range []prometheus.Collector{m.cpu, m.memory, m.up, m.events} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) set(homeID string, in *homeplanev1.Instance) {
	up := 0.0
	if in.GetState() == "running" && in.GetHealth() != "unhealthy" {
		up = 1
	}
	m.up.WithLabelValues(homeID).Set(up)
	m.cpu.WithLabelValues(homeID).Set(in.GetCpuPercent())
	m.memory.WithLabelValues(homeID).Set(float64(in.GetMemoryBytes()))
}

func (m *metrics) sample(homeID string, t *homeplanev1.Telemetry) {
	m.cpu.WithLabelValues(homeID).Set(t.GetCpuPercent())
	m.memory.WithLabelValues(homeID).Set(float64(t.GetMemoryBytes()))
}

func (m *metrics) forget(homeID string) {
	m.cpu.DeleteLabelValues(homeID)
	m.memory.DeleteLabelValues(homeID)
	m.up.DeleteLabelValues(homeID)
}

func (m *metrics) event(kind string) {
	for _, k := range eventKinds {
		if k == kind {
			m.events.WithLabelValues(k).Inc()
			return
		}
	}
	m.events.WithLabelValues("other").Inc()
}
