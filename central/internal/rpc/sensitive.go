package rpc

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"

	"github.com/homeplane/homeplane/central/internal/home"
)

// sensitivePolicies maps the wire's policies to the home's.
var sensitivePolicies = map[homeplanev1.SensitivePolicy]home.Policy{
	homeplanev1.SensitivePolicy_SENSITIVE_POLICY_ALLOW:   home.PolicyAllow,
	homeplanev1.SensitivePolicy_SENSITIVE_POLICY_CONFIRM: home.PolicyConfirm,
	homeplanev1.SensitivePolicy_SENSITIVE_POLICY_DENY:    home.PolicyDeny,
}

// SetSensitivePolicy chooses what the home's voice devices may do with
// sensitive actions.
func (h *homeService) SetSensitivePolicy(ctx context.Context, req *connect.Request[homeplanev1.SetSensitivePolicyRequest]) (*connect.Response[homeplanev1.SetSensitivePolicyResponse], error) {
	owner, err := userAndHome(ctx, req.Msg.GetHomeId())
	if err != nil {
		return nil, err
	}
	p, ok := sensitivePolicies[req.Msg.GetPolicy()]
	if !ok {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("policy: must be allow, confirm or deny"))
	}
	got, err := h.s.deps.Homes.SetSensitivePolicy(ctx, owner, req.Msg.GetHomeId(), p)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&homeplanev1.SetSensitivePolicyResponse{Home: homeProto(got, h.s.deps.Presence)}), nil
}
