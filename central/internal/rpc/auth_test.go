package rpc

import (
	"context"
	"strings"
	"testing"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

func TestBadTokensAreUnauthenticated(t *testing.T) {
	e := newTestEnv(t)
	c := e.clients()
	e.accounts.Expire("access-expired")
	revokedToken := e.deviceToken
	if err := e.homes.RevokeDevice(context.Background(), e.alice.ID, e.aliceHome.ID, e.device.ID); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		header string
	}{
		{"no header", ""},
		{"garbage", "Bearer !!!garbage!!!"},
		{"wrong scheme", "Basic " + accessToken(e.alice)},
		{"empty bearer", "Bearer "},
		{"expired access token", "Bearer access-expired"},
		{"jwt-looking garbage", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."},
		{"unknown device token", "Bearer hpd_unknown"},
		{"revoked device token", "Bearer " + revokedToken},
		{"oversized token", "Bearer " + strings.Repeat("a", maxTokenBytes+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := connect.NewRequest(&homeplanev1.ListHomesRequest{})
			preq := connect.NewRequest(processMsg("turn on the lights", e.aliceHome.ID))
			if tt.header != "" {
				req.Header().Set("Authorization", tt.header)
				preq.Header().Set("Authorization", tt.header)
			}
			_, err := c.home.ListHomes(context.Background(), req)
			wantCode(t, err, connect.CodeUnauthenticated)
			_, err = c.intent.Process(context.Background(), preq)
			wantCode(t, err, connect.CodeUnauthenticated)
		})
	}
	if n := len(e.intents.Requests()); n != 0 {
		t.Errorf("engine saw %d requests from unauthenticated callers", n)
	}
}

func TestAuthFlow(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			e := newTestEnv(t)
			c := e.clients(p.opts...)
			ctx := context.Background()

			if _, err := c.auth.Register(ctx, as("", &homeplanev1.RegisterRequest{Email: "carol@example.com", Password: "carol-password"})); err != nil {
				t.Fatal(err)
			}
			_, err := c.auth.ConfirmRegistration(ctx, as("", &homeplanev1.ConfirmRegistrationRequest{Token: "confirm-0"}))
			wantCode(t, err, connect.CodeUnauthenticated)
			reg, err := c.auth.ConfirmRegistration(ctx, as("", &homeplanev1.ConfirmRegistrationRequest{Token: e.accounts.Confirmation("carol@example.com")}))
			if err != nil {
				t.Fatal(err)
			}
			if reg.Msg.GetUser().GetEmail() != "carol@example.com" || reg.Msg.GetTokens().GetAccessToken() == "" {
				t.Fatalf("confirmation answered %v", reg.Msg)
			}
			// A registered address is answered as a new one.
			if _, err = c.auth.Register(ctx, as("", &homeplanev1.RegisterRequest{Email: "carol@example.com", Password: "carol-password"})); err != nil {
				t.Fatalf("register of a taken address answered %v", err)
			}
			_, err = c.auth.Register(ctx, as("", &homeplanev1.RegisterRequest{Email: "dave@example.com", Password: "short"}))
			wantCode(t, err, connect.CodeInvalidArgument)
			_, err = c.auth.Register(ctx, as("", &homeplanev1.RegisterRequest{Email: "", Password: ""}))
			wantCode(t, err, connect.CodeInvalidArgument)
			if msg := errMessage(err); !strings.Contains(msg, "email is required") || !strings.Contains(msg, "password is required") {
				t.Errorf("validation message %q does not name every problem", msg)
			}

			_, err = c.auth.Login(ctx, as("", &homeplanev1.LoginRequest{Email: "carol@example.com", Password: "wrong"}))
			wantCode(t, err, connect.CodeUnauthenticated)
			login, err := c.auth.Login(ctx, as("", &homeplanev1.LoginRequest{Email: "carol@example.com", Password: "carol-password"}))
			if err != nil {
				t.Fatal(err)
			}
			refresh, err := c.auth.Refresh(ctx, as("", &homeplanev1.RefreshRequest{RefreshToken: login.Msg.GetTokens().GetRefreshToken()}))
			if err != nil {
				t.Fatal(err)
			}
			if refresh.Msg.GetTokens().GetAccessToken() == "" || refresh.Msg.GetTokens().GetAccessExpiresAt() == nil {
				t.Errorf("refresh answered %v", refresh.Msg)
			}
			_, err = c.auth.Refresh(ctx, as("", &homeplanev1.RefreshRequest{RefreshToken: "nope"}))
			wantCode(t, err, connect.CodeUnauthenticated)

			homes, err := c.home.ListHomes(ctx, as(refresh.Msg.GetTokens().GetAccessToken(), &homeplanev1.ListHomesRequest{}))
			if err != nil {
				t.Fatal(err)
			}
			if len(homes.Msg.GetHomes()) != 0 {
				t.Errorf("new user sees homes %v", homes.Msg.GetHomes())
			}
			if _, err := c.auth.Logout(ctx, as("", &homeplanev1.LogoutRequest{RefreshToken: refresh.Msg.GetTokens().GetRefreshToken()})); err != nil {
				t.Fatal(err)
			}
			_, err = c.auth.ChangePassword(ctx, as(refresh.Msg.GetTokens().GetAccessToken(), &homeplanev1.ChangePasswordRequest{}))
			wantCode(t, err, connect.CodeInvalidArgument)
		})
	}
}

func TestAdminServiceNeedsAdmin(t *testing.T) {
	e := newTestEnv(t)
	c := e.clients()
	ctx := context.Background()
	tests := []struct {
		name  string
		token string
		want  connect.Code
	}{
		{"user", accessToken(e.alice), connect.CodePermissionDenied},
		{"device", e.deviceToken, connect.CodePermissionDenied},
		{"admin", accessToken(e.admin), connect.CodeUnimplemented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.admin.ListUsers(ctx, as(tt.token, &homeplanev1.ListUsersRequest{}))
			wantCode(t, err, tt.want)
		})
	}
}
