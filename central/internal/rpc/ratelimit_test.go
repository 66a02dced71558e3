package rpc

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestHomeDevicesShareTheOwnersRate: each device of a home has its own
// bucket, and all of them together the owner's; another home's devices are
// not touched (ADR 0050).
func TestHomeDevicesShareTheOwnersRate(t *testing.T) {
	owner := RateLimit{Burst: 10, PerSecond: 1}
	g := &authGuard{
		devices:     newLimiter(RateLimit{Burst: 3, PerSecond: 1}),
		users:       newLimiter(owner),
		homeDevices: newLimiter(owner),
	}
	now := time.Unix(1_800_000_000, 0)
	served := 0
	for i := range 20 {
		c := Caller{DeviceID: fmt.Sprintf("d%d", i), HomeID: "h1"}
		for range 3 {
			if g.limit(context.Background(), "p", c, now) == nil {
				served++
			}
		}
	}
	if served != owner.Burst {
		t.Fatalf("20 devices of one home served %d calls at once, want the owner's burst of %d", served, owner.Burst)
	}
	if err := g.limit(context.Background(), "p", Caller{DeviceID: "other", HomeID: "h2"}, now); err != nil {
		t.Fatalf("another home's device: %v", err)
	}
	if err := g.limit(context.Background(), "p", Caller{UserID: "u1"}, now); err != nil {
		t.Fatalf("a user beside the home's devices: %v", err)
	}
	// One device alone still has its own bound.
	for i := range 4 {
		err := g.limit(context.Background(), "p", Caller{DeviceID: "solo", HomeID: "h3"}, now)
		if (err == nil) != (i < 3) {
			t.Fatalf("call %d of one device: %v", i+1, err)
		}
	}
}
