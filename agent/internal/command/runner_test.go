package command

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/agent/internal/homeassistant"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// newRunner runs service commands against ha, in adopt mode.
func newRunner(ha HomeAssistant, opts Options) *Runner {
	return New(NewServices(ha, ServicesOptions{}), nil, opts)
}

// fakeHA records calls and answers them from a script.
type fakeHA struct {
	mu    sync.Mutex
	calls []string
	data  []map[string]any
	// fail makes the call with this "domain.service" fail with err.
	fail string
	err  error
	// gate, when set, blocks every call until it is closed.
	gate chan struct{}
	// started receives one value per call as it begins.
	started chan struct{}
}

func (f *fakeHA) CallService(ctx context.Context, domain, service string, data map[string]any) ([]*homeplanev1.Entity, error) {
	f.mu.Lock()
	f.calls = append(f.calls, domain+"."+service)
	f.data = append(f.data, data)
	f.mu.Unlock()
	if f.started != nil {
		f.started <- struct{}{}
	}
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if domain+"."+service == f.fail {
		return nil, f.err
	}
	var out []*homeplanev1.Entity
	ids, _ := data["entity_id"].([]string)
	for _, id := range ids {
		attrs, _ := structpb.NewStruct(map[string]any{"brightness": 128, "friendly_name": "Lamp " + id})
		out = append(out, &homeplanev1.Entity{EntityId: id, State: service, Attributes: attrs})
	}
	return out, nil
}

func (f *fakeHA) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func command(id string, calls ...*homeplanev1.ServiceCall) *homeplanev1.Command {
	return &homeplanev1.Command{
		Id:        id,
		RequestId: "req-" + id,
		Deadline:  timestamppb.New(time.Now().Add(time.Minute)),
		Calls:     calls,
	}
}

func sc(domain, service string, ids ...string) *homeplanev1.ServiceCall {
	return &homeplanev1.ServiceCall{Domain: domain, Service: service, EntityIds: ids}
}

func TestHandleRunsCallsInOrder(t *testing.T) {
	ha := &fakeHA{}
	d := newRunner(ha, Options{})
	data, _ := structpb.NewStruct(map[string]any{"brightness_pct": 40})
	c2 := sc("light", "turn_on", "light.kitchen", "light.hall")
	c2.Data = data
	res := d.Handle(context.Background(), command("c1", sc("switch", "turn_off", "switch.fan"), c2))
	if !res.GetOk() || res.GetCode() != 0 || res.GetErrorCode() != "" {
		t.Fatalf("result = %v, want ok", res)
	}
	if res.GetCommandId() != "c1" || res.GetRequestId() != "req-c1" {
		t.Fatalf("ids not copied: %v", res)
	}
	if got := strings.Join(ha.calls, ","); got != "switch.turn_off,light.turn_on" {
		t.Fatalf("calls = %s", got)
	}
	if ha.data[1]["brightness_pct"] != float64(40) {
		t.Fatalf("data = %v, want brightness_pct 40", ha.data[1])
	}
	if ids, _ := ha.data[1]["entity_id"].([]string); len(ids) != 2 || ids[0] != "light.kitchen" {
		t.Fatalf("entity_id = %v", ha.data[1]["entity_id"])
	}
	var changed []string
	for _, e := range res.GetChanged() {
		changed = append(changed, e.GetEntityId())
	}
	if got := strings.Join(changed, ","); got != "switch.fan,light.kitchen,light.hall" {
		t.Fatalf("changed = %s", got)
	}
	if res.GetHomeAssistantUs() < 0 {
		t.Fatalf("home_assistant_us = %d", res.GetHomeAssistantUs())
	}
}

func TestFirstFailureStops(t *testing.T) {
	cases := []struct {
		name     string
		err      error
		wantCode homeplanev1.CommandError
	}{
		{"home assistant refuses", errors.New("400: Service light.turn_on not found"), CodeHomeAssistant},
		{"home assistant unreachable", fmt.Errorf("call: %w", homeassistant.ErrUnavailable), CodeUnavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ha := &fakeHA{fail: "light.turn_on", err: c.err}
			d := newRunner(ha, Options{})
			res := d.Handle(context.Background(), command("c1",
				sc("switch", "turn_off", "switch.fan"),
				sc("light", "turn_on", "light.kitchen"),
				sc("cover", "open_cover", "cover.garage")))
			if res.GetOk() || res.GetCode() != c.wantCode {
				t.Fatalf("result = %v, want error code %v", res, c.wantCode)
			}
			if !strings.Contains(res.GetError(), "call 2") || len(res.GetError()) > maxErrorLen+4 {
				t.Fatalf("error = %q, want a short message naming call 2", res.GetError())
			}
			if got := strings.Join(ha.calls, ","); got != "switch.turn_off,light.turn_on" {
				t.Fatalf("calls = %s, want the third skipped", got)
			}
			if len(res.GetChanged()) != 1 || res.GetChanged()[0].GetEntityId() != "switch.fan" {
				t.Fatalf("changed = %v, want the first call's state", res.GetChanged())
			}
		})
	}
}

func TestExpired(t *testing.T) {
	ha := &fakeHA{}
	d := newRunner(ha, Options{})
	cmd := command("late", sc("light", "turn_on", "light.kitchen"))
	cmd.Deadline = timestamppb.New(time.Now().Add(-time.Second))
	res := d.Handle(context.Background(), cmd)
	if res.GetOk() || res.GetCode() != CodeExpired {
		t.Fatalf("result = %v, want expired", res)
	}
	if ha.callCount() != 0 {
		t.Fatalf("Home Assistant called %d times for an expired command", ha.callCount())
	}
}

func TestDeadlinePassesDuringCall(t *testing.T) {
	ha := &fakeHA{gate: make(chan struct{})}
	d := newRunner(ha, Options{})
	cmd := command("slow", sc("light", "turn_on", "light.kitchen"))
	cmd.Deadline = timestamppb.New(time.Now().Add(50 * time.Millisecond))
	res := d.Handle(context.Background(), cmd)
	if res.GetCode() != CodeExpired {
		t.Fatalf("result = %v, want expired", res)
	}
}

func TestInvalid(t *testing.T) {
	withData := sc("light", "turn_on", "light.kitchen")
	withData.Data, _ = structpb.NewStruct(map[string]any{"entity_id": "lock.front_door"})
	many := make([]*homeplanev1.ServiceCall, 33)
	for i := range many {
		many[i] = sc("light", "toggle", "light.a")
	}
	badDeadline := command("x", sc("light", "turn_on", "light.a"))
	badDeadline.Deadline = &timestamppb.Timestamp{Nanos: -1}
	cases := []struct {
		name string
		cmd  *homeplanev1.Command
	}{
		{"no id", command("", sc("light", "turn_on", "light.a"))},
		{"id with space", command("a b", sc("light", "turn_on", "light.a"))},
		{"long id", command(strings.Repeat("a", 200), sc("light", "turn_on", "light.a"))},
		{"no calls", command("x")},
		{"too many calls", command("x", many...)},
		{"upper case domain", command("x", sc("Light", "turn_on", "light.a"))},
		{"domain with slash", command("x", sc("light/x", "turn_on", "light.a"))},
		{"empty service", command("x", sc("light", "", "light.a"))},
		{"entity without dot", command("x", sc("light", "turn_on", "kitchen"))},
		{"entity double underscore", command("x", sc("light", "turn_on", "light.a__b"))},
		{"entity leading underscore", command("x", sc("light", "turn_on", "light._a"))},
		{"entity with two dots", command("x", sc("light", "turn_on", "light.a.b"))},
		{"entity_id smuggled in data", command("x", withData)},
		{"bad deadline", badDeadline},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ha := &fakeHA{}
			res := newRunner(ha, Options{}).Handle(context.Background(), c.cmd)
			if res.GetOk() || res.GetCode() != CodeInvalid || res.GetError() == "" {
				t.Fatalf("result = %v, want invalid with a message", res)
			}
			if ha.callCount() != 0 {
				t.Fatalf("Home Assistant called for an invalid command")
			}
			if len(res.GetCommandId()) > maxIDLen+4 {
				t.Fatalf("command id echoed unbounded (%d bytes)", len(res.GetCommandId()))
			}
		})
	}
}

func TestValidEntityID(t *testing.T) {
	for id, want := range map[string]bool{
		"light.kitchen":          true,
		"sensor.temp_2":          true,
		"binary_sensor.door_1":   true,
		"light.":                 false,
		".kitchen":               false,
		"light.kitchen_":         false,
		"light.Kitchen":          false,
		"light.küche":            false,
		"light.kitchen+":         false,
		"":                       false,
		strings.Repeat("a", 300): false,
	} {
		if got := ValidEntityID(id); got != want {
			t.Errorf("ValidEntityID(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestDuplicateAfterCompletionResendsResult(t *testing.T) {
	ha := &fakeHA{}
	d := newRunner(ha, Options{})
	cmd := command("c1", sc("light", "turn_on", "light.kitchen"))
	first := d.Handle(context.Background(), cmd)
	// The redelivery arrives after the deadline, yet the stored result wins:
	// the command did run.
	late := proto.CloneOf(cmd)
	late.Deadline = timestamppb.New(time.Now().Add(-time.Hour))
	second := d.Handle(context.Background(), late)
	if ha.callCount() != 1 {
		t.Fatalf("Home Assistant called %d times, want 1", ha.callCount())
	}
	if !proto.Equal(first, second) || len(second.GetChanged()) != 1 || second.GetChanged()[0].GetAttributes() == nil {
		t.Fatalf("duplicate result %v differs from %v", second, first)
	}
}

func TestConcurrentDuplicatesRunOnce(t *testing.T) {
	ha := &fakeHA{gate: make(chan struct{}), started: make(chan struct{}, 16)}
	d := newRunner(ha, Options{})
	cmd := command("c1", sc("light", "turn_on", "light.kitchen"))
	const n = 8
	results := make(chan *homeplanev1.Result, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { results <- d.Handle(context.Background(), proto.CloneOf(cmd)) })
	}
	<-ha.started // one delivery is in Home Assistant; the others must wait for it
	close(ha.gate)
	wg.Wait()
	close(results)
	if ha.callCount() != 1 {
		t.Fatalf("Home Assistant called %d times, want 1", ha.callCount())
	}
	for r := range results {
		if r == nil || !r.GetOk() || r.GetCommandId() != "c1" || len(r.GetChanged()) != 1 {
			t.Fatalf("duplicate got %v, want the same ok result", r)
		}
	}
}

func TestDuplicateWaiterGivesUpWithContext(t *testing.T) {
	ha := &fakeHA{gate: make(chan struct{}), started: make(chan struct{}, 1)}
	d := newRunner(ha, Options{})
	cmd := command("c1", sc("light", "turn_on", "light.kitchen"))
	done := make(chan *homeplanev1.Result)
	go func() { done <- d.Handle(context.Background(), cmd) }()
	<-ha.started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r := d.Handle(ctx, cmd); r != nil {
		t.Fatalf("cancelled duplicate returned %v, want nil", r)
	}
	close(ha.gate)
	if r := <-done; !r.GetOk() {
		t.Fatalf("first delivery = %v", r)
	}
}

func TestCacheBoundedAndExpires(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	ha := &fakeHA{}
	d := newRunner(ha, Options{CacheSize: 4, CacheTTL: time.Minute, Now: clock})
	for i := range 10 {
		cmd := command(fmt.Sprint("c", i), sc("light", "turn_on", "light.a"))
		cmd.Deadline = timestamppb.New(now.Add(time.Second))
		d.Handle(context.Background(), cmd)
	}
	if n := d.table.len(); n > 4 {
		t.Fatalf("cache holds %d entries, bound is 4", n)
	}
	// c9 is remembered; after the TTL it is forgotten and would run again.
	cmd := command("c9", sc("light", "turn_on", "light.a"))
	cmd.Deadline = timestamppb.New(now.Add(time.Second))
	d.Handle(context.Background(), cmd)
	if ha.callCount() != 10 {
		t.Fatalf("calls = %d, want 10 (c9 deduplicated)", ha.callCount())
	}
	now = now.Add(2 * time.Minute)
	cmd.Deadline = timestamppb.New(now.Add(time.Second))
	d.Handle(context.Background(), cmd)
	if ha.callCount() != 11 {
		t.Fatalf("calls = %d, want 11 (c9 forgotten after TTL)", ha.callCount())
	}
}
