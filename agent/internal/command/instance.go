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
	Status(ctx context.Context) *homeplanev1.Instance
}

var _ Supervisor = (*supervisor.Supervisor)(nil)

// Instance runs lifecycle actions on the Home Assistant container.
type Instance struct {
	sup  Supervisor
	spec supervisor.Spec
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
