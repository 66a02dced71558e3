package command

import (
	"context"
	"errors"
	"fmt"

	"github.com/homeplane/homeplane/agent/internal/supervisor"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// Supervisor is what Instance needs from the supervisor of the Home
// Assistant container.
type Supervisor interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	Restart(ctx context.Context) error
	Upgrade(ctx context.Context, ref string) error
	Provision(ctx context.Context, spec supervisor.Spec) error
	Remove(ctx context.Context, removeData bool) error
	SetLimits(ctx context.Context, l supervisor.Limits) error
	Status(ctx context.Context) *homeplanev1.Instance
}

var _ Supervisor = (*supervisor.Supervisor)(nil)

// Instance runs lifecycle actions on the Home Assistant container, and
// applies the configuration central sends (InstanceConfig).
type Instance struct {
	sup  Supervisor
	spec supervisor.Spec

	// Admit, when set, must accept limits before they are applied: the
	// hosting agent books them against the server's memory. Without it
	// limits are checked against this host's memory and CPUs.
	Admit func(supervisor.Limits) error
	// Release, when set, runs when central released the home: the hosting
	// agent removes its container and frees its port. Without it a release
	// is logged and the container left to the operator.
	Release func(ctx context.Context) error
	// Host is this machine's memory and CPUs, for checking limits.
	Host HostSize
}

// HostSize is what a machine has; zero fields are not checked.
type HostSize struct {
	MemoryBytes int64
	NanoCPUs    int64
}

var _ Executor = (*Instance)(nil)

// NewInstance returns the executor acting through sup, provisioning with
// spec unless the command names an image. A nil sup is adopt mode: the
// agent does not manage the container and refuses every action.
func NewInstance(sup Supervisor, spec supervisor.Spec) *Instance {
	return &Instance{sup: sup, spec: spec}
}

// Execute runs cmd's action and answers with the container's status after it.
func (x *Instance) Execute(ctx context.Context, cmd *homeplanev1.Command) *homeplanev1.Result {
	if x.sup == nil {
		return fail(CodeUnavailable, "the agent does not manage the Home Assistant container (adopt mode)")
	}
	if c := cmd.GetConfig(); c != nil {
		return x.configure(ctx, c)
	}
	in := cmd.GetInstance()
	var err error
	switch in.GetAction() {
	case homeplanev1.InstanceAction_INSTANCE_ACTION_START:
		err = x.sup.Start(ctx)
	case homeplanev1.InstanceAction_INSTANCE_ACTION_STOP:
		err = x.sup.Stop(ctx)
	case homeplanev1.InstanceAction_INSTANCE_ACTION_RESTART:
		err = x.sup.Restart(ctx)
	case homeplanev1.InstanceAction_INSTANCE_ACTION_UPGRADE:
		err = x.sup.Upgrade(ctx, in.GetImage())
	case homeplanev1.InstanceAction_INSTANCE_ACTION_PROVISION:
		spec := x.spec
		if in.GetImage() != "" {
			spec.Image = in.GetImage()
		}
		err = x.sup.Provision(ctx, spec)
	case homeplanev1.InstanceAction_INSTANCE_ACTION_REMOVE:
		err = x.sup.Remove(ctx, in.GetRemoveData())
	case homeplanev1.InstanceAction_INSTANCE_ACTION_UNSPECIFIED:
		// Status only.
	default:
		return fail(CodeInvalid, fmt.Sprintf("unknown instance action %d", in.GetAction()))
	}
	res := &homeplanev1.Result{Instance: x.sup.Status(ctx)}
	switch {
	case err == nil:
		res.Ok = true
	case errors.Is(err, supervisor.ErrNotProvisioned):
		res = withStatus(fail(CodeInvalid, err.Error()), res.Instance)
	case errors.Is(err, supervisor.ErrImageNotAllowed):
		res = withStatus(fail(CodeForbidden, err.Error()), res.Instance)
	case errors.Is(err, supervisor.ErrBusy):
		res = withStatus(fail(CodeBusy, err.Error()), res.Instance)
	default:
		res = withStatus(fail(CodeInstance, err.Error()), res.Instance)
	}
	return res
}

func withStatus(res *homeplanev1.Result, in *homeplanev1.Instance) *homeplanev1.Result {
	res.Instance = in
	return res
}

// configure applies central's configuration: a release, or limits (central's,
// or the agent's own when central keeps none).
func (x *Instance) configure(ctx context.Context, c *homeplanev1.InstanceConfig) *homeplanev1.Result {
	if c.GetReleased() {
		if x.Release == nil {
			return &homeplanev1.Result{Ok: true, Instance: x.sup.Status(ctx)}
		}
		if err := x.Release(ctx); err != nil {
			return fail(CodeInstance, err.Error())
		}
		return &homeplanev1.Result{Ok: true}
	}
	l := supervisor.Limits{MemoryBytes: x.spec.MemoryBytes, NanoCPUs: x.spec.NanoCPUs}
	if cl := c.GetLimits(); cl != nil {
		l = supervisor.Limits{MemoryBytes: cl.GetMemoryBytes(), NanoCPUs: cl.GetNanoCpus()}
	}
	if err := x.admit(l); err != nil {
		return withStatus(fail(CodeInvalid, err.Error()), x.sup.Status(ctx))
	}
	if err := x.sup.SetLimits(ctx, l); err != nil {
		return withStatus(fail(CodeInstance, err.Error()), x.sup.Status(ctx))
	}
	return &homeplanev1.Result{Ok: true, Instance: x.sup.Status(ctx)}
}

// minMemory is the least memory Docker lets a container have.
const minMemory = 6 << 20

// maxMemory and maxNanoCPUs bound limits even where the host's size is
// unknown: more than any server has, and small enough that the swap Docker
// is given (twice the memory) and every sum of bookings stay within int64.
const (
	maxMemory   = 1 << 50 // 1 PiB
	maxNanoCPUs = 1 << 40 // about 1,100 CPUs
)

// admit checks limits against the host, or hands them to Admit.
func (x *Instance) admit(l supervisor.Limits) error {
	switch {
	case l.MemoryBytes < 0 || l.NanoCPUs < 0:
		return errors.New("limits must not be negative")
	case l.MemoryBytes > 0 && l.MemoryBytes < minMemory:
		return fmt.Errorf("a memory limit of %d bytes is below Docker's minimum of 6 MiB", l.MemoryBytes)
	case l.NanoCPUs > 0 && l.NanoCPUs < 10_000_000:
		return fmt.Errorf("a CPU limit of %d nano CPUs is below Docker's minimum of 0.01 CPU", l.NanoCPUs)
	case l.MemoryBytes > maxMemory:
		return fmt.Errorf("a memory limit of %d bytes is more than any host has", l.MemoryBytes)
	case l.NanoCPUs > maxNanoCPUs:
		return fmt.Errorf("a CPU limit of %d nano CPUs is more than any host has", l.NanoCPUs)
	case x.Host.NanoCPUs > 0 && l.NanoCPUs > x.Host.NanoCPUs:
		return fmt.Errorf("a CPU limit of %.2f CPUs is more than this host's %.2f", float64(l.NanoCPUs)/1e9, float64(x.Host.NanoCPUs)/1e9)
	}
	if x.Admit != nil {
		return x.Admit(l)
	}
	if x.Host.MemoryBytes > 0 && l.MemoryBytes > x.Host.MemoryBytes {
		return fmt.Errorf("a memory limit of %d MiB is more than this host's %d MiB", l.MemoryBytes>>20, x.Host.MemoryBytes>>20)
	}
	return nil
}
