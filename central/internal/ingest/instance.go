package ingest

import (
	"context"
	"fmt"
	"math"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
)

// maxCPUPercent is 4096 cores at 100 % each; more is not a real machine.
const maxCPUPercent = 100 * 4096

func (in *Intake) onTelemetry(t string, payload []byte) {
	m := &homeplanev1.Telemetry{}
	homeID, ok := in.receive(t, topic.Telemetry, payload, m)
	if !ok || !in.timed(t, topic.Telemetry, homeID, m.GetTime()) {
		return
	}
	if reason, err := in.checkTelemetry(m); err != nil {
		in.refuse(topic.Telemetry, homeID, reason, err)
		return
	}
	if in.admitSample(homeID, topic.Telemetry) {
		in.enqueue(homeID, topic.Telemetry, &item{kind: itemTelemetry, size: len(payload), tel: m})
	}
}

func (in *Intake) onEvent(t string, payload []byte) {
	m := &homeplanev1.InstanceEvent{}
	homeID, ok := in.receive(t, topic.Events, payload, m)
	if !ok || !in.timed(t, topic.Events, homeID, m.GetTime()) {
		return
	}
	if m.Kind == "" {
		in.bad(string(topic.Events), t, homeID, errNoKind)
		return
	}
	if err := in.checkTime("time", m.GetTime()); err != nil {
		in.refuse(topic.Events, homeID, reasonClock, err)
		return
	}
	if p := m.GetPull().GetPercent(); !finite(p) {
		in.refuse(topic.Events, homeID, reasonNonFinite, fmt.Errorf("pull percent %v", p))
		return
	}
	if in.admitSample(homeID, topic.Events) {
		in.enqueue(homeID, topic.Events, &item{kind: itemEvent, size: len(payload), ev: m})
	}
}

// timed reports whether the message carries a valid time, counting it as
// bad when it does not.
func (in *Intake) timed(t string, kind topic.Kind, homeID string, ts *timestamppb.Timestamp) bool {
	if !ts.IsValid() {
		in.bad(string(kind), t, homeID, errNoTime)
		return false
	}
	return true
}

// checkTelemetry refuses a sample that would poison what is kept of it: a
// value that is not a number would make every sum it enters NaN, and a time
// far in the future would make every later, real sample look late.
func (in *Intake) checkTelemetry(m *homeplanev1.Telemetry) (reason string, err error) {
	if cpu := m.GetCpuPercent(); !finite(cpu) || cpu < 0 || cpu > maxCPUPercent {
		return reasonNonFinite, fmt.Errorf("cpu percent %v", cpu)
	}
	if cpu := m.GetInstance().GetCpuPercent(); !finite(cpu) {
		return reasonNonFinite, fmt.Errorf("instance cpu percent %v", cpu)
	}
	if err := in.checkTime("time", m.GetTime()); err != nil {
		return reasonClock, err
	}
	if u := m.GetInstance().GetUpdatedAt(); u != nil {
		if err := in.checkTime("instance updated_at", u); err != nil {
			return reasonClock, err
		}
	}
	return "", nil
}

// checkTime accepts times from MaxAge ago to ClockSkew ahead of now.
func (in *Intake) checkTime(what string, ts *timestamppb.Timestamp) error {
	if !ts.IsValid() {
		return fmt.Errorf("%s is not a valid time", what)
	}
	at, now := ts.AsTime(), in.opts.Now()
	if at.After(now.Add(in.opts.ClockSkew)) || at.Before(now.Add(-in.opts.MaxAge)) {
		return fmt.Errorf("%s %s is outside %s ago to %s ahead", what, at.Format(time.RFC3339), in.opts.MaxAge, in.opts.ClockSkew)
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// admitSample checks the home's sample rate and marks the home seen.
func (in *Intake) admitSample(homeID string, kind topic.Kind) bool {
	if err := in.budgets.sample(homeID, in.opts.Now()); err != nil {
		in.refuse(kind, homeID, reasonRate, err)
		return false
	}
	in.to.Presence.Seen(homeID)
	return true
}

// toSinks hands one message to every sink, each with its own deadline, so a
// slow sink does not eat the others' time. A failing sink is counted and
// logged; the others still get the message.
func (in *Intake) toSinks(homeID string, kind topic.Kind, fn func(context.Context, InstanceSink) error) {
	for _, s := range in.to.Instances {
		ctx, cancel := context.WithTimeout(context.Background(), in.opts.SinkTimeout)
		err := fn(ctx, s)
		cancel()
		if err != nil {
			in.m.instanceFailures.WithLabelValues(string(kind)).Inc()
			in.log.Warn("instance message not applied", "kind", kind, "home_id", homeID, "error", err)
		}
	}
}
