package command_test

import (
	"context"
	"testing"
)

// BenchmarkRouterRoundTrip measures one Execute over the real broker: encode,
// publish, a paho agent decoding and answering over TCP, and the result
// matched back to the waiting caller.
func BenchmarkRouterRoundTrip(b *testing.B) {
	e := newEnv(b, envConfig{})
	startAgent(b, e, "agent-a", ok)
	e.waitOnline(b, homeA, true)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.r.Execute(ctx, homeA, lightsOff()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRouterRoundTripParallel keeps GOMAXPROCS commands in flight to
// one home at a time.
func BenchmarkRouterRoundTripParallel(b *testing.B) {
	e := newEnv(b, envConfig{})
	startAgent(b, e, "agent-a", ok)
	e.waitOnline(b, homeA, true)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.r.Execute(ctx, homeA, lightsOff()); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
