package rpc

import (
	"context"
	"testing"

	"connectrpc.com/connect"

	"github.com/homeplane/homeplane/central/internal/audit"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// recordsOf returns the audit records of one kind.
func recordsOf(e *testEnv, kind string) []audit.Record {
	var out []audit.Record
	for _, r := range e.auditor.Records() {
		if r.Kind == kind {
			out = append(out, r)
		}
	}
	return out
}

func TestSecurityEventsAreAudited(t *testing.T) {
	e := newTestEnv(t)
	c := e.clients()
	ctx := context.Background()

	_, err := c.auth.Login(ctx, as("", &homeplanev1.LoginRequest{Email: "alice@example.com", Password: "not-her-password"}))
	wantCode(t, err, connect.CodeUnauthenticated)
	failed := recordsOf(e, audit.KindLoginFailed)
	if len(failed) != 1 || failed[0].Outcome != audit.OutcomeDenied || failed[0].Detail["email"] != "alice@example.com" || failed[0].RequestID == "" ||
		!failed[0].ClientAddr.IsLoopback() || failed[0].Intent != "" || failed[0].Slots != nil {
		t.Fatalf("refused login audited as %+v", failed)
	}

	login, err := c.auth.Login(ctx, as("", &homeplanev1.LoginRequest{Email: "alice@example.com", Password: "alice-password"}))
	if err != nil {
		t.Fatal(err)
	}
	ok := recordsOf(e, audit.KindLogin)
	if len(ok) != 1 || ok[0].UserID != e.alice.ID || ok[0].Outcome != audit.OutcomeOK || ok[0].Action != "Login" {
		t.Fatalf("login audited as %+v", ok)
	}

	refresh := login.Msg.GetTokens().GetRefreshToken()
	if _, err := c.auth.Refresh(ctx, as("", &homeplanev1.RefreshRequest{RefreshToken: refresh})); err != nil {
		t.Fatal(err)
	}
	if n := len(recordsOf(e, audit.KindRefreshReuse)); n != 0 {
		t.Fatalf("an ordinary refresh audited as %d reuses", n)
	}
	_, err = c.auth.Refresh(ctx, as("", &homeplanev1.RefreshRequest{RefreshToken: refresh}))
	wantCode(t, err, connect.CodeUnauthenticated)
	reuse := recordsOf(e, audit.KindRefreshReuse)
	if len(reuse) != 1 || reuse[0].UserID != e.alice.ID || reuse[0].Outcome != audit.OutcomeDenied {
		t.Fatalf("refresh token reuse audited as %+v", reuse)
	}

	_, err = c.admin.ListUsers(ctx, as(accessToken(e.alice), &homeplanev1.ListUsersRequest{}))
	wantCode(t, err, connect.CodePermissionDenied)
	_, err = c.admin.ListUsers(ctx, as(e.deviceToken, &homeplanev1.ListUsersRequest{}))
	wantCode(t, err, connect.CodePermissionDenied)
	denied := recordsOf(e, audit.KindAccessDenied)
	if len(denied) != 2 {
		t.Fatalf("denied calls audited as %+v", denied)
	}
	if denied[0].UserID != e.alice.ID || denied[0].Action != "/homeplane.v1.AdminService/ListUsers" {
		t.Errorf("homeowner's denied call audited as %+v", denied[0])
	}
	if denied[1].DeviceID != e.device.ID || denied[1].HomeID != e.aliceHome.ID {
		t.Errorf("device's denied call audited as %+v", denied[1])
	}
}

func TestLoginAnswersOnlyOnceAudited(t *testing.T) {
	e := newTestEnv(t)
	c := e.clients()
	e.auditor.SetFail(context.DeadlineExceeded)
	_, err := c.auth.Login(context.Background(), as("", &homeplanev1.LoginRequest{Email: "alice@example.com", Password: "alice-password"}))
	if err == nil {
		t.Fatal("login succeeded although its audit record could not be written")
	}
	_, err = c.auth.Login(context.Background(), as("", &homeplanev1.LoginRequest{Email: "alice@example.com", Password: "wrong-password"}))
	wantCode(t, err, connect.CodeUnauthenticated)
}
