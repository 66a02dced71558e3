package command

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/agent/internal/supervisor"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/vocab"
)

// fakeSupervisor counts upgrades and can hold them until released.
type fakeSupervisor struct {
	upgrades atomic.Int32
	release  chan struct{}
	err      error
	spec     supervisor.Spec
	limits   []supervisor.Limits
}

func (f *fakeSupervisor) Start(context.Context) error   { return f.err }
func (f *fakeSupervisor) Stop(context.Context) error    { return f.err }
func (f *fakeSupervisor) Restart(context.Context) error { return f.err }
func (f *fakeSupervisor) Upgrade(ctx context.Context, _ string) error {
	f.upgrades.Add(1)
	if f.release != nil {
		<-f.release
	}
	return f.err
}
func (f *fakeSupervisor) Provision(_ context.Context, spec supervisor.Spec) error {
	f.spec = spec
	return f.err
}
func (f *fakeSupervisor) Remove(context.Context, bool) error { return f.err }
func (f *fakeSupervisor) SetLimits(_ context.Context, l supervisor.Limits) error {
	f.limits = append(f.limits, l)
	return f.err
}
func (f *fakeSupervisor) Status(context.Context) *homeplanev1.Instance {
	return &homeplanev1.Instance{State: "running"}
}

func instanceCommand(id string, action homeplanev1.InstanceAction) *homeplanev1.Command {
	return &homeplanev1.Command{Id: id, RequestId: "req-" + id, Deadline: timestamppb.New(time.Now().Add(time.Minute)),
		Instance: &homeplanev1.InstanceControl{Action: action, Image: "ha:2026.2"}}
}

func TestInstanceRunsOncePerCommand(t *testing.T) {
	sup := &fakeSupervisor{release: make(chan struct{})}
	r := New(NewServices(&fakeHA{}, ServicesOptions{}), NewInstance(sup, supervisor.Spec{}), Options{})
	cmd := instanceCommand("c1", homeplanev1.InstanceAction_INSTANCE_ACTION_UPGRADE)
	var wg sync.WaitGroup
	results := make([]*homeplanev1.Result, 3)
	for i := range results {
		wg.Go(func() { results[i] = r.Handle(context.Background(), cmd) })
	}
	close(sup.release)
	wg.Wait()
	if n := sup.upgrades.Load(); n != 1 {
		t.Fatalf("upgraded %d times, want once", n)
	}
	for i, res := range results {
		if !res.GetOk() || res.GetCommandId() != "c1" || res.GetInstance().GetState() != "running" {
			t.Fatalf("delivery %d got %v", i, res)
		}
	}
}

func TestInstanceActions(t *testing.T) {
	cases := []struct {
		name     string
		sup      Supervisor
		cmd      *homeplanev1.Command
		wantCode homeplanev1.CommandError
	}{
		{"adopt mode refuses", nil, instanceCommand("a", homeplanev1.InstanceAction_INSTANCE_ACTION_START), CodeUnavailable},
		{"not provisioned is invalid", &fakeSupervisor{err: fmt.Errorf("start: %w", supervisor.ErrNotProvisioned)},
			instanceCommand("b", homeplanev1.InstanceAction_INSTANCE_ACTION_START), CodeInvalid},
		{"failure is the instance's", &fakeSupervisor{err: errors.New("rolled back")},
			instanceCommand("c", homeplanev1.InstanceAction_INSTANCE_ACTION_UPGRADE), CodeInstance},
		{"another action under way", &fakeSupervisor{err: fmt.Errorf("upgrade: %w", supervisor.ErrBusy)},
			instanceCommand("g", homeplanev1.InstanceAction_INSTANCE_ACTION_UPGRADE), CodeBusy},
		{"unknown action", &fakeSupervisor{}, instanceCommand("d", 99), CodeInvalid},
		{"past its deadline", &fakeSupervisor{}, func() *homeplanev1.Command {
			c := instanceCommand("e", homeplanev1.InstanceAction_INSTANCE_ACTION_RESTART)
			c.Deadline = timestamppb.New(time.Now().Add(-time.Second))
			return c
		}(), CodeExpired},
		{"status only", &fakeSupervisor{}, instanceCommand("f", homeplanev1.InstanceAction_INSTANCE_ACTION_UNSPECIFIED), 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := New(NewServices(&fakeHA{}, ServicesOptions{}), NewInstance(c.sup, supervisor.Spec{}), Options{})
			res := r.Handle(context.Background(), c.cmd)
			if res.GetCode() != c.wantCode || res.GetOk() != (c.wantCode == 0) || res.GetCommandId() != c.cmd.GetId() {
				t.Fatalf("result = %v, want error code %v", res, c.wantCode)
			}
			// Centrals older than the enum read the text.
			if res.GetErrorCode() != vocab.CodeName(c.wantCode) {
				t.Fatalf("error_code text = %q, want %q", res.GetErrorCode(), vocab.CodeName(c.wantCode))
			}
		})
	}
}

func TestProvisionTakesTheCommandsImage(t *testing.T) {
	sup := &fakeSupervisor{}
	r := New(NewServices(&fakeHA{}, ServicesOptions{}), NewInstance(sup, supervisor.Spec{Image: "ha:stable", HostPort: 8123}), Options{})
	if res := r.Handle(context.Background(), instanceCommand("p", homeplanev1.InstanceAction_INSTANCE_ACTION_PROVISION)); !res.GetOk() {
		t.Fatalf("provision = %v", res)
	}
	if sup.spec.Image != "ha:2026.2" || sup.spec.HostPort != 8123 {
		t.Fatalf("provisioned with %+v, want the command's image and the configured port", sup.spec)
	}
}

func configCommand(id string, c *homeplanev1.InstanceConfig) *homeplanev1.Command {
	return &homeplanev1.Command{Id: id, Deadline: timestamppb.New(time.Now().Add(time.Minute)), Config: c}
}

// Central's limits are checked and applied; without them the agent's own
// apply again; what a host cannot give is refused with the reason.
func TestConfigLimits(t *testing.T) {
	sup := &fakeSupervisor{}
	x := NewInstance(sup, supervisor.Spec{MemoryBytes: 512 << 20, NanoCPUs: 1e9})
	x.Host = HostSize{MemoryBytes: 4 << 30, NanoCPUs: 2e9}
	r := New(NewServices(&fakeHA{}, ServicesOptions{}), x, Options{})
	lim := func(m, c int64) *homeplanev1.InstanceConfig {
		return &homeplanev1.InstanceConfig{Limits: &homeplanev1.InstanceLimits{MemoryBytes: m, NanoCpus: c}}
	}
	if res := r.Handle(context.Background(), configCommand("l1", lim(1<<30, 5e8))); !res.GetOk() {
		t.Fatalf("limits refused: %v", res)
	}
	if res := r.Handle(context.Background(), configCommand("l2", &homeplanev1.InstanceConfig{})); !res.GetOk() {
		t.Fatalf("clearing refused: %v", res)
	}
	want := []supervisor.Limits{{MemoryBytes: 1 << 30, NanoCPUs: 5e8}, {MemoryBytes: 512 << 20, NanoCPUs: 1e9}}
	if fmt.Sprint(sup.limits) != fmt.Sprint(want) {
		t.Fatalf("applied %v, want %v", sup.limits, want)
	}
	for i, c := range []*homeplanev1.InstanceConfig{lim(-1, 0), lim(1<<20, 0), lim(0, 1000), lim(8<<30, 0), lim(0, 3e9)} {
		res := r.Handle(context.Background(), configCommand(fmt.Sprint("bad", i), c))
		if res.GetOk() || vocab.CodeOf(res) != CodeInvalid || res.GetError() == "" {
			t.Errorf("%v: got %v, want invalid with a reason", c, res)
		}
	}
	if len(sup.limits) != 2 {
		t.Errorf("refused limits reached the supervisor: %v", sup.limits)
	}
	// The hosting agent's books decide instead of the host's size.
	x.Admit = func(l supervisor.Limits) error { return errors.New("not enough memory left on this server") }
	if res := r.Handle(context.Background(), configCommand("h1", lim(64<<20, 0))); res.GetOk() || res.GetError() != "not enough memory left on this server" {
		t.Fatalf("admission ignored: %v", res)
	}
}

func TestConfigRelease(t *testing.T) {
	sup := &fakeSupervisor{}
	x := NewInstance(sup, supervisor.Spec{})
	r := New(NewServices(&fakeHA{}, ServicesOptions{}), x, Options{})
	rel := &homeplanev1.InstanceConfig{Released: true}
	if res := r.Handle(context.Background(), configCommand("r1", rel)); !res.GetOk() {
		t.Fatalf("managed mode: %v", res)
	}
	var released atomic.Int32
	x.Release = func(context.Context) error { released.Add(1); return nil }
	if res := r.Handle(context.Background(), configCommand("r2", rel)); !res.GetOk() || released.Load() != 1 {
		t.Fatalf("hosting mode: %v, released %d", res, released.Load())
	}
	if res := New(NewServices(&fakeHA{}, ServicesOptions{}), NewInstance(nil, supervisor.Spec{}), Options{}).Handle(context.Background(), configCommand("r3", rel)); vocab.CodeOf(res) != CodeUnavailable {
		t.Fatalf("adopt mode: %v", res)
	}
}
