package rpc

import (
	"context"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"
)

// authService serves AuthService. Password change and reset are not served
// yet and answer Unimplemented.
type authService struct {
	homeplanev1connect.UnimplementedAuthServiceHandler
	s *server
}

var _ homeplanev1connect.AuthServiceHandler = (*authService)(nil)

func checkCredentials(email, password string) error {
	var c check
	c.field("email", email, true, maxEmailChars)
	c.field("password", password, true, maxPasswordChars)
	return c.err()
}

func (a *authService) Register(ctx context.Context, req *connect.Request[homeplanev1.RegisterRequest]) (*connect.Response[homeplanev1.RegisterResponse], error) {
	m := req.Msg
	if err := checkCredentials(m.GetEmail(), m.GetPassword()); err != nil {
		return nil, err
	}
	u, t, err := a.s.deps.Accounts.Register(ctx, m.GetEmail(), m.GetPassword())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&homeplanev1.RegisterResponse{User: userProto(u), Tokens: tokensProto(t)}), nil
}

func (a *authService) Login(ctx context.Context, req *connect.Request[homeplanev1.LoginRequest]) (*connect.Response[homeplanev1.LoginResponse], error) {
	m := req.Msg
	if err := checkCredentials(m.GetEmail(), m.GetPassword()); err != nil {
		return nil, err
	}
	u, t, err := a.s.deps.Accounts.Login(ctx, m.GetEmail(), m.GetPassword())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&homeplanev1.LoginResponse{User: userProto(u), Tokens: tokensProto(t)}), nil
}

func (a *authService) Refresh(ctx context.Context, req *connect.Request[homeplanev1.RefreshRequest]) (*connect.Response[homeplanev1.RefreshResponse], error) {
	var c check
	c.field("refresh_token", req.Msg.GetRefreshToken(), true, maxSecretChars)
	if err := c.err(); err != nil {
		return nil, err
	}
	t, err := a.s.deps.Accounts.Refresh(ctx, req.Msg.GetRefreshToken())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&homeplanev1.RefreshResponse{Tokens: tokensProto(t)}), nil
}

func (a *authService) Logout(ctx context.Context, req *connect.Request[homeplanev1.LogoutRequest]) (*connect.Response[homeplanev1.LogoutResponse], error) {
	var c check
	c.field("refresh_token", req.Msg.GetRefreshToken(), true, maxSecretChars)
	if err := c.err(); err != nil {
		return nil, err
	}
	if err := a.s.deps.Accounts.Logout(ctx, req.Msg.GetRefreshToken()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&homeplanev1.LogoutResponse{}), nil
}
