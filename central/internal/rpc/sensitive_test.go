package rpc

import (
	"context"
	"testing"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

func TestSetSensitivePolicy(t *testing.T) {
	e := newTestEnv(t)
	c := e.clients()
	ctx := context.Background()
	tok := accessToken(e.alice)

	got, err := c.home.SetSensitivePolicy(ctx, as(tok, &homeplanev1.SetSensitivePolicyRequest{
		HomeId: e.aliceHome.ID, Policy: homeplanev1.SensitivePolicy_SENSITIVE_POLICY_CONFIRM}))
	if err != nil || got.Msg.GetHome().GetSensitivePolicy() != homeplanev1.SensitivePolicy_SENSITIVE_POLICY_CONFIRM {
		t.Fatalf("SetSensitivePolicy = %v, %v", got, err)
	}
	h, err := c.home.GetHome(ctx, as(tok, &homeplanev1.GetHomeRequest{HomeId: e.aliceHome.ID}))
	if err != nil || h.Msg.GetHome().GetSensitivePolicy() != homeplanev1.SensitivePolicy_SENSITIVE_POLICY_CONFIRM {
		t.Fatalf("GetHome = %v, %v", h, err)
	}
	_, err = c.home.SetSensitivePolicy(ctx, as(tok, &homeplanev1.SetSensitivePolicyRequest{HomeId: e.aliceHome.ID}))
	wantCode(t, err, connect.CodeInvalidArgument)
	_, err = c.home.SetSensitivePolicy(ctx, as(tok, &homeplanev1.SetSensitivePolicyRequest{
		HomeId: "11111111-2222-4333-8444-555555555555", Policy: homeplanev1.SensitivePolicy_SENSITIVE_POLICY_DENY}))
	wantCode(t, err, connect.CodeNotFound)
	_, err = c.home.SetSensitivePolicy(ctx, as(tok, &homeplanev1.SetSensitivePolicyRequest{
		HomeId: e.bobHome.ID, Policy: homeplanev1.SensitivePolicy_SENSITIVE_POLICY_DENY}))
	wantCode(t, err, connect.CodeNotFound)
	// A voice device cannot change what it is allowed to do.
	_, err = c.home.SetSensitivePolicy(ctx, as(e.deviceToken, &homeplanev1.SetSensitivePolicyRequest{
		HomeId: e.aliceHome.ID, Policy: homeplanev1.SensitivePolicy_SENSITIVE_POLICY_ALLOW}))
	wantCode(t, err, connect.CodePermissionDenied)
}
