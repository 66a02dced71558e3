package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/homeplane/homeplane/central/internal/loadgen"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
)

// TestShortRun runs the load generator as `make test` does on every change:
// a real central on a real database, a few hundred simulated agents spread
// over eight source addresses, devices sending Process for a few seconds.
// Every agent must connect and stay connected, every request succeed.
func TestShortRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs central")
	}
	_, dbURL := pgtest.NewURL(t)
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", dir, "github.com/homeplane/homeplane/central/cmd/homeplane-central")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build central: %v\n%s", err, out)
	}
	httpAddr, mqttAddr, metricsAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	report, log := filepath.Join(dir, "report.json"), filepath.Join(dir, "central.log")
	const agents = 300
	var stdout, stderr bytes.Buffer
	code := run([]string{"steady",
		"--agents", "300", "--devices", "6", "--rate", "30", "--duration", "3s",
		"--sources", "127.0.0.2-127.0.0.9", "--connect-rate", "500",
		// Short intervals so pings, telemetry and entity changes all happen;
		// the broker drops a client silent for 1.5 keepalives, and a busy
		// machine running the race detector can stall the generator for a
		// few seconds, so not shorter.
		"--keepalive", "10s", "--telemetry", "3s", "--deltas", "4s",
		"--api", "http://" + httpAddr, "--metrics", "http://" + metricsAddr + "/metrics",
		"--mqtt", mqttAddr, "--state", filepath.Join(dir, "state"),
		"--central", filepath.Join(dir, "homeplane-central") + " --http-addr " + httpAddr + " --mqtt-addr " + mqttAddr +
			" --metrics-addr " + metricsAddr + " --database-url " + dbURL + " --auto-confirm-registrations",
		"--central-log", log, "--json", report, "--cpuprofile", filepath.Join(dir, "cpu.pprof"),
	}, &stdout, &stderr)
	if code != 0 {
		out, _ := os.ReadFile(log)
		t.Fatalf("homeplane-load exited %d\nstdout:\n%s\nstderr:\n%s\ncentral:\n%s", code, &stdout, &stderr, out)
	}
	t.Logf("\n%s", &stdout)
	if st, err := os.Stat(filepath.Join(dir, "cpu.pprof")); err != nil || st.Size() == 0 {
		t.Errorf("no CPU profile of the generator: %v", err)
	}

	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var rep loadgen.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Connected != agents || rep.MinConnectedHeld != agents {
		t.Errorf("connected %d at the end, %d at least while held; want %d throughout", rep.Connected, rep.MinConnectedHeld, agents)
	}
	if len(rep.ConnectErrors) > 0 || len(rep.ConnectionsLost) > 0 {
		t.Errorf("connect errors %v, connections lost %v; want none", rep.ConnectErrors, rep.ConnectionsLost)
	}
	if rep.Sent < 60 || rep.Succeeded != rep.Sent || len(rep.ProcessErrors) > 0 {
		t.Errorf("Process: %d sent, %d succeeded, errors %v; want ≥ 60 sent, all succeeded", rep.Sent, rep.Succeeded, rep.ProcessErrors)
	}
	if rep.Latency.Count != rep.Sent {
		t.Errorf("latency histogram holds %d requests, %d were sent", rep.Latency.Count, rep.Sent)
	}
	if rep.CommandsAnswered == 0 || rep.PublishAcked == 0 || rep.Pings == 0 {
		t.Errorf("agents answered %d commands, %d publishes acknowledged, sent %d pings; want some of each", rep.CommandsAnswered, rep.PublishAcked, rep.Pings)
	}
	// Presence and a full sync per agent, then telemetry and entity changes.
	if rep.Published < 3*agents {
		t.Errorf("agents published %d messages; want more than presence and one sync each (%d)", rep.Published, 2*agents)
	}
	if len(rep.Processes) != 1 || rep.Processes[0].Name != "central" || rep.Processes[0].Samples < 2 || rep.Processes[0].RSSMaxMB <= 0 {
		t.Errorf("central's process not sampled: %+v", rep.Processes)
	}
	var sawProcess bool
	for _, s := range rep.CentralStages {
		sawProcess = sawProcess || s.Name == "rpc_seconds{procedure=/homeplane.v1.IntentService/Process}" && s.Count == uint64(rep.Sent)
	}
	if !sawProcess {
		t.Errorf("central's own Process timing missing or miscounted: %+v", rep.CentralStages)
	}
}

// TestReplicaKillNeedsReplicas: replica-kill runs only with two replicas
// and one of them to kill (the scenario itself runs in e2e's
// TestReplicaKill).
func TestReplicaKillNeedsReplicas(t *testing.T) {
	for name, args := range map[string][]string{
		"none":        {},
		"one replica": {"--replicas", "http://127.0.0.1:1", "--kill-pid", "2147483647"},
		"no kill":     {"--replicas", "http://127.0.0.1:1,http://127.0.0.1:2"},
	} {
		var stdout, stderr bytes.Buffer
		args = append([]string{"replica-kill", "--state", filepath.Join(t.TempDir(), "s")}, args...)
		if code := run(args, &stdout, &stderr); code != 1 || !bytes.Contains(stderr.Bytes(), []byte("needs --replicas")) {
			t.Errorf("%s: exit %d, stderr %q; want 1 and a message naming --replicas", name, code, &stderr)
		}
	}
}

func TestBadFlags(t *testing.T) {
	cases := map[string][]string{
		"no scenario":     {"--agents", "3"},
		"unknown":         {"flood"},
		"rate no devices": {"steady", "--devices", "0", "--rate", "5"},
		"bad sources":     {"steady", "--sources", "127.0.0.9-127.0.0.2"},
		"bad signal":      {"storm", "--storm-signal", "hup"},
		"zero agents":     {"connect", "--agents", "0"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(args, &stdout, &stderr); code != 1 {
				t.Fatalf("exit %d, want 1; stderr %s", code, &stderr)
			}
		})
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
