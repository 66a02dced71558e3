package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"
	"github.com/homeplane/homeplane/protocol/vocab"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/central/internal/idempotency"
	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/rpc/rpctest"
)

// instances is a hand-written InstanceStatus.
type instances struct {
	mu      sync.Mutex
	status  map[string]*homeplanev1.Instance
	begun   []homeplanev1.InstanceAction
	ended   int
	applied []*homeplanev1.Instance
}

func (f *instances) Get(homeID string) (*homeplanev1.Instance, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.status[homeID]
	if !ok {
		return nil, false
	}
	return proto.Clone(in).(*homeplanev1.Instance), true
}

func (f *instances) ApplyStatus(_ context.Context, homeID string, in *homeplanev1.Instance) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = append(f.applied, in)
	f.status[homeID] = in
	return nil
}

func (f *instances) Begin(_ string, action homeplanev1.InstanceAction, _ string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.begun = append(f.begun, action)
}

func (f *instances) End(string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ended++
}

// commands is a hand-written Commands answering with answer.
type commands struct {
	mu       sync.Mutex
	sent     []*homeplanev1.Command
	homes    []string
	deadline time.Duration // how far away the context deadline was
	answer   func(*homeplanev1.Command) (*homeplanev1.Result, error)
}

func (f *commands) Execute(ctx context.Context, homeID string, cmd *homeplanev1.Command) (*homeplanev1.Result, error) {
	f.mu.Lock()
	f.sent = append(f.sent, cmd)
	f.homes = append(f.homes, homeID)
	if d, ok := ctx.Deadline(); ok {
		f.deadline = time.Until(d)
	}
	f.mu.Unlock()
	return f.answer(cmd)
}

func (f *commands) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sent)
}

var (
	_ InstanceStatus = (*instances)(nil)
	_ Commands       = (*commands)(nil)
)

type instanceEnv struct {
	home               homeplanev1connect.HomeServiceClient
	insts              *instances
	cmds               *commands
	auditor            *rpctest.Auditor
	alice, bob         auth.User
	aliceHome, bobHome home.Home
}

func newInstanceEnv(t *testing.T, withDeps bool) *instanceEnv {
	t.Helper()
	return newInstanceEnvWith(t, withDeps, nil)
}

// newInstanceEnvWith is newInstanceEnv with keeper keeping idempotency keys.
func newInstanceEnvWith(t *testing.T, withDeps bool, keeper *idempotency.Keeper) *instanceEnv {
	t.Helper()
	accounts, homes := rpctest.NewAccounts(), rpctest.NewHomes()
	e := &instanceEnv{
		insts:   &instances{status: map[string]*homeplanev1.Instance{}},
		cmds:    &commands{},
		auditor: &rpctest.Auditor{},
		alice:   accounts.AddUser("alice@example.com", "alice-password", auth.RoleUser),
		bob:     accounts.AddUser("bob@example.com", "bob-password", auth.RoleUser),
	}
	var err error
	if e.aliceHome, err = homes.Create(t.Context(), e.alice.ID, "Alice's"); err != nil {
		t.Fatal(err)
	}
	if e.bobHome, err = homes.Create(t.Context(), e.bob.ID, "Bob's"); err != nil {
		t.Fatal(err)
	}
	deps := Deps{Accounts: accounts, Homes: homes, Entities: rpctest.Entities{}, Intents: &rpctest.Intents{}, Auditor: e.auditor,
		Idempotency: keeper}
	if withDeps {
		deps.InstanceStatus, deps.Commands = e.insts, e.cmds
	}
	h := NewHandler(deps, Options{Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry()})
	srv := httptest.NewUnstartedServer(NewMux(h, nil, prometheus.NewRegistry()))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	e.home = homeplanev1connect.NewHomeServiceClient(srv.Client(), srv.URL)
	return e
}

func running() *homeplanev1.Instance {
	return &homeplanev1.Instance{State: "running", Health: "healthy", Image: "ha:1", Version: "2026.1.0", CpuPercent: 3.5,
		RecentRestarts: []*homeplanev1.Restart{{Reason: "restart requested"}}}
}

func TestGetInstance(t *testing.T) {
	e := newInstanceEnv(t, true)
	e.insts.status[e.aliceHome.ID] = running()
	e.insts.status[e.bobHome.ID] = running()
	cases := []struct {
		name      string
		token     string
		homeID    string
		wantCode  connect.Code
		wantState string
	}{
		{"own home", accessToken(e.alice), e.aliceHome.ID, 0, "running"},
		{"unknown home id", accessToken(e.bob), e.bobHome.ID + "x", connect.CodeNotFound, ""},
		{"someone else's home", accessToken(e.alice), e.bobHome.ID, connect.CodeNotFound, ""},
		{"no such home", accessToken(e.alice), "00000000-0000-0000-0000-000000000000", connect.CodeNotFound, ""},
		{"no token", "", e.aliceHome.ID, connect.CodeUnauthenticated, ""},
		{"no home id", accessToken(e.alice), "", connect.CodeInvalidArgument, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := e.home.GetInstance(t.Context(), as(c.token, &homeplanev1.GetInstanceRequest{HomeId: c.homeID}))
			if c.wantCode != 0 {
				wantCode(t, err, c.wantCode)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(resp.Msg.GetInstance(), running()) {
				t.Fatalf("instance = %v", resp.Msg.GetInstance())
			}
		})
	}

	// Someone else's home and a missing one look the same.
	_, errOther := e.home.GetInstance(t.Context(), as(accessToken(e.alice), &homeplanev1.GetInstanceRequest{HomeId: e.bobHome.ID}))
	_, errNone := e.home.GetInstance(t.Context(), as(accessToken(e.alice), &homeplanev1.GetInstanceRequest{HomeId: "00000000-0000-0000-0000-000000000000"}))
	if strings.ReplaceAll(errMessage(errOther), e.bobHome.ID, "ID") != strings.ReplaceAll(errMessage(errNone), "00000000-0000-0000-0000-000000000000", "ID") {
		t.Fatalf("someone else's home says %q, a missing one %q", errMessage(errOther), errMessage(errNone))
	}

	delete(e.insts.status, e.aliceHome.ID)
	resp, err := e.home.GetInstance(t.Context(), as(accessToken(e.alice), &homeplanev1.GetInstanceRequest{HomeId: e.aliceHome.ID}))
	if err != nil || resp.Msg.GetInstance().GetState() != "unknown" {
		t.Fatalf("never reported: %v, %v", resp, err)
	}
}

func TestControlInstance(t *testing.T) {
	restart := homeplanev1.InstanceAction_INSTANCE_ACTION_RESTART
	upgrade := homeplanev1.InstanceAction_INSTANCE_ACTION_UPGRADE
	okResult := func(cmd *homeplanev1.Command) (*homeplanev1.Result, error) {
		return &homeplanev1.Result{CommandId: cmd.Id, Ok: true, Instance: running()}, nil
	}
	cases := []struct {
		name        string
		other       bool // bob's home, asked by alice
		req         *homeplanev1.ControlInstanceRequest
		answer      func(*homeplanev1.Command) (*homeplanev1.Result, error)
		wantCode    connect.Code
		wantMsg     string
		wantSent    bool
		minDeadline time.Duration
	}{
		{name: "restart", req: &homeplanev1.ControlInstanceRequest{Action: restart}, answer: okResult,
			wantSent: true, minDeadline: 2 * time.Minute},
		{name: "upgrade waits minutes", req: &homeplanev1.ControlInstanceRequest{Action: upgrade, Image: "ghcr.io/home-assistant/home-assistant:2026.2.0"},
			answer: okResult, wantSent: true, minDeadline: 15 * time.Minute},
		{name: "someone else's home", other: true, req: &homeplanev1.ControlInstanceRequest{Action: restart}, answer: okResult,
			wantCode: connect.CodeNotFound},
		{name: "offline", req: &homeplanev1.ControlInstanceRequest{Action: restart},
			answer: func(*homeplanev1.Command) (*homeplanev1.Result, error) {
				return nil, fmt.Errorf("execute: %w", intent.ErrHomeOffline)
			}, wantCode: connect.CodeUnavailable, wantMsg: "offline", wantSent: true},
		{name: "no answer", req: &homeplanev1.ControlInstanceRequest{Action: restart},
			answer: func(*homeplanev1.Command) (*homeplanev1.Result, error) {
				return nil, fmt.Errorf("execute: %w", intent.ErrTimeout)
			}, wantCode: connect.CodeDeadlineExceeded, wantMsg: "may still finish", wantSent: true},
		{name: "agent refuses", req: &homeplanev1.ControlInstanceRequest{Action: restart},
			answer: func(cmd *homeplanev1.Command) (*homeplanev1.Result, error) {
				return &homeplanev1.Result{CommandId: cmd.Id, ErrorCode: "unavailable", Error: "the agent does not manage the Home Assistant container (adopt mode)",
					Instance: &homeplanev1.Instance{State: "missing"}}, nil
			}, wantCode: connect.CodeFailedPrecondition, wantMsg: "adopt mode", wantSent: true},
		{name: "upgrade rolled back", req: &homeplanev1.ControlInstanceRequest{Action: upgrade, Image: "ha:broken"},
			answer: func(cmd *homeplanev1.Command) (*homeplanev1.Result, error) {
				return &homeplanev1.Result{CommandId: cmd.Id, ErrorCode: "instance", Error: "supervisor: upgrade rolled back: not healthy", Instance: running()}, nil
			}, wantCode: connect.CodeFailedPrecondition, wantMsg: "rolled back", wantSent: true},
		{name: "another action under way", req: &homeplanev1.ControlInstanceRequest{Action: restart},
			answer: func(cmd *homeplanev1.Command) (*homeplanev1.Result, error) {
				res := vocab.Fail(homeplanev1.CommandError_COMMAND_ERROR_BUSY, "supervisor: upgrade under way")
				res.CommandId, res.Instance = cmd.Id, running()
				return res, nil
			}, wantCode: connect.CodeAborted, wantMsg: "under way", wantSent: true},
		{name: "the enum wins over the text", req: &homeplanev1.ControlInstanceRequest{Action: restart},
			answer: func(cmd *homeplanev1.Command) (*homeplanev1.Result, error) {
				return &homeplanev1.Result{CommandId: cmd.Id, Code: homeplanev1.CommandError_COMMAND_ERROR_EXPIRED, ErrorCode: "invalid",
					Error: "arrived late", Instance: running()}, nil
			}, wantCode: connect.CodeDeadlineExceeded, wantMsg: "late", wantSent: true},
		{name: "upgrade without image", req: &homeplanev1.ControlInstanceRequest{Action: upgrade}, answer: okResult,
			wantCode: connect.CodeInvalidArgument, wantMsg: "image is required"},
		{name: "bad image", req: &homeplanev1.ControlInstanceRequest{Action: upgrade, Image: "ha; rm -rf /"}, answer: okResult,
			wantCode: connect.CodeInvalidArgument, wantMsg: "not an image reference"},
		{name: "no action", req: &homeplanev1.ControlInstanceRequest{}, answer: okResult,
			wantCode: connect.CodeInvalidArgument, wantMsg: "action must be"},
		{name: "image on restart", req: &homeplanev1.ControlInstanceRequest{Action: restart, Image: "ha:1"}, answer: okResult,
			wantCode: connect.CodeInvalidArgument},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newInstanceEnv(t, true)
			e.cmds.answer = c.answer
			req := proto.Clone(c.req).(*homeplanev1.ControlInstanceRequest)
			req.HomeId = e.aliceHome.ID
			if c.other {
				req.HomeId = e.bobHome.ID
			}
			resp, err := e.home.ControlInstance(t.Context(), as(accessToken(e.alice), req))
			if sent := e.cmds.count() == 1; sent != c.wantSent {
				t.Fatalf("command sent = %v, want %v", sent, c.wantSent)
			}
			if c.wantCode != 0 {
				wantCode(t, err, c.wantCode)
				if !strings.Contains(errMessage(err), c.wantMsg) {
					t.Fatalf("message %q does not say %q", errMessage(err), c.wantMsg)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if resp.Msg.GetInstance().GetState() != "running" {
				t.Fatalf("instance = %v", resp.Msg.GetInstance())
			}
			if !c.wantSent {
				if n := len(e.auditor.Records()); n != 0 {
					t.Fatalf("%d audit records for a refused request", n)
				}
				return
			}
			cmd := e.cmds.sent[0]
			if e.cmds.homes[0] != e.aliceHome.ID || cmd.GetInstance().GetAction() != req.Action || cmd.GetInstance().GetImage() != req.Image || len(cmd.Calls) != 0 {
				t.Fatalf("sent %v to %s", cmd, e.cmds.homes[0])
			}
			if e.cmds.deadline < c.minDeadline {
				t.Fatalf("the command had %v, want at least %v", e.cmds.deadline, c.minDeadline)
			}
			if len(e.insts.begun) != 1 || e.insts.ended != 1 {
				t.Fatalf("operation begun %v, ended %d times", e.insts.begun, e.insts.ended)
			}
			recs := e.auditor.Records()
			wantOutcome := audit.OutcomeOK
			if c.wantCode != 0 {
				wantOutcome = audit.OutcomeFailed
			}
			if len(recs) != 1 || recs[0].Kind != audit.KindInstance || recs[0].HomeID != e.aliceHome.ID ||
				recs[0].UserID != e.alice.ID || recs[0].Outcome != wantOutcome {
				t.Fatalf("audit records = %+v", recs)
			}
		})
	}
}

func TestControlInstanceFailureCarriesStatus(t *testing.T) {
	e := newInstanceEnv(t, true)
	e.cmds.answer = func(cmd *homeplanev1.Command) (*homeplanev1.Result, error) {
		return &homeplanev1.Result{CommandId: cmd.Id, ErrorCode: "instance", Error: "supervisor: upgrade rolled back", Instance: running()}, nil
	}
	_, err := e.home.ControlInstance(t.Context(), as(accessToken(e.alice), &homeplanev1.ControlInstanceRequest{
		HomeId: e.aliceHome.ID, Action: homeplanev1.InstanceAction_INSTANCE_ACTION_UPGRADE, Image: "ha:broken"}))
	var ce *connect.Error
	if !errors.As(err, &ce) || len(ce.Details()) != 1 {
		t.Fatalf("error %v has no status detail", err)
	}
	v, derr := ce.Details()[0].Value()
	if in, ok := v.(*homeplanev1.Instance); derr != nil || !ok || in.GetState() != "running" {
		t.Fatalf("detail = %v (%v)", v, derr)
	}
	if len(e.insts.applied) != 1 {
		t.Fatalf("the result's status was applied %d times", len(e.insts.applied))
	}
}

func TestInstanceUnconfigured(t *testing.T) {
	e := newInstanceEnv(t, false)
	_, err := e.home.GetInstance(t.Context(), as(accessToken(e.alice), &homeplanev1.GetInstanceRequest{HomeId: e.aliceHome.ID}))
	wantCode(t, err, connect.CodeUnimplemented)
	_, err = e.home.ControlInstance(t.Context(), as(accessToken(e.alice), &homeplanev1.ControlInstanceRequest{
		HomeId: e.aliceHome.ID, Action: homeplanev1.InstanceAction_INSTANCE_ACTION_START}))
	wantCode(t, err, connect.CodeUnimplemented)
}

func TestImageReference(t *testing.T) {
	cases := []struct {
		image string
		ok    bool
	}{
		{"ghcr.io/home-assistant/home-assistant:2026.1.0", true},
		{"homeassistant/home-assistant:stable", true},
		{"localhost:5000/ha@sha256:" + strings.Repeat("a", 64), true},
		{"homeplane-hasim-test-ab12:v1", true},
		{"ha", true},
		{"Upper/Case", false},
		{"ha:tag with space", false},
		{"-ha", false},
		{"ha;rm", false},
		{"ha:" + strings.Repeat("t", 129), false},
		{"ha@sha256:short", false},
		{"../ha", false},
	}
	for _, c := range cases {
		t.Run(c.image, func(t *testing.T) {
			err := checkInstanceRequest(&homeplanev1.ControlInstanceRequest{HomeId: "h", Action: homeplanev1.InstanceAction_INSTANCE_ACTION_UPGRADE, Image: c.image})
			if (err == nil) != c.ok {
				t.Fatalf("checkInstanceRequest(%q) = %v, want ok=%v", c.image, err, c.ok)
			}
		})
	}
}

// The handler's own bound must cover the slowest action, or ControlInstance
// would be cut off before its command's deadline.
func TestInstanceTimeoutsFitTheProcedureTimeout(t *testing.T) {
	limit := procedureTimeouts[homeplanev1connect.HomeServiceControlInstanceProcedure]
	for action, d := range instanceTimeouts {
		if d > limit || d < DefaultHandlerTimeout {
			t.Errorf("%v waits %v, outside [%v, %v]", action, d, DefaultHandlerTimeout, limit)
		}
	}
}
