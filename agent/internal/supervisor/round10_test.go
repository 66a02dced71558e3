package supervisor

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
)

// probeImage is testdata/probe FROM scratch, built once per run; the
// probes run in a hosted container's network namespace.
var (
	probeOnce  sync.Once
	probeImage = "homeplane-probe-test-" + runID + ":latest"
	probeErr   error
)

// buildProbe builds testdata/probe statically and its image.
func buildProbe(d *client.Client) error {
	dir, err := os.MkdirTemp("", "probe-image")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "probe")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./testdata/probe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build probe: %v: %s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	df := fmt.Sprintf("FROM scratch\nCOPY probe /probe\nLABEL %s=%q\nENTRYPOINT [\"/probe\"]\n", testLabel, runID)
	return buildImage(d, probeImage, df, "probe", b)
}

// testNetwork stands for HostedNetwork in this package's tests; TestMain
// removes it.
var testNetwork = "homeplane-hosted-test-" + runID

// hosted gives a fixture the options the hosting agent gives each home.
func hosted(o *Options) {
	o.Network = testNetwork
	*o = HostedOptions(*o)
}

// reaches reports whether a TCP connection to addr can be opened from inside
// the network namespace of container id.
func reaches(t *testing.T, d *client.Client, agentID, id, addr string) bool {
	t.Helper()
	if probeOnce.Do(func() { probeErr = buildProbe(d) }); probeErr != nil {
		t.Fatalf("build the probe image: %v", probeErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := d.ContainerCreate(ctx, &container.Config{
		Image:  probeImage,
		Cmd:    []string{addr},
		Labels: map[string]string{testLabel: runID, LabelManagedBy: agentID, LabelRole: "probe"},
	}, &container.HostConfig{NetworkMode: container.NetworkMode("container:" + id)}, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = d.ContainerRemove(context.Background(), resp.ID, container.RemoveOptions{Force: true}) }()
	waitC, errC := d.ContainerWait(ctx, resp.ID, container.WaitConditionNextExit)
	if err := d.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case w := <-waitC:
		return w.StatusCode == 0
	case err := <-errC:
		t.Fatal(err)
	}
	return false
}

func firstNetwork(c container.InspectResponse) (name string, n *network.EndpointSettings) {
	for name, n := range c.NetworkSettings.Networks {
		return name, n
	}
	return "", nil
}

// TestAttacksRound10Isolation is the supervisor's part of the tenth attack
// round (docs/benchmarks.md, "Attacks, round 10"): two homes hosted side by
// side through the real Docker Engine, home A attacking home B.
func TestAttacksRound10Isolation(t *testing.T) {
	a, b := newFixture(t, hosted), newFixture(t, hosted)
	for _, f := range []*fixture{a, b} {
		if err := f.sup.Provision(f.ctx(), Spec{Image: f.imgs.v1}); err != nil {
			t.Fatal(err)
		}
	}
	a.waitHealthy(20 * time.Second)
	b.waitHealthy(20 * time.Second)
	ca, cb := a.inspect(), b.inspect()
	bNet, bEP := firstNetwork(cb)
	_, aEP := firstNetwork(ca)
	if bEP == nil || aEP == nil {
		t.Fatal("a hosted container without a network")
	}
	bPort := cb.NetworkSettings.Ports["8123/tcp"][0].HostPort

	t.Run("A reaches B's Home Assistant at B's address on the Docker network", func(t *testing.T) {
		// The probe works: A reaches its own Home Assistant.
		if !reaches(t, a.docker, a.agentID, ca.ID, "127.0.0.1:8123") {
			t.Fatal("the probe reached not even A's own Home Assistant")
		}
		if reaches(t, a.docker, a.agentID, ca.ID, net.JoinHostPort(bEP.IPAddress, "8123")) {
			t.Errorf("A reached B's Home Assistant at %s:8123 (network %s)", bEP.IPAddress, bNet)
		}
	})
	t.Run("A and B share a Docker network whose containers talk", func(t *testing.T) {
		for n := range ca.NetworkSettings.Networks {
			if _, ok := cb.NetworkSettings.Networks[n]; !ok {
				continue
			}
			ni, err := a.docker.NetworkInspect(context.Background(), n, network.InspectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if ni.Options[iccOption] != "false" {
				t.Errorf("both on network %s, which lets containers talk (options %v)", n, ni.Options)
			}
		}
	})
	t.Run("A reaches B's published port through the host's gateway address", func(t *testing.T) {
		if reaches(t, a.docker, a.agentID, ca.ID, net.JoinHostPort(aEP.Gateway, bPort)) {
			t.Errorf("A reached B's published port %s at the gateway %s", bPort, aEP.Gateway)
		}
	})
	t.Run("A reaches the agent's own port bound to 127.0.0.1", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		_, port, _ := net.SplitHostPort(l.Addr().String())
		if reaches(t, a.docker, a.agentID, ca.ID, net.JoinHostPort(aEP.Gateway, port)) {
			t.Errorf("A reached the host's 127.0.0.1:%s through the gateway", port)
		}
	})
	t.Run("B's port published beyond 127.0.0.1", func(t *testing.T) {
		for p, bs := range cb.HostConfig.PortBindings {
			for _, bd := range bs {
				if bd.HostIP != "127.0.0.1" {
					t.Errorf("%s published on %q", p, bd.HostIP)
				}
			}
		}
	})
	t.Run("A's container without a memory limit", func(t *testing.T) {
		if ca.HostConfig.Memory <= 0 {
			t.Error("A runs with no memory limit: it can take B's memory")
		}
	})
	t.Run("a fork bomb in A", func(t *testing.T) {
		if ca.HostConfig.PidsLimit == nil || *ca.HostConfig.PidsLimit <= 0 {
			t.Error("A runs with no limit on processes")
		}
	})
	t.Run("A's logs fill the disk", func(t *testing.T) {
		lc := ca.HostConfig.LogConfig
		if lc.Type != "json-file" || lc.Config["max-size"] == "" || lc.Config["max-file"] == "" {
			t.Errorf("log config %+v is not bounded", lc)
		}
	})
	t.Run("a set-uid binary in A gains privileges", func(t *testing.T) {
		if !slices.Contains(ca.HostConfig.SecurityOpt, "no-new-privileges") && !slices.Contains(ca.HostConfig.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("security options %v: no no-new-privileges", ca.HostConfig.SecurityOpt)
		}
		if !slices.Contains(ca.HostConfig.CapDrop, "NET_RAW") && !slices.Contains(ca.HostConfig.CapDrop, "CAP_NET_RAW") {
			t.Errorf("capabilities dropped %v: A keeps raw sockets to forge frames on the bridge", ca.HostConfig.CapDrop)
		}
	})
	t.Run("A mounts B's volume or a host path", func(t *testing.T) {
		if len(ca.Mounts) != 1 || ca.Mounts[0].Type != "volume" || ca.Mounts[0].Name != a.name+"-config" {
			t.Errorf("A's mounts: %+v, want only its own config volume", ca.Mounts)
		}
	})
	t.Run("A's supervisor named after B's container", func(t *testing.T) {
		o := fastOptions(b.name)
		hosted(&o)
		s, err := New(a.docker, a.rec, a.agentID, t.TempDir(), o)
		if err != nil {
			t.Fatal(err)
		}
		for name, op := range map[string]func() error{
			"provision": func() error { return s.Provision(a.ctx(), Spec{Image: a.imgs.v1}) },
			"limits":    func() error { return s.SetLimits(a.ctx(), Limits{MemoryBytes: 6 << 20}) },
			"remove":    func() error { return s.Remove(a.ctx(), true) },
		} {
			if err := op(); name != "limits" && err == nil {
				t.Errorf("%s of B's container by A's agent accepted", name)
			}
		}
		now := b.inspect()
		if now.ID != cb.ID || !now.State.Running || now.HostConfig.Memory != cb.HostConfig.Memory {
			t.Errorf("B's container changed: id %s running %v memory %d", shortID(now.ID), now.State.Running, now.HostConfig.Memory)
		}
		if _, err := b.docker.VolumeInspect(context.Background(), b.name+"-config"); err != nil {
			t.Errorf("B's volume: %v", err)
		}
	})
	t.Run("A's sweep", func(t *testing.T) {
		if _, err := a.sup.Sweep(a.ctx()); err != nil {
			t.Fatal(err)
		}
		if now := b.inspect(); now.ID != cb.ID || !now.State.Running {
			t.Error("A's sweep touched B's container")
		}
	})
	t.Run("A's crash loop and B's watchdog", func(t *testing.T) {
		before := b.sup.Status(context.Background()).Restarts
		c := newFixture(t, hosted)
		if err := c.sup.Provision(c.ctx(), Spec{Image: c.imgs.v1, Cmd: []string{"--exit-after", "0.2"}}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "crash loop", func() bool { return len(c.rec.events("crash_loop")) > 0 })
		st := b.sup.Status(context.Background())
		if st.Restarts != before || st.Health != HealthHealthy || len(b.rec.events("restarted")) > 0 {
			t.Errorf("B after A's crash loop: %d restarts, health %s", st.Restarts, st.Health)
		}
	})
	t.Run("A's limits lifted by central", func(t *testing.T) {
		if err := a.sup.SetLimits(a.ctx(), Limits{}); err != nil {
			t.Fatal(err)
		}
		if err := a.sup.Provision(a.ctx(), Spec{Image: a.imgs.v1}); err != nil {
			t.Fatal(err)
		}
		if c := a.inspect(); c.HostConfig.Memory <= 0 {
			t.Error("A provisioned again with no memory limit")
		}
	})
	t.Run("A's stopped container's port taken by another agent", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, ps, _ := net.SplitHostPort(l.Addr().String())
		l.Close()
		port, _ := strconv.Atoi(ps)
		if err := a.sup.Provision(a.ctx(), Spec{Image: a.imgs.v1, HostPort: port}); err != nil {
			t.Fatal(err)
		}
		if err := a.sup.Stop(a.ctx()); err != nil {
			t.Fatal(err)
		}
		held, err := PortHeld(context.Background(), a.docker, port)
		if err != nil || !held {
			t.Errorf("port %d of A's stopped container: held %v (%v), want held", port, held, err)
		}
	})
	t.Run("A's network left behind", func(t *testing.T) {
		if err := a.sup.Remove(a.ctx(), true); err != nil {
			t.Fatal(err)
		}
		nets, err := a.docker.NetworkList(context.Background(), network.ListOptions{
			Filters: filters.NewArgs(filters.Arg("label", LabelManagedBy+"="+a.agentID))})
		if err != nil {
			t.Fatal(err)
		}
		if len(nets) != 0 {
			t.Errorf("networks left after A was removed: %d", len(nets))
		}
		if now := b.inspect(); now.ID != cb.ID || !now.State.Running {
			t.Error("A's removal touched B's container")
		}
		if _, err := b.docker.NetworkInspect(context.Background(), bNet, network.InspectOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			t.Error(err)
		} else if err != nil && !strings.HasPrefix(bNet, "bridge") {
			t.Errorf("B's network %s is gone", bNet)
		}
	})
}
