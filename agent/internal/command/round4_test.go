package command

import (
	"context"
	"math"
	"testing"

	"github.com/homeplane/homeplane/agent/internal/supervisor"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// TestAttacksRound4Instance is the agent's part of the fourth attack round
// (docs/benchmarks.md, "Attacks, round 4"): configuration and actions a
// compromised or mistaken central sends the instance executor. Each row
// asserts that nothing reaches the supervisor and the answer says why.
func TestAttacksRound4Instance(t *testing.T) {
	known := HostSize{MemoryBytes: 16 << 30, NanoCPUs: 4e9}
	limits := func(mem, cpu int64) *homeplanev1.Command {
		return &homeplanev1.Command{Id: "c", Config: &homeplanev1.InstanceConfig{
			Limits: &homeplanev1.InstanceLimits{MemoryBytes: mem, NanoCpus: cpu}}}
	}
	rows := []struct {
		name string
		host HostSize
		cmd  *homeplanev1.Command
	}{
		{"limits/memory of 2⁶³-1 on a host of unknown size", HostSize{}, limits(math.MaxInt64, 0)},
		{"limits/memory whose swap (twice the memory) passes 2⁶³", HostSize{}, limits(1<<62+1<<20, 0)},
		{"limits/CPU of 2⁶³-1 on a host of four CPUs", known, limits(0, math.MaxInt64)},
		{"limits/CPU of 2⁶³-1 on a host of unknown size", HostSize{}, limits(0, math.MaxInt64)},
		{"limits/negative memory and CPU", known, limits(-1, -1)},
		{"limits/a memory limit of one byte", known, limits(1, 0)},
		{"instance/an action number central does not have", known, &homeplanev1.Command{Id: "c",
			Instance: &homeplanev1.InstanceControl{Action: 99}}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			sup := &fakeSupervisor{}
			x := NewInstance(sup, supervisor.Spec{})
			x.Host = r.host
			res := x.Execute(context.Background(), r.cmd)
			if res.GetOk() || res.GetError() == "" {
				t.Errorf("answered %v", res)
			}
			if len(sup.limits) != 0 || sup.upgrades.Load() != 0 || sup.spec.Image != "" {
				t.Errorf("the supervisor was asked: limits %v", sup.limits)
			}
		})
	}
}
