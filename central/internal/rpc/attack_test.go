package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/polltest"
	"github.com/homeplane/homeplane/protocol/topic"

	"github.com/homeplane/homeplane/central/internal/admin"
	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/broker"
	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
	"github.com/homeplane/homeplane/central/internal/rpc/rpctest"
	"github.com/homeplane/homeplane/central/internal/timer"
	"github.com/homeplane/homeplane/central/internal/usage"
	"github.com/homeplane/homeplane/central/internal/web"
)

// realEnv is the API over the real account and home services, PostgreSQL
// and the real broker; only the intent engine and the registry are fakes.
type realEnv struct {
	c        clients
	url      string
	client   *http.Client
	handler  http.Handler // the API and the dashboard, as central serves them
	accounts *auth.Service
	keys     *auth.Keys
	store    *postgres.AuthStore
	outbox   *postgres.Outbox
	homes    *home.Service
	broker   *broker.Broker
	audit    *postgres.AuditStore
	timers   *timer.Manager
	intents  *rpctest.Intents
	// registered counts the accounts user made.
	registered atomic.Int32
	// dbURL is the test database, at dbAddr.
	dbURL, dbAddr string
}

// trustLoopback lets the tests name the client's address in
// X-Forwarded-For, as a proxy on the same host would.
var trustLoopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

func newRealEnv(t *testing.T) *realEnv {
	t.Helper()
	pool, dbURL := pgtest.NewURL(t)
	ctx := context.Background()
	e := &realEnv{store: postgres.NewAuthStore(pool), outbox: postgres.NewOutbox(pool), dbURL: dbURL}
	if u, err := url.Parse(dbURL); err == nil {
		e.dbAddr = u.Host
	}
	var err error
	if e.keys, err = auth.LoadKeys(ctx, e.store, time.Now()); err != nil {
		t.Fatal(err)
	}
	e.accounts = auth.NewService(e.store, e.keys, auth.Options{Notifier: e.outbox})
	e.broker, err = broker.New(broker.CredentialsFunc(func(ctx context.Context, id, secret string) (string, error) {
		return e.homes.AuthenticateAgent(ctx, id, secret)
	}), broker.Options{Addr: "127.0.0.1:0", Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	e.homes = home.NewService(postgres.NewHomeStore(pool), home.Options{Disconnector: e.broker})
	bctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := e.broker.Start(bctx); err != nil {
		t.Fatal(err)
	}
	intents := &rpctest.Intents{}
	intents.Answer(rpctest.LightsOn(), nil)
	e.intents = intents
	e.audit = postgres.NewAuditStore(pool)
	writer := audit.NewWriter(e.audit, audit.Options{})
	t.Cleanup(func() { writer.Close() })
	e.timers = timer.NewManager(timer.Options{})
	operators := admin.New(postgres.NewAdminStore(pool), e.accounts, writer, admin.Options{})
	usageStore := postgres.NewUsageStore(pool)
	rates, err := usage.ParseRates("")
	if err != nil {
		t.Fatal(err)
	}
	reports := usage.NewReporter(usageStore, rates)
	log := slog.New(slog.DiscardHandler)
	api := NewHandler(Deps{
		Accounts: e.accounts, Homes: e.homes, Entities: rpctest.Entities{},
		Intents: intents, Auditor: writer, Timers: e.timers,
		Admin: AdminDeps{Operators: operators, Audit: e.audit, Usage: reports},
	}, Options{Logger: log, TrustedProxies: trustLoopback})
	mux := NewMux(api, nil, nil)
	mux.Handle(web.Prefix, ClientAddrs(trustLoopback, web.New(web.Deps{
		Accounts: e.accounts, Operators: operators, Audit: e.audit, Usage: reports, Auditor: writer,
	}, web.Options{Admits: DashboardAdmits, Errors: HTTPError, Logger: log})))
	e.handler = mux
	srv := httptest.NewUnstartedServer(mux)
	srv.Config = NewServer(mux, log)
	srv.Start()
	t.Cleanup(srv.Close)
	e.c = clientsFor(srv)
	e.url, e.client = srv.URL, srv.Client()
	return e
}

func clientsFor(srv *httptest.Server) clients {
	te := &testEnv{url: srv.URL, client: srv.Client()}
	return te.clients()
}

// user registers email and returns its tokens. Each registration comes from
// an address of its own, so the suite's many accounts stay under the limit
// per address.
func (e *realEnv) user(t *testing.T, email string) *homeplanev1.Tokens {
	t.Helper()
	addr := fmt.Sprintf("192.0.2.%d", e.registered.Add(1)%250+1)
	ctx := context.Background()
	if _, err := e.c.auth.Register(ctx, from(addr, as("", &homeplanev1.RegisterRequest{Email: email, Password: "correct horse battery"}))); err != nil {
		t.Fatal(err)
	}
	tok := confirmToken.FindString(e.notice(t, email, auth.NoticeConfirmRegistration))
	r, err := e.c.auth.ConfirmRegistration(ctx, from(addr, as("", &homeplanev1.ConfirmRegistrationRequest{Token: tok})))
	if err != nil {
		t.Fatal(err)
	}
	return r.Msg.GetTokens()
}

// confirmToken matches a registration token in a confirmation notice.
var confirmToken = regexp.MustCompile(`hpc_[A-Za-z0-9_-]{43}`)

// notice returns the body of the newest notice of kind for email in the
// outbox, or "" when there is none.
func (e *realEnv) notice(t *testing.T, email, kind string) string {
	t.Helper()
	ns, err := e.outbox.ListNotices(context.Background(), 0, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	body := ""
	for _, n := range ns {
		if n.Email == email && n.Kind == kind {
			body = n.Body
		}
	}
	return body
}

func (e *realEnv) createHome(t *testing.T, access string) string {
	t.Helper()
	r, err := e.c.home.CreateHome(context.Background(), as(access, &homeplanev1.CreateHomeRequest{Name: "Home"}))
	if err != nil {
		t.Fatal(err)
	}
	return r.Msg.GetHome().GetId()
}

func (e *realEnv) enrollmentToken(t *testing.T, access, homeID string) string {
	t.Helper()
	r, err := e.c.home.CreateEnrollmentToken(context.Background(), as(access, &homeplanev1.CreateEnrollmentTokenRequest{HomeId: homeID}))
	if err != nil {
		t.Fatal(err)
	}
	return r.Msg.GetToken()
}

// agentConn connects to the broker with the enrolled credentials.
func (e *realEnv) agentConn(t *testing.T, enrolled *homeplanev1.EnrollResponse, lost *atomic.Bool) (paho.Client, error) {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker("tcp://" + e.broker.Addr().String()).
		SetClientID(enrolled.GetAgentId()).SetUsername(enrolled.GetMqttUsername()).SetPassword(enrolled.GetMqttPassword()).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second).
		SetConnectionLostHandler(func(paho.Client, error) {
			if lost != nil {
				lost.Store(true)
			}
		})
	cl := paho.NewClient(opts)
	tok := cl.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return cl, errors.New("connect timed out")
	}
	if tok.Error() == nil {
		t.Cleanup(func() { cl.Disconnect(0) })
	}
	return cl, tok.Error()
}

func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	polltest.Until(t, 10*time.Second, what, cond)
}

// TestAttackSuite runs the attacks of the security model end to end and
// names the expected outcome of each.
func TestAttackSuite(t *testing.T) {
	e := newRealEnv(t)
	ctx := context.Background()
	alice := e.user(t, "alice@example.com")
	bob := e.user(t, "bob@example.com")
	bobHome := e.createHome(t, bob.GetAccessToken())
	aliceHome := e.createHome(t, alice.GetAccessToken())

	forge := func(mutate func(jwt.MapClaims), method jwt.SigningMethod, key any) string {
		c := jwt.MapClaims{"sub": "x", "role": "admin", "iss": "homeplane", "aud": "homeplane",
			"exp": time.Now().Add(time.Minute).Unix(), "iat": time.Now().Unix()}
		mutate(c)
		tok := jwt.NewWithClaims(method, c)
		tok.Header["kid"] = e.keys.SignerID()
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// Tokens from services sharing the real keys but with another clock or audience.
	past := auth.NewService(e.store, e.keys, auth.Options{Now: func() time.Time { return time.Now().Add(-time.Hour) }})
	other := auth.NewService(e.store, e.keys, auth.Options{Audience: "another-service"})
	_, pastToks, err := past.Login(ctx, "alice@example.com", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	_, otherToks, err := other.Login(ctx, "alice@example.com", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}

	listHomes := func(token string) error {
		_, err := e.c.home.ListHomes(ctx, as(token, &homeplanev1.ListHomesRequest{}))
		return err
	}
	cases := []struct {
		name   string
		attack func(t *testing.T) error
		want   connect.Code
	}{
		{"jwt with alg none", func(*testing.T) error {
			return listHomes(forge(func(jwt.MapClaims) {}, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType))
		}, connect.CodeUnauthenticated},
		{"jwt with alg HS256", func(*testing.T) error {
			return listHomes(forge(func(jwt.MapClaims) {}, jwt.SigningMethodHS256, []byte("guess")))
		}, connect.CodeUnauthenticated},
		{"expired access token", func(*testing.T) error { return listHomes(pastToks.Access) }, connect.CodeUnauthenticated},
		{"token for another audience", func(*testing.T) error { return listHomes(otherToks.Access) }, connect.CodeUnauthenticated},
		{"refresh token used twice", func(t *testing.T) error {
			first := e.user(t, "twice@example.com")
			if _, err := e.c.auth.Refresh(ctx, as("", &homeplanev1.RefreshRequest{RefreshToken: first.GetRefreshToken()})); err != nil {
				t.Fatal(err)
			}
			_, err := e.c.auth.Refresh(ctx, as("", &homeplanev1.RefreshRequest{RefreshToken: first.GetRefreshToken()}))
			return err
		}, connect.CodeUnauthenticated},
		{"homeowner calls an admin rpc", func(*testing.T) error {
			_, err := e.c.admin.ListUsers(ctx, as(alice.GetAccessToken(), &homeplanev1.ListUsersRequest{}))
			return err
		}, connect.CodePermissionDenied},
		{"homeowner names another home", func(*testing.T) error {
			_, err := e.c.home.GetHome(ctx, as(alice.GetAccessToken(), &homeplanev1.GetHomeRequest{HomeId: bobHome}))
			return err
		}, connect.CodeNotFound},
		{"homeowner revokes another home's agent", func(*testing.T) error {
			_, err := e.c.home.RevokeAgent(ctx, as(alice.GetAccessToken(), &homeplanev1.RevokeAgentRequest{HomeId: bobHome}))
			return err
		}, connect.CodeNotFound},
		{"enrollment token used twice", func(t *testing.T) error {
			tok := e.enrollmentToken(t, alice.GetAccessToken(), aliceHome)
			if _, err := e.c.agent.Enroll(ctx, as("", &homeplanev1.EnrollRequest{Token: tok})); err != nil {
				t.Fatal(err)
			}
			_, err := e.c.agent.Enroll(ctx, as("", &homeplanev1.EnrollRequest{Token: tok}))
			return err
		}, connect.CodeUnauthenticated},
		{"revoked enrollment token", func(t *testing.T) error {
			tok := e.enrollmentToken(t, alice.GetAccessToken(), aliceHome)
			r, err := e.c.home.RevokeEnrollmentTokens(ctx, as(alice.GetAccessToken(), &homeplanev1.RevokeEnrollmentTokensRequest{HomeId: aliceHome}))
			if err != nil || r.Msg.GetRevoked() != 1 {
				t.Fatalf("RevokeEnrollmentTokens = %v, %v; want 1 revoked", r, err)
			}
			_, err = e.c.agent.Enroll(ctx, as("", &homeplanev1.EnrollRequest{Token: tok}))
			return err
		}, connect.CodeUnauthenticated},
		{"revoked device token", func(t *testing.T) error {
			r, err := e.c.home.RegisterDevice(ctx, as(alice.GetAccessToken(), &homeplanev1.RegisterDeviceRequest{HomeId: aliceHome, Name: "Kitchen"}))
			if err != nil {
				t.Fatal(err)
			}
			// Used once, so a cached credential would be in the way.
			if _, err := e.c.intent.Process(ctx, as(r.Msg.GetToken(), processMsg("turn on the lights", ""))); err != nil {
				t.Fatal(err)
			}
			if _, err := e.c.home.RevokeDevice(ctx, as(alice.GetAccessToken(), &homeplanev1.RevokeDeviceRequest{HomeId: aliceHome, DeviceId: r.Msg.GetDevice().GetId()})); err != nil {
				t.Fatal(err)
			}
			_, err = e.c.intent.Process(ctx, as(r.Msg.GetToken(), processMsg("turn on the lights", "")))
			return err
		}, connect.CodeUnauthenticated},
		{"disabled user's live session", func(t *testing.T) error {
			toks := e.user(t, "carl@example.com")
			if err := listHomes(toks.GetAccessToken()); err != nil {
				t.Fatal(err)
			}
			claims, err := e.accounts.Verify(ctx, toks.GetAccessToken())
			if err != nil {
				t.Fatal(err)
			}
			if err := e.accounts.SetUserDisabled(ctx, claims.UserID, true); err != nil {
				t.Fatal(err)
			}
			return listHomes(toks.GetAccessToken())
		}, connect.CodeUnauthenticated},
		{"session after a password change", func(t *testing.T) error {
			toks := e.user(t, "dora@example.com")
			if _, err := e.c.auth.ChangePassword(ctx, as(toks.GetAccessToken(), &homeplanev1.ChangePasswordRequest{
				CurrentPassword: "correct horse battery", NewPassword: "another fine password"})); err != nil {
				t.Fatal(err)
			}
			return listHomes(toks.GetAccessToken())
		}, connect.CodeUnauthenticated},
		{"password guessing", func(t *testing.T) error {
			var err error
			for range 11 {
				_, err = e.c.auth.Login(ctx, as("", &homeplanev1.LoginRequest{Email: "bob@example.com", Password: "guess guess"}))
			}
			return err
		}, connect.CodeResourceExhausted},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.attack(t)
			if err == nil {
				t.Fatalf("attack succeeded, want %v", tc.want)
			}
			if got := connect.CodeOf(err); got != tc.want {
				t.Fatalf("got %v (%v), want %v", got, err, tc.want)
			}
		})
	}
	for _, a := range append(abuses(e), held(e)...) {
		t.Run(a.name, a.run)
	}
	// Bob's home survived every attack.
	if _, err := e.c.home.GetHome(ctx, as(bob.GetAccessToken(), &homeplanev1.GetHomeRequest{HomeId: bobHome})); err != nil {
		t.Fatalf("bob's home: %v", err)
	}
}

// TestRevokedAgentIsDisconnectedAtOnce covers the three ways agent
// credentials end: RevokeAgent, enrolling again, and deleting the home.
func TestRevokedAgentIsDisconnectedAtOnce(t *testing.T) {
	e := newRealEnv(t)
	ctx := context.Background()
	owner := e.user(t, "erin@example.com").GetAccessToken()
	cases := []struct {
		name   string
		revoke func(t *testing.T, homeID string)
	}{
		{"RevokeAgent", func(t *testing.T, homeID string) {
			if _, err := e.c.home.RevokeAgent(ctx, as(owner, &homeplanev1.RevokeAgentRequest{HomeId: homeID})); err != nil {
				t.Fatal(err)
			}
		}},
		{"enrolled again", func(t *testing.T, homeID string) {
			tok := e.enrollmentToken(t, owner, homeID)
			if _, err := e.c.agent.Enroll(ctx, as("", &homeplanev1.EnrollRequest{Token: tok})); err != nil {
				t.Fatal(err)
			}
		}},
		{"home deleted", func(t *testing.T, homeID string) {
			if _, err := e.c.home.DeleteHome(ctx, as(owner, &homeplanev1.DeleteHomeRequest{HomeId: homeID})); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			homeID := e.createHome(t, owner)
			tok := e.enrollmentToken(t, owner, homeID)
			enrolled, err := e.c.agent.Enroll(ctx, as("", &homeplanev1.EnrollRequest{Token: tok}))
			if err != nil {
				t.Fatal(err)
			}
			var lost atomic.Bool
			cl, err := e.agentConn(t, enrolled.Msg, &lost)
			if err != nil {
				t.Fatalf("agent cannot connect: %v", err)
			}
			if s := cl.Subscribe(topic.For(homeID, topic.Command), 1, nil); !s.WaitTimeout(5*time.Second) || s.Error() != nil {
				t.Fatalf("subscribe: %v", s.Error())
			}
			tc.revoke(t, homeID)
			pollUntil(t, "the agent's connection to drop", lost.Load)
			if _, err := e.agentConn(t, enrolled.Msg, nil); err == nil {
				t.Fatal("revoked credentials connect again")
			}
		})
	}
}
