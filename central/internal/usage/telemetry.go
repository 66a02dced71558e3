package usage

import (
	"context"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// ApplyTelemetry takes one agent resource sample (an ingest.InstanceSink).
func (r *Recorder) ApplyTelemetry(ctx context.Context, homeID string, t *homeplanev1.Telemetry) error {
	return r.Add(ctx, homeID, Sample{Time: t.GetTime().AsTime(), CPUPercent: t.GetCpuPercent(), MemoryBytes: t.GetMemoryBytes()})
}

// ApplyEvent ignores supervisor events: they carry no resource use.
func (r *Recorder) ApplyEvent(context.Context, string, *homeplanev1.InstanceEvent) error { return nil }
