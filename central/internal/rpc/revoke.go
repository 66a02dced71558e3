package rpc

import (
	"context"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

func (h *homeService) RevokeAgent(ctx context.Context, req *connect.Request[homeplanev1.RevokeAgentRequest]) (*connect.Response[homeplanev1.RevokeAgentResponse], error) {
	owner, err := userAndHome(ctx, req.Msg.GetHomeId())
	if err != nil {
		return nil, err
	}
	if err := h.release(ctx, owner, req.Msg.GetHomeId()); err != nil {
		return nil, err
	}
	if err := h.s.deps.Homes.RevokeAgent(ctx, owner, req.Msg.GetHomeId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&homeplanev1.RevokeAgentResponse{}), nil
}

func (h *homeService) RevokeEnrollmentTokens(ctx context.Context, req *connect.Request[homeplanev1.RevokeEnrollmentTokensRequest]) (*connect.Response[homeplanev1.RevokeEnrollmentTokensResponse], error) {
	owner, err := userAndHome(ctx, req.Msg.GetHomeId())
	if err != nil {
		return nil, err
	}
	n, err := h.s.deps.Homes.RevokeEnrollmentTokens(ctx, owner, req.Msg.GetHomeId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&homeplanev1.RevokeEnrollmentTokensResponse{Revoked: int32(min(n, 1<<30))}), nil
}
