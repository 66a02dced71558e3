package rpc

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"

	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/central/internal/rpc/rpctest"
	"github.com/homeplane/homeplane/central/internal/timer"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testEnv is a real HTTP/2 server running NewHandler over fakes, with two
// users (alice, bob) owning a home each, an admin, and a voice device in
// alice's home.
type testEnv struct {
	url    string
	client *http.Client

	accounts  *rpctest.Accounts
	homes     *rpctest.Homes
	intents   *rpctest.Intents
	auditor   *rpctest.Auditor
	reg       *prometheus.Registry
	logs      *syncBuffer
	timers    *timer.Manager
	pipelines *rpctest.Pipelines
	usage     *dailyUsage
	pairings  *fakePairings

	alice, bob, admin  auth.User
	aliceHome, bobHome home.Home
	device             home.Device
	deviceToken        string
}

func newTestEnv(t testing.TB, configure ...func(*Options)) *testEnv {
	t.Helper()
	e := &testEnv{
		accounts:  rpctest.NewAccounts(),
		homes:     rpctest.NewHomes(),
		intents:   &rpctest.Intents{},
		auditor:   &rpctest.Auditor{},
		reg:       prometheus.NewRegistry(),
		logs:      &syncBuffer{},
		timers:    timer.NewManager(timer.Options{}),
		pipelines: &rpctest.Pipelines{},
		usage:     &dailyUsage{},
	}
	e.pairings = &fakePairings{homes: e.homes}
	e.intents.Answer(rpctest.LightsOn(), nil)
	ctx := context.Background()
	e.alice = e.accounts.AddUser("alice@example.com", "alice-password", auth.RoleUser)
	e.bob = e.accounts.AddUser("bob@example.com", "bob-password", auth.RoleUser)
	e.admin = e.accounts.AddUser("root@example.com", "root-password", auth.RoleAdmin)
	var err error
	if e.aliceHome, err = e.homes.Create(ctx, e.alice.ID, "Alice's"); err != nil {
		t.Fatal(err)
	}
	if e.bobHome, err = e.homes.Create(ctx, e.bob.ID, "Bob's"); err != nil {
		t.Fatal(err)
	}
	if e.device, e.deviceToken, err = e.homes.RegisterDevice(ctx, e.alice.ID, e.aliceHome.ID, "Kitchen satellite", "kitchen"); err != nil {
		t.Fatal(err)
	}

	opts := Options{
		Logger:     slog.New(NewLogHandler(slog.NewTextHandler(e.logs, nil))),
		Registerer: e.reg,
		MQTTURL:    "mqtts://broker.example:8883",
	}
	for _, c := range configure {
		c(&opts)
	}
	h := NewHandler(Deps{
		Accounts:  e.accounts,
		Homes:     e.homes,
		Entities:  rpctest.Entities{},
		Intents:   e.intents,
		Auditor:   e.auditor,
		Presence:  rpctest.Presence{OnlineSince: map[string]time.Time{e.aliceHome.ID: time.Unix(1700000100, 0)}},
		Timers:    e.timers,
		Pipelines: e.pipelines,
		// Instance control is wired so that the tenancy tests reach it.
		InstanceStatus: &instances{status: map[string]*homeplanev1.Instance{}},
		Commands:       &commands{},
		Usage:          e.usage,
		Pairings:       e.pairings,
	}, opts)
	srv := httptest.NewUnstartedServer(NewMux(h, nil, e.reg))
	srv.EnableHTTP2 = true // gRPC needs HTTP/2
	srv.StartTLS()
	t.Cleanup(srv.Close)
	e.url, e.client = srv.URL, srv.Client()
	return e
}

func accessToken(u auth.User) string { return rpctest.AccessToken(u) }

// The fakes satisfy what rpc asks of its dependencies.
var (
	_ Accounts = (*rpctest.Accounts)(nil)
	_ Homes    = (*rpctest.Homes)(nil)
	_ Entities = rpctest.Entities{}
	_ Intents  = (*rpctest.Intents)(nil)
	_ Auditor  = (*rpctest.Auditor)(nil)
	_ Presence = rpctest.Presence{}
)

// clients are the generated clients of every service, on one protocol.
type clients struct {
	auth   homeplanev1connect.AuthServiceClient
	home   homeplanev1connect.HomeServiceClient
	intent homeplanev1connect.IntentServiceClient
	agent  homeplanev1connect.AgentServiceClient
	admin  homeplanev1connect.AdminServiceClient
}

func (e *testEnv) clients(opts ...connect.ClientOption) clients {
	return clients{
		auth:   homeplanev1connect.NewAuthServiceClient(e.client, e.url, opts...),
		home:   homeplanev1connect.NewHomeServiceClient(e.client, e.url, opts...),
		intent: homeplanev1connect.NewIntentServiceClient(e.client, e.url, opts...),
		agent:  homeplanev1connect.NewAgentServiceClient(e.client, e.url, opts...),
		admin:  homeplanev1connect.NewAdminServiceClient(e.client, e.url, opts...),
	}
}

// protocols are the client configurations every protocol test runs under.
var protocols = []struct {
	name string
	opts []connect.ClientOption
}{
	{"connect-proto", nil},
	{"connect-json", []connect.ClientOption{connect.WithProtoJSON()}},
	{"grpc", []connect.ClientOption{connect.WithGRPC()}},
	{"grpc-web", []connect.ClientOption{connect.WithGRPCWeb()}},
}

// as wraps msg in a request carrying token as its bearer token ("" sends none).
func as[T any](token string, msg *T) *connect.Request[T] {
	req := connect.NewRequest(msg)
	if token != "" {
		req.Header().Set("Authorization", "Bearer "+token)
	}
	return req
}

// wantCode fails t unless err is a Connect error with code want.
func wantCode(t testing.TB, err error, want connect.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", want)
	}
	if got := connect.CodeOf(err); got != want {
		t.Fatalf("got %v (%v), want %v", got, err, want)
	}
}

// errMessage is the message of a Connect error, without its code.
func errMessage(err error) string {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Message()
	}
	return ""
}

func processMsg(text, homeID string) *homeplanev1.ProcessRequest {
	return &homeplanev1.ProcessRequest{Text: text, HomeId: homeID}
}
