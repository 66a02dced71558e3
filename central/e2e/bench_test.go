package e2e

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// BenchmarkProcessAt100RPS measures the Process round trip (central → MQTT →
// agent → hasim → back, audit record committed) under an open-loop load of
// 100 requests per second from a voice device. Latency counts from each
// request's scheduled start, so a stall is not hidden by the requests it
// delayed. Run with a fixed count, e.g. -benchtime=3000x (make bench does).
func BenchmarkProcessAt100RPS(b *testing.B) {
	// One device at 100 requests/s is far past its rate limit (5/s): the
	// load generator raises it.
	c := startCentral(b, "--device-burst", "1000", "--device-rate", "1000")
	alice := c.user(b, "bench@example.com")
	h := c.enrolledHome(b, alice, "bench-home")
	dev, err := c.homes.RegisterDevice(context.Background(), authed(alice, &homeplanev1.RegisterDeviceRequest{
		HomeId: h.id, Name: "bench satellite", Area: "Kitchen",
	}))
	if err != nil {
		b.Fatal(err)
	}
	token := dev.Msg.GetToken()
	texts := []string{"turn on the kitchen lights", "turn off the kitchen lights"}

	const interval = 10 * time.Millisecond // 100 requests/s
	lat := make([]time.Duration, b.N)
	var failed, wrong int
	var mu sync.Mutex
	var wg sync.WaitGroup
	b.ResetTimer()
	begin := time.Now()
	for i := range b.N {
		due := begin.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due))
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.intents.Process(context.Background(), authed(token, &homeplanev1.ProcessRequest{Text: texts[i%2]}))
			lat[i] = time.Since(due)
			if err != nil || !resp.Msg.GetSuccess() {
				mu.Lock()
				if err != nil {
					failed++
				} else {
					wrong++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if failed+wrong > 0 {
		b.Fatalf("%d requests failed, %d answered without success", failed, wrong)
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}
