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
