package supervisor

import (
	"testing"
	"time"
)

// New limits reach the running container in place: same container, same
// start, new NanoCpus and Memory; a later provision keeps them.
func TestSetLimitsUpdatesTheRunningContainer(t *testing.T) {
	f := newFixture(t)
	if err := f.sup.Provision(f.ctx(), Spec{Image: f.imgs.v1, MemoryBytes: 64 << 20, NanoCPUs: 500_000_000}); err != nil {
		t.Fatal(err)
	}
	f.waitHealthy(15 * time.Second)
	before := f.inspect()
	if before.HostConfig.Memory != 64<<20 || before.HostConfig.NanoCPUs != 500_000_000 {
		t.Fatalf("provisioned with memory %d cpus %d", before.HostConfig.Memory, before.HostConfig.NanoCPUs)
	}
	if err := f.sup.SetLimits(f.ctx(), Limits{MemoryBytes: 96 << 20, NanoCPUs: 250_000_000}); err != nil {
		t.Fatal(err)
	}
	after := f.inspect()
	if after.HostConfig.Memory != 96<<20 || after.HostConfig.NanoCPUs != 250_000_000 {
		t.Fatalf("after SetLimits memory %d cpus %d, want %d %d", after.HostConfig.Memory, after.HostConfig.NanoCPUs, 96<<20, 250_000_000)
	}
	if after.ID != before.ID || after.State.StartedAt != before.State.StartedAt || !after.State.Running || after.RestartCount != before.RestartCount {
		t.Fatalf("the container was replaced or restarted: %s %s -> %s %s", before.ID[:12], before.State.StartedAt, after.ID[:12], after.State.StartedAt)
	}
	// Down again, below what it had.
	if err := f.sup.SetLimits(f.ctx(), Limits{MemoryBytes: 48 << 20, NanoCPUs: 1_000_000_000}); err != nil {
		t.Fatal(err)
	}
	if c := f.inspect(); c.HostConfig.Memory != 48<<20 || c.HostConfig.NanoCPUs != 1_000_000_000 || c.State.StartedAt != before.State.StartedAt {
		t.Fatalf("second change: memory %d cpus %d started %s", c.HostConfig.Memory, c.HostConfig.NanoCPUs, c.State.StartedAt)
	}
	// A provision with the spec's own limits keeps the ones set since,
	// and so does a supervisor started again on the same state.
	f.stop()
	f.start(fastOptions(f.name))
	if err := f.sup.Provision(f.ctx(), Spec{Image: f.imgs.v1, MemoryBytes: 64 << 20}); err != nil {
		t.Fatal(err)
	}
	if c := f.inspect(); c.HostConfig.Memory != 48<<20 || c.HostConfig.NanoCPUs != 1_000_000_000 {
		t.Fatalf("re-provisioned with memory %d cpus %d, want the limits set", c.HostConfig.Memory, c.HostConfig.NanoCPUs)
	}
	if err := f.sup.SetLimits(f.ctx(), Limits{MemoryBytes: -1}); err == nil {
		t.Fatal("negative memory accepted")
	}
}

// Limits set before the first provision are used by it.
func TestSetLimitsBeforeProvision(t *testing.T) {
	f := newFixture(t)
	if err := f.sup.SetLimits(f.ctx(), Limits{MemoryBytes: 80 << 20}); err != nil {
		t.Fatal(err)
	}
	if err := f.sup.Provision(f.ctx(), Spec{Image: f.imgs.v1}); err != nil {
		t.Fatal(err)
	}
	if c := f.inspect(); c.HostConfig.Memory != 80<<20 {
		t.Fatalf("memory %d, want %d", c.HostConfig.Memory, 80<<20)
	}
}
