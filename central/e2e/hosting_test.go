package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// rssBytes reads a process's resident set from /proc.
func rssBytes(t testing.TB, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// cpuSeconds reads a process's user and system CPU time from /proc
// (USER_HZ is 100 on Linux).
func cpuSeconds(t testing.TB, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(b), ") ") // the command may hold spaces
	f := strings.Fields(rest)
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100
}

// TestHostingTwentyHomes runs one agent in hosting mode for 20 homes, each
// enrolled with its own token (so its own MQTT identity and ACL), each a
// simulator container the agent onboarded, with its own port from the range
// and its own volume; a sentence works in every home, and a home asking for
// more memory than the server has left is refused with the reason.
func TestHostingTwentyHomes(t *testing.T) {
	needDocker(t)
	c := startCentral(t)
	ctx := context.Background()
	alice := c.user(t, "alice@example.com")
	suffix := randomSuffix()
	image := hasimImage(t, "homeplane-e2e-hasim-"+suffix, "2026.1.0", true)
	dir := t.TempDir()
	removeHostedNetwork(t)
	// HOMEPLANE_HOSTING_HOMES raises the count for the benchmark run
	// (docs/benchmarks.md); the range holds 100.
	homes := 20
	if n, err := strconv.Atoi(os.Getenv("HOMEPLANE_HOSTING_HOMES")); err == nil && n > 1 && n <= 100 {
		homes = n
	}
	ids := make([]string, homes)
	names := make([]string, homes)
	addHome := func(i int, limits string) {
		names[i] = fmt.Sprintf("h%s-%02d", suffix, i)
		ids[i] = c.createHome(t, alice, names[i])
		et, err := c.homes.CreateEnrollmentToken(ctx, authed(alice, &homeplanev1.CreateEnrollmentTokenRequest{HomeId: ids[i]}))
		if err != nil {
			t.Fatal(err)
		}
		hd := filepath.Join(dir, names[i])
		if err := os.MkdirAll(hd, 0o700); err != nil {
			t.Fatal(err)
		}
		if limits != "" {
			if err := os.WriteFile(filepath.Join(hd, "limits.json"), []byte(limits), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(hd, "enrollment-token"), []byte(et.Msg.GetToken()), 0o600); err != nil {
			t.Fatal(err)
		}
		container := "homeplane-ha-" + names[i]
		t.Cleanup(func() {
			_, _ = docker(t, "rm", "--force", container)
			_, _ = docker(t, "volume", "rm", "--force", container+"-config", container+"-config-snapshot")
		})
	}
	synced := func(i int) bool {
		e, err := c.homes.ListEntities(ctx, authed(alice, &homeplanev1.ListEntitiesRequest{HomeId: ids[i]}))
		return err == nil && len(e.Msg.GetEntities()) > 0
	}
	addHome(0, `{"memory_bytes": 67108864, "nano_cpus": 500000000}`)
	agent := start(t, "homeplane-agent", "--mode", "hosting", "--homes-dir", dir, "--port-range", "18200-18299",
		"--host-memory", "16GiB", "--image", image, "--central-url", c.url, "--mqtt-url", c.mqttURL,
		"--state-dir", t.TempDir(), "--sample-interval", "2s", "--log-level", "info")
	eventually(t, 90*time.Second, "the first hosted home synced", func() bool { return synced(0) })
	one := rssBytes(t, agent.cmd.Process.Pid)

	began := time.Now()
	for i := 1; i < homes; i++ {
		addHome(i, `{"memory_bytes": 134217728}`)
	}
	eventually(t, 4*time.Minute, "every hosted home synced", func() bool {
		for i := range homes {
			if !synced(i) {
				return false
			}
		}
		return true
	})
	t.Logf("%d more homes hosted and synced in %v", homes-1, time.Since(began).Round(time.Millisecond))
	// Each home's container sits on the hosted network, whose containers
	// cannot reach one another, bounded and unprivileged (ADR 0067).
	for _, i := range []int{0, homes - 1} {
		got, err := docker(t, "inspect", "--format",
			"{{range $name, $_ := .NetworkSettings.Networks}}{{$name}}{{end}} {{.HostConfig.SecurityOpt}} {{.HostConfig.CapDrop}} {{.HostConfig.PidsLimit}} {{gt .HostConfig.Memory 0}}",
			"homeplane-ha-"+names[i])
		if want := "homeplane-hosted [no-new-privileges] [CAP_NET_RAW] 4096 true"; err != nil || got != want {
			t.Errorf("home %d's container: %q (%v), want %q", i, got, err, want)
		}
	}
	if icc, err := docker(t, "network", "inspect", "--format", `{{index .Options "com.docker.network.bridge.enable_icc"}}`, "homeplane-hosted"); err != nil || icc != "false" {
		t.Errorf("hosted network: enable_icc %q (%v), want false", icc, err)
	}
	all := rssBytes(t, agent.cmd.Process.Pid)
	cpu0, wall0 := cpuSeconds(t, agent.cmd.Process.Pid), time.Now()
	defer func() {
		used, wall := cpuSeconds(t, agent.cmd.Process.Pid)-cpu0, time.Since(wall0)
		t.Logf("agent CPU with %d homes: %.1f%% of a core over %v (a sentence per home, 2 s samples each)",
			homes, 100*used/wall.Seconds(), wall.Round(time.Millisecond))
	}()
	t.Logf("agent RSS: %.1f MiB with 1 home, %.1f MiB with %d: %.2f MiB per added home",
		float64(one)/(1<<20), float64(all)/(1<<20), homes, float64(all-one)/(1<<20)/float64(homes-1))

	ports := map[string]string{}
	for i := range homes {
		resp, err := c.intents.Process(ctx, authed(alice, &homeplanev1.ProcessRequest{Text: "turn on the kitchen lights", HomeId: ids[i]}))
		if err != nil || !resp.Msg.GetSuccess() {
			t.Fatalf("home %d: %v %v", i, resp, err)
		}
		port, err := docker(t, "inspect", "--format", `{{(index (index .HostConfig.PortBindings "8123/tcp") 0).HostPort}}`, "homeplane-ha-"+names[i])
		if err != nil {
			t.Fatalf("inspect home %d: %v %s", i, err, port)
		}
		if p, _ := strconv.Atoi(port); p < 18200 || p > 18299 {
			t.Errorf("home %d on port %s, outside the range", i, port)
		}
		if other, dup := ports[port]; dup {
			t.Errorf("port %s given to %s and %s", port, other, names[i])
		}
		ports[port] = names[i]
	}
	if mem, err := docker(t, "inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}", "homeplane-ha-"+names[0]); err != nil || mem != "67108864 500000000" {
		t.Errorf("home 0's limits = %q, %v; want its limits.json", mem, err)
	}
	in, err := c.homes.GetInstance(ctx, authed(alice, &homeplanev1.GetInstanceRequest{HomeId: ids[3]}))
	if err != nil || in.Msg.GetInstance().GetMode() != "managed" || in.Msg.GetInstance().GetState() != "running" {
		t.Errorf("a hosted home's instance: %v %v", in, err)
	}

	t.Run("a home that does not fit is refused with the reason", func(t *testing.T) {
		hd := filepath.Join(dir, "h"+suffix+"-big")
		if err := os.MkdirAll(hd, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(hd, "limits.json"), []byte(`{"memory_bytes": 17179869184}`), 0o600); err != nil {
			t.Fatal(err)
		}
		var why []byte
		eventually(t, 30*time.Second, "the refusal", func() bool {
			why, _ = os.ReadFile(filepath.Join(hd, "refused"))
			return len(why) > 0
		})
		if !strings.Contains(string(why), "not enough memory") {
			t.Fatalf("refused because %q", why)
		}
	})
}

// removeHostedNetwork removes the hosted homes' network once their
// containers have gone (cleanups run in reverse order of registration, so
// call it before starting the agent); one still in use stays.
func removeHostedNetwork(t *testing.T) {
	t.Cleanup(func() { _, _ = docker(t, "network", "rm", "homeplane-hosted") })
}
