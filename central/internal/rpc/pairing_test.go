package rpc

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"

	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/central/internal/pairing"
	"github.com/homeplane/homeplane/central/internal/rpc/rpctest"
)

// fakePairings is a hand-written Pairings: the device code says how the
// pairing stands, one user code waits, and approving checks the home's
// owner as the real service does.
type fakePairings struct {
	homes    *rpctest.Homes
	startErr error
}

const fakeUserCode = "BCDF-GHJK"

func (f *fakePairings) Start(_ context.Context, name string) (pairing.Grant, error) {
	if f.startErr != nil {
		return pairing.Grant{}, f.startErr
	}
	return pairing.Grant{DeviceCode: "hpp_" + name, UserCode: fakeUserCode, ExpiresIn: 10 * time.Minute, Interval: 5 * time.Second}, nil
}

func (f *fakePairings) Poll(_ context.Context, code string) (pairing.Polled, home.Device, string, error) {
	switch code {
	case "hpp_pending":
		return pairing.Polled{Status: pairing.StatusPending, Interval: 5 * time.Second}, home.Device{}, "", nil
	case "hpp_slow":
		return pairing.Polled{Status: pairing.StatusSlowDown, Interval: 10 * time.Second}, home.Device{}, "", nil
	case "hpp_ok":
		return pairing.Polled{Status: pairing.StatusApproved}, home.Device{ID: "d1", HomeID: "h1", Name: "Kitchen"}, "hpd_token", nil
	}
	return pairing.Polled{}, home.Device{}, "", pairing.ErrInvalidGrant
}

func (f *fakePairings) Approve(ctx context.Context, a pairing.Actor, code, homeID, name, _ string) (string, error) {
	if _, err := f.homes.Get(ctx, a.UserID, homeID); err != nil || code != fakeUserCode {
		return "", pairing.ErrNotFound
	}
	return "Kitchen satellite", nil
}

func (f *fakePairings) Deny(_ context.Context, _ pairing.Actor, code string) error {
	if code != fakeUserCode {
		return pairing.ErrNotFound
	}
	return nil
}

func TestPairingProcedures(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := homeplanev1connect.NewPairingServiceClient(e.client, e.url)

	start, err := c.StartPairing(ctx, connect.NewRequest(&homeplanev1.StartPairingRequest{ClientName: "sat"}))
	if err != nil {
		t.Fatal(err)
	}
	m := start.Msg
	if m.GetUserCode() != fakeUserCode || m.GetExpiresIn() != 600 || m.GetInterval() != 5 ||
		m.GetVerificationUri() != e.url+"/pair" || m.GetVerificationUriComplete() != e.url+"/pair?code="+fakeUserCode {
		t.Fatalf("StartPairing = %v", m)
	}
	poll, err := c.PollPairing(ctx, connect.NewRequest(&homeplanev1.PollPairingRequest{DeviceCode: "hpp_ok"}))
	if err != nil || poll.Msg.GetStatus() != homeplanev1.PairingStatus_PAIRING_STATUS_APPROVED || poll.Msg.GetDeviceToken() != "hpd_token" {
		t.Fatalf("PollPairing approved = %v, %v", poll, err)
	}
	poll, err = c.PollPairing(ctx, connect.NewRequest(&homeplanev1.PollPairingRequest{DeviceCode: "hpp_slow"}))
	if err != nil || poll.Msg.GetStatus() != homeplanev1.PairingStatus_PAIRING_STATUS_SLOW_DOWN || poll.Msg.GetInterval() != 10 || poll.Msg.GetDeviceToken() != "" {
		t.Fatalf("PollPairing slow = %v, %v", poll, err)
	}
	_, err = c.PollPairing(ctx, connect.NewRequest(&homeplanev1.PollPairingRequest{DeviceCode: "hpp_used"}))
	wantCode(t, err, connect.CodeUnauthenticated)

	tok := accessToken(e.alice)
	ok, err := c.ApprovePairing(ctx, as(tok, &homeplanev1.ApprovePairingRequest{UserCode: fakeUserCode, HomeId: e.aliceHome.ID}))
	if err != nil || ok.Msg.GetName() != "Kitchen satellite" {
		t.Fatalf("ApprovePairing = %v, %v", ok, err)
	}
	// Bob's home through alice, a wrong code, a device, nobody.
	_, err = c.ApprovePairing(ctx, as(tok, &homeplanev1.ApprovePairingRequest{UserCode: fakeUserCode, HomeId: e.bobHome.ID}))
	wantCode(t, err, connect.CodeNotFound)
	_, err = c.DenyPairing(ctx, as(tok, &homeplanev1.DenyPairingRequest{UserCode: "CCCC-CCCC"}))
	wantCode(t, err, connect.CodeNotFound)
	_, err = c.ApprovePairing(ctx, as(e.deviceToken, &homeplanev1.ApprovePairingRequest{UserCode: fakeUserCode, HomeId: e.aliceHome.ID}))
	wantCode(t, err, connect.CodePermissionDenied)
	_, err = c.DenyPairing(ctx, as("", &homeplanev1.DenyPairingRequest{UserCode: fakeUserCode}))
	wantCode(t, err, connect.CodeUnauthenticated)
}

// postForm posts body with contentType and decodes the JSON answer.
func postForm(t *testing.T, e *testEnv, path, contentType, body string) (int, map[string]any) {
	t.Helper()
	resp, err := e.client.Post(e.url+path, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("%s: %s with a body that is not JSON: %v", path, resp.Status, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", path, ct)
	}
	return resp.StatusCode, m
}

func TestOAuthFormEndpoints(t *testing.T) {
	e := newTestEnv(t)
	const form = "application/x-www-form-urlencoded"
	grant := url.Values{"grant_type": {DeviceCodeGrant}}
	poll := func(code string) string { grant.Set("device_code", code); return grant.Encode() }
	for _, tc := range []struct {
		name, path, ct, body string
		status               int
		want                 map[string]any
	}{
		{"start", DeviceAuthorizationPath, form, "client_id=sat", 200,
			map[string]any{"device_code": "hpp_sat", "user_code": fakeUserCode, "interval": 5.0, "expires_in": 600.0}},
		{"start with a long name", DeviceAuthorizationPath, form, "client_name=" + strings.Repeat("x", 101), 400, map[string]any{"error": "invalid_request"}},
		{"start with JSON", DeviceAuthorizationPath, "application/json", "{}", 415, map[string]any{"error": "invalid_request"}},
		{"pending", TokenPath, form, poll("hpp_pending"), 400, map[string]any{"error": "authorization_pending", "interval": 5.0}},
		{"slow down", TokenPath, form, poll("hpp_slow"), 400, map[string]any{"error": "slow_down", "interval": 10.0}},
		{"approved", TokenPath, form, poll("hpp_ok"), 200, map[string]any{"access_token": "hpd_token", "token_type": "Bearer", "device_id": "d1"}},
		{"used", TokenPath, form, poll("hpp_used"), 400, map[string]any{"error": "invalid_grant"}},
		{"no device code", TokenPath, form, "grant_type=" + url.QueryEscape(DeviceCodeGrant), 400, map[string]any{"error": "invalid_request"}},
		{"other grant", TokenPath, form, "grant_type=password", 400, map[string]any{"error": "unsupported_grant_type"}},
		{"huge form", TokenPath, form, "device_code=" + strings.Repeat("x", 8<<10), 413, map[string]any{"error": "invalid_request"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, got := postForm(t, e, tc.path, tc.ct, tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d (%v)", status, tc.status, got)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v (%v)", k, got[k], v, got)
				}
			}
		})
	}
	t.Run("a throttled start", func(t *testing.T) {
		e.pairings.startErr = auth.ErrThrottled
		defer func() { e.pairings.startErr = nil }()
		status, got := postForm(t, e, DeviceAuthorizationPath, form, "")
		if status != http.StatusTooManyRequests || got["error"] != "slow_down" {
			t.Fatalf("%d %v", status, got)
		}
	})
	t.Run("GET", func(t *testing.T) {
		resp, err := e.client.Get(e.url + TokenPath)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET %s: %d %s", TokenPath, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})
}
