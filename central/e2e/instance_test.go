package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// needDocker skips the test when the Docker Engine cannot be reached,
// unless HOMEPLANE_REQUIRE_SERVICES=1 makes that a failure.
func needDocker(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").CombinedOutput()
	if err == nil {
		return
	}
	msg := strings.TrimSpace(string(out))
	if os.Getenv("HOMEPLANE_REQUIRE_SERVICES") == "1" {
		t.Fatalf("Docker Engine unreachable and HOMEPLANE_REQUIRE_SERVICES=1: %v: %s", err, msg)
	}
	t.Skipf("skipping: Docker Engine unreachable (%v: %s)", err, msg)
}

// docker runs the docker CLI and returns its trimmed output.
func docker(t testing.TB, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// hasimImage builds an image FROM scratch holding the static hasim binary
// TestMain built (CGO_ENABLED=0), tagged name:version; it is removed when
// the test ends. Like Home Assistant's image it keeps its state in /config;
// extra adds arguments.
func hasimImage(t testing.TB, name, version string, fresh bool, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	bin, err := os.ReadFile(filepath.Join(binDir, "hasim"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hasim"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	auth := `"--token", "e2e-token"`
	if fresh {
		auth = `"--fresh"` // not onboarded: the agent creates the owner and its token
	}
	for _, a := range append([]string{"--config-dir", "/config"}, extra...) {
		auth += ", " + strconv.Quote(a)
	}
	dockerfile := "FROM scratch\nCOPY hasim /hasim\n" +
		"LABEL org.opencontainers.image.version=" + strconv.Quote(version) + " io.homeplane.test=e2e\n" +
		`ENTRYPOINT ["/hasim", "--addr", "0.0.0.0:8123", ` + auth + `, "--version", ` + strconv.Quote(version) + "]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := name + ":" + version
	if out, err := docker(t, "build", "--quiet", "--tag", ref, dir); err != nil {
		t.Fatalf("docker build %s: %v: %s", ref, err, out)
	}
	t.Cleanup(func() {
		if out, err := docker(t, "image", "rm", "--force", ref); err != nil {
			t.Logf("remove image %s: %v: %s", ref, err, out)
		}
	})
	return ref
}

// managedHome creates a home and runs an agent in managed mode that
// provisions hasim's image as its Home Assistant container. A fresh one is
// not onboarded: the agent gets no Home Assistant token and onboards it.
func (c *central) managedHome(t testing.TB, token, name string, fresh bool) (homeID, container string) {
	t.Helper()
	suffix := randomSuffix()
	image := hasimImage(t, "homeplane-e2e-hasim-"+suffix, "2026.1.0", fresh)
	homeID, container, _ = c.managedHomeWith(t, token, name, image, "homeplane-e2e-ha-"+suffix, fresh)
	return homeID, container
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// managedHomeWith is managedHome for a given image and container name; it
// also returns the agent's state directory.
func (c *central) managedHomeWith(t testing.TB, token, name, image, container string, fresh bool) (homeID, _, stateDir string) {
	t.Helper()
	ctx := context.Background()
	// Whatever the test leaves, the container and its volumes go.
	t.Cleanup(func() {
		_, _ = docker(t, "rm", "--force", container)
		_, _ = docker(t, "volume", "rm", "--force", container+"-config", container+"-config-snapshot")
	})
	homeID = c.createHome(t, token, name)
	et, err := c.homes.CreateEnrollmentToken(ctx, authed(token, &homeplanev1.CreateEnrollmentTokenRequest{HomeId: homeID}))
	if err != nil {
		t.Fatalf("enrollment token: %v", err)
	}
	_, port, _ := strings.Cut(freeAddr(t), ":")
	stateDir = t.TempDir()
	args := []string{"--central-url", c.url, "--mqtt-url", c.mqttURL,
		"--enrollment-token", et.Msg.GetToken(), "--state-dir", stateDir,
		"--ha-url", "http://127.0.0.1:" + port,
		"--mode", "managed", "--image", image, "--ha-port", port,
		"--container-name", container, "--sample-interval", "1s"}
	if !fresh {
		args = append(args, "--ha-token", "e2e-token")
	}
	start(t, "homeplane-agent", args...)
	return homeID, container, stateDir
}

func TestManagedInstanceEndToEnd(t *testing.T) {
	needDocker(t)
	c := startCentral(t)
	ctx := context.Background()
	alice := c.user(t, "alice@example.com")
	bob := c.user(t, "bob@example.com")
	homeID, container := c.managedHome(t, alice, "managed-home", false)

	get := func(token string) (*homeplanev1.Instance, error) {
		resp, err := c.homes.GetInstance(ctx, authed(token, &homeplanev1.GetInstanceRequest{HomeId: homeID}))
		if err != nil {
			return nil, err
		}
		return resp.Msg.GetInstance(), nil
	}

	var in *homeplanev1.Instance
	eventually(t, 90*time.Second, "running, healthy and sampled", func() bool {
		var err error
		in, err = get(alice)
		return err == nil && in.GetState() == "running" && in.GetHealth() == "healthy" && in.GetMemoryBytes() > 0
	})
	if in.GetMode() != "managed" || in.GetVersion() != "2026.1.0" || !strings.HasPrefix(in.GetImage(), "homeplane-e2e-hasim-") ||
		in.GetStartedAt() == nil || in.GetCpuPercent() < 0 {
		t.Fatalf("status = %v", in)
	}
	firstStart := in.GetStartedAt().AsTime()

	t.Run("central exports the samples per home", func(t *testing.T) {
		resp, err := http.Get(c.metricsURL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, m := range []string{"homeplane_central_instance_memory_bytes", "homeplane_central_instance_cpu_percent", "homeplane_central_instance_up"} {
			if !strings.Contains(string(body), m+`{home="`+homeID+`"}`) {
				t.Errorf("/metrics lacks %s for the home", m)
			}
		}
		if !strings.Contains(string(body), `homeplane_central_instance_up{home="`+homeID+`"} 1`) {
			t.Error("the home's instance is not up in /metrics")
		}
	})

	t.Run("someone else's home looks missing", func(t *testing.T) {
		if _, err := get(bob); connect.CodeOf(err) != connect.CodeNotFound {
			t.Fatalf("bob reads alice's instance: %v, want NotFound", err)
		}
		_, err := c.homes.ControlInstance(ctx, authed(bob, &homeplanev1.ControlInstanceRequest{
			HomeId: homeID, Action: homeplanev1.InstanceAction_INSTANCE_ACTION_STOP}))
		if connect.CodeOf(err) != connect.CodeNotFound {
			t.Fatalf("bob stops alice's instance: %v, want NotFound", err)
		}
	})

	t.Run("restart is carried out and recorded with its reason", func(t *testing.T) {
		began := time.Now()
		resp, err := c.homes.ControlInstance(ctx, authed(alice, &homeplanev1.ControlInstanceRequest{
			HomeId: homeID, Action: homeplanev1.InstanceAction_INSTANCE_ACTION_RESTART}))
		if err != nil {
			t.Fatalf("restart: %v", err)
		}
		t.Logf("ControlInstance RESTART answered in %v", time.Since(began).Round(time.Millisecond))
		got := resp.Msg.GetInstance()
		if got.GetState() != "running" || got.GetRestarts() < 1 || !hasRestart(got, "restart requested") {
			t.Fatalf("after restart: %v", got)
		}
		if !got.GetStartedAt().AsTime().After(firstStart) {
			t.Fatalf("started at %v, not after %v", got.GetStartedAt().AsTime(), firstStart)
		}
		eventually(t, 60*time.Second, "healthy again with the restart recorded", func() bool {
			in, err := get(alice)
			return err == nil && in.GetHealth() == "healthy" && hasRestart(in, "restart requested")
		})
		t.Logf("healthy again %v after the request", time.Since(began).Round(time.Millisecond))
	})

	t.Run("remove with data takes the container and its volume", func(t *testing.T) {
		resp, err := c.homes.ControlInstance(ctx, authed(alice, &homeplanev1.ControlInstanceRequest{
			HomeId: homeID, Action: homeplanev1.InstanceAction_INSTANCE_ACTION_REMOVE, RemoveData: true}))
		if err != nil {
			t.Fatalf("remove: %v", err)
		}
		if st := resp.Msg.GetInstance().GetState(); st != "missing" {
			t.Fatalf("state after remove = %q", st)
		}
		if out, err := docker(t, "container", "inspect", container); err == nil {
			t.Fatalf("container still there: %s", out)
		}
		if out, err := docker(t, "volume", "inspect", container+"-config"); err == nil {
			t.Fatalf("config volume still there: %s", out)
		}
	})
}

func hasRestart(in *homeplanev1.Instance, reason string) bool {
	for _, r := range in.GetRecentRestarts() {
		if r.GetReason() == reason {
			return true
		}
	}
	return false
}

func TestFreshManagedInstanceIsOnboardedByTheAgent(t *testing.T) {
	needDocker(t)
	c := startCentral(t)
	ctx := context.Background()
	alice := c.user(t, "alice@example.com")
	homeID, _ := c.managedHome(t, alice, "fresh-home", true)
	// Entities reach central only through the agent's Home Assistant
	// client, which has no token but the one it minted.
	eventually(t, 90*time.Second, "entities synced with the minted token", func() bool {
		e, err := c.homes.ListEntities(ctx, authed(alice, &homeplanev1.ListEntitiesRequest{HomeId: homeID}))
		return err == nil && len(e.Msg.GetEntities()) > 0
	})
	in, err := c.homes.GetInstance(ctx, authed(alice, &homeplanev1.GetInstanceRequest{HomeId: homeID}))
	if err != nil || in.Msg.GetInstance().GetState() != "running" {
		t.Fatalf("instance: %v, %v", in, err)
	}
}
