package pairing_test

import (
	"context"
	"testing"
	"time"

	"github.com/homeplane/homeplane/central/internal/pairing"
)

// BenchmarkPairingRoundTrip is one whole pairing against PostgreSQL: start,
// a pending poll, approval, the redeeming poll that registers the device.
func BenchmarkPairingRoundTrip(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	a := pairing.Actor{UserID: f.alice, RequestID: "bench"}
	var approve, redeem time.Duration
	for b.Loop() {
		g, err := f.svc.Start(ctx, "Bench")
		if err != nil {
			b.Fatal(err)
		}
		if _, _, _, err := f.svc.Poll(ctx, g.DeviceCode); err != nil {
			b.Fatal(err)
		}
		began := time.Now()
		if _, err := f.svc.Approve(ctx, a, g.UserCode, f.aliceHome, "", ""); err != nil {
			b.Fatal(err)
		}
		approve += time.Since(began)
		f.clock.add(6 * time.Second)
		began = time.Now()
		if p, _, _, err := f.svc.Poll(ctx, g.DeviceCode); err != nil || p.Status != pairing.StatusApproved {
			b.Fatal(p.Status, err)
		}
		redeem += time.Since(began)
	}
	b.ReportMetric(float64(approve.Microseconds())/float64(b.N), "approve-µs/op")
	b.ReportMetric(float64(redeem.Microseconds())/float64(b.N), "redeem-µs/op")
}
