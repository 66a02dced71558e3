package uplink

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/agent/internal/command"
	"github.com/homeplane/homeplane/agent/internal/hasim"
	"github.com/homeplane/homeplane/agent/internal/homeassistant"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
)

// TestAttacksRound6Commands is the MQTT part of the sixth attack round
// (docs/benchmarks.md, "Attacks, round 6"; ADR 0056): hostile payloads on
// the agent's command topic of a real broker, handled by the agent's
// uplink, command runner and Home Assistant client against hasim, on a home
// allowing the light and switch domains. Each row asserts what Home
// Assistant was asked (nothing, or once), the answer published, and that
// the agent still serves the next command.
func TestAttacksRound6Commands(t *testing.T) {
	b, sim := startCommandRig(t)
	rowsRound6(t, b, sim)
}

// startCommandRig runs the agent's uplink, command runner and Home
// Assistant client against hasim and a real broker, on a home allowing the
// light and switch domains.
func startCommandRig(t *testing.T) (*testBroker, *hasim.Server) {
	b := startBroker(t, "127.0.0.1:0", newHook())
	sim := hasim.New(nil, hasim.Options{Token: "tok"})
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	client := homeassistant.New(srv.URL, "tok", homeassistant.Options{})
	services := command.NewServices(homeassistant.NewServices(client, &homeassistant.Facts{}),
		command.ServicesOptions{AllowedDomains: []string{"light", "switch"}})
	h := &handler{d: command.New(services, nil, command.Options{})}
	u := New(testIdentity(b.addr), h, Options{MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	eventually(t, "agent online", online(b, t))
	return b, sim
}

func rowsRound6(t *testing.T, b *testBroker, sim *hasim.Server) {

	light := "light.kitchen_ceiling"
	cmd := func(id string, calls ...*homeplanev1.ServiceCall) *homeplanev1.Command {
		return &homeplanev1.Command{Id: id, RequestId: "r-" + id, Deadline: timestamppb.New(time.Now().Add(time.Minute)), Calls: calls}
	}
	call := func(domain, service string, ids ...string) *homeplanev1.ServiceCall {
		return &homeplanev1.ServiceCall{Domain: domain, Service: service, EntityIds: ids}
	}
	encode := func(c *homeplanev1.Command) []byte {
		p, err := proto.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// answered waits for the result of id and checks its code.
	answered := func(t *testing.T, id string, code homeplanev1.CommandError) {
		t.Helper()
		eventually(t, "result of "+id, func() bool { return len(b.resultsFor(id)) > 0 })
		if r := b.resultsFor(id)[0]; r.GetCode() != code || (code == 0) != r.GetOk() {
			t.Errorf("result %v, want code %v", r, code)
		}
	}
	// stillServes checks the agent serves a good command afterwards.
	next := 0
	stillServes := func(t *testing.T) {
		t.Helper()
		next++
		id := fmt.Sprintf("next-%d", next)
		before := sim.CallCount()
		b.sendRaw(t, encode(cmd(id, call("light", "toggle", light))))
		answered(t, id, 0)
		if sim.CallCount() != before+1 {
			t.Errorf("the good command made %d calls", sim.CallCount()-before)
		}
	}
	huge, _ := structpb.NewStruct(map[string]any{"brightness_pct": strings.Repeat("9", 200<<10)})
	rows := []struct {
		name    string
		payload []byte
		topic   string // another topic than the home's command topic
		id      string // the command's id when a result must come
		code    homeplanev1.CommandError
		calls   int // service calls Home Assistant must see
	}{
		{name: "payload of 300 KiB", payload: make([]byte, 300<<10)},
		{name: "garbage bytes", payload: []byte("\xff\xfe{\"id\":\"x\"}\x00\x01")},
		{name: "a valid command on another home's topic", topic: topic.For("0a0a0a0a-1b4d-4e8f-9a6b-0c1d2e3f4a5b", topic.Command),
			payload: encode(cmd("other-home", call("light", "turn_on", light)))},
		// hasim, like Home Assistant, records only the services it has.
		{name: "an unknown service", payload: encode(cmd("unknown-svc", call("light", "explode", light))), id: "unknown-svc",
			code: command.CodeHomeAssistant},
		{name: "a domain the home does not allow (lock.unlock)", payload: encode(cmd("lock", call("lock", "unlock", "lock.front_door"))),
			id: "lock", code: command.CodeForbidden},
		{name: "an allowed service on a refused domain's entity", payload: encode(cmd("cross", call("light", "turn_on", "lock.front_door"))),
			id: "cross", code: command.CodeForbidden},
		{name: "homeassistant.restart", payload: encode(cmd("restart", call("homeassistant", "restart"))), id: "restart", code: command.CodeForbidden},
		{name: "entity id with a path (light.kitchen/../../config)", payload: encode(cmd("path1", call("light", "turn_on", "light.kitchen/../../config"))),
			id: "path1", code: command.CodeInvalid},
		{name: "entity id ../api.x and a query", payload: encode(cmd("path2", call("light", "turn_on", "../api.x", "light.a?b=c"))),
			id: "path2", code: command.CodeInvalid},
		{name: "domain with a path (light/../lock)", payload: encode(cmd("path3", call("light/../lock", "unlock", light))),
			id: "path3", code: command.CodeInvalid},
		{name: "entity_id smuggled in the service data", payload: encode(cmd("smuggle", &homeplanev1.ServiceCall{Domain: "light", Service: "turn_on",
			Data: &structpb.Struct{Fields: map[string]*structpb.Value{"entity_id": structpb.NewStringValue("lock.front_door")}}})),
			id: "smuggle", code: command.CodeInvalid},
		{name: "service data of 200 KiB", payload: encode(cmd("bigdata", &homeplanev1.ServiceCall{Domain: "light", Service: "turn_on",
			EntityIds: []string{light}, Data: huge})), id: "bigdata", code: command.CodeInvalid},
		{name: "a deadline in the past", payload: encode(&homeplanev1.Command{Id: "late", Deadline: timestamppb.New(time.Now().Add(-time.Hour)),
			Calls: []*homeplanev1.ServiceCall{call("light", "turn_on", light)}}), id: "late", code: command.CodeExpired},
		{name: "1,000 service calls", payload: encode(cmd("many", func() []*homeplanev1.ServiceCall {
			out := make([]*homeplanev1.ServiceCall, 1000)
			for i := range out {
				out[i] = call("light", "toggle", light)
			}
			return out
		}()...)), id: "many", code: command.CodeInvalid},
		{name: "a command id with control characters", payload: encode(cmd("a\x00b\nc", call("light", "turn_on", light))),
			id: "a\x00b\nc", code: command.CodeInvalid},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			before := sim.CallCount()
			if r.topic != "" {
				if err := b.srv.Publish(r.topic, r.payload, false, 1); err != nil {
					t.Fatal(err)
				}
			} else {
				b.sendRaw(t, r.payload)
			}
			if r.id != "" {
				answered(t, r.id, r.code)
			}
			stillServes(t)
			if got := sim.CallCount() - before - 1; got != r.calls {
				t.Errorf("Home Assistant saw %d calls, want %d", got, r.calls)
			}
		})
	}
	t.Run("the same command id replayed three times", func(t *testing.T) {
		before := sim.CallCount()
		p := encode(cmd("replayed", call("light", "toggle", light)))
		for range 3 {
			b.sendRaw(t, p)
		}
		eventually(t, "three answers", func() bool { return len(b.resultsFor("replayed")) == 3 })
		for _, r := range b.resultsFor("replayed") {
			if !r.GetOk() {
				t.Errorf("result %v", r)
			}
		}
		if got := sim.CallCount() - before; got != 1 {
			t.Errorf("Home Assistant saw %d calls, want 1", got)
		}
	})
}
