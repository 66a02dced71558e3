package command_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/central/internal/command"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
)

func lightsOff() *homeplanev1.Command {
	return &homeplanev1.Command{
		RequestId: "req-1",
		Calls:     []*homeplanev1.ServiceCall{{Domain: "light", Service: "turn_off", EntityIds: []string{"light.kitchen"}}},
	}
}

func TestExecuteRoundTrip(t *testing.T) {
	cases := []struct {
		name    string
		answer  func(*homeplanev1.Command) *homeplanev1.Result
		wantOK  bool
		outcome string
	}{
		{"success", func(c *homeplanev1.Command) *homeplanev1.Result {
			return &homeplanev1.Result{CommandId: c.Id, RequestId: c.RequestId, Ok: true, HomeAssistantUs: 1200,
				Changed: []*homeplanev1.Entity{{EntityId: "light.kitchen", State: "off"}}}
		}, true, "ok"},
		{"home assistant failure", func(c *homeplanev1.Command) *homeplanev1.Result {
			return &homeplanev1.Result{CommandId: c.Id, RequestId: c.RequestId, ErrorCode: "home_assistant", Error: "boom"}
		}, false, "failed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, envConfig{})
			a := startAgent(t, e, "agent-a", c.answer)
			e.waitOnline(t, homeA, true)

			cmd := lightsOff()
			before := time.Now()
			res, err := e.r.Execute(t.Context(), homeA, cmd)
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			if cmd.Id == "" || res.CommandId != cmd.Id || res.RequestId != "req-1" || res.Ok != c.wantOK {
				t.Fatalf("result %v for command %q", res, cmd.Id)
			}
			if c.wantOK && (len(res.Changed) != 1 || res.Changed[0].State != "off") {
				t.Fatalf("changed = %v", res.Changed)
			}
			got := a.commands()
			if len(got) != 1 || !proto.Equal(got[0], cmd) {
				t.Fatalf("agent received %v, want %v", got, cmd)
			}
			// No deadline on the context: DefaultTimeout from now.
			dl := got[0].Deadline.AsTime()
			if dl.Before(before.Add(4*time.Second)) || dl.After(time.Now().Add(5*time.Second)) {
				t.Fatalf("deadline %v not about 5s after %v", dl, before)
			}
			if n := metric(t, e.reg, "homeplane_central_commands_total", "outcome", c.outcome); n != 1 {
				t.Fatalf("commands{%s} = %v", c.outcome, n)
			}
			if n := metric(t, e.reg, "homeplane_central_command_seconds"); n != 1 {
				t.Fatalf("command_seconds count = %v", n)
			}
			if n := metric(t, e.reg, "homeplane_central_commands_pending"); n != 0 {
				t.Fatalf("pending = %v after the result", n)
			}
		})
	}
}

func TestExecuteTimeout(t *testing.T) {
	e := newEnv(t, envConfig{})
	a := startAgent(t, e, "agent-a", nil) // receives, never answers
	e.waitOnline(t, homeA, true)

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	ctxDeadline, _ := ctx.Deadline()
	start := time.Now()
	res, err := e.r.Execute(ctx, homeA, lightsOff())
	if !errors.Is(err, command.ErrTimeout) || res != nil {
		t.Fatalf("Execute = %v, %v; want ErrTimeout", res, err)
	}
	if el := time.Since(start); el < 250*time.Millisecond || el > 3*time.Second {
		t.Fatalf("timed out after %v, want about 300ms", el)
	}
	waitFor(t, "command at agent", func() bool { return len(a.commands()) == 1 })
	if got := a.commands()[0].Deadline.AsTime(); !got.Equal(ctxDeadline) {
		t.Fatalf("command deadline %v, want the context's %v", got, ctxDeadline)
	}
	if n := metric(t, e.reg, "homeplane_central_commands_total", "outcome", "timeout"); n != 1 {
		t.Fatalf("commands{timeout} = %v", n)
	}
	if n := metric(t, e.reg, "homeplane_central_commands_pending"); n != 0 {
		t.Fatalf("pending = %v after the timeout", n)
	}
}

func TestExecuteDeadlines(t *testing.T) {
	e := newEnv(t, envConfig{opts: command.Options{DefaultTimeout: 200 * time.Millisecond}})
	a := startAgent(t, e, "agent-a", nil)
	e.waitOnline(t, homeA, true)

	t.Run("earlier deadline on the command wins", func(t *testing.T) {
		cmd := lightsOff()
		want := time.Now().Add(100 * time.Millisecond).Truncate(time.Microsecond)
		cmd.Deadline = timestamppb.New(want)
		if _, err := e.r.Execute(t.Context(), homeA, cmd); !errors.Is(err, command.ErrTimeout) {
			t.Fatalf("Execute: %v", err)
		}
		if !cmd.Deadline.AsTime().Equal(want) {
			t.Fatalf("deadline %v, want %v", cmd.Deadline.AsTime(), want)
		}
	})
	t.Run("past deadline is not sent", func(t *testing.T) {
		before := len(a.commands())
		cmd := lightsOff()
		cmd.Deadline = timestamppb.New(time.Now().Add(-time.Second))
		if _, err := e.r.Execute(t.Context(), homeA, cmd); !errors.Is(err, command.ErrTimeout) {
			t.Fatalf("Execute: %v", err)
		}
		// A marker command shows whether anything else was sent before it.
		marker := lightsOff()
		marker.Id = "marker"
		_, _ = e.r.Execute(t.Context(), homeA, marker)
		waitFor(t, "marker", func() bool { return len(a.commands()) > before })
		if got := a.commands()[before:]; len(got) != 1 || got[0].Id != "marker" {
			t.Fatalf("agent received %v", got)
		}
	})
	t.Run("canceled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(50*time.Millisecond, cancel)
		if _, err := e.r.Execute(ctx, homeA, lightsOff()); !errors.Is(err, context.Canceled) {
			t.Fatalf("Execute: %v, want context.Canceled", err)
		}
	})
	t.Run("invalid input", func(t *testing.T) {
		for name, call := range map[string]func() error{
			"nil command":     func() error { _, err := e.r.Execute(t.Context(), homeA, nil); return err },
			"invalid home id": func() error { _, err := e.r.Execute(t.Context(), "+/#", lightsOff()); return err },
		} {
			if err := call(); !errors.Is(err, command.ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", name, err)
			}
		}
	})
}

func TestExecuteOfflineAtOnce(t *testing.T) {
	e := newEnv(t, envConfig{})
	var published atomic.Int32
	if err := e.b.Subscribe(topic.Filter(topic.Command), func(string, []byte) { published.Add(1) }); err != nil {
		t.Fatal(err)
	}
	startAgent(t, e, "agent-b", ok) // another home is online
	e.waitOnline(t, homeB, true)

	start := time.Now()
	_, err := e.r.Execute(t.Context(), homeA, lightsOff())
	if !errors.Is(err, command.ErrOffline) {
		t.Fatalf("Execute: %v, want ErrOffline", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("offline answer took %v", el)
	}
	if n := published.Load(); n != 0 {
		t.Fatalf("%d commands published for an offline home", n)
	}
	if n := metric(t, e.reg, "homeplane_central_commands_total", "outcome", "offline"); n != 1 {
		t.Fatalf("commands{offline} = %v", n)
	}
}

func TestSecondHomeNeverReceivesFirstHomesCommand(t *testing.T) {
	e := newEnv(t, envConfig{})
	a := startAgent(t, e, "agent-a", ok)
	b := startAgent(t, e, "agent-b", ok)
	e.waitOnline(t, homeA, true)
	e.waitOnline(t, homeB, true)

	for range 3 {
		if _, err := e.r.Execute(t.Context(), homeA, lightsOff()); err != nil {
			t.Fatalf("Execute on A: %v", err)
		}
	}
	// B's own command arrives after A's were published, so had any of A's
	// reached B, B would have it by now.
	forB := lightsOff()
	if _, err := e.r.Execute(t.Context(), homeB, forB); err != nil {
		t.Fatalf("Execute on B: %v", err)
	}
	if got := b.commands(); len(got) != 1 || got[0].Id != forB.Id {
		t.Fatalf("home B received %d commands: %v", len(got), got)
	}
	if got := a.commands(); len(got) != 3 {
		t.Fatalf("home A received %d commands, want 3", len(got))
	}
}

func TestResultFromAnotherHomeIgnored(t *testing.T) {
	e := newEnv(t, envConfig{})
	ids := make(chan string, 1)
	release := make(chan struct{})
	startAgent(t, e, "agent-a", func(c *homeplanev1.Command) *homeplanev1.Result {
		ids <- c.Id
		// Answer only after the forgery was processed; never hold paho's
		// handler (and so its Disconnect) for long.
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
		return &homeplanev1.Result{CommandId: c.Id, Ok: true, ErrorCode: "genuine"}
	})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // runs before the agent's cleanup disconnects it
	forger := startAgent(t, e, "agent-b", nil)
	e.waitOnline(t, homeA, true)

	type outcome struct {
		res *homeplanev1.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res, err := e.r.Execute(ctx, homeA, lightsOff())
		done <- outcome{res, err}
	}()
	var id string
	select {
	case id = <-ids:
	case <-time.After(10 * time.Second):
		t.Fatal("command never reached the agent")
	}
	// Home B answers home A's command id on its own result topic, the only
	// one the broker lets it use.
	forger.publish(topic.Result, &homeplanev1.Result{CommandId: id, Ok: false, ErrorCode: "forged"}, false)
	waitFor(t, "forgery ignored", func() bool {
		return metric(t, e.reg, "homeplane_central_command_results_ignored_total", "reason", "wrong_home") == 1
	})
	unblock()
	o := <-done
	if o.err != nil || o.res.ErrorCode != "genuine" {
		t.Fatalf("Execute = %v, %v; want the genuine result", o.res, o.err)
	}
}

func TestPresence(t *testing.T) {
	cases := []struct {
		name     string
		events   bool           // router wired to the broker's connection events
		drop     func(a *agent) // how the agent goes away
		willOnly bool           // only the Will can mark it offline
	}{
		{"crash with connection events", true, func(a *agent) { _ = a.conn.Close() }, false},
		{"crash, presence only (will)", false, func(a *agent) { _ = a.conn.Close() }, true},
		{"clean disconnect, no will, connection events", true, func(a *agent) { a.c.Disconnect(0) }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, envConfig{noConnectionEvents: !c.events})
			if e.p.Online(homeA) {
				t.Fatal("online before any agent")
			}
			if _, ok := e.p.LastSeen(homeA); ok {
				t.Fatal("seen before any agent")
			}
			before := time.Now()
			a := startAgent(t, e, "agent-a", ok)
			e.waitOnline(t, homeA, true)
			st, known := e.p.Status(homeA)
			if !known || !st.Online || st.AgentVersion != "1.2.3" || st.HomeAssistantVersion != "2025.1.0" {
				t.Fatalf("status = %+v, %v", st, known)
			}
			if seen, ok := e.p.LastSeen(homeA); !ok || seen.Before(before) {
				t.Fatalf("last seen %v, %v", seen, ok)
			}
			if n := metric(t, e.reg, "homeplane_central_homes_online"); n != 1 {
				t.Fatalf("homes_online = %v", n)
			}

			c.drop(a)
			e.waitOnline(t, homeA, false)
			if n := metric(t, e.reg, "homeplane_central_homes_online"); n != 0 {
				t.Fatalf("homes_online = %v after the agent left", n)
			}
			if _, err := e.r.Execute(t.Context(), homeA, lightsOff()); !errors.Is(err, command.ErrOffline) {
				t.Fatalf("Execute after drop: %v", err)
			}
			if e.p.Online(homeB) {
				t.Fatal("unrelated home online")
			}
		})
	}
}

func TestReconnectComesBackOnline(t *testing.T) {
	e := newEnv(t, envConfig{})
	a := startAgent(t, e, "agent-a", ok)
	e.waitOnline(t, homeA, true)
	_ = a.conn.Close()
	e.waitOnline(t, homeA, false)

	startAgent(t, e, "agent-a", ok)
	e.waitOnline(t, homeA, true)
	if _, err := e.r.Execute(t.Context(), homeA, lightsOff()); err != nil {
		t.Fatalf("Execute after reconnect: %v", err)
	}
}

func TestEntitySyncReachesSink(t *testing.T) {
	e := newEnv(t, envConfig{})
	a := startAgent(t, e, "agent-a", ok)
	sync := &homeplanev1.EntitySync{
		Full:     true,
		Entities: []*homeplanev1.Entity{{EntityId: "light.kitchen", Name: "Kitchen light", Domain: "light", AreaId: "kitchen"}},
		Areas:    []*homeplanev1.Area{{Id: "kitchen", Name: "Kitchen"}},
	}
	a.publish(topic.Entities, sync, false)
	waitFor(t, "sync at sink", func() bool { return len(e.sink.syncs(homeA)) == 1 })
	if got := e.sink.syncs(homeA)[0]; !proto.Equal(got, sync) {
		t.Fatalf("sink got %v, want %v", got, sync)
	}
	if got := e.sink.syncs(homeB); len(got) != 0 {
		t.Fatalf("sync landed on home B: %v", got)
	}

	e.sink.mu.Lock()
	e.sink.fail = errors.New("database down")
	e.sink.mu.Unlock()
	a.publish(topic.Entities, &homeplanev1.EntitySync{RemovedEntityIds: []string{"light.kitchen"}}, false)
	waitFor(t, "failure counted", func() bool {
		return metric(t, e.reg, "homeplane_central_entity_sync_failures_total") == 1
	})
}

func TestGarbagePayloadsCounted(t *testing.T) {
	e := newEnv(t, envConfig{})
	a := startAgent(t, e, "agent-a", ok)
	e.waitOnline(t, homeA, true)

	garbage := []byte{0xff, 0xff, 0xff, 0xff, 0x0f} // an invalid protobuf varint
	noID, _ := proto.Marshal(&homeplanev1.Result{Ok: true})
	cases := []struct {
		name    string
		publish func()
		kind    string
	}{
		{"garbage result", func() { a.publishRaw(topic.For(homeA, topic.Result), garbage, false) }, "result"},
		{"result without command id", func() { a.publishRaw(topic.For(homeA, topic.Result), noID, false) }, "result"},
		{"garbage presence", func() { a.publishRaw(topic.For(homeA, topic.Presence), garbage, true) }, "presence"},
		{"garbage entities", func() { a.publishRaw(topic.For(homeA, topic.Entities), garbage, false) }, "entities"},
		// Only central can publish here; a foreign broker might.
		{"invalid home id in topic", func() { _ = e.b.Publish(topic.Prefix+"NOT_A_HOME/result", []byte("x"), false) }, "topic"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := metric(t, e.reg, "homeplane_central_mqtt_bad_payloads_total", "kind", c.kind)
			c.publish()
			waitFor(t, "bad payload counted", func() bool {
				return metric(t, e.reg, "homeplane_central_mqtt_bad_payloads_total", "kind", c.kind) == before+1
			})
		})
	}
	// Garbage changed nothing: the home is still online and answers.
	if !e.p.Online(homeA) {
		t.Fatal("garbage presence took the home offline")
	}
	if e.sink.callCount() != 0 {
		t.Fatal("garbage reached the sink")
	}
	if _, err := e.r.Execute(t.Context(), homeA, lightsOff()); err != nil {
		t.Fatalf("Execute after garbage: %v", err)
	}
}

func TestPendingBounded(t *testing.T) {
	e := newEnv(t, envConfig{opts: command.Options{MaxPending: 1}})
	startAgent(t, e, "agent-a", nil)
	e.waitOnline(t, homeA, true)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	first := make(chan error, 1)
	go func() { _, err := e.r.Execute(ctx, homeA, lightsOff()); first <- err }()
	waitFor(t, "first pending", func() bool { return metric(t, e.reg, "homeplane_central_commands_pending") == 1 })

	if _, err := e.r.Execute(t.Context(), homeA, lightsOff()); !errors.Is(err, command.ErrBusy) {
		t.Fatalf("second Execute: %v, want ErrBusy", err)
	}
	dup := lightsOff()
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("first Execute: %v", err)
	}
	// With the slot free, a command id already in flight is refused.
	ctx2, cancel2 := context.WithCancel(t.Context())
	defer cancel2()
	dup.Id = "same"
	go func() { _, _ = e.r.Execute(ctx2, homeA, dup) }()
	waitFor(t, "dup pending", func() bool { return metric(t, e.reg, "homeplane_central_commands_pending") == 1 })
	e2 := lightsOff()
	e2.Id = "same"
	if _, err := e.r.Execute(t.Context(), homeA, e2); !errors.Is(err, command.ErrBusy) && !errors.Is(err, command.ErrInvalid) {
		t.Fatalf("duplicate id: %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	e := newEnv(t, envConfig{})
	if _, err := command.New(nil, e.p, command.Options{}); err == nil {
		t.Fatal("nil transport accepted")
	}
	if _, err := command.New(e.b, nil, command.Options{}); err == nil {
		t.Fatal("nil presence accepted")
	}
}
