package supervisor

import (
	"context"
	"time"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// Container states reported in Status.
const (
	StateRunning    = "running"
	StateStopped    = "stopped"
	StateRestarting = "restarting"
	StateMissing    = "missing"
	StateCrashLoop  = "crash_loop"
	StateUnknown    = "unknown"
)

// Status returns the container's current status as central shows it.
func (s *Supervisor) Status(ctx context.Context) *homeplanev1.Instance {
	in := &homeplanev1.Instance{State: StateMissing, Health: HealthUnknown, Mode: "managed", UpdatedAt: timestamp(s.now())}
	c, err := s.d.ContainerInspect(ctx, s.opts.Name)
	s.mu.Lock()
	defer s.mu.Unlock()
	in.Image = s.st.Spec.Image
	in.Restarts = s.st.TotalRestarts
	in.LastSuccessAt = timestamp(s.haLastOK)
	for _, r := range s.st.Restarts {
		in.RecentRestarts = append(in.RecentRestarts, &homeplanev1.Restart{Time: timestamp(r.Time), Reason: r.Reason})
	}
	if s.sample != nil {
		in.CpuPercent = s.sample.CpuPercent
		in.MemoryBytes = s.sample.MemoryBytes
		in.MemoryLimitBytes = s.sample.MemoryLimitBytes
	}
	if err != nil || c.State == nil || c.Config == nil || c.Config.Labels[LabelManagedBy] != s.agentID {
		if err != nil && !isNotFound(err) {
			in.State = StateUnknown
		}
		return in
	}
	in.Image = c.Config.Image
	in.Version = c.Config.Labels[LabelVersion]
	if in.Version == "" {
		// Images without the OCI label: the version Home Assistant reports.
		in.Version = s.haVersion
	}
	switch {
	case c.State.Running:
		in.State = StateRunning
		in.Health = s.health
		if t, err := time.Parse(time.RFC3339Nano, c.State.StartedAt); err == nil {
			in.StartedAt = timestamp(t)
		}
	case c.State.Restarting:
		in.State = StateRestarting
	case s.st.CrashLoop:
		in.State = StateCrashLoop
		in.Health = HealthUnhealthy
	default:
		in.State = StateStopped
	}
	return in
}

// Observe takes what Home Assistant itself reported: its version (from
// /api/config) and when it last accepted a call from the agent.
func (s *Supervisor) Observe(version string, lastOK time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if version != "" {
		s.haVersion = version
	}
	if lastOK.After(s.haLastOK) {
		s.haLastOK = lastOK
	}
}

// Busy names the operation in progress, or "".
func (s *Supervisor) Busy() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.busy
}
