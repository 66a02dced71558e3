package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"
)

// admin registers a user, gives it the admin role and returns a token
// that carries it.
func (c *central) admin(t testing.TB, email string) string {
	t.Helper()
	c.user(t, email)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE users SET role = 'admin' WHERE email = $1`, email); err != nil {
		t.Fatal(err)
	}
	resp, err := c.auth.Login(ctx, connect.NewRequest(&homeplanev1.LoginRequest{Email: email, Password: "correct horse battery"}))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Msg.GetTokens().GetAccessToken()
}

// TestHostingLimitsFromCentralAndRelease: an operator changes a hosted
// home's limits through central and the running container has them, with
// no restart; an agent that was away gets them when it is back; limits the
// server cannot give are refused with the reason; deleting a home or
// revoking its agent removes its container and frees its port, and keeps
// its volume (ADR 0033).
func TestHostingLimitsFromCentralAndRelease(t *testing.T) {
	needDocker(t)
	c := startCentral(t)
	ctx := context.Background()
	alice := c.user(t, "alice@example.com")
	ops := c.admin(t, "ops@example.com")
	adm := homeplanev1connect.NewAdminServiceClient(http.DefaultClient, c.url)
	suffix := randomSuffix()
	image := hasimImage(t, "homeplane-e2e-hasim-"+suffix, "2026.1.0", true)
	dir, stateDir := t.TempDir(), t.TempDir()
	removeHostedNetwork(t)
	ids := map[string]string{}
	for _, n := range []string{"a", "b"} {
		name := "h" + suffix + "-" + n
		ids[n] = c.createHome(t, alice, name)
		et, err := c.homes.CreateEnrollmentToken(ctx, authed(alice, &homeplanev1.CreateEnrollmentTokenRequest{HomeId: ids[n]}))
		if err != nil {
			t.Fatal(err)
		}
		hd := filepath.Join(dir, name)
		must(t, os.MkdirAll(hd, 0o700))
		must(t, os.WriteFile(filepath.Join(hd, "limits.json"), []byte(`{"memory_bytes": 67108864, "nano_cpus": 500000000}`), 0o600))
		must(t, os.WriteFile(filepath.Join(hd, "enrollment-token"), []byte(et.Msg.GetToken()), 0o600))
		ctr := "homeplane-ha-" + name
		t.Cleanup(func() {
			_, _ = docker(t, "rm", "--force", ctr)
			_, _ = docker(t, "volume", "rm", "--force", ctr+"-config", ctr+"-config-snapshot")
		})
	}
	ctr := func(n string) string { return "homeplane-ha-h" + suffix + "-" + n }
	inspect := func(n string) string {
		out, err := docker(t, "inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.State.StartedAt}} {{.RestartCount}}", ctr(n))
		if err != nil {
			return "gone"
		}
		return out
	}
	args := []string{"--mode", "hosting", "--homes-dir", dir, "--port-range", "18300-18399",
		"--host-memory", "4GiB", "--image", image, "--central-url", c.url, "--mqtt-url", c.mqttURL,
		"--state-dir", stateDir, "--sample-interval", "2s", "--log-level", "info"}
	agent := start(t, "homeplane-agent", args...)
	online := func(n string) bool {
		e, err := c.homes.ListEntities(ctx, authed(alice, &homeplanev1.ListEntitiesRequest{HomeId: ids[n]}))
		return err == nil && len(e.Msg.GetEntities()) > 0
	}
	eventually(t, 2*time.Minute, "both hosted homes synced", func() bool { return online("a") && online("b") })
	before := strings.Fields(inspect("a"))
	if before[0] != "67108864" || before[1] != "500000000" {
		t.Fatalf("home a started with %v, want its limits.json", before)
	}

	setLimits := func(token, home string, l *homeplanev1.InstanceLimits) (*homeplanev1.SetInstanceLimitsResponse, error) {
		resp, err := adm.SetInstanceLimits(ctx, authed(token, &homeplanev1.SetInstanceLimitsRequest{HomeId: home, Limits: l}))
		if err != nil {
			return nil, err
		}
		return resp.Msg, nil
	}
	began := time.Now()
	resp, err := setLimits(ops, ids["a"], &homeplanev1.InstanceLimits{MemoryBytes: 100 << 20, NanoCpus: 250_000_000})
	if err != nil || !resp.GetDelivered() {
		t.Fatalf("set limits: %v %v", resp, err)
	}
	t.Logf("limits changed from central to the container in %v", time.Since(began).Round(time.Millisecond))
	after := strings.Fields(inspect("a"))
	if after[0] != "104857600" || after[1] != "250000000" || after[2] != before[2] || after[3] != before[3] {
		t.Fatalf("after the change: %v (before %v): want new limits, same start, no restart", after, before)
	}
	in, err := c.homes.GetInstance(ctx, authed(alice, &homeplanev1.GetInstanceRequest{HomeId: ids["a"]}))
	if err != nil || in.Msg.GetInstance().GetLimits().GetMemoryBytes() != 100<<20 {
		t.Errorf("GetInstance limits: %v %v", in.Msg.GetInstance().GetLimits(), err)
	}
	if r, err := c.intents.Process(ctx, authed(alice, &homeplanev1.ProcessRequest{Text: "turn on the kitchen lights", HomeId: ids["a"]})); err != nil || !r.Msg.GetSuccess() {
		t.Errorf("sentence after the change: %v %v", r, err)
	}

	t.Run("bad limits are refused with the reason", func(t *testing.T) {
		cases := []struct {
			token string
			home  string
			l     *homeplanev1.InstanceLimits
			code  connect.Code
			says  string
		}{
			{ops, ids["a"], &homeplanev1.InstanceLimits{MemoryBytes: -1}, connect.CodeInvalidArgument, "negative"},
			{ops, ids["a"], &homeplanev1.InstanceLimits{MemoryBytes: 1 << 50}, connect.CodeInvalidArgument, "maximum"},
			{ops, ids["a"], &homeplanev1.InstanceLimits{NanoCpus: 5}, connect.CodeInvalidArgument, "0.01 CPU"},
			// More than the server's 4 GiB: the hosting agent refuses.
			{ops, ids["a"], &homeplanev1.InstanceLimits{MemoryBytes: 8 << 30}, connect.CodeFailedPrecondition, "not enough memory"},
			{alice, ids["a"], &homeplanev1.InstanceLimits{MemoryBytes: 1 << 30}, connect.CodePermissionDenied, ""},
			{ops, "6f1c2f4e-0000-4000-8000-000000000000", &homeplanev1.InstanceLimits{MemoryBytes: 1 << 30}, connect.CodeNotFound, ""},
		}
		for _, tc := range cases {
			_, err := setLimits(tc.token, tc.home, tc.l)
			if connect.CodeOf(err) != tc.code || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("%v: %v, want %v saying %q", tc.l, err, tc.code, tc.says)
			}
		}
		if got := strings.Fields(inspect("a")); got[0] != "104857600" {
			t.Errorf("a refused change reached the container: %v", got)
		}
	})

	// An agent that was away gets the limits set meanwhile.
	agent.stop(t)
	resp, err = setLimits(ops, ids["b"], &homeplanev1.InstanceLimits{MemoryBytes: 80 << 20, NanoCpus: 300_000_000})
	if err != nil || resp.GetDelivered() {
		t.Fatalf("set limits while away: %v %v", resp, err)
	}
	bBefore := strings.Fields(inspect("b"))
	agent = start(t, "homeplane-agent", args...)
	eventually(t, time.Minute, "b's limits after the agent is back", func() bool {
		f := strings.Fields(inspect("b"))
		return len(f) == 4 && f[0] == "83886080" && f[1] == "300000000"
	})
	if f := strings.Fields(inspect("b")); f[2] != bBefore[2] {
		t.Errorf("b restarted: %v -> %v", bBefore, f)
	}

	// Released homes: deleted, and revoked.
	port := func(n string) int {
		var books []struct {
			HomeID string `json:"home_id"`
			Port   int    `json:"port"`
		}
		b, _ := os.ReadFile(filepath.Join(dir, "hosting.json"))
		_ = json.Unmarshal(b, &books)
		for _, s := range books {
			if s.HomeID == "h"+suffix+"-"+n {
				return s.Port
			}
		}
		return 0
	}
	eventually(t, time.Minute, "a online again", func() bool { return online("a") })
	if port("a") == 0 || port("b") == 0 {
		t.Fatalf("ports before release: a %d b %d", port("a"), port("b"))
	}
	if _, err := c.homes.DeleteHome(ctx, authed(alice, &homeplanev1.DeleteHomeRequest{HomeId: ids["a"]})); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "a's container removed and port freed", func() bool { return inspect("a") == "gone" && port("a") == 0 })
	if _, err := docker(t, "volume", "inspect", ctr("a")+"-config"); err != nil {
		t.Errorf("a's volume went with the release: %v", err)
	}
	if why, err := os.ReadFile(filepath.Join(dir, "h"+suffix+"-a", "released")); err != nil || !strings.Contains(string(why), "released by central") {
		t.Errorf("released file: %q %v", why, err)
	}
	if _, err := c.homes.RevokeAgent(ctx, authed(alice, &homeplanev1.RevokeAgentRequest{HomeId: ids["b"]})); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "b's container removed and port freed", func() bool { return inspect("b") == "gone" && port("b") == 0 })
	if strings.Contains(agent.output(), "panic") {
		t.Fatal("agent panicked")
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
