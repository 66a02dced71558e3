package instance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/vocab"
)

// ApplyTelemetry takes one resource sample; the status it carries replaces
// the stored one unless it is older. It satisfies ingest.InstanceSink.
func (s *Service) ApplyTelemetry(ctx context.Context, homeID string, t *homeplanev1.Telemetry) error {
	in := t.GetInstance()
	if in == nil {
		in = &homeplanev1.Instance{}
	} else {
		in = proto.Clone(in).(*homeplanev1.Instance)
	}
	in.CpuPercent, in.MemoryBytes, in.MemoryLimitBytes = t.GetCpuPercent(), t.GetMemoryBytes(), t.GetMemoryLimitBytes()
	if in.UpdatedAt == nil {
		in.UpdatedAt = t.GetTime()
	}
	return s.apply(ctx, homeID, func(e *entry) []Restart {
		s.m.sample(homeID, t)
		if in.State == "" {
			// A sample without a status only refreshes the numbers.
			e.status.CpuPercent, e.status.MemoryBytes, e.status.MemoryLimitBytes = in.CpuPercent, in.MemoryBytes, in.MemoryLimitBytes
			return nil
		}
		return s.mergeLocked(e, in)
	})
}

// ApplyStatus takes the status an instance command's result carries.
func (s *Service) ApplyStatus(ctx context.Context, homeID string, in *homeplanev1.Instance) error {
	if in == nil {
		return nil
	}
	in = proto.Clone(in).(*homeplanev1.Instance)
	if in.UpdatedAt == nil {
		in.UpdatedAt = timestamppb.New(s.now())
	}
	return s.apply(ctx, homeID, func(e *entry) []Restart { return s.mergeLocked(e, in) })
}

// ApplyEvent takes one supervisor event. It satisfies ingest.InstanceSink.
func (s *Service) ApplyEvent(ctx context.Context, homeID string, ev *homeplanev1.InstanceEvent) error {
	kind := vocab.KindOf(ev)
	name := vocab.KindName(kind)
	if name == "" {
		name = clip(ev.GetKind(), maxStateLen) // a kind newer than this central: shown, counted as other
	}
	s.m.event(name)
	return s.apply(ctx, homeID, func(e *entry) []Restart {
		at := ev.GetTime()
		if kind == homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_PULL_PROGRESS {
			s.pullLocked(e, ev)
			return nil
		}
		if e.op != nil && !e.opByRPC {
			e.op = nil // the agent's own operation (a provision at its start) is over
		}
		if e.status.LastEventTime != nil && at.AsTime().Before(e.status.LastEventTime.AsTime()) {
			return nil // an older event delivered late says nothing new
		}
		st := e.status
		st.LastEvent, st.LastEventReason, st.LastEventTime = name, clip(ev.GetReason(), maxTextLen), at
		// The next sample carries the full status; these keep it right
		// until then.
		switch kind {
		case homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_STOPPED:
			st.State, st.Health = "stopped", "unknown"
		case homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_STARTED:
			st.State, st.Health, st.StartedAt = "running", "starting", at
		case homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_DIED:
			st.State, st.Health = "stopped", "unhealthy"
		case homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_CRASH_LOOP:
			st.State, st.Health = "crash_loop", "unhealthy"
		case homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_REMOVED:
			st.State, st.Health = "missing", "unknown"
		case homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_HA_AUTH_FAILED:
			e.authFailed = true
			st.Health = HealthAuthFailed
		case homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_HA_AUTH_OK, homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_ONBOARDED:
			if e.authFailed {
				e.authFailed = false
				st.Health = "unknown" // the next status says
			}
		case homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_UPGRADED, homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_ROLLED_BACK,
			homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_PROVISIONED:
			if ev.GetImage() != "" {
				st.Image = clip(ev.GetImage(), maxTextLen)
			}
		}
		return nil
	})
}

// pullLocked records pull progress on the operation under way, or on one the
// agent started by itself.
func (s *Service) pullLocked(e *entry, ev *homeplanev1.InstanceEvent) {
	p := ev.GetPull()
	if p == nil {
		return
	}
	if e.op == nil {
		e.op = &homeplanev1.InstanceOperation{Image: clip(p.GetImage(), maxTextLen), StartedAt: ev.GetTime()}
	}
	e.op.PullCurrentBytes, e.op.PullTotalBytes = p.GetCurrentBytes(), p.GetTotalBytes()
	e.op.PullPercent = min(max(p.GetPercent(), 0), 100)
}

// mergeLocked takes an agent's status into the entry and returns the
// restarts it adds to the history.
func (s *Service) mergeLocked(e *entry, in *homeplanev1.Instance) []Restart {
	added := s.mergeRestartsLocked(e, in.GetRecentRestarts())
	cur := e.status
	if cur.UpdatedAt != nil && in.GetUpdatedAt().AsTime().Before(cur.UpdatedAt.AsTime()) {
		return added // delivered late (from the agent's outbox): keep the newer status
	}
	e.status = &homeplanev1.Instance{
		State:            clip(in.GetState(), maxStateLen),
		Health:           clip(in.GetHealth(), maxStateLen),
		Mode:             clip(in.GetMode(), maxStateLen),
		Image:            clip(in.GetImage(), maxTextLen),
		Version:          clip(in.GetVersion(), maxTextLen),
		StartedAt:        in.GetStartedAt(),
		Restarts:         max(in.GetRestarts(), 0),
		CpuPercent:       in.GetCpuPercent(),
		MemoryBytes:      in.GetMemoryBytes(),
		MemoryLimitBytes: in.GetMemoryLimitBytes(),
		UpdatedAt:        in.GetUpdatedAt(),
		LastEvent:        cur.LastEvent,
		LastEventReason:  cur.LastEventReason,
		LastEventTime:    cur.LastEventTime,
		LastSuccessAt:    in.GetLastSuccessAt(),
	}
	if e.status.LastSuccessAt == nil {
		e.status.LastSuccessAt = cur.LastSuccessAt
	}
	if e.authFailed && in.GetState() == "running" {
		e.status.Health = HealthAuthFailed
	}
	if e.status.State == "" {
		e.status.State = "unknown"
	}
	if e.status.Health == "" {
		e.status.Health = "unknown"
	}
	return added
}

// mergeRestartsLocked adds the restarts newer than the newest one known; the
// agent reports its whole recent list every time.
func (s *Service) mergeRestartsLocked(e *entry, in []*homeplanev1.Restart) []Restart {
	var newest time.Time
	if n := len(e.restarts); n > 0 {
		newest = e.restarts[n-1].Time
	}
	var added []Restart
	for _, r := range in {
		if !r.GetTime().IsValid() {
			continue
		}
		at := r.GetTime().AsTime().Truncate(time.Microsecond) // what the store keeps
		if at.After(newest) {
			added = append(added, Restart{Time: at, Reason: clip(r.GetReason(), maxTextLen)})
		}
	}
	slices.SortFunc(added, func(a, b Restart) int { return a.Time.Compare(b.Time) })
	added = slices.CompactFunc(added, func(a, b Restart) bool { return a.Time.Equal(b.Time) })
	if len(added) > s.historyLen {
		added = added[len(added)-s.historyLen:]
	}
	e.restarts = append(e.restarts, added...)
	if len(e.restarts) > s.historyLen {
		e.restarts = slices.Clone(e.restarts[len(e.restarts)-s.historyLen:])
	}
	return added
}

// apply runs fn on the home's entry and writes the result to the store when
// something worth writing changed, or the last write is older than the
// persist interval.
func (s *Service) apply(ctx context.Context, homeID string, fn func(*entry) []Restart) error {
	s.mu.Lock()
	e := s.entryLocked(homeID)
	added := fn(e)
	now := s.now()
	sig := sign(e.status)
	write := len(added) > 0 || sig != e.savedSign || now.Sub(e.savedAt) >= s.persistInterval
	var snap *homeplanev1.Instance
	if write {
		snap = proto.Clone(e.status).(*homeplanev1.Instance)
		e.savedSign, e.savedAt = sig, now
	}
	s.m.set(homeID, e.status)
	s.mu.Unlock()
	if !write {
		return nil
	}
	err := s.store.SaveInstance(ctx, homeID, snap, added, s.historyLen)
	if errors.Is(err, ErrUnknownHome) {
		// The home was deleted while its agent still talked.
		s.forgetMemory(homeID)
		s.log.Debug("instance status for an unknown home dropped", "home_id", homeID)
		return nil
	}
	if err != nil {
		s.mu.Lock()
		if e := s.homes[homeID]; e != nil {
			e.savedSign = "" // try again with the next message
		}
		s.mu.Unlock()
		return fmt.Errorf("instance: save: %w", err)
	}
	return nil
}
