package rpc

import (
	"context"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"
)

// authService serves AuthService.
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
	if err := a.s.deps.Accounts.Register(ctx, m.GetEmail(), m.GetPassword()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&homeplanev1.RegisterResponse{}), nil
}

// ConfirmRegistration creates the account the token names and logs it in.
func (a *authService) ConfirmRegistration(ctx context.Context, req *connect.Request[homeplanev1.ConfirmRegistrationRequest]) (*connect.Response[homeplanev1.ConfirmRegistrationResponse], error) {
	var c check
	c.field("token", req.Msg.GetToken(), true, maxSecretChars)
	if err := c.err(); err != nil {
		return nil, err
	}
	u, t, err := a.s.deps.Accounts.ConfirmRegistration(ctx, req.Msg.GetToken())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&homeplanev1.ConfirmRegistrationResponse{User: userProto(u), Tokens: tokensProto(t)}), nil
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

// ChangePassword ends every session of the user, this one included: the
// client logs in again with the new password.
func (a *authService) ChangePassword(ctx context.Context, req *connect.Request[homeplanev1.ChangePasswordRequest]) (*connect.Response[homeplanev1.ChangePasswordResponse], error) {
	m := req.Msg
	var c check
	c.field("current_password", m.GetCurrentPassword(), true, maxPasswordChars)
	c.field("new_password", m.GetNewPassword(), true, maxPasswordChars)
	if err := c.err(); err != nil {
		return nil, err
	}
	user, err := userOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := a.s.deps.Accounts.ChangePassword(ctx, user, m.GetCurrentPassword(), m.GetNewPassword()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&homeplanev1.ChangePasswordResponse{}), nil
}

// RequestPasswordReset answers alike whether or not the account exists.
func (a *authService) RequestPasswordReset(ctx context.Context, req *connect.Request[homeplanev1.RequestPasswordResetRequest]) (*connect.Response[homeplanev1.RequestPasswordResetResponse], error) {
	var c check
	c.field("email", req.Msg.GetEmail(), true, maxEmailChars)
	if err := c.err(); err != nil {
		return nil, err
	}
	if err := a.s.deps.Accounts.RequestPasswordReset(ctx, req.Msg.GetEmail()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&homeplanev1.RequestPasswordResetResponse{}), nil
}

func (a *authService) ResetPassword(ctx context.Context, req *connect.Request[homeplanev1.ResetPasswordRequest]) (*connect.Response[homeplanev1.ResetPasswordResponse], error) {
	m := req.Msg
	var c check
	c.field("reset_token", m.GetResetToken(), true, maxSecretChars)
	c.field("new_password", m.GetNewPassword(), true, maxPasswordChars)
	if err := c.err(); err != nil {
		return nil, err
	}
	if err := a.s.deps.Accounts.ResetPassword(ctx, m.GetResetToken(), m.GetNewPassword()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&homeplanev1.ResetPasswordResponse{}), nil
}
