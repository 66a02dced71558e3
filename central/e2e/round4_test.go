package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"
)

// TestAttacksRound4EndToEnd is the fourth attack round (docs/benchmarks.md,
// "Attacks, round 4"): the web pages (the dashboard and the pairing page),
// the edges of the Connect API, tokens, device pairing, tenancy and the
// admin API, and instance control. Central's binary runs with its broker
// and PostgreSQL, alice's agent with hasim's demo home, bob's home with
// enrolled credentials and no agent. Each row asserts the secure outcome.
func TestAttacksRound4EndToEnd(t *testing.T) {
	c := startCentral(t, "--pairing-interval", "1s")
	ctx := context.Background()
	alice := c.user(t, "alice@example.com")
	a := c.enrolledHome(t, alice, "alice-home")
	bob, bobHome, _, _ := newEnrolledHome(t, c, "bob@example.com")
	ops := c.admin(t, "ops@example.com")
	adm := homeplanev1connect.NewAdminServiceClient(http.DefaultClient, c.url)
	pairings := homeplanev1connect.NewPairingServiceClient(http.DefaultClient, c.url)
	dev, err := c.homes.RegisterDevice(ctx, authed(alice, &homeplanev1.RegisterDeviceRequest{HomeId: a.id, Name: "Hall", Area: "Kitchen"}))
	if err != nil {
		t.Fatal(err)
	}
	device := dev.Msg.GetToken()
	watched := []string{"light.kitchen_ceiling", "light.kitchen_counter", "light.living_room_lamp", "lock.front_door", "cover.garage_door"}
	states := func(t *testing.T) string {
		t.Helper()
		var b strings.Builder
		for _, id := range watched {
			st, err := a.haState(id)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s=%s ", id, st)
		}
		return b.String()
	}
	// unchanged fails the row if fn changed anything in alice's home.
	unchanged := func(t *testing.T, fn func()) {
		t.Helper()
		before := states(t)
		fn()
		if after := states(t); after != before {
			t.Errorf("alice's home changed: %s → %s", before, after)
		}
	}
	// code fails the row unless err carries want.
	code := func(t *testing.T, what string, err error, want connect.Code) {
		t.Helper()
		if connect.CodeOf(err) != want {
			t.Errorf("%s: %v, want %v", what, err, want)
		}
	}
	userID := func(t *testing.T, email string) string {
		t.Helper()
		r, err := adm.ListUsers(ctx, authed(ops, &homeplanev1.ListUsersRequest{Query: email}))
		if err != nil || len(r.Msg.GetUsers()) != 1 {
			t.Fatalf("user %s: %v %v", email, r, err)
		}
		return r.Msg.GetUsers()[0].GetId()
	}
	// startPairing starts a pairing as a device would, over the form endpoint.
	startPairing := func(t *testing.T, name string) (deviceCode, userCode string) {
		t.Helper()
		status, g := form(t, c.url+"/oauth/device/code", url.Values{"client_name": {name}})
		if status != http.StatusOK {
			t.Fatalf("device authorization: %d %v", status, g)
		}
		return g["device_code"].(string), g["user_code"].(string)
	}
	poll := func(t *testing.T, deviceCode string) (int, map[string]any) {
		t.Helper()
		return form(t, c.url+"/oauth/token", url.Values{"grant_type": {deviceCodeGrant}, "device_code": {deviceCode}})
	}
	apiPost := func(t *testing.T, procedure, token, contentType string, body []byte, extra http.Header) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, c.url+procedure, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", contentType)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for k, v := range extra {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp, b.String()
	}

	rows := []struct {
		name string
		run  func(t *testing.T)
	}{
		// The web pages.
		{"web/a homeowner's pairing session copied into the dashboard's cookie", func(t *testing.T) {
			br := newBrowser(t, c)
			if p := br.login(t, "/pair", "alice@example.com"); p.status != http.StatusSeeOther {
				t.Fatalf("alice's pairing login: %d", p.status)
			}
			sess := br.cookie(t, "/pair", "homeplane_pair")
			if sess == "" {
				t.Fatal("no pairing session cookie")
			}
			br.setCookie(t, "/admin/", "homeplane_admin", sess)
			for _, path := range []string{"/admin/", "/admin/users", "/admin/audit", "/admin/usage.csv"} {
				if p := br.get(t, path); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/admin/login") {
					t.Errorf("GET %s with alice's session: %d %q", path, p.status, p.header.Get("Location"))
				}
			}
		}},
		{"web/a homeowner's API refresh token as the dashboard's refresh cookie", func(t *testing.T) {
			lr, err := c.auth.Login(ctx, connect.NewRequest(&homeplanev1.LoginRequest{Email: "alice@example.com", Password: "correct horse battery"}))
			if err != nil {
				t.Fatal(err)
			}
			br := newBrowser(t, c)
			br.setCookie(t, "/admin/", "homeplane_admin_refresh", lr.Msg.GetTokens().GetRefreshToken())
			if p := br.get(t, "/admin/users"); p.status != http.StatusSeeOther || strings.Contains(p.body, "alice@example.com") {
				t.Errorf("GET /admin/users with alice's refresh token: %d", p.status)
			}
		}},
		{"web/a homeowner at the dashboard's login form gets no session", func(t *testing.T) {
			br := newBrowser(t, c)
			if p := br.login(t, "/admin", "alice@example.com"); p.status != http.StatusUnauthorized {
				t.Errorf("alice's dashboard login: %d", p.status)
			}
			if br.cookie(t, "/admin/", "homeplane_admin") != "" || br.cookie(t, "/admin/", "homeplane_admin_refresh") != "" {
				t.Error("alice got dashboard cookies")
			}
		}},
		{"web/private pages and token answers are not stored by caches", func(t *testing.T) {
			br := newBrowser(t, c)
			br.login(t, "/admin", "ops@example.com")
			for _, path := range []string{"/admin/", "/admin/users", "/admin/audit", "/admin/usage", "/admin/usage.csv", "/admin/login"} {
				if p := br.get(t, path); p.status != http.StatusOK || p.header.Get("Cache-Control") != "no-store" {
					t.Errorf("GET %s: %d, Cache-Control %q", path, p.status, p.header.Get("Cache-Control"))
				}
			}
			resp, _ := apiPost(t, homeplanev1connect.AuthServiceLoginProcedure, "", "application/json",
				[]byte(`{"email":"alice@example.com","password":"correct horse battery"}`), nil)
			if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Cache-Control"), "no-store") {
				t.Errorf("Login's answer with tokens: %s, Cache-Control %q", resp.Status, resp.Header.Get("Cache-Control"))
			}
			resp, _ = apiPost(t, homeplanev1connect.HomeServiceListDevicesProcedure, alice, "application/json",
				[]byte(fmt.Sprintf(`{"home_id":%q}`, a.id)), nil)
			if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Cache-Control"), "no-store") {
				t.Errorf("ListDevices' answer: %s, Cache-Control %q", resp.Status, resp.Header.Get("Cache-Control"))
			}
		}},
		{"web/session cookies are HttpOnly, SameSite=Strict and kept to their path", func(t *testing.T) {
			for _, scope := range []string{"/admin", "/pair"} {
				br := newBrowser(t, c)
				br.get(t, scope+"/login")
				req, _ := http.NewRequest(http.MethodPost, c.url+scope+"/login", strings.NewReader(url.Values{
					"email": {"ops@example.com"}, "password": {"correct horse battery"}, "csrf": {br.csrf}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := br.http.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				sessions := 0
				for _, ck := range resp.Cookies() {
					if ck.Value == "" {
						continue
					}
					sessions++
					if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || !strings.HasPrefix(ck.Path, scope) {
						t.Errorf("%s cookie %s: HttpOnly %v, SameSite %v, Path %q", scope, ck.Name, ck.HttpOnly, ck.SameSite, ck.Path)
					}
				}
				if sessions != 2 {
					t.Errorf("%s login set %d session cookies, want 2", scope, sessions)
				}
			}
		}},
		{"web/the pairing and users pages show words from their link", func(t *testing.T) {
			br := newBrowser(t, c)
			br.login(t, "/pair", "alice@example.com")
			// Words html/template writes as they are: a lure needs no markup.
			lure := "Your account is locked. Call 1 555 0100 with your password"
			p := br.get(t, "/pair?notice="+url.QueryEscape(lure))
			if p.status != http.StatusOK || strings.Contains(p.body, "Call 1 555 0100") {
				t.Errorf("GET /pair?notice=…: %d, the page shows the link's words", p.status)
			}
			ob := newBrowser(t, c)
			ob.login(t, "/admin", "ops@example.com")
			for _, q := range []string{"notice", "done"} {
				if p := ob.get(t, "/admin/users?"+q+"="+url.QueryEscape(lure)); p.status != http.StatusOK || strings.Contains(p.body, "Call 1 555 0100") {
					t.Errorf("GET /admin/users?%s=…: %d, the page shows the link's words", q, p.status)
				}
			}
		}},
		{"web/markup in the pairing page's code", func(t *testing.T) {
			br := newBrowser(t, c)
			br.login(t, "/pair", "alice@example.com")
			p := br.get(t, "/pair?code="+url.QueryEscape(`"><svg onload=alert(1)>`))
			if p.status != http.StatusOK || strings.Contains(p.body, "<svg onload") {
				t.Errorf("GET /pair?code=<markup>: %d, markup in the page", p.status)
			}
		}},
		{"web/a cross-site form approves a code", func(t *testing.T) {
			deviceCode, userCode := startPairing(t, "Evil speaker")
			br := newBrowser(t, c)
			br.login(t, "/pair", "alice@example.com")
			for _, forged := range []url.Values{
				{"code": {userCode}, "home": {a.id}, "action": {"approve"}, "csrf": {""}},
				{"code": {userCode}, "home": {a.id}, "action": {"approve"}, "csrf": {"AAAA"}},
			} {
				if p := br.post(t, "/pair", forged); p.status != http.StatusForbidden {
					t.Errorf("forged pairing form: %d, want 403", p.status)
				}
			}
			if status, m := poll(t, deviceCode); m["error"] != "authorization_pending" {
				t.Errorf("the device after the forged forms: %d %v", status, m)
			}
		}},
		{"web/alice approves a code into bob's home through the page", func(t *testing.T) {
			deviceCode, userCode := startPairing(t, "Speaker")
			br := newBrowser(t, c)
			br.login(t, "/pair", "alice@example.com")
			br.get(t, "/pair")
			if p := br.post(t, "/pair", url.Values{"code": {userCode}, "home": {bobHome}, "action": {"approve"}}); p.status != http.StatusNotFound {
				t.Errorf("approve into bob's home: %d, want 404", p.status)
			}
			if status, m := poll(t, deviceCode); m["error"] != "authorization_pending" {
				t.Errorf("the device after approval into bob's home: %d %v", status, m)
			}
			devs, err := c.homes.ListDevices(ctx, authed(bob, &homeplanev1.ListDevicesRequest{HomeId: bobHome}))
			if err != nil || len(devs.Msg.GetDevices()) != 0 {
				t.Errorf("bob's devices: %v %v", devs, err)
			}
		}},
		{"web/markup and a direction override as a failed login's email on the audit page", func(t *testing.T) {
			br := newBrowser(t, c)
			br.get(t, "/admin/login")
			evil := "<img src=x onerror=alert(1)>\u202egro.evil@x"
			br.post(t, "/admin/login", url.Values{"email": {evil}, "password": {"x"}})
			ob := newBrowser(t, c)
			ob.login(t, "/admin", "ops@example.com")
			p := ob.get(t, "/admin/audit")
			if p.status != http.StatusOK || strings.Contains(p.body, "<img src=x") || strings.Contains(p.body, "\u202e") {
				t.Errorf("audit page: %d, the email's markup or override is in the page", p.status)
			}
		}},
		{"web/the static folder lists its files", func(t *testing.T) {
			br := newBrowser(t, c)
			if p := br.get(t, "/admin/static/"); p.status != http.StatusNotFound {
				t.Errorf("GET /admin/static/: %d, want 404", p.status)
			}
			if p := br.get(t, "/admin/static/../../admin/users"); p.status == http.StatusOK {
				t.Errorf("a dotted path out of the static folder: %d", p.status)
			}
		}},
		{"web/logout by a cross-site form", func(t *testing.T) {
			br := newBrowser(t, c)
			br.login(t, "/admin", "ops@example.com")
			if p := br.post(t, "/admin/logout", url.Values{"csrf": {""}}); p.status != http.StatusForbidden {
				t.Errorf("forged logout: %d", p.status)
			}
			if p := br.get(t, "/admin/users"); p.status != http.StatusOK {
				t.Errorf("the session after a forged logout: %d", p.status)
			}
		}},
		{"web/a 10 KB search of wildcards and a period of ten thousand years", func(t *testing.T) {
			br := newBrowser(t, c)
			br.login(t, "/admin", "ops@example.com")
			began := time.Now()
			if p := br.get(t, "/admin/users?q="+url.QueryEscape(strings.Repeat(`%_\`, 3400))); p.status >= 500 || strings.Contains(p.body, "bob@example.com") {
				t.Errorf("users search of wildcards: %d", p.status)
			}
			if p := br.get(t, "/admin/usage?since=0001-01-01&until=9999-12-31"); p.status >= 500 {
				t.Errorf("usage of ten thousand years: %d", p.status)
			}
			if took := time.Since(began); took > 5*time.Second {
				t.Errorf("took %v", took)
			}
		}},

		// The Connect API's edges.
		{"api/Process by a GET link", func(t *testing.T) {
			unchanged(t, func() {
				msg := url.QueryEscape(`{"text":"unlock the front door"}`)
				req, _ := http.NewRequest(http.MethodGet, c.url+homeplanev1connect.IntentServiceProcessProcedure+"?encoding=json&message="+msg, nil)
				req.Header.Set("Authorization", "Bearer "+device)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					t.Errorf("GET Process: %s", resp.Status)
				}
			})
		}},
		{"api/a sentence in UTF-16 and in a charset central does not read", func(t *testing.T) {
			unchanged(t, func() {
				utf16 := []byte{0xff, 0xfe}
				for _, r := range `{"text":"unlock the front door"}` {
					utf16 = append(utf16, byte(r), 0)
				}
				for ct, body := range map[string][]byte{
					"application/json":                 utf16,
					"application/json; charset=utf-16": utf16,
					"application/json; charset=latin1": []byte(`{"text":"unlock the front door"}`),
				} {
					if resp, _ := apiPost(t, homeplanev1connect.IntentServiceProcessProcedure, device, ct, body, nil); resp.StatusCode == http.StatusOK {
						t.Errorf("%s body: %s", ct, resp.Status)
					}
				}
			})
		}},
		{"api/a connect timeout header of a year and of zero", func(t *testing.T) {
			for _, ms := range []string{"31536000000", "0", "-1", "99999999999"} {
				began := time.Now()
				resp, body := apiPost(t, homeplanev1connect.HomeServiceListHomesProcedure, alice, "application/json", []byte(`{}`),
					http.Header{"Connect-Timeout-Ms": {ms}})
				// A deadline the client set itself ends its call as the
				// protocol says (504 deadline_exceeded); nothing else fails.
				if resp.StatusCode >= 500 && resp.StatusCode != http.StatusGatewayTimeout || time.Since(began) > 5*time.Second {
					t.Errorf("Connect-Timeout-Ms %s: %s %s", ms, resp.Status, body)
				}
			}
		}},
		{"api/secrets that are not bearer tokens", func(t *testing.T) {
			et, err := c.homes.CreateEnrollmentToken(ctx, authed(alice, &homeplanev1.CreateEnrollmentTokenRequest{HomeId: a.id}))
			if err != nil {
				t.Fatal(err)
			}
			deviceCode, userCode := startPairing(t, "Speaker")
			lr, err := c.auth.Login(ctx, connect.NewRequest(&homeplanev1.LoginRequest{Email: "alice@example.com", Password: "correct horse battery"}))
			if err != nil {
				t.Fatal(err)
			}
			parts := strings.Split(alice, ".")
			for what, tok := range map[string]string{
				"enrollment token": et.Msg.GetToken(), "device code": deviceCode, "user code": userCode,
				"refresh token": lr.Msg.GetTokens().GetRefreshToken(), "access token with a trailing dot": alice + ".",
				"access token without its signature": parts[0] + "." + parts[1] + ".",
				"two tokens":                         alice + "," + device,
				"access token padded":                alice + "==",
			} {
				_, err := c.homes.ListHomes(ctx, authed(tok, &homeplanev1.ListHomesRequest{}))
				code(t, what, err, connect.CodeUnauthenticated)
			}
			// Space around a token is the header's, not the token's: the
			// device token stays a device's, which homeowner RPCs refuse.
			_, err = c.homes.ListHomes(ctx, authed(device+" ", &homeplanev1.ListHomesRequest{}))
			code(t, "device token with a space", err, connect.CodePermissionDenied)
		}},
		{"api/bob's claims on alice's signature", func(t *testing.T) {
			ap, bp := strings.Split(alice, "."), strings.Split(bob, ".")
			spliced := ap[0] + "." + bp[1] + "." + ap[2]
			_, err := c.homes.ListHomes(ctx, authed(spliced, &homeplanev1.ListHomesRequest{}))
			code(t, "spliced token", err, connect.CodeUnauthenticated)
			raw, _ := base64.RawURLEncoding.DecodeString(ap[1])
			forged := ap[0] + "." + base64.RawURLEncoding.EncodeToString(bytes.Replace(raw, []byte(`"exp":`), []byte(`"exp":9`), 1)) + "." + ap[2]
			_, err = c.homes.ListHomes(ctx, authed(forged, &homeplanev1.ListHomesRequest{}))
			code(t, "a far-future exp", err, connect.CodeUnauthenticated)
		}},
		{"api/a device token on every user-only RPC", func(t *testing.T) {
			unchanged(t, func() {
				calls := map[string]error{}
				_, calls["ApprovePairing"] = pairings.ApprovePairing(ctx, authed(device, &homeplanev1.ApprovePairingRequest{UserCode: "BCDF-GHJK", HomeId: a.id}))
				_, calls["ControlInstance"] = c.homes.ControlInstance(ctx, authed(device, &homeplanev1.ControlInstanceRequest{HomeId: a.id,
					Action: homeplanev1.InstanceAction_INSTANCE_ACTION_STOP}))
				_, calls["CreateEnrollmentToken"] = c.homes.CreateEnrollmentToken(ctx, authed(device, &homeplanev1.CreateEnrollmentTokenRequest{HomeId: a.id}))
				_, calls["RegisterDevice"] = c.homes.RegisterDevice(ctx, authed(device, &homeplanev1.RegisterDeviceRequest{HomeId: a.id, Name: "Twin"}))
				_, calls["ListDevices"] = c.homes.ListDevices(ctx, authed(device, &homeplanev1.ListDevicesRequest{HomeId: a.id}))
				_, calls["SetSensitivePolicy"] = c.homes.SetSensitivePolicy(ctx, authed(device, &homeplanev1.SetSensitivePolicyRequest{HomeId: a.id,
					Policy: homeplanev1.SensitivePolicy_SENSITIVE_POLICY_ALLOW}))
				_, calls["ChangePassword"] = c.auth.ChangePassword(ctx, authed(device, &homeplanev1.ChangePasswordRequest{
					CurrentPassword: "correct horse battery", NewPassword: "another long password"}))
				_, calls["GetUsage"] = c.homes.GetUsage(ctx, authed(device, &homeplanev1.GetUsageRequest{HomeId: a.id}))
				_, calls["ListUsers"] = adm.ListUsers(ctx, authed(device, &homeplanev1.ListUsersRequest{}))
				for name, err := range calls {
					if cd := connect.CodeOf(err); cd != connect.CodePermissionDenied && cd != connect.CodeUnauthenticated {
						t.Errorf("%s with a device token: %v", name, err)
					}
				}
			})
		}},
		{"api/a hundred devices multiply one owner's rate", func(t *testing.T) {
			lc := startCentral(t, "--device-burst", "3", "--device-rate", "1", "--user-burst", "20", "--user-rate", "2")
			owner := lc.user(t, "many@example.com")
			h := lc.createHome(t, owner, "many-home")
			var tokens []string
			for i := range 60 {
				d, err := lc.homes.RegisterDevice(ctx, authed(owner, &homeplanev1.RegisterDeviceRequest{HomeId: h, Name: fmt.Sprintf("D%d", i)}))
				if err != nil {
					break // the owner's own rate
				}
				tokens = append(tokens, d.Msg.GetToken())
			}
			time.Sleep(3 * time.Second) // the owner's bucket refills; the row measures the devices
			var mu sync.Mutex
			served := 0
			var wg sync.WaitGroup
			for _, tok := range tokens {
				wg.Go(func() {
					for range 3 {
						if _, err := lc.intents.Process(ctx, authed(tok, &homeplanev1.ProcessRequest{Text: "what time is it"})); connect.CodeOf(err) != connect.CodeResourceExhausted {
							mu.Lock()
							served++
							mu.Unlock()
						}
					}
				})
			}
			wg.Wait()
			// The owner may make 20 calls at once; devices of one home should
			// not make many times that.
			if served > 40 {
				t.Errorf("%d devices of one home had %d calls served at once (owner's burst 20)", len(tokens), served)
			}
		}},

		// Tokens and accounts.
		{"token/a disabled owner's voice device", func(t *testing.T) {
			owner := c.user(t, "dana@example.com")
			h := c.createHome(t, owner, "dana-home")
			d, err := c.homes.RegisterDevice(ctx, authed(owner, &homeplanev1.RegisterDeviceRequest{HomeId: h, Name: "Desk"}))
			if err != nil {
				t.Fatal(err)
			}
			say := func() error {
				_, err := c.intents.Process(ctx, authed(d.Msg.GetToken(), &homeplanev1.ProcessRequest{Text: "what time is it"}))
				return err
			}
			if err := say(); err != nil {
				t.Fatalf("before: %v", err)
			}
			id := userID(t, "dana@example.com")
			if _, err := adm.SetUserDisabled(ctx, authed(ops, &homeplanev1.SetUserDisabledRequest{UserId: id, Disabled: true})); err != nil {
				t.Fatal(err)
			}
			// Within the device cache's 10 s, as a revocation on another replica.
			eventually(t, 15*time.Second, "the disabled owner's device refused", func() bool {
				return connect.CodeOf(say()) == connect.CodeUnauthenticated
			})
			if _, err := adm.SetUserDisabled(ctx, authed(ops, &homeplanev1.SetUserDisabledRequest{UserId: id, Disabled: false})); err != nil {
				t.Fatal(err)
			}
			eventually(t, 15*time.Second, "the device speaks again", func() bool { return say() == nil })
		}},
		{"token/a disabled owner's enrollment token", func(t *testing.T) {
			owner := c.user(t, "ezra@example.com")
			h := c.createHome(t, owner, "ezra-home")
			et, err := c.homes.CreateEnrollmentToken(ctx, authed(owner, &homeplanev1.CreateEnrollmentTokenRequest{HomeId: h}))
			if err != nil {
				t.Fatal(err)
			}
			enroll := func() error {
				_, err := homeplanev1connect.NewAgentServiceClient(http.DefaultClient, c.url).Enroll(ctx,
					connect.NewRequest(&homeplanev1.EnrollRequest{Token: et.Msg.GetToken(), Hostname: "e", AgentVersion: "1"}))
				return err
			}
			id := userID(t, "ezra@example.com")
			if _, err := adm.SetUserDisabled(ctx, authed(ops, &homeplanev1.SetUserDisabledRequest{UserId: id, Disabled: true})); err != nil {
				t.Fatal(err)
			}
			if code := connect.CodeOf(enroll()); code != connect.CodeUnauthenticated {
				t.Errorf("enrolling with a disabled owner's token: %v, want unauthenticated as for an unknown token", code)
			}
			if _, err := adm.SetUserDisabled(ctx, authed(ops, &homeplanev1.SetUserDisabledRequest{UserId: id, Disabled: false})); err != nil {
				t.Fatal(err)
			}
			// The refusal did not use the token up.
			if err := enroll(); err != nil {
				t.Errorf("enrolling once the owner is enabled again: %v", err)
			}
		}},
		{"token/twenty refreshes of one token at once", func(t *testing.T) {
			lr, err := c.auth.Login(ctx, connect.NewRequest(&homeplanev1.LoginRequest{Email: "alice@example.com", Password: "correct horse battery"}))
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var got []string
			var wg sync.WaitGroup
			for range 20 {
				wg.Go(func() {
					r, err := c.auth.Refresh(ctx, connect.NewRequest(&homeplanev1.RefreshRequest{RefreshToken: lr.Msg.GetTokens().GetRefreshToken()}))
					if err == nil {
						mu.Lock()
						got = append(got, r.Msg.GetTokens().GetRefreshToken())
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if len(got) != 1 {
				t.Fatalf("%d new pairs from one refresh token, want 1", len(got))
			}
			if _, err := c.auth.Refresh(ctx, connect.NewRequest(&homeplanev1.RefreshRequest{RefreshToken: got[0]})); err != nil {
				t.Errorf("the winner's pair: %v", err)
			}
		}},
		{"token/sessions after a password reset an admin started", func(t *testing.T) {
			tok := c.user(t, "erin@example.com")
			lr, err := c.auth.Login(ctx, connect.NewRequest(&homeplanev1.LoginRequest{Email: "erin@example.com", Password: "correct horse battery"}))
			if err != nil {
				t.Fatal(err)
			}
			// An admin's reset mails the user a link (the account's own
			// reset); the sessions end when the password is changed by it.
			if _, err := adm.ResetUserPassword(ctx, authed(ops, &homeplanev1.ResetUserPasswordRequest{UserId: userID(t, "erin@example.com")})); err != nil {
				t.Fatal(err)
			}
			if _, err := c.auth.ResetPassword(ctx, connect.NewRequest(&homeplanev1.ResetPasswordRequest{
				ResetToken: c.outboxToken(t, "erin@example.com", "password_reset", resetToken), NewPassword: "a new long password"})); err != nil {
				t.Fatal(err)
			}
			_, err = c.auth.Refresh(ctx, connect.NewRequest(&homeplanev1.RefreshRequest{RefreshToken: lr.Msg.GetTokens().GetRefreshToken()}))
			code(t, "refresh after reset", err, connect.CodeUnauthenticated)
			eventually(t, 10*time.Second, "the access token refused", func() bool {
				_, err := c.homes.ListHomes(ctx, authed(tok, &homeplanev1.ListHomesRequest{}))
				return connect.CodeOf(err) == connect.CodeUnauthenticated
			})
		}},

		// Device pairing.
		{"pairing/alice and bob approve one code at once", func(t *testing.T) {
			deviceCode, userCode := startPairing(t, "Contested")
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, who := range []struct{ tok, home string }{{alice, a.id}, {bob, bobHome}} {
				wg.Go(func() {
					_, errs[i] = pairings.ApprovePairing(ctx, authed(who.tok, &homeplanev1.ApprovePairingRequest{UserCode: userCode, HomeId: who.home}))
				})
			}
			wg.Wait()
			won := 0
			for _, err := range errs {
				if err == nil {
					won++
				} else if cd := connect.CodeOf(err); cd != connect.CodeNotFound && cd != connect.CodeResourceExhausted {
					// One check per address at a time (ADR 0034): the
					// second, from the same address, is refused at once.
					t.Errorf("the loser's answer: %v", err)
				}
			}
			if won != 1 {
				t.Fatalf("%d approvals of one code succeeded", won)
			}
			var m map[string]any
			eventually(t, 10*time.Second, "the token", func() bool {
				_, m = poll(t, deviceCode)
				return m["access_token"] != nil || m["error"] == "invalid_grant"
			})
			if want := map[bool]string{true: a.id, false: bobHome}[errs[0] == nil]; m["home_id"] != want {
				t.Errorf("the device joined %v, the winner's home is %s", m["home_id"], want)
			}
		}},
		{"pairing/ten polls of an approved code at once", func(t *testing.T) {
			deviceCode, userCode := startPairing(t, "Racer")
			if _, err := pairings.ApprovePairing(ctx, authed(alice, &homeplanev1.ApprovePairingRequest{UserCode: userCode, HomeId: a.id})); err != nil {
				t.Fatal(err)
			}
			time.Sleep(1100 * time.Millisecond) // past the interval
			var mu sync.Mutex
			var tokens []string
			var wg sync.WaitGroup
			for range 10 {
				wg.Go(func() {
					if _, m := poll(t, deviceCode); m["access_token"] != nil {
						mu.Lock()
						tokens = append(tokens, m["access_token"].(string))
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if len(tokens) > 1 {
				t.Errorf("%d device tokens from one code", len(tokens))
			}
			time.Sleep(1100 * time.Millisecond)
			if status, m := poll(t, deviceCode); m["error"] != "invalid_grant" && m["access_token"] == nil && len(tokens) == 1 {
				t.Errorf("the used code again: %d %v", status, m)
			}
			_, err := pairings.ApprovePairing(ctx, authed(alice, &homeplanev1.ApprovePairingRequest{UserCode: userCode, HomeId: a.id}))
			code(t, "the used user code approved again", err, connect.CodeNotFound)
		}},
		{"pairing/a denied code approved afterwards", func(t *testing.T) {
			deviceCode, userCode := startPairing(t, "Denied")
			if _, err := pairings.DenyPairing(ctx, authed(alice, &homeplanev1.DenyPairingRequest{UserCode: userCode})); err != nil {
				t.Fatal(err)
			}
			_, err := pairings.ApprovePairing(ctx, authed(alice, &homeplanev1.ApprovePairingRequest{UserCode: userCode, HomeId: a.id}))
			code(t, "approve after deny", err, connect.CodeNotFound)
			if _, m := poll(t, deviceCode); m["error"] != "access_denied" {
				t.Errorf("the denied device's poll: %v", m)
			}
		}},
		{"pairing/a client name with markup and a direction override", func(t *testing.T) {
			for _, name := range []string{"Speaker\u202eliated", "Speaker\x00", "Speaker\u200b"} {
				status, m := form(t, c.url+"/oauth/device/code", url.Values{"client_name": {name}})
				if status != http.StatusBadRequest || m["error"] != "invalid_request" {
					t.Errorf("client_name %q: %d %v", name, status, m)
				}
			}
		}},
		{"pairing/the device code in the link instead of the form", func(t *testing.T) {
			deviceCode, userCode := startPairing(t, "Leaky")
			if _, err := pairings.ApprovePairing(ctx, authed(alice, &homeplanev1.ApprovePairingRequest{UserCode: userCode, HomeId: a.id})); err != nil {
				t.Fatal(err)
			}
			time.Sleep(1100 * time.Millisecond)
			req, _ := http.NewRequest(http.MethodPost, c.url+"/oauth/token?grant_type="+url.QueryEscape(deviceCodeGrant)+"&device_code="+deviceCode, nil)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Errorf("a device code in the URL redeemed: %s", resp.Status)
			}
		}},
		{"pairing/guessing codes from many accounts behind one address", func(t *testing.T) {
			// Each guesser names a home of their own: a code for someone
			// else's home is refused before any code is checked.
			guessers := [][2]string{{alice, a.id}, {bob, bobHome}}
			for _, e := range []string{"g1@example.com", "g2@example.com"} {
				tok := c.user(t, e)
				guessers = append(guessers, [2]string{tok, c.createHome(t, tok, e+"-home")})
			}
			_, real := startPairing(t, "Target")
			throttled := false
			for i := range 40 {
				g := guessers[i%len(guessers)]
				_, err := pairings.ApprovePairing(ctx, authed(g[0], &homeplanev1.ApprovePairingRequest{UserCode: fmt.Sprintf("BBBB-BB%c%c", 'B'+rune(i/20), "BCDFGHJKLMNPQRSTVWXZ"[i%20]), HomeId: g[1]}))
				if connect.CodeOf(err) == connect.CodeResourceExhausted {
					throttled = true
					if i > 12 {
						t.Errorf("throttled only after %d guesses from one address", i)
					}
					break
				}
			}
			if !throttled {
				t.Fatal("40 guesses from four accounts behind one address never throttled")
			}
			_, err := pairings.ApprovePairing(ctx, authed(bob, &homeplanev1.ApprovePairingRequest{UserCode: real, HomeId: bobHome}))
			code(t, "the right code once throttled", err, connect.CodeResourceExhausted)
		}},
		{"pairing/starting codes from one address behind forged forwarding headers", func(t *testing.T) {
			refused := false
			for i := range 40 {
				req, _ := http.NewRequest(http.MethodPost, c.url+"/oauth/device/code", strings.NewReader("client_id=x"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i))
				req.Header.Set("X-Real-IP", fmt.Sprintf("198.51.100.%d", i))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusTooManyRequests {
					refused = true
					break
				}
			}
			if !refused {
				t.Error("40 starts from one address behind forged headers were all served")
			}
		}},

		// Tenancy and the admin API.
		{"tenancy/bob's home through alice's every home RPC looks like none", func(t *testing.T) {
			none := "00000000-0000-4000-8000-000000000000"
			try := func(home string) map[string]error {
				m := map[string]error{}
				_, m["GetHome"] = c.homes.GetHome(ctx, authed(alice, &homeplanev1.GetHomeRequest{HomeId: home}))
				_, m["GetInstance"] = c.homes.GetInstance(ctx, authed(alice, &homeplanev1.GetInstanceRequest{HomeId: home}))
				_, m["ControlInstance"] = c.homes.ControlInstance(ctx, authed(alice, &homeplanev1.ControlInstanceRequest{HomeId: home,
					Action: homeplanev1.InstanceAction_INSTANCE_ACTION_RESTART}))
				_, m["ListEntities"] = c.homes.ListEntities(ctx, authed(alice, &homeplanev1.ListEntitiesRequest{HomeId: home}))
				_, m["ListDevices"] = c.homes.ListDevices(ctx, authed(alice, &homeplanev1.ListDevicesRequest{HomeId: home}))
				_, m["GetUsage"] = c.homes.GetUsage(ctx, authed(alice, &homeplanev1.GetUsageRequest{HomeId: home}))
				_, m["SetSensitivePolicy"] = c.homes.SetSensitivePolicy(ctx, authed(alice, &homeplanev1.SetSensitivePolicyRequest{HomeId: home,
					Policy: homeplanev1.SensitivePolicy_SENSITIVE_POLICY_ALLOW}))
				_, m["CreateEnrollmentToken"] = c.homes.CreateEnrollmentToken(ctx, authed(alice, &homeplanev1.CreateEnrollmentTokenRequest{HomeId: home}))
				_, m["RevokeAgent"] = c.homes.RevokeAgent(ctx, authed(alice, &homeplanev1.RevokeAgentRequest{HomeId: home}))
				_, m["GetPipeline"] = c.intents.GetPipeline(ctx, authed(alice, &homeplanev1.GetPipelineRequest{HomeId: home}))
				_, m["Process"] = c.intents.Process(ctx, authed(alice, &homeplanev1.ProcessRequest{HomeId: home, Text: "what time is it"}))
				return m
			}
			theirs, nobody := try(bobHome), try(none)
			for name, err := range theirs {
				if err == nil || fmt.Sprint(err) != fmt.Sprint(nobody[name]) {
					t.Errorf("%s of bob's home: %v; of no home: %v", name, err, nobody[name])
				}
			}
		}},
		{"admin/roles that are not roles", func(t *testing.T) {
			id := userID(t, "bob@example.com")
			for _, role := range []string{"ADMIN", "admin ", " admin", "root", "", "admin\x00", "ad\u200bmin"} {
				_, err := adm.SetUserRole(ctx, authed(ops, &homeplanev1.SetUserRoleRequest{UserId: id, Role: role}))
				code(t, fmt.Sprintf("role %q", role), err, connect.CodeInvalidArgument)
			}
			u, err := adm.ListUsers(ctx, authed(ops, &homeplanev1.ListUsersRequest{Query: "bob@example.com"}))
			if err != nil || u.Msg.GetUsers()[0].GetRole() != "user" {
				t.Errorf("bob's role: %v %v", u, err)
			}
		}},
		{"admin/instance limits out of range", func(t *testing.T) {
			for _, l := range []*homeplanev1.InstanceLimits{{MemoryBytes: -1}, {NanoCpus: -1}, {MemoryBytes: 1}, {NanoCpus: 1},
				{MemoryBytes: 1 << 62}, {NanoCpus: 1 << 62}} {
				_, err := adm.SetInstanceLimits(ctx, authed(ops, &homeplanev1.SetInstanceLimitsRequest{HomeId: a.id, Limits: l}))
				code(t, fmt.Sprintf("limits %v", l), err, connect.CodeInvalidArgument)
			}
		}},
		{"admin/usage periods upside down and of ten thousand years", func(t *testing.T) {
			now := time.Now()
			for what, p := range map[string][2]time.Time{
				"upside down":           {now, now.Add(-time.Hour)},
				"ten thousand years":    {time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)},
				"before the Unix epoch": {time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), now},
			} {
				began := time.Now()
				_, err := adm.GetUsageReport(ctx, authed(ops, &homeplanev1.GetUsageReportRequest{Since: timestamppb.New(p[0]), Until: timestamppb.New(p[1])}))
				if cd := connect.CodeOf(err); err != nil && cd != connect.CodeInvalidArgument || time.Since(began) > 5*time.Second {
					t.Errorf("usage %s: %v after %v", what, err, time.Since(began))
				}
				_, err = c.homes.GetUsage(ctx, authed(alice, &homeplanev1.GetUsageRequest{HomeId: a.id, Since: timestamppb.New(p[0]), Until: timestamppb.New(p[1])}))
				if cd := connect.CodeOf(err); err != nil && cd != connect.CodeInvalidArgument {
					t.Errorf("alice's usage %s: %v", what, err)
				}
			}
		}},

		// Instance control.
		{"instance/images that carry a command, an option or a path", func(t *testing.T) {
			unchanged(t, func() {
				for _, img := range []string{
					"ghcr.io/home-assistant/home-assistant:stable; rm -rf /", "--privileged", "-v/:/host",
					"ghcr.io/home-assistant/home-assistant:$(id)", "ghcr.io/home-assistant/../../etc/passwd",
					"ghcr.io/home-assistant/home-assistant:stable\n--privileged", "GHCR.IO/HOME-ASSISTANT/home-assistant",
					"ghcr.io/home-assistant/home-assistant@sha256:abc", "ghcr.io/home-assistant/home-assistant:" + strings.Repeat("a", 200),
					"/var/run/docker.sock", "file:///etc/passwd", "ghcr.io/home-assistant/home-assistant\u202e",
				} {
					for _, act := range []homeplanev1.InstanceAction{homeplanev1.InstanceAction_INSTANCE_ACTION_UPGRADE, homeplanev1.InstanceAction_INSTANCE_ACTION_PROVISION} {
						_, err := c.homes.ControlInstance(ctx, authed(alice, &homeplanev1.ControlInstanceRequest{HomeId: a.id, Action: act, Image: img}))
						code(t, fmt.Sprintf("%v %q", act, img), err, connect.CodeInvalidArgument)
					}
				}
			})
		}},
		{"instance/an action that is not one and options on the wrong action", func(t *testing.T) {
			for what, req := range map[string]*homeplanev1.ControlInstanceRequest{
				"action 99":              {HomeId: a.id, Action: 99},
				"unspecified":            {HomeId: a.id},
				"an image to stop":       {HomeId: a.id, Action: homeplanev1.InstanceAction_INSTANCE_ACTION_STOP, Image: "ghcr.io/home-assistant/home-assistant:stable"},
				"remove_data to restart": {HomeId: a.id, Action: homeplanev1.InstanceAction_INSTANCE_ACTION_RESTART, RemoveData: true},
			} {
				_, err := c.homes.ControlInstance(ctx, authed(alice, &homeplanev1.ControlInstanceRequest{HomeId: req.HomeId,
					Action: req.Action, Image: req.Image, RemoveData: req.RemoveData}))
				code(t, what, err, connect.CodeInvalidArgument)
			}
		}},
	}

	passed := 0
	for _, r := range rows {
		if t.Run(r.name, r.run) {
			passed++
		}
	}
	t.Logf("round 4 end to end: %d of %d attacks defended", passed, len(rows))
	// Still serving: alice's device works at the end.
	r, err := c.intents.Process(ctx, authed(device, &homeplanev1.ProcessRequest{Text: "turn on the kitchen lights"}))
	if err != nil || !r.Msg.GetSuccess() {
		t.Fatalf("alice's device after the round: %v %v", r, err)
	}
}

// deviceCodeGrant is RFC 8628's grant type, as a device sends it.
const deviceCodeGrant = "urn:ietf:params:oauth:grant-type:device_code"
