package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/central/internal/instance"
	"github.com/homeplane/homeplane/central/internal/rpc"
	"github.com/homeplane/homeplane/central/internal/rpc/rpctest"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// memStore is a hand-written instance.Store in memory.
type memStore struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (m *memStore) LoadInstances(context.Context) ([]instance.Record, error) { return nil, nil }
func (m *memStore) SaveInstance(_ context.Context, id string, _ *homeplanev1.Instance, _ []instance.Restart, _ int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ids[id] = true
	return nil
}
func (m *memStore) ForgetInstance(context.Context, string) error { return nil }
func (m *memStore) InstanceHomes(context.Context) ([]string, error) {
	return nil, nil
}

// polled wraps the instance service and reports once a status read has seen
// the operation under way, so the fake agent answers only after homectl
// could show progress.
type polled struct {
	*instance.Service
	once sync.Once
	seen chan struct{}
}

func (p *polled) Get(homeID string) (*homeplanev1.Instance, bool) {
	in, ok := p.Service.Get(homeID)
	if in.GetOperation().GetPullTotalBytes() > 0 {
		p.once.Do(func() { close(p.seen) })
	}
	return in, ok
}

// agentFake answers instance commands the way the agent does: progress
// events while pulling, then a result carrying the status.
type agentFake struct {
	svc  *polled
	sent []*homeplanev1.Command
}

func (f *agentFake) Execute(ctx context.Context, homeID string, cmd *homeplanev1.Command) (*homeplanev1.Result, error) {
	f.sent = append(f.sent, cmd)
	now := timestamppb.Now()
	st := &homeplanev1.Instance{State: "running", Health: "healthy", Image: "ha:2", Version: "2026.2.0", Mode: "managed",
		StartedAt: now, Restarts: 1, UpdatedAt: now, CpuPercent: 2.5, MemoryBytes: 300 << 20,
		RecentRestarts: []*homeplanev1.Restart{{Time: now, Reason: "restart requested"}}}
	if cmd.GetInstance().GetAction() == homeplanev1.InstanceAction_INSTANCE_ACTION_UPGRADE {
		_ = f.svc.ApplyEvent(ctx, homeID, &homeplanev1.InstanceEvent{Time: now, Kind: "pull_progress",
			Pull: &homeplanev1.PullProgress{Image: "ha:2", CurrentBytes: 150 << 20, TotalBytes: 300 << 20, Percent: 50}})
		select {
		case <-f.svc.seen:
		case <-time.After(10 * time.Second):
			return nil, context.DeadlineExceeded
		}
	}
	return &homeplanev1.Result{CommandId: cmd.Id, Ok: true, Instance: st}, nil
}

func newInstanceCLI(t *testing.T) (*cli, *agentFake) {
	t.Helper()
	c := &cli{t: t, accounts: rpctest.NewAccounts(), homes: rpctest.NewHomes(), intents: &rpctest.Intents{}}
	svc, err := instance.New(&memStore{ids: map[string]bool{}}, instance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := &polled{Service: svc, seen: make(chan struct{})}
	agent := &agentFake{svc: p}
	srv := httptest.NewServer(rpc.NewHandler(rpc.Deps{
		Accounts: c.accounts, Homes: c.homes, Entities: rpctest.Entities{}, Intents: c.intents,
		Auditor: &rpctest.Auditor{}, InstanceStatus: p, Commands: agent,
	}, rpc.Options{}))
	t.Cleanup(srv.Close)
	dir := t.TempDir() + "/config"
	c.url, c.store = srv.URL, credentialStore{dir: dir}
	c.env = map[string]string{envCentralURL: srv.URL, envConfigDir: dir}
	c.signup("dana@example.com", "dana-password")
	c.ok("homes", "create", "Cabin")
	return c, agent
}

func TestInstanceCommands(t *testing.T) {
	c, agent := newInstanceCLI(t)

	out := c.ok("instance", "status")
	if !strings.Contains(out, "STATE") || !strings.Contains(out, "unknown") {
		t.Fatalf("status of a home that never reported:\n%s", out)
	}

	code, out, errOut := c.run("instance", "upgrade", "ha:2")
	if code != exitOK {
		t.Fatalf("upgrade: exit %d, stderr %q", code, errOut)
	}
	if !strings.Contains(errOut, "pulling ha:2: 50% (150.0 MiB of 300.0 MiB)") {
		t.Errorf("no pull progress on stderr:\n%s", errOut)
	}
	for _, want := range []string{"running", "healthy", "ha:2", "2026.2.0", "300.0 MiB", "RESTARTED", "restart requested"} {
		if !strings.Contains(out, want) {
			t.Errorf("upgrade output lacks %q:\n%s", want, out)
		}
	}
	if len(agent.sent) != 1 || agent.sent[0].GetInstance().GetImage() != "ha:2" {
		t.Fatalf("agent got %v", agent.sent)
	}

	// The status now shows the restart with its reason.
	out = c.ok("instance")
	if !strings.Contains(out, "restart requested") || !strings.Contains(out, "2.5%") {
		t.Errorf("status after the upgrade:\n%s", out)
	}
	out = c.ok("instance", "remove", "--data", "--json")
	if !strings.Contains(out, `"state": "running"`) {
		t.Errorf("remove --json:\n%s", out)
	}
	if a := agent.sent[len(agent.sent)-1].GetInstance(); a.GetAction() != homeplanev1.InstanceAction_INSTANCE_ACTION_REMOVE || !a.GetRemoveData() {
		t.Errorf("remove sent %v", a)
	}
}

func TestInstanceUsage(t *testing.T) {
	c, agent := newInstanceCLI(t)
	cases := []struct {
		name string
		args []string
		msg  string
		code int
	}{
		{"unknown subcommand", []string{"instance", "reboot"}, "unknown instance command", exitUsage},
		{"upgrade without image", []string{"instance", "upgrade"}, "takes one IMAGE", exitUsage},
		{"restart with argument", []string{"instance", "restart", "now"}, "takes no arguments", exitUsage},
		{"data without remove", []string{"instance", "stop", "--data"}, "--data goes with instance remove", exitUsage},
		{"bad image", []string{"instance", "upgrade", "Bad Image"}, "not an image reference", exitError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.fails(tc.code, tc.msg, tc.args...)
		})
	}
	if len(agent.sent) != 0 {
		t.Fatalf("refused commands reached the agent: %v", agent.sent)
	}
}
