package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"

	"github.com/homeplane/homeplane/central/internal/loadgen"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// TestReplicaKill: two central replicas on Mosquitto and one PostgreSQL,
// 200 simulated agents and three real ones (homeplane-agent with hasim).
// Devices send Process with idempotency keys to both replicas at a steady
// rate; one replica is killed -9 mid-load and its clients retry on the
// other with the same key. Every request answered OK ran exactly once in
// its home, every retried one at most once (counted where commands run: the
// simulated agents and the real agents' logs), no agent lost its
// connection (they are Mosquitto's), and the survivor's p99 stays within
// twice what it was before.
func TestReplicaKill(t *testing.T) {
	if testing.Short() {
		t.Skip("replica kill runs for about a minute")
	}
	began := time.Now()
	s := startExternal(t, "--auto-confirm-registrations")
	b := s.replica(t, s.db, "b", freeAddr(t), "--auto-confirm-registrations")
	ctx := context.Background()

	// The timer lease names its holder by --replica-id.
	eventually(t, 20*time.Second, "a replica holds the timer lease", func() bool {
		h := leaseHolder(t, s.db)
		return h == "a" || h == "b"
	})

	// Real agents, each with a device of its own.
	if _, err := s.auth.Register(ctx, connect.NewRequest(&homeplanev1.RegisterRequest{Email: "real@example.com", Password: "correct horse battery"})); err != nil {
		t.Fatal(err)
	}
	login, err := s.auth.Login(ctx, connect.NewRequest(&homeplanev1.LoginRequest{Email: "real@example.com", Password: "correct horse battery"}))
	if err != nil {
		t.Fatal(err)
	}
	owner := login.Msg.GetTokens().GetAccessToken()
	var real []*home
	var extra []loadgen.Device
	for i := range 3 {
		h := s.enrolledHome(t, owner, fmt.Sprintf("real-%d", i))
		d, err := s.homes.RegisterDevice(ctx, authed(owner, &homeplanev1.RegisterDeviceRequest{HomeId: h.id, Name: "satellite"}))
		if err != nil {
			t.Fatalf("register device: %v", err)
		}
		real = append(real, h)
		extra = append(extra, loadgen.Device{HomeID: h.id, Token: d.Msg.GetToken(), ID: d.Msg.GetDevice().GetId()})
	}
	realIDs := map[string]string{}
	for _, h := range real {
		realIDs[h.id] = agentID(t, s.central, h.id)
	}

	broker := strings.TrimPrefix(s.broker, "tcp://")
	rep, err := loadgen.Run(ctx, loadgen.Config{
		Scenario: loadgen.ScenarioReplicaKill, APIURL: s.url, MetricsURL: s.metricsURL,
		Replicas: []string{s.url, b.url},
		Kill: &loadgen.Kill{After: 8 * time.Second, Replica: 1, Do: func() error {
			if err := b.proc.cmd.Process.Kill(); err != nil {
				return err
			}
			<-b.proc.done
			return nil
		}},
		State: filepath.Join(t.TempDir(), "state"), Agents: 200, Devices: 20, Rate: 30,
		Duration: 22 * time.Second, ConnectWait: time.Minute, RequestTimeout: 15 * time.Second, ProvisionConcurrency: 8,
		Sentences:    []loadgen.Sentence{{Text: "turn on the kitchen lights"}, {Text: "turn off the kitchen lights"}},
		ExtraDevices: extra,
		Runs: func() map[string]int {
			runs := map[string]int{}
			for _, h := range real {
				for id, n := range agentRuns(h.agent.output()) {
					runs[id] += n
				}
			}
			return runs
		},
		Fleet: loadgen.FleetOptions{Broker: broker, Telemetry: 2 * time.Second, Deltas: -1},
	})
	if err != nil {
		t.Fatalf("replica-kill: %v", err)
	}
	k := rep.ReplicaKill
	t.Logf("replica kill: %s", k)
	t.Logf("survivor p99 before %.1f ms (n %d), first %.0fs after %.1f ms (n %d), after that %.1f ms (n %d); retried p99 %.1f ms",
		k.Before.P99, k.Before.Count, k.Window, k.During.P99, k.During.Count, k.After.P99, k.After.Count, k.RetriedTime.P99)

	if k.Retried == 0 {
		t.Error("no request was retried: the kill hit nothing in flight or due")
	}
	if k.Failed*20 > k.Requests {
		t.Errorf("%d of %d requests not answered ok: %v", k.Failed, k.Requests, k.Errors)
	}
	for runs, n := range k.RunsOfOK {
		if runs != "1" {
			t.Errorf("%d requests answered ok ran %s times in their homes, want each exactly once", n, runs)
		}
	}
	if n := k.RunsOfRetried["2+"]; n > 0 {
		t.Errorf("%d retried requests ran more than once", n)
	}
	var realOK int
	for _, h := range real {
		realOK += len(agentRuns(h.agent.output()))
	}
	if realOK == 0 {
		t.Error("no command ran at the real agents")
	}

	// No agent disconnected: they are the broker's, not a replica's.
	if rep.Connected != 200 || rep.MinConnectedHeld != 200 || len(rep.ConnectionsLost) > 0 {
		t.Errorf("simulated agents: %d connected at the end, at least %d while held, lost %v; want 200, 200, none",
			rep.Connected, rep.MinConnectedHeld, rep.ConnectionsLost)
	}
	log := s.mosquitto.Output()
	for home, id := range realIDs {
		if n := strings.Count(log, " as "+id+" "); n != 1 {
			t.Errorf("real agent of home %s connected %d times to the broker, want once", home, n)
		}
	}

	// The survivor does not stall: its p99 stays within three times its
	// p99 before the kill, and at least a second. The windows hold a few
	// hundred requests, so their p99 is nearly their slowest one, which on
	// a shared two-core machine triples from noise alone; what this test
	// catches is a stall (a lease, a session or a subscription waited for).
	// How much the kill costs the survivor is measured by the load runs
	// (docs/benchmarks.md, "Replica kill").
	bound := max(3*k.Before.P99, 1000)
	if k.Before.Count < 50 || k.During.Count < 30 || k.After.Count < 30 {
		t.Errorf("windows too small for a p99: %d, %d, %d requests", k.Before.Count, k.During.Count, k.After.Count)
	}
	if k.During.P99 > bound || k.After.P99 > bound {
		t.Errorf("survivor p99 %.1f ms, then %.1f ms after the kill; want within %.1f ms (max(3 × %.1f, 1000))",
			k.During.P99, k.After.P99, bound, k.Before.P99)
	}

	// The survivor takes the timer lease over, in its own name.
	eventually(t, 20*time.Second, "replica a holds the timer lease", func() bool { return leaseHolder(t, s.db) == "a" })
	t.Logf("replica kill test took %s", time.Since(began).Round(time.Second))
}

// leaseHolder reads who holds the timer lease.
func leaseHolder(t testing.TB, db string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var h string
	if err := conn.QueryRow(ctx, "SELECT holder FROM leases WHERE name = 'timers'").Scan(&h); err != nil && err != pgx.ErrNoRows {
		t.Fatal(err)
	}
	return h
}

// agentRuns counts the commands a real agent ran, by id, from its log.
func agentRuns(log string) map[string]int {
	runs := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg       string `json:"msg"`
			CommandID string `json:"command_id"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "command done" {
			runs[line.CommandID]++
		}
	}
	return runs
}
