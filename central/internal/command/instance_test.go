package command_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/central/internal/ingest"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
)

// instanceSink is a hand-written InstanceSink recording what it is given.
type instanceSink struct {
	mu   sync.Mutex
	fail error
	tele map[string][]*homeplanev1.Telemetry
	evs  map[string][]*homeplanev1.InstanceEvent
}

func (s *instanceSink) ApplyTelemetry(ctx context.Context, homeID string, t *homeplanev1.Telemetry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := ctx.Deadline(); !ok {
		return errors.New("sink called without a deadline")
	}
	if s.tele == nil {
		s.tele = make(map[string][]*homeplanev1.Telemetry)
	}
	s.tele[homeID] = append(s.tele[homeID], t)
	return s.fail
}

func (s *instanceSink) ApplyEvent(ctx context.Context, homeID string, ev *homeplanev1.InstanceEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := ctx.Deadline(); !ok {
		return errors.New("sink called without a deadline")
	}
	if s.evs == nil {
		s.evs = make(map[string][]*homeplanev1.InstanceEvent)
	}
	s.evs[homeID] = append(s.evs[homeID], ev)
	return s.fail
}

func (s *instanceSink) counts(homeID string) (tele, evs int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tele[homeID]), len(s.evs[homeID])
}

func TestInstanceMessagesReachEverySink(t *testing.T) {
	failing := &instanceSink{fail: errors.New("disk full")}
	good := &instanceSink{}
	e := newEnv(t, envConfig{instances: []ingest.InstanceSink{failing, good}})
	a := startAgent(t, e, "agent-a", nil)
	e.waitOnline(t, homeA, true)

	now := timestamppb.New(time.Now())
	tele := &homeplanev1.Telemetry{Time: now, ContainerId: "c1", CpuPercent: 12.5, MemoryBytes: 300 << 20,
		Instance: &homeplanev1.Instance{State: "running", Health: "healthy"}}
	ev := &homeplanev1.InstanceEvent{Time: now, Kind: "restarted", Reason: "health probe failed 3 times"}
	a.publish(topic.Telemetry, tele, false)
	a.publish(topic.Events, ev, false)

	waitFor(t, "both messages at the good sink", func() bool {
		n, m := good.counts(homeA)
		return n == 1 && m == 1
	})
	good.mu.Lock()
	gotT, gotE := good.tele[homeA][0], good.evs[homeA][0]
	good.mu.Unlock()
	if !proto.Equal(gotT, tele) || !proto.Equal(gotE, ev) {
		t.Fatalf("sink got %v and %v, want %v and %v", gotT, gotE, tele, ev)
	}
	if n, m := failing.counts(homeA); n != 1 || m != 1 {
		t.Fatalf("failing sink got %d telemetry and %d events, want 1 and 1", n, m)
	}
	if n, m := good.counts(homeB); n != 0 || m != 0 {
		t.Fatalf("home B got %d/%d messages it never sent", n, m)
	}
	for _, kind := range []string{"telemetry", "events"} {
		if n := metric(t, e.reg, "homeplane_central_instance_sink_failures_total", "kind", kind); n != 1 {
			t.Fatalf("sink failures{%s} = %v, want 1", kind, n)
		}
	}
}

func TestInstanceBadPayloads(t *testing.T) {
	garbage := []byte{0xff, 0xff, 0xff}
	noTime, _ := proto.Marshal(&homeplanev1.Telemetry{CpuPercent: 1})
	noKind, _ := proto.Marshal(&homeplanev1.InstanceEvent{Time: timestamppb.Now()})
	cases := []struct {
		name    string
		kind    topic.Kind
		payload []byte
	}{
		{"undecodable telemetry", topic.Telemetry, garbage},
		{"telemetry without time", topic.Telemetry, noTime},
		{"undecodable event", topic.Events, garbage},
		{"event without kind", topic.Events, noKind},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &instanceSink{}
			e := newEnv(t, envConfig{instances: []ingest.InstanceSink{s}})
			a := startAgent(t, e, "agent-a", nil)
			e.waitOnline(t, homeA, true)
			a.publishRaw(topic.For(homeA, c.kind), c.payload, false)
			waitFor(t, "bad payload counted", func() bool {
				return metric(t, e.reg, "homeplane_central_mqtt_bad_payloads_total", "kind", string(c.kind)) == 1
			})
			// A good message after the bad one still arrives, so the bad one
			// was dropped rather than still on its way.
			a.publish(c.kind, validOf(c.kind), false)
			waitFor(t, "the good message", func() bool {
				n, m := s.counts(homeA)
				return n+m == 1
			})
		})
	}
}

func validOf(k topic.Kind) proto.Message {
	if k == topic.Telemetry {
		return &homeplanev1.Telemetry{Time: timestamppb.Now()}
	}
	return &homeplanev1.InstanceEvent{Time: timestamppb.Now(), Kind: "healthy"}
}

func TestInstanceMessagesWithoutSinks(t *testing.T) {
	e := newEnv(t, envConfig{})
	a := startAgent(t, e, "agent-a", ok)
	e.waitOnline(t, homeA, true)
	a.publish(topic.Telemetry, &homeplanev1.Telemetry{Time: timestamppb.Now()}, false)
	// A command round trip after the telemetry proves it was handled
	// (messages from one client arrive in order) without a panic.
	if _, err := e.r.Execute(t.Context(), homeA, lightsOff()); err != nil {
		t.Fatalf("Execute after telemetry: %v", err)
	}
	if n := metric(t, e.reg, "homeplane_central_mqtt_bad_payloads_total", "kind", "telemetry"); n != 0 {
		t.Fatalf("bad telemetry = %v", n)
	}
}
