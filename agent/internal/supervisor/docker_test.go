package supervisor

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
)

func TestProvisionBecomesHealthy(t *testing.T) {
	f := newFixture(t)
	if err := f.sup.Provision(f.ctx(), Spec{Image: f.imgs.v1, TimeZone: "Europe/Berlin", MemoryBytes: 64 << 20}); err != nil {
		t.Fatal(err)
	}
	st := f.waitHealthy(15 * time.Second)
	if st.Version != "2026.1.0" || st.Image != f.imgs.v1 {
		t.Errorf("status = version %q image %q, want 2026.1.0 %s", st.Version, st.Image, f.imgs.v1)
	}
	c := f.inspect()
	for _, b := range c.HostConfig.PortBindings {
		if len(b) != 1 || b[0].HostIP != "127.0.0.1" {
			t.Errorf("port binding %+v, want one on 127.0.0.1", b)
		}
	}
	if c.HostConfig.Memory != 64<<20 || !contains(c.Config.Env, "TZ=Europe/Berlin") {
		t.Errorf("memory %d env %v: limit or TZ missing", c.HostConfig.Memory, c.Config.Env)
	}
	if c.HostConfig.RestartPolicy.Name != container.RestartPolicyDisabled {
		t.Errorf("restart policy %q: the agent must own restarts", c.HostConfig.RestartPolicy.Name)
	}
	waitFor(t, 10*time.Second, "telemetry with memory", func() bool {
		for _, tm := range f.rec.telemetry() {
			if tm.MemoryBytes > 0 && tm.MemoryLimitBytes == 64<<20 && tm.ContainerId == c.ID {
				return true
			}
		}
		return false
	})
	if len(f.rec.events("healthy")) == 0 {
		t.Error("no healthy event published")
	}
}

func TestKilledContainerIsRestarted(t *testing.T) {
	f := newFixture(t)
	if err := f.sup.Provision(f.ctx(), Spec{Image: f.imgs.v1}); err != nil {
		t.Fatal(err)
	}
	f.waitHealthy(15 * time.Second)
	killed := time.Now()
	if err := f.docker.ContainerKill(context.Background(), f.name, "SIGKILL"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "restarted event", func() bool { return len(f.rec.events("restarted")) > 0 })
	firstRestart := time.Since(killed)
	st := f.waitHealthy(10 * time.Second)
	t.Logf("death → restart %v, → healthy %v", firstRestart.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	if st.Restarts != 1 || len(st.RecentRestarts) != 1 || !strings.Contains(st.RecentRestarts[0].Reason, "137") {
		t.Errorf("restarts = %d %v, want one with exit code 137 as reason", st.Restarts, st.RecentRestarts)
	}
}

func TestCrashLoopExhaustsBudget(t *testing.T) {
	f := newFixture(t)
	if err := f.sup.Provision(f.ctx(), Spec{Image: f.imgs.v1, Cmd: []string{"--exit-after", "0.2"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "crash_loop event", func() bool { return len(f.rec.events("crash_loop")) > 0 })
	st := f.sup.Status(context.Background())
	if st.State != StateCrashLoop || st.Restarts != 3 {
		t.Errorf("status = %s with %d restarts, want crash_loop after 3", st.State, st.Restarts)
	}
	if ev := f.rec.events("crash_loop")[0]; !strings.Contains(ev.Reason, "exit") {
		t.Errorf("crash loop reason %q names no exit", ev.Reason)
	}
	if c := f.inspect(); c.State.Running {
		t.Error("container still running after the crash loop")
	}
	// No further restarts once the budget is gone.
	n := len(f.rec.events("restarted"))
	if err := f.sup.Start(f.ctx()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a restart after an explicit start", func() bool { return len(f.rec.events("started")) > n+1 })
}

func TestUpgrade(t *testing.T) {
	tests := []struct {
		name        string
		to          func(images) string
		wantErr     error
		wantVersion string
		wantEvent   string
	}{
		{name: "good tag runs", to: func(i images) string { return i.v2 }, wantVersion: "2026.2.0", wantEvent: "upgraded"},
		{name: "broken tag rolls back", to: func(i images) string { return i.broken }, wantErr: ErrRolledBack, wantVersion: "2026.1.0", wantEvent: "rolled_back"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			if err := f.sup.Provision(f.ctx(), Spec{Image: f.imgs.v1}); err != nil {
				t.Fatal(err)
			}
			f.waitHealthy(15 * time.Second)
			writeMarker(t, f, "v1 data")
			err := f.sup.Upgrade(f.ctx(), tc.to(f.imgs))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("upgrade error = %v, want %v", err, tc.wantErr)
			}
			st := f.waitHealthy(15 * time.Second)
			if st.Version != tc.wantVersion {
				t.Errorf("version = %s, want %s", st.Version, tc.wantVersion)
			}
			evs := f.rec.events(tc.wantEvent)
			if len(evs) != 1 {
				t.Fatalf("%d %s events, want 1", len(evs), tc.wantEvent)
			}
			if tc.wantErr != nil && !strings.Contains(evs[0].Reason, "not healthy") {
				t.Errorf("rollback reason %q", evs[0].Reason)
			}
			if got := readMarker(t, f); got != "v1 data" {
				t.Errorf("config volume marker = %q after upgrade, want it kept", got)
			}
			if st.Restarts != 0 {
				t.Errorf("watchdog restarted during the upgrade: %v", st.RecentRestarts)
			}
		})
	}
}

func TestAgentRestartLeavesHealthyContainer(t *testing.T) {
	f := newFixture(t)
	if err := f.sup.Provision(f.ctx(), Spec{Image: f.imgs.v1}); err != nil {
		t.Fatal(err)
	}
	f.waitHealthy(15 * time.Second)
	before := f.inspect()
	f.stop()
	started := len(f.rec.events("started"))

	f.start(fastOptions(f.name))
	if err := f.sup.Attach(f.ctx()); err != nil {
		t.Fatal(err)
	}
	f.waitHealthy(10 * time.Second)
	after := f.inspect()
	if after.ID != before.ID || after.State.StartedAt != before.State.StartedAt {
		t.Errorf("container %s started %s, was %s started %s", after.ID[:12], after.State.StartedAt, before.ID[:12], before.State.StartedAt)
	}
	if n := len(f.rec.events("started")); n != started {
		t.Errorf("%d start events after re-attach, want none", n-started)
	}
}

func TestSweepRemovesOrphans(t *testing.T) {
	f := newFixture(t)
	if err := f.sup.Provision(f.ctx(), Spec{Image: f.imgs.v1}); err != nil {
		t.Fatal(err)
	}
	orphan, err := f.sup.create(f.ctx(), Spec{Image: f.imgs.v1}.withDefaults(), f.name+"-old")
	if err != nil {
		t.Fatal(err)
	}
	n, err := f.sup.Sweep(f.ctx())
	if err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v; want 1 removed", n, err)
	}
	if _, err := f.docker.ContainerInspect(context.Background(), orphan); !isNotFound(err) {
		t.Errorf("orphan still there: %v", err)
	}
	if _, err := f.docker.ContainerInspect(context.Background(), f.name); err != nil {
		t.Errorf("owned container gone: %v", err)
	}
}

func TestStopAndRemoveKeepData(t *testing.T) {
	f := newFixture(t)
	if err := f.sup.Provision(f.ctx(), Spec{Image: f.imgs.v1}); err != nil {
		t.Fatal(err)
	}
	f.waitHealthy(15 * time.Second)
	if err := f.sup.Stop(f.ctx()); err != nil {
		t.Fatal(err)
	}
	// A requested stop is not a death to repair.
	if st := f.sup.Status(context.Background()); st.State != StateStopped {
		t.Errorf("state after stop = %s", st.State)
	}
	if err := f.sup.Remove(f.ctx(), false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.docker.VolumeInspect(context.Background(), f.sup.volumeName()); err != nil {
		t.Errorf("config volume removed without remove_data: %v", err)
	}
	if len(f.rec.events("restarted")) != 0 {
		t.Error("the watchdog restarted a stopped container")
	}
	if err := f.sup.Remove(f.ctx(), true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.docker.VolumeInspect(context.Background(), f.sup.volumeName()); !isNotFound(err) {
		t.Errorf("config volume kept with remove_data: %v", err)
	}
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// TestVersionFromHomeAssistantWithoutImageLabel: an image without the OCI
// version label (the simulator's own Dockerfile, many custom builds) shows
// the version Home Assistant reports, and none before it has.
func TestVersionFromHomeAssistantWithoutImageLabel(t *testing.T) {
	f := newFixture(t)
	tag := "homeplane-hasim-test-" + runID + ":unlabelled"
	df := "FROM scratch\nCOPY hasim /hasim\nLABEL " + testLabel + "=" + runID + "\n" +
		`ENTRYPOINT ["/hasim", "--addr", "0.0.0.0:8123", "--token", "test-token", "--version", "2026.4.0"]` + "\n"
	if err := buildImage(f.docker, tag, df, "hasim", hasimBinary); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = f.docker.ImageRemove(context.Background(), tag, image.RemoveOptions{Force: true, PruneChildren: true})
	})
	if err := f.sup.Provision(f.ctx(), Spec{Image: tag}); err != nil {
		t.Fatal(err)
	}
	if st := f.waitHealthy(15 * time.Second); st.Version != "" || st.LastSuccessAt != nil {
		t.Fatalf("before Home Assistant said anything: version %q, last success %v", st.Version, st.LastSuccessAt)
	}
	seen := time.Now()
	f.sup.Observe("2026.4.0", seen)
	st := f.sup.Status(f.ctx())
	if st.Version != "2026.4.0" || !st.LastSuccessAt.AsTime().Equal(seen) {
		t.Fatalf("after Observe: version %q, last success %v", st.Version, st.LastSuccessAt.AsTime())
	}
	if err := f.sup.Restart(f.ctx()); err != nil {
		t.Fatal(err)
	}
	if err := f.sup.Upgrade(f.ctx(), f.imgs.v2); err != nil {
		t.Fatal(err)
	}
	if st := f.sup.Status(f.ctx()); st.Version != "2026.2.0" {
		t.Fatalf("after upgrading to a labelled image: version %q", st.Version)
	}
}
