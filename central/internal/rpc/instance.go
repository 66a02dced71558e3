package rpc

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	hv1c "github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"
	"github.com/homeplane/homeplane/protocol/vocab"

	"github.com/homeplane/homeplane/central/internal/idempotency"
	"github.com/homeplane/homeplane/central/internal/intent"
)

// InstanceStatus is what rpc needs from the instance status
// (instance.Service): the latest status of a home's Home Assistant
// container, and the operation under way while ControlInstance waits.
type InstanceStatus interface {
	Get(homeID string) (*homeplanev1.Instance, bool)
	ApplyStatus(ctx context.Context, homeID string, in *homeplanev1.Instance) error
	Begin(homeID string, action homeplanev1.InstanceAction, image string)
	End(homeID string)
}

// Commands sends a command to a home's agent and waits for its result
// (command.Router). A home that is offline answers intent.ErrHomeOffline at
// once.
type Commands interface {
	Execute(ctx context.Context, homeID string, cmd *homeplanev1.Command) (*homeplanev1.Result, error)
}

// Instance action timeouts: how long ControlInstance waits for the agent.
// Pulling a Home Assistant image (about 1.5 GB) and waiting for the new
// version to become healthy (the agent's upgrade deadline, 10m by default)
// take minutes; a stop waits the container's grace period (60s) first.
// docs/adr/0011-instance-status-and-control.md explains the numbers.
var instanceTimeouts = map[homeplanev1.InstanceAction]time.Duration{
	homeplanev1.InstanceAction_INSTANCE_ACTION_START:     2 * time.Minute,
	homeplanev1.InstanceAction_INSTANCE_ACTION_STOP:      2 * time.Minute,
	homeplanev1.InstanceAction_INSTANCE_ACTION_RESTART:   3 * time.Minute,
	homeplanev1.InstanceAction_INSTANCE_ACTION_REMOVE:    3 * time.Minute,
	homeplanev1.InstanceAction_INSTANCE_ACTION_PROVISION: 15 * time.Minute,
	homeplanev1.InstanceAction_INSTANCE_ACTION_UPGRADE:   20 * time.Minute,
}

// maxInstanceTimeout is the longest instance action timeout.
const maxInstanceTimeout = 20 * time.Minute

// procedureTimeouts lift the handler timeout for procedures that wait longer.
var procedureTimeouts = map[string]time.Duration{
	hv1c.HomeServiceControlInstanceProcedure: maxInstanceTimeout,
}

// maxImageChars bounds an image reference: a registry host, a path, a tag
// (128) and a digest.
const maxImageChars = 512

// imageRef approximates Docker's reference grammar: [host[:port]/]path
// [:tag][@sha256:digest], path components lowercase.
var imageRef = regexp.MustCompile(`^(?:[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::[0-9]{1,5})?/)?` +
	`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*` +
	`(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$`)

// checkInstanceRequest validates a ControlInstance request.
func checkInstanceRequest(m *homeplanev1.ControlInstanceRequest) error {
	var c check
	c.field("home_id", m.GetHomeId(), true, maxIDChars)
	a, img := m.GetAction(), m.GetImage()
	if _, ok := instanceTimeouts[a]; !ok {
		c.failf("action must be one of start, stop, restart, upgrade, provision, remove")
	}
	switch {
	case a == homeplanev1.InstanceAction_INSTANCE_ACTION_UPGRADE && img == "":
		c.failf("image is required to upgrade")
	case img != "" && a != homeplanev1.InstanceAction_INSTANCE_ACTION_UPGRADE && a != homeplanev1.InstanceAction_INSTANCE_ACTION_PROVISION:
		c.failf("image is only taken by upgrade and provision")
	case len(img) > maxImageChars:
		c.failf("image is longer than %d characters", maxImageChars)
	case img != "" && !imageRef.MatchString(img):
		c.failf("image %q is not an image reference (name[:tag][@sha256:digest])", clipText(img, 80))
	}
	if m.GetRemoveData() && a != homeplanev1.InstanceAction_INSTANCE_ACTION_REMOVE {
		c.failf("remove_data is only taken by remove")
	}
	return c.err()
}

func (h *homeService) GetInstance(ctx context.Context, req *connect.Request[homeplanev1.GetInstanceRequest]) (*connect.Response[homeplanev1.GetInstanceResponse], error) {
	owner, err := userAndHome(ctx, req.Msg.GetHomeId())
	if err != nil {
		return nil, err
	}
	if h.s.deps.InstanceStatus == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errInstanceUnavailable)
	}
	got, err := h.s.deps.Homes.Get(ctx, owner, req.Msg.GetHomeId())
	if err != nil {
		return nil, err
	}
	in, ok := h.s.deps.InstanceStatus.Get(got.ID)
	if !ok {
		// An owned home whose agent never reported: known, status unknown.
		in = &homeplanev1.Instance{State: "unknown", Health: "unknown"}
	}
	if lim := h.s.deps.Limits; lim != nil {
		l, err := lim.Get(ctx, got.ID)
		if err != nil {
			return nil, err
		}
		if l != nil {
			in = proto.CloneOf(in) // the status is shared
			in.Limits = l
		}
	}
	return connect.NewResponse(&homeplanev1.GetInstanceResponse{Instance: in}), nil
}

var errInstanceUnavailable = errors.New("instance control is not configured on this server")

func (h *homeService) ControlInstance(ctx context.Context, req *connect.Request[homeplanev1.ControlInstanceRequest]) (*connect.Response[homeplanev1.ControlInstanceResponse], error) {
	m := req.Msg
	if err := checkInstanceRequest(m); err != nil {
		return nil, err
	}
	owner, err := userOf(ctx)
	if err != nil {
		return nil, err
	}
	d := h.s.deps
	if d.InstanceStatus == nil || d.Commands == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errInstanceUnavailable)
	}
	got, err := d.Homes.Get(ctx, owner, m.GetHomeId())
	if err != nil {
		return nil, err
	}
	homeID := got.ID
	auditing(ctx).HomeID = homeID // from here on the action is audited
	key, err := requestKey(req.Header(), m.GetIdempotencyKey())
	if err != nil {
		return nil, err
	}
	scope := callerScope(Caller{UserID: owner})
	if key == "" || d.Idempotency == nil {
		out, err := h.controlInstance(ctx, owner, homeID, commandIDFor(scope, key), m)
		if err != nil {
			return nil, err
		}
		return connect.NewResponse(out), nil
	}
	out := new(homeplanev1.ControlInstanceResponse)
	replayed, _, err := h.s.once(ctx, scope, key, m, out, func(ctx context.Context) (proto.Message, error) {
		return h.controlInstance(ctx, owner, homeID, idempotency.CommandID(scope, key), m)
	})
	if err != nil {
		return nil, err
	}
	if replayed {
		h.s.log.InfoContext(ctx, "instance action answered from an earlier call with the same idempotency key",
			requestIDAttr, RequestID(ctx), "home_id", homeID)
	}
	return connect.NewResponse(out), nil
}

// controlInstance sends one checked instance action to the home under
// commandID (fresh when empty) and waits for it.
func (h *homeService) controlInstance(ctx context.Context, owner, homeID, commandID string, m *homeplanev1.ControlInstanceRequest) (*homeplanev1.ControlInstanceResponse, error) {
	d := h.s.deps
	timeout := instanceTimeouts[m.GetAction()]
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	d.InstanceStatus.Begin(homeID, m.GetAction(), m.GetImage())
	defer d.InstanceStatus.End(homeID)
	res, err := d.Commands.Execute(cctx, homeID, &homeplanev1.Command{
		Id:        commandID,
		RequestId: RequestID(ctx),
		Instance:  &homeplanev1.InstanceControl{Action: m.GetAction(), Image: m.GetImage(), RemoveData: m.GetRemoveData()},
	})
	var in *homeplanev1.Instance
	if res != nil && res.Instance != nil {
		if aerr := d.InstanceStatus.ApplyStatus(context.WithoutCancel(ctx), homeID, res.Instance); aerr != nil {
			h.s.log.WarnContext(ctx, "instance status not stored", requestIDAttr, RequestID(ctx), "home_id", homeID, "err", aerr)
		}
		in, _ = d.InstanceStatus.Get(homeID)
		if in == nil {
			in = res.Instance
		}
		in.Operation = nil
	}
	callErr := instanceError(err, res, timeout)
	h.s.log.InfoContext(ctx, "instance action", requestIDAttr, RequestID(ctx), "home_id", homeID, "action", m.GetAction().String(), "err", callErr)
	if callErr != nil {
		if in != nil {
			// The status after the failure (a rollback, say) travels along.
			return nil, withDetail{callErr, in}
		}
		return nil, callErr
	}
	return &homeplanev1.ControlInstanceResponse{Instance: in}, nil
}

// Why an instance action failed on the home server, as the agent said.
var (
	errActionExpired = errors.New("the action expired before the agent ran it")
	errActionRefused = errors.New("the home is not in a state for this action")
	errActionBusy    = errors.New("another instance operation is in progress")
	errActionFailed  = errors.New("the action failed on the home server")
	// The home server's own allow-list refused it (an image not allowed).
	errActionForbidden = errors.New("the home server does not allow this action")
)

// instanceError words what went wrong with an instance command for the
// caller: offline, no answer in time, or the agent's own refusal. mapError
// gives each its code.
func instanceError(err error, res *homeplanev1.Result, timeout time.Duration) error {
	switch {
	case errors.Is(err, intent.ErrHomeOffline):
		return fmt.Errorf("the home's agent is offline; nothing was sent (%w)", err)
	case errors.Is(err, intent.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no answer from the home's agent within %v; the action may still finish: check the instance status (%w)", timeout, err)
	case err != nil:
		return err
	case res.Ok:
		return nil
	}
	msg := clipText(res.Error, 500)
	switch vocab.CodeOf(res) {
	case homeplanev1.CommandError_COMMAND_ERROR_EXPIRED:
		return fmt.Errorf("%w: %s", errActionExpired, msg)
	case homeplanev1.CommandError_COMMAND_ERROR_INVALID, homeplanev1.CommandError_COMMAND_ERROR_UNAVAILABLE:
		// Not provisioned, adopt mode, ...
		return fmt.Errorf("%w: %s", errActionRefused, msg)
	case homeplanev1.CommandError_COMMAND_ERROR_BUSY:
		return fmt.Errorf("%w: %s", errActionBusy, msg)
	case homeplanev1.CommandError_COMMAND_ERROR_FORBIDDEN:
		return fmt.Errorf("%w: %s", errActionForbidden, msg)
	}
	return fmt.Errorf("%w: %s", errActionFailed, msg)
}

func clipText(s string, n int) string {
	if len(s) > n {
		return strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}
