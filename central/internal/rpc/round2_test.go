package rpc

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"
	"github.com/mochi-mqtt/server/v2/packets"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	hv1c "github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"
	"github.com/homeplane/homeplane/protocol/topic"

	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/timer"
)

// TestAttacksRound2 is the third round of attacks (docs/benchmarks.md,
// "Attacks, round 2"): what the earlier suites left out, each against the
// real account and home services, PostgreSQL, the real broker and the
// dashboard, each asserting the secure outcome.
func TestAttacksRound2(t *testing.T) {
	e := newRealEnv(t)
	for _, a := range round2(t, e) {
		t.Run(a.name, a.run)
	}
}

// r2 is one row of the round: who attacks what, and what must hold.
type r2 struct {
	name string
	run  func(t *testing.T)
}

// r2Env is what the rows share: two users with a home each, a device in
// bob's home, and a signing key central trusts, to forge what only a key
// holder could.
type r2Env struct {
	*realEnv
	alice, bob         *homeplanev1.Tokens
	aliceHome, bobHome string
	bobDevice          *homeplanev1.RegisterDeviceResponse
	key                auth.SigningKey
	aliceID            string
}

// post sends body to path with the content type and headers given and
// returns the status and at most 64 KiB of the answer.
func (e *r2Env) post(t *testing.T, method, path, contentType string, header http.Header, body io.Reader) (int, http.Header, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, e.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, resp.Header, string(b)
}

// forge signs claims with central's own (extra) key: what a token made
// elsewhere by someone holding a valid key would look like.
func (e *r2Env) forge(t *testing.T, mutate func(jwt.MapClaims)) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{"sub": e.aliceID, "role": "user", "iss": "homeplane", "aud": "homeplane",
		"exp": now.Add(time.Minute).Unix(), "iat": now.Unix()}
	mutate(c)
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	tok.Header["kid"] = e.key.ID
	s, err := tok.SignedString(e.key.Private)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *r2Env) listHomes(token string) error {
	_, err := e.c.home.ListHomes(context.Background(), as(token, &homeplanev1.ListHomesRequest{}))
	return err
}

// stillServes fails unless alice can still list her homes: the attack left
// the server working.
func (e *r2Env) stillServes(t *testing.T) {
	t.Helper()
	if err := e.listHomes(e.alice.GetAccessToken()); err != nil {
		t.Fatalf("the server stopped serving after the attack: %v", err)
	}
}

// db opens the test database.
func (e *r2Env) db(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// connectEnvelope frames msg for the Connect streaming protocol.
func connectEnvelope(flags byte, msg []byte) []byte {
	out := make([]byte, 5, 5+len(msg))
	out[0] = flags
	binary.BigEndian.PutUint32(out[1:], uint32(len(msg)))
	return append(out, msg...)
}

var resetToken = regexp.MustCompile(`hpw_[A-Za-z0-9_-]{43}`)

func round2(t *testing.T, re *realEnv) []r2 {
	t.Helper()
	ctx := context.Background()
	e := &r2Env{realEnv: re}
	e.alice = e.user(t, "r2-alice@example.com")
	e.bob = e.user(t, "r2-bob@example.com")
	e.aliceHome = e.createHome(t, e.alice.GetAccessToken())
	e.bobHome = e.createHome(t, e.bob.GetAccessToken())
	d, err := e.c.home.RegisterDevice(ctx, as(e.bob.GetAccessToken(), &homeplanev1.RegisterDeviceRequest{HomeId: e.bobHome, Name: "Hall", Area: "hall"}))
	if err != nil {
		t.Fatal(err)
	}
	e.bobDevice = d.Msg
	claims, err := e.accounts.Verify(ctx, e.alice.GetAccessToken())
	if err != nil {
		t.Fatal(err)
	}
	e.aliceID = claims.UserID
	if e.key, err = auth.NewSigningKey(time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := e.store.AddSigningKey(ctx, e.key); err != nil {
		t.Fatal(err)
	}
	if err := e.accounts.ReloadKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.listHomes(e.forge(t, func(jwt.MapClaims) {})); err != nil {
		t.Fatalf("a well-formed token of the extra key is refused: %v", err)
	}
	var rows []r2
	for _, group := range [][]r2{r2Tokens(e), r2Tenancy(e), r2Wire(e), r2HTTP(e), r2Dashboard(e), r2MQTT(e)} {
		rows = append(rows, group...)
	}
	return rows
}

// r2Tokens are token tricks.
func r2Tokens(e *r2Env) []r2 {
	ctx := context.Background()
	unauth := func(token func(t *testing.T) string) func(t *testing.T) {
		return func(t *testing.T) {
			err := e.listHomes(token(t))
			wantCode(t, err, connect.CodeUnauthenticated)
		}
	}
	return []r2{
		{"token/not valid for another hour (nbf)", unauth(func(t *testing.T) string {
			return e.forge(t, func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() })
		})},
		{"token/issued an hour from now (iat)", unauth(func(t *testing.T) string {
			return e.forge(t, func(c jwt.MapClaims) { c["iat"] = time.Now().Add(time.Hour).Unix() })
		})},
		{"token/another issuer", unauth(func(t *testing.T) string {
			return e.forge(t, func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })
		})},
		{"token/audience list without central", unauth(func(t *testing.T) string {
			return e.forge(t, func(c jwt.MapClaims) { c["aud"] = []string{"other", "homeplane-x"} })
		})},
		{"token/HS256 keyed with central's public key", unauth(func(t *testing.T) string {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": e.aliceID, "role": "admin", "iss": "homeplane",
				"aud": "homeplane", "exp": time.Now().Add(time.Minute).Unix(), "iat": time.Now().Unix()})
			tok.Header["kid"] = e.key.ID
			s, err := tok.SignedString([]byte(e.key.Private.Public().(ed25519.PublicKey)))
			if err != nil {
				t.Fatal(err)
			}
			return s
		})},
		{"token/attacker's key embedded as jwk", unauth(func(t *testing.T) string {
			pub, priv, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"sub": e.aliceID, "role": "admin", "iss": "homeplane",
				"aud": "homeplane", "exp": time.Now().Add(time.Minute).Unix(), "iat": time.Now().Unix()})
			tok.Header["jwk"] = map[string]any{"kty": "OKP", "crv": "Ed25519", "x": pub}
			tok.Header["kid"] = "../../keys/attacker"
			s, err := tok.SignedString(priv)
			if err != nil {
				t.Fatal(err)
			}
			return s
		})},
		{"token/of a deleted user", func(t *testing.T) {
			toks := e.user(t, "r2-deleted@example.com")
			c, err := e.accounts.Verify(ctx, toks.GetAccessToken())
			if err != nil {
				t.Fatal(err)
			}
			forged := e.forge(t, func(m jwt.MapClaims) { m["sub"] = c.UserID })
			if _, err := e.db(t).Exec(ctx, `DELETE FROM users WHERE id = $1`, c.UserID); err != nil {
				t.Fatalf("delete the user: %v", err)
			}
			// What Verify read about the user is trusted for the session
			// check's few seconds, no longer.
			pollUntil(t, "the deleted user's token to stop working", func() bool {
				return connect.CodeOf(e.listHomes(toks.GetAccessToken())) == connect.CodeUnauthenticated
			})
			wantCode(t, e.listHomes(forged), connect.CodeUnauthenticated)
			_, err = e.c.auth.Refresh(ctx, as("", &homeplanev1.RefreshRequest{RefreshToken: toks.GetRefreshToken()}))
			wantCode(t, err, connect.CodeUnauthenticated)
		}},
		{"token/access token after logout", func(t *testing.T) {
			toks := e.user(t, "r2-logout@example.com")
			if _, err := e.c.auth.Logout(ctx, as(toks.GetAccessToken(), &homeplanev1.LogoutRequest{RefreshToken: toks.GetRefreshToken()})); err != nil {
				t.Fatal(err)
			}
			wantCode(t, e.listHomes(toks.GetAccessToken()), connect.CodeUnauthenticated)
			_, err := e.c.auth.Refresh(ctx, as("", &homeplanev1.RefreshRequest{RefreshToken: toks.GetRefreshToken()}))
			wantCode(t, err, connect.CodeUnauthenticated)
		}},
		{"token/forged refresh token at logout", func(t *testing.T) {
			forged := "hpr_" + strings.Repeat("A", 43)
			_, err := e.c.auth.Logout(ctx, as(e.alice.GetAccessToken(), &homeplanev1.LogoutRequest{RefreshToken: forged}))
			if err != nil && connect.CodeOf(err) != connect.CodeUnauthenticated {
				t.Fatalf("Logout with a forged token: %v", err)
			}
			e.stillServes(t)
		}},
		{"token/access token given as a refresh token", func(t *testing.T) {
			_, err := e.c.auth.Refresh(ctx, as("", &homeplanev1.RefreshRequest{RefreshToken: e.alice.GetAccessToken()}))
			wantCode(t, err, connect.CodeUnauthenticated)
		}},
		{"token/device token on a homeowner's RPC", func(t *testing.T) {
			_, err := e.c.home.GetHome(ctx, as(e.bobDevice.GetToken(), &homeplanev1.GetHomeRequest{HomeId: e.bobHome}))
			if c := connect.CodeOf(err); c != connect.CodeUnauthenticated && c != connect.CodePermissionDenied {
				t.Fatalf("GetHome with a device token: %v, want unauthenticated or permission denied", err)
			}
		}},
		{"token/agent's MQTT secret as a bearer token", func(t *testing.T) {
			en, err := e.c.agent.Enroll(ctx, as("", &homeplanev1.EnrollRequest{Token: e.enrollmentToken(t, e.alice.GetAccessToken(), e.aliceHome),
				Hostname: "h", AgentVersion: "1"}))
			if err != nil {
				t.Fatal(err)
			}
			wantCode(t, e.listHomes(en.Msg.GetMqttPassword()), connect.CodeUnauthenticated)
			_, err = e.c.intent.Process(ctx, as(en.Msg.GetMqttPassword(), &homeplanev1.ProcessRequest{Text: "turn on the lights"}))
			wantCode(t, err, connect.CodeUnauthenticated)
		}},
		{"token/registration confirmation replayed", func(t *testing.T) {
			e.user(t, "r2-confirm@example.com")
			tok := confirmToken.FindString(e.notice(t, "r2-confirm@example.com", auth.NoticeConfirmRegistration))
			_, err := e.c.auth.ConfirmRegistration(ctx, as("", &homeplanev1.ConfirmRegistrationRequest{Token: tok}))
			wantCode(t, err, connect.CodeUnauthenticated)
		}},
		{"token/password reset replayed", func(t *testing.T) {
			e.user(t, "r2-reset@example.com")
			if _, err := e.c.auth.RequestPasswordReset(ctx, as("", &homeplanev1.RequestPasswordResetRequest{Email: "r2-reset@example.com"})); err != nil {
				t.Fatal(err)
			}
			tok := resetToken.FindString(e.notice(t, "r2-reset@example.com", auth.NoticePasswordReset))
			if tok == "" {
				t.Fatal("no reset token mailed")
			}
			if _, err := e.c.auth.ResetPassword(ctx, as("", &homeplanev1.ResetPasswordRequest{ResetToken: tok, NewPassword: "first new password"})); err != nil {
				t.Fatal(err)
			}
			_, err := e.c.auth.ResetPassword(ctx, as("", &homeplanev1.ResetPasswordRequest{ResetToken: tok, NewPassword: "attacker's password"}))
			if c := connect.CodeOf(err); c != connect.CodeUnauthenticated && c != connect.CodeInvalidArgument {
				t.Fatalf("second reset: %v", err)
			}
			if _, err := e.c.auth.Login(ctx, as("", &homeplanev1.LoginRequest{Email: "r2-reset@example.com", Password: "attacker's password"})); err == nil {
				t.Fatal("the replayed reset set the password")
			}
		}},
	}
}

// r2Tenancy are ids of other tenants where the earlier suite did not look.
func r2Tenancy(e *r2Env) []r2 {
	ctx := context.Background()
	return []r2{
		{"tenancy/bob's device id revoked through alice's home", func(t *testing.T) {
			_, err := e.c.home.RevokeDevice(ctx, as(e.alice.GetAccessToken(), &homeplanev1.RevokeDeviceRequest{
				HomeId: e.aliceHome, DeviceId: e.bobDevice.GetDevice().GetId()}))
			// Revoking an unknown device is not an error; what matters is
			// that bob's device still works.
			if err != nil && connect.CodeOf(err) != connect.CodeNotFound {
				t.Fatalf("RevokeDevice: %v", err)
			}
			if _, err := e.homes.AuthenticateDevice(ctx, e.bobDevice.GetToken()); err != nil {
				t.Fatalf("bob's device stopped working: %v", err)
			}
		}},
		{"tenancy/a device token naming another home", func(t *testing.T) {
			before := len(e.intents.Requests())
			_, err := e.c.intent.Process(ctx, as(e.bobDevice.GetToken(), &homeplanev1.ProcessRequest{Text: "turn on the lights", HomeId: e.aliceHome}))
			for _, r := range e.intents.Requests()[before:] {
				if r.HomeID == e.aliceHome {
					t.Fatalf("bob's device reached alice's home (err %v)", err)
				}
			}
		}},
		{"tenancy/homeowner promotes themselves", func(t *testing.T) {
			_, err := e.c.admin.SetUserRole(ctx, as(e.alice.GetAccessToken(), &homeplanev1.SetUserRoleRequest{UserId: e.aliceID, Role: "admin"}))
			wantCode(t, err, connect.CodePermissionDenied)
			c, err := e.accounts.Verify(ctx, e.forge(t, func(jwt.MapClaims) {}))
			if err != nil {
				t.Fatal(err)
			}
			if c.Role == auth.RoleAdmin {
				t.Fatal("alice is an admin now")
			}
		}},
		{"tenancy/admin ids malformed or unknown look alike", func(t *testing.T) {
			root := e.admin(t, "r2-root@example.com")
			var got []string
			for _, id := range []string{"not-a-uuid", "00000000-0000-4000-8000-00000000dead", "'; --", "\u202e"} {
				_, err := e.c.admin.SetUserDisabled(ctx, as(root.GetAccessToken(), &homeplanev1.SetUserDisabledRequest{UserId: id, Disabled: true}))
				got = append(got, connect.CodeOf(err).String())
			}
			for _, g := range got {
				if g != connect.CodeNotFound.String() {
					t.Fatalf("SetUserDisabled on ids that name no user: %v, want not_found for each", got)
				}
			}
		}},
		{"tenancy/audit page token forged", func(t *testing.T) {
			root := e.admin(t, "r2-auditor@example.com")
			for _, tok := range []string{"AAAA", strings.Repeat("A", 4000), "eyJ0IjoiMjAyMC0wMS0wMSJ9", "%00"} {
				_, err := e.c.admin.QueryAudit(ctx, as(root.GetAccessToken(), &homeplanev1.QueryAuditRequest{PageToken: tok}))
				wantCode(t, err, connect.CodeInvalidArgument)
			}
		}},
		{"tenancy/audit page token of another filter", func(t *testing.T) {
			root := e.admin(t, "r2-auditor2@example.com")
			r, err := e.c.admin.QueryAudit(ctx, as(root.GetAccessToken(), &homeplanev1.QueryAuditRequest{PageSize: 1}))
			if err != nil {
				t.Fatal(err)
			}
			if r.Msg.GetNextPageToken() == "" {
				t.Fatal("no second page")
			}
			_, err = e.c.admin.QueryAudit(ctx, as(root.GetAccessToken(), &homeplanev1.QueryAuditRequest{PageSize: 1,
				HomeId: e.bobHome, PageToken: r.Msg.GetNextPageToken()}))
			wantCode(t, err, connect.CodeInvalidArgument)
		}},
		{"tenancy/users page token forged and page sizes out of range", func(t *testing.T) {
			root := e.admin(t, "r2-lister@example.com")
			_, err := e.c.admin.ListUsers(ctx, as(root.GetAccessToken(), &homeplanev1.ListUsersRequest{PageToken: "forged!"}))
			wantCode(t, err, connect.CodeInvalidArgument)
			for _, size := range []int32{-1, 1 << 30} {
				r, err := e.c.admin.ListUsers(ctx, as(root.GetAccessToken(), &homeplanev1.ListUsersRequest{PageSize: size}))
				if err != nil && connect.CodeOf(err) != connect.CodeInvalidArgument {
					t.Fatalf("page size %d: %v", size, err)
				}
				if err == nil && len(r.Msg.GetUsers()) > 1000 {
					t.Fatalf("page size %d returned %d users", size, len(r.Msg.GetUsers()))
				}
			}
		}},
	}
}

// r2Wire are request bodies no client should send.
func r2Wire(e *r2Env) []r2 {
	ctx := context.Background()
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	return []r2{
		{"wire/unknown owner_id field on CreateHome", func(t *testing.T) {
			body := fmt.Sprintf(`{"name":"planted","owner_id":%q,"ownerId":%q,"id":"00000000-0000-4000-8000-000000000001"}`, e.bobHome, e.bobHome)
			status, _, msg := e.post(t, http.MethodPost, hv1c.HomeServiceCreateHomeProcedure, "application/json", bearer(e.alice.GetAccessToken()), strings.NewReader(body))
			if status == http.StatusOK {
				// Ignored fields are fine, as long as the home is alice's.
				r, err := e.c.home.ListHomes(ctx, as(e.bob.GetAccessToken(), &homeplanev1.ListHomesRequest{}))
				if err != nil {
					t.Fatal(err)
				}
				for _, h := range r.Msg.GetHomes() {
					if h.GetName() == "planted" {
						t.Fatal("the planted home is bob's")
					}
				}
				return
			}
			if !strings.Contains(msg, "invalid_argument") {
				t.Fatalf("status %d %s", status, msg)
			}
		}},
		{"wire/duplicate home_id keys in JSON", func(t *testing.T) {
			body := fmt.Sprintf(`{"home_id":%q,"home_id":%q}`, e.aliceHome, e.bobHome)
			status, _, msg := e.post(t, http.MethodPost, hv1c.HomeServiceGetHomeProcedure, "application/json", bearer(e.alice.GetAccessToken()), strings.NewReader(body))
			if status == http.StatusOK || strings.Contains(msg, e.bobHome) {
				t.Fatalf("status %d %s", status, msg)
			}
		}},
		{"wire/oversized protobuf body", func(t *testing.T) {
			b, _ := proto.Marshal(&homeplanev1.CreateHomeRequest{Name: strings.Repeat("x", 1<<20)})
			status, _, msg := e.post(t, http.MethodPost, hv1c.HomeServiceCreateHomeProcedure, "application/proto", bearer(e.alice.GetAccessToken()), bytes.NewReader(b))
			if status != http.StatusTooManyRequests && !strings.Contains(msg, "resource_exhausted") {
				t.Fatalf("status %d %q", status, msg)
			}
			e.stillServes(t)
		}},
		{"wire/deeply nested protobuf groups", func(t *testing.T) {
			var b []byte
			for range 5000 {
				b = protowire.AppendTag(b, 99, protowire.StartGroupType)
			}
			for range 5000 {
				b = protowire.AppendTag(b, 99, protowire.EndGroupType)
			}
			start := time.Now()
			status, _, _ := e.post(t, http.MethodPost, hv1c.HomeServiceListHomesProcedure, "application/proto", bearer(e.alice.GetAccessToken()), bytes.NewReader(b))
			if time.Since(start) > 5*time.Second {
				t.Fatalf("took %v", time.Since(start))
			}
			_ = status
			e.stillServes(t)
		}},
		{"wire/60 000 unknown repeated fields", func(t *testing.T) {
			var b []byte
			for range 60000 {
				b = protowire.AppendTag(b, 77, protowire.VarintType)
				b = protowire.AppendVarint(b, 0)
			}
			b = b[:min(len(b), 63<<10)]
			start := time.Now()
			e.post(t, http.MethodPost, hv1c.HomeServiceListHomesProcedure, "application/proto", bearer(e.alice.GetAccessToken()), bytes.NewReader(b))
			if time.Since(start) > 5*time.Second {
				t.Fatalf("took %v", time.Since(start))
			}
			e.stillServes(t)
		}},
		{"wire/invalid UTF-8 in a protobuf string", func(t *testing.T) {
			b := protowire.AppendTag(nil, 1, protowire.BytesType)
			b = protowire.AppendBytes(b, []byte("turn on \xff\xfe lights"))
			status, _, msg := e.post(t, http.MethodPost, hv1c.IntentServiceProcessProcedure, "application/proto",
				bearer(e.bobDevice.GetToken()), bytes.NewReader(b))
			if status != http.StatusBadRequest {
				t.Fatalf("status %d %q, want 400", status, msg)
			}
		}},
		{"wire/NUL byte in a home name", func(t *testing.T) {
			_, err := e.c.home.CreateHome(ctx, as(e.alice.GetAccessToken(), &homeplanev1.CreateHomeRequest{Name: "Home\x00; DROP"}))
			wantCode(t, err, connect.CodeInvalidArgument)
		}},
		{"wire/NUL byte in a sentence", func(t *testing.T) {
			before := len(e.intents.Requests())
			_, err := e.c.intent.Process(ctx, as(e.bobDevice.GetToken(), &homeplanev1.ProcessRequest{Text: "turn on the lights\x00"}))
			wantCode(t, err, connect.CodeInvalidArgument)
			if len(e.intents.Requests()) != before {
				t.Fatal("the engine ran the sentence")
			}
			// The audit writer is not poisoned for the next sentence.
			if _, err := e.c.intent.Process(ctx, as(e.bobDevice.GetToken(), &homeplanev1.ProcessRequest{Text: "turn on the lights"})); err != nil {
				t.Fatalf("the next sentence: %v", err)
			}
		}},
		{"wire/control and bidi characters in device names", func(t *testing.T) {
			for _, name := range []string{"Kitchen\u202e", "Hall\x1b[2J", "Lamp\u2066x\u2069", "Door\r\nX-Injected: 1"} {
				_, err := e.c.home.RegisterDevice(ctx, as(e.alice.GetAccessToken(), &homeplanev1.RegisterDeviceRequest{HomeId: e.aliceHome, Name: name, Area: "hall"}))
				if connect.CodeOf(err) != connect.CodeInvalidArgument {
					t.Fatalf("device name %q: %v, want invalid argument", name, err)
				}
			}
		}},
		{"wire/RTL override in a sentence", func(t *testing.T) {
			before := len(e.intents.Requests())
			_, err := e.c.intent.Process(ctx, as(e.bobDevice.GetToken(), &homeplanev1.ProcessRequest{Text: "unlock the \u202erood tnorf\u202c"}))
			wantCode(t, err, connect.CodeInvalidArgument)
			if len(e.intents.Requests()) != before {
				t.Fatal("the engine ran the sentence")
			}
		}},
	}
}

// r2HTTP are attacks on the HTTP layer under Connect.
func r2HTTP(e *r2Env) []r2 {
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	return []r2{
		{"http/stream message compressed as a bomb", func(t *testing.T) {
			var bomb bytes.Buffer
			zw := gzip.NewWriter(&bomb)
			_, _ = io.WriteString(zw, `{"home_id":"`)
			zeros := make([]byte, 1<<20)
			for range 64 {
				_, _ = zw.Write(zeros)
			}
			_ = zw.Close()
			h := bearer(e.alice.GetAccessToken())
			h.Set("Connect-Content-Encoding", "gzip")
			status, _, msg := e.post(t, http.MethodPost, hv1c.IntentServiceWatchTimersProcedure, "application/connect+json", h,
				bytes.NewReader(connectEnvelope(1, bomb.Bytes())))
			if !strings.Contains(msg, "resource_exhausted") && !strings.Contains(msg, "invalid_argument") {
				t.Fatalf("status %d %q", status, msg)
			}
			e.stillServes(t)
		}},
		{"http/unknown content encoding", func(t *testing.T) {
			h := bearer(e.alice.GetAccessToken())
			h.Set("Content-Encoding", "br")
			// The Connect protocol answers an encoding it does not support
			// with Unimplemented, naming the ones it does.
			status, _, msg := e.post(t, http.MethodPost, hv1c.HomeServiceCreateHomeProcedure, "application/json", h, strings.NewReader(`{"name":"br"}`))
			if status != http.StatusNotImplemented || !strings.Contains(msg, `"unimplemented"`) {
				t.Fatalf("status %d %q", status, msg)
			}
		}},
		{"http/text/plain body (a CORS simple request)", func(t *testing.T) {
			h := bearer(e.alice.GetAccessToken())
			status, _, msg := e.post(t, http.MethodPost, hv1c.HomeServiceCreateHomeProcedure, "text/plain", h, strings.NewReader(`{"name":"csrf"}`))
			if status != http.StatusUnsupportedMediaType {
				t.Fatalf("status %d %q, want 415", status, msg)
			}
		}},
		{"http/GET on a procedure with side effects", func(t *testing.T) {
			q := url.Values{"encoding": {"json"}, "message": {fmt.Sprintf(`{"home_id":%q}`, e.aliceHome)}}
			status, _, msg := e.post(t, http.MethodGet, hv1c.HomeServiceDeleteHomeProcedure+"?"+q.Encode(), "", bearer(e.alice.GetAccessToken()), nil)
			if status == http.StatusOK {
				t.Fatalf("GET deleted a home: %q", msg)
			}
			if _, err := e.c.home.GetHome(context.Background(), as(e.alice.GetAccessToken(), &homeplanev1.GetHomeRequest{HomeId: e.aliceHome})); err != nil {
				t.Fatalf("alice's home is gone: %v", err)
			}
		}},
		{"http/100 KiB of headers", func(t *testing.T) {
			h := bearer(e.alice.GetAccessToken())
			for i := range 100 {
				h.Set(fmt.Sprintf("X-Pad-%d", i), strings.Repeat("a", 1<<10))
			}
			status, _, _ := e.post(t, http.MethodPost, hv1c.HomeServiceListHomesProcedure, "application/json", h, strings.NewReader(`{}`))
			if status != http.StatusRequestHeaderFieldsTooLarge {
				t.Fatalf("status %d, want 431", status)
			}
		}},
		{"http/a slow body after authentication", func(t *testing.T) {
			hangsUp(t, e.realEnv, func(srv *http.Server) { srv.ReadTimeout = 2 * time.Second },
				"POST "+hv1c.HomeServiceCreateHomeProcedure+" HTTP/1.1\r\nHost: central\r\nContent-Type: application/json\r\n"+
					"Authorization: Bearer "+e.alice.GetAccessToken()+"\r\nContent-Length: 1000\r\n\r\n{\"name\":")
		}},
		{"http/40 timer streams of one user at once", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			toks := e.user(t, "r2-streams@example.com")
			homeID := e.createHome(t, toks.GetAccessToken())
			c, err := e.accounts.Verify(ctx, toks.GetAccessToken())
			if err != nil {
				t.Fatal(err)
			}
			// A timer announces itself to every stream admitted.
			owner := timer.Owner{HomeID: homeID, DeviceID: intent.UserTimerOwner(c.UserID)}
			if _, err := e.timers.Start(timer.Timer{Owner: owner, Name: "flood", Start: time.Hour}); err != nil {
				t.Fatal(err)
			}
			refused := 0
			for range 40 {
				s, err := e.c.intent.WatchTimers(ctx, as(toks.GetAccessToken(), &homeplanev1.WatchTimersRequest{HomeId: homeID}))
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if !s.Receive() {
					err := s.Err()
					if connect.CodeOf(err) != connect.CodeResourceExhausted || strings.Contains(err.Error(), "rate") {
						t.Fatalf("stream ended with %v", err)
					}
					refused++
				}
			}
			if refused == 0 {
				t.Fatal("40 concurrent streams of one user were all admitted")
			}
		}},
	}
}

// r2Dashboard are attacks on the operators' dashboard.
func r2Dashboard(e *r2Env) []r2 {
	ctx := context.Background()
	return []r2{
		{"dashboard/framing headers on every page", func(t *testing.T) {
			for _, path := range []string{"/admin/login", "/admin/", "/admin/static/missing.css"} {
				status, h, _ := e.post(t, http.MethodGet, path, "", nil, nil)
				csp := h.Get("Content-Security-Policy")
				if !strings.Contains(csp, "frame-ancestors 'none'") && h.Get("X-Frame-Options") == "" {
					t.Fatalf("%s (status %d) may be framed: CSP %q", path, status, csp)
				}
				if h.Get("X-Content-Type-Options") != "nosniff" {
					t.Fatalf("%s (status %d) lacks X-Content-Type-Options: nosniff", path, status)
				}
			}
		}},
		{"dashboard/open redirect after login", func(t *testing.T) {
			e.admin(t, "r2-redirect@example.com")
			for i, next := range []string{"//evil.example/", "https://evil.example/", "/admin/../\\evil.example", "/admin//evil.example", "/\tevil.example", "/admin/%0d%0aLocation:%20https://evil.example"} {
				b := e.browser(t, fmt.Sprintf("198.51.100.%d", 120+i))
				_, page := b.do(t, http.MethodGet, "/admin/login?next="+url.QueryEscape(next), nil)
				form := url.Values{"email": {"r2-redirect@example.com"}, "password": {password},
					"csrf": {between(page, `name="csrf" value="`, `"`)}, "next": {next}}
				req, err := http.NewRequest(http.MethodPost, e.url+"/admin/login", strings.NewReader(form.Encode()))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("X-Forwarded-For", b.addr)
				resp, err := b.c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				loc := resp.Header.Get("Location")
				u, err := url.Parse(loc)
				if resp.StatusCode != http.StatusSeeOther || err != nil || u.Host != "" || u.Scheme != "" ||
					!strings.HasPrefix(loc, "/admin/") || strings.HasPrefix(loc, "/admin//") || strings.ContainsAny(loc, "\\\t\r\n") {
					t.Fatalf("next %q: status %d, Location %q", next, resp.StatusCode, loc)
				}
			}
		}},
		{"dashboard/CSRF token of another session", func(t *testing.T) {
			e.admin(t, "r2-csrf-a@example.com")
			e.admin(t, "r2-csrf-b@example.com")
			a, b := e.browser(t, "198.51.100.130"), e.browser(t, "198.51.100.131")
			if a.login(t, "r2-csrf-a@example.com", password) != http.StatusSeeOther || b.login(t, "r2-csrf-b@example.com", password) != http.StatusSeeOther {
				t.Fatal("dashboard login failed")
			}
			_, page := a.do(t, http.MethodGet, "/admin/users", nil)
			aToken := between(page, `name="csrf" value="`, `"`)
			code, _ := b.do(t, http.MethodPost, "/admin/logout", url.Values{"csrf": {aToken}})
			if code != http.StatusForbidden {
				t.Fatalf("b's session took a's CSRF token: status %d", code)
			}
		}},
		{"dashboard/markup in a sentence on the audit page", func(t *testing.T) {
			const xss = `<img src=x onerror=alert(1)>"'`
			if _, err := e.c.intent.Process(ctx, as(e.bobDevice.GetToken(), &homeplanev1.ProcessRequest{Text: xss})); err != nil {
				t.Fatal(err)
			}
			e.admin(t, "r2-xss@example.com")
			b := e.browser(t, "198.51.100.132")
			if b.login(t, "r2-xss@example.com", password) != http.StatusSeeOther {
				t.Fatal("dashboard login failed")
			}
			code, page := b.do(t, http.MethodGet, "/admin/audit?text="+url.QueryEscape("onerror"), nil)
			if code != http.StatusOK || strings.Contains(page, "<img src=x") || !strings.Contains(page, "&lt;img src=x") {
				t.Fatalf("audit page (status %d) does not show the sentence escaped", code)
			}
		}},
		{"dashboard/state change by GET", func(t *testing.T) {
			e.admin(t, "r2-get@example.com")
			victim := e.user(t, "r2-get-victim@example.com")
			c, err := e.accounts.Verify(ctx, victim.GetAccessToken())
			if err != nil {
				t.Fatal(err)
			}
			b := e.browser(t, "198.51.100.133")
			if b.login(t, "r2-get@example.com", password) != http.StatusSeeOther {
				t.Fatal("dashboard login failed")
			}
			b.do(t, http.MethodGet, "/admin/users/"+c.UserID+"/disable", nil)
			b.do(t, http.MethodGet, "/admin/logout", nil)
			if err := e.listHomes(victim.GetAccessToken()); err != nil {
				t.Fatalf("a GET disabled the user: %v", err)
			}
			if code, _ := b.do(t, http.MethodGet, "/admin/users", nil); code != http.StatusOK {
				t.Fatalf("a GET logged the admin out: status %d", code)
			}
		}},
	}
}

// r2MQTT are attacks on the broker by an enrolled agent (credentials from
// PostgreSQL through the home service).
func r2MQTT(e *r2Env) []r2 {
	ctx := context.Background()
	enroll := func(t *testing.T, token, homeID string) *homeplanev1.EnrollResponse {
		t.Helper()
		en, err := e.c.agent.Enroll(ctx, as("", &homeplanev1.EnrollRequest{Token: e.enrollmentToken(t, token, homeID), Hostname: "h", AgentVersion: "1"}))
		if err != nil {
			t.Fatal(err)
		}
		return en.Msg
	}
	// seen records what central's inline client receives on every home's
	// results and entities.
	var seenMu sync.Mutex
	seen := map[string][]string{}
	record := func(tp string, payload []byte) {
		seenMu.Lock()
		defer seenMu.Unlock()
		seen[tp] = append(seen[tp], string(payload))
	}
	got := func(tp, payload string) bool {
		seenMu.Lock()
		defer seenMu.Unlock()
		for _, p := range seen[tp] {
			if p == payload {
				return true
			}
		}
		return false
	}
	subscribed := false
	subscribe := func(t *testing.T) {
		if subscribed {
			return
		}
		subscribed = true
		for _, k := range []topic.Kind{topic.Result, topic.Entities, topic.Telemetry} {
			if err := e.broker.Subscribe(topic.Filter(k), record); err != nil {
				t.Fatal(err)
			}
		}
	}
	// attempt publishes payload on tp as agent, then a marker on its own
	// telemetry, and reports whether central received the attempt.
	attempt := func(t *testing.T, agent paho.Client, homeID, tp string, qos byte, payload string) bool {
		t.Helper()
		subscribe(t)
		agent.Publish(tp, qos, false, payload).WaitTimeout(5 * time.Second)
		if !agent.IsConnected() {
			return got(tp, payload)
		}
		marker := fmt.Sprintf("marker-%d", time.Now().UnixNano())
		if tok := agent.Publish(topic.For(homeID, topic.Telemetry), 0, false, marker); tok.WaitTimeout(5*time.Second) && tok.Error() == nil && agent.IsConnected() {
			pollUntil(t, "marker", func() bool { return got(topic.For(homeID, topic.Telemetry), marker) || !agent.IsConnected() })
		}
		return got(tp, payload)
	}
	return []r2{
		{"mqtt/session takeover with the right client id and a wrong secret", func(t *testing.T) {
			en := enroll(t, e.alice.GetAccessToken(), e.aliceHome)
			var lost atomic.Bool
			cl, err := e.agentConn(t, en, &lost)
			if err != nil {
				t.Fatal(err)
			}
			bad := proto.Clone(en).(*homeplanev1.EnrollResponse)
			bad.MqttPassword = "hpa_" + strings.Repeat("A", 43)
			if _, err := e.agentConn(t, bad, nil); err == nil {
				t.Fatal("admitted with a wrong secret")
			}
			// A takeover happens before the CONNACK; the first connection
			// still round-trips a QoS 1 publish after the refusal.
			if tok := cl.Publish(topic.For(e.aliceHome, topic.Telemetry), 1, false, "alive"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				t.Fatalf("the first connection is gone: %v", tok.Error())
			}
			if lost.Load() || !cl.IsConnected() {
				t.Fatal("the refused connection took over the agent's session")
			}
		}},
		{"mqtt/lookalike and malformed topics of another home", func(t *testing.T) {
			a := enroll(t, e.alice.GetAccessToken(), e.aliceHome)
			e.bobAgentOnce(t, enroll)
			cl, err := e.agentConn(t, a, nil)
			if err != nil {
				t.Fatal(err)
			}
			upper := strings.ToUpper(e.bobHome)
			// A Cyrillic lookalike of the first a, c or e: a home id
			// without an a is not rare, and then it was alice's own topic.
			homoglyph := e.aliceHome
			if i := strings.IndexAny(homoglyph, "ace"); i >= 0 {
				homoglyph = homoglyph[:i] + map[byte]string{'a': "\u0430", 'c': "\u0441", 'e': "\u0435"}[homoglyph[i]] + homoglyph[i+1:]
			}
			for _, tp := range []string{
				topic.Prefix + upper + "/result",
				topic.Prefix + homoglyph + "/result",
				topic.Prefix + e.aliceHome + "/../" + e.bobHome + "/result",
				topic.Prefix + e.bobHome + "//result",
				"/" + topic.For(e.bobHome, topic.Result),
				topic.For(e.aliceHome, topic.Result) + "/" + e.bobHome,
			} {
				if attempt(t, cl, e.aliceHome, tp, 0, `{"attack":"`+tp+`"}`) {
					t.Fatalf("central received a publish on %q", tp)
				}
				if !cl.IsConnected() {
					if cl, err = e.agentConn(t, a, nil); err != nil {
						t.Fatal(err)
					}
				}
			}
		}},
		{"mqtt/wildcards and NUL in a publish topic", func(t *testing.T) {
			a := enroll(t, e.alice.GetAccessToken(), e.aliceHome)
			for _, tp := range []string{topic.Prefix + "+/result", topic.Prefix + "#", topic.For(e.aliceHome, topic.Result) + "\x00" + e.bobHome} {
				conn := rawMQTT(t, e, a, 4)
				writePacket(t, conn, &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: tp, Payload: []byte("x")})
				// The broker must close the connection on a malformed topic.
				_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.ReadAll(conn); err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						t.Fatalf("publish on %q: the connection stayed open", tp)
					}
				}
				subscribe(t)
				if got(tp, "x") {
					t.Fatalf("central received a publish on %q", tp)
				}
			}
		}},
		{"mqtt/QoS 2 publish to another home's result", func(t *testing.T) {
			a := enroll(t, e.alice.GetAccessToken(), e.aliceHome)
			cl, err := e.agentConn(t, a, nil)
			if err != nil {
				t.Fatal(err)
			}
			if attempt(t, cl, e.aliceHome, topic.For(e.bobHome, topic.Result), 2, "qos2") {
				t.Fatal("central received the QoS 2 publish")
			}
		}},
		{"mqtt/QoS 2 publishes never released", func(t *testing.T) {
			a := enroll(t, e.alice.GetAccessToken(), e.aliceHome)
			conn := rawMQTT(t, e, a, 4)
			for i := range 500 {
				writePacket(t, conn, &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 2}, PacketID: uint16(i + 1),
					TopicName: topic.For(e.aliceHome, topic.Telemetry), Payload: []byte("held")})
			}
			// The agent never sends PUBREL; the broker must stay responsive
			// to others.
			b := enroll(t, e.bob.GetAccessToken(), e.bobHome)
			cl, err := e.agentConn(t, b, nil)
			if err != nil {
				t.Fatalf("another agent cannot connect: %v", err)
			}
			if attempt(t, cl, e.bobHome, topic.For(e.bobHome, topic.Result), 1, "bob's own result") != true {
				t.Fatal("bob's own result did not arrive")
			}
		}},
		{"mqtt/MQTT 5 CONNECT with a forever session and a thousand user properties", func(t *testing.T) {
			a := enroll(t, e.alice.GetAccessToken(), e.aliceHome)
			conn, err := net.Dial("tcp", e.broker.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			pk := &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 5,
				Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: false, Keepalive: 0,
					ClientIdentifier: a.GetAgentId(), UsernameFlag: true, Username: []byte(a.GetMqttUsername()),
					PasswordFlag: true, Password: []byte(a.GetMqttPassword())},
				Properties: packets.Properties{SessionExpiryInterval: 0xFFFFFFFF, SessionExpiryIntervalFlag: true,
					ReceiveMaximum: 65535, TopicAliasMaximum: 65535, MaximumPacketSize: 0xFFFFFFF}}
			for i := range 1000 {
				pk.Properties.User = append(pk.Properties.User, packets.UserProperty{Key: fmt.Sprintf("k%d", i), Val: strings.Repeat("v", 200)})
			}
			var buf bytes.Buffer
			if err := pk.ConnectEncode(&buf); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Write(buf.Bytes()); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			ack, err := readConnack(conn, 5)
			if err != nil {
				return // refused by closing: fine
			}
			if ack.ReasonCode == 0 {
				if ack.Properties.SessionExpiryInterval == 0 || ack.Properties.SessionExpiryInterval > 7*24*3600 {
					t.Fatalf("admitted with session expiry %d", ack.Properties.SessionExpiryInterval)
				}
				if ack.Properties.ServerKeepAlive == 0 && ack.Properties.ServerKeepAliveFlag {
					t.Fatal("keepalive 0 accepted")
				}
			}
		}},
	}
}

// bobAgentOnce enrolls and connects bob's agent, so that bob's home is real.
func (e *r2Env) bobAgentOnce(t *testing.T, enroll func(*testing.T, string, string) *homeplanev1.EnrollResponse) {
	t.Helper()
	if _, err := e.agentConn(t, enroll(t, e.bob.GetAccessToken(), e.bobHome), nil); err != nil {
		t.Fatal(err)
	}
}

// rawMQTT connects to the broker with a raw socket as the enrolled agent.
func rawMQTT(t *testing.T, e *r2Env, a *homeplanev1.EnrollResponse, version byte) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", e.broker.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	name := []byte("MQTT")
	writePacket(t, conn, &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: version,
		Connect: packets.ConnectParams{ProtocolName: name, Clean: true, Keepalive: 30, ClientIdentifier: a.GetAgentId(),
			UsernameFlag: true, Username: []byte(a.GetMqttUsername()), PasswordFlag: true, Password: []byte(a.GetMqttPassword())}})
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	ack, err := readConnack(conn, version)
	if err != nil || ack.ReasonCode != 0 {
		t.Fatalf("raw CONNECT: %v %v", ack, err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	return conn
}

func writePacket(t *testing.T, conn net.Conn, pk *packets.Packet) {
	t.Helper()
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	}
	if err != nil {
		t.Fatal(err)
	}
	_, _ = conn.Write(buf.Bytes())
}

// readConnack reads one CONNACK.
func readConnack(conn net.Conn, version byte) (*packets.Packet, error) {
	var hdr [1]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return nil, err
	}
	fh := packets.FixedHeader{}
	if err := fh.Decode(hdr[0]); err != nil {
		return nil, err
	}
	n, mult := 0, 1
	for {
		var b [1]byte
		if _, err := io.ReadFull(conn, b[:]); err != nil {
			return nil, err
		}
		n += int(b[0]&127) * mult
		mult *= 128
		if b[0]&128 == 0 {
			break
		}
	}
	fh.Remaining = n
	body := make([]byte, n)
	if _, err := io.ReadFull(conn, body); err != nil {
		return nil, err
	}
	pk := &packets.Packet{FixedHeader: fh, ProtocolVersion: version}
	if fh.Type != packets.Connack {
		return nil, fmt.Errorf("packet type %d, want CONNACK", fh.Type)
	}
	if err := pk.ConnackDecode(body); err != nil {
		return nil, err
	}
	return pk, nil
}
