package command

import "github.com/homeplane/homeplane/agent/internal/metrics"

type runnerMetrics struct {
	commands   *metrics.CounterVec
	duplicates *metrics.Counter
}

func newRunnerMetrics(reg *metrics.Registry) *runnerMetrics {
	return &runnerMetrics{
		commands: reg.CounterVec("homeplane_agent_commands_total",
			"Commands run, by outcome (ok or the result's error code).", "outcome"),
		duplicates: reg.Counter("homeplane_agent_command_duplicates_total",
			"Command deliveries answered from the recent-command cache instead of being run."),
	}
}

func (m *runnerMetrics) outcome(o string) { m.commands.With(o).Inc() }

func newServiceCallSeconds(reg *metrics.Registry) *metrics.Histogram {
	return reg.Histogram("homeplane_agent_service_call_seconds",
		"Time Home Assistant took per service call.", metrics.ExponentialBuckets(0.005, 2, 12))
}
