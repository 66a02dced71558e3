package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"

	"github.com/homeplane/homeplane/central/internal/loadgen"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
)

// benchHomes is how many simulated homes, each with one voice device, the
// Process benchmark spreads its requests over.
const benchHomes = 8

// BenchmarkProcess measures what one IntentService/Process call costs central
// end to end, in this process: HTTP and Connect (JSON, as voice devices
// speak), the interceptors, authentication of the device token against
// PostgreSQL, the intent engine, the command's round trip over the embedded
// broker to a simulated agent, the conversation turn and the audit record's
// group commit. Calls run closed-loop from 16 goroutines, so ns/op is the
// reciprocal of the throughput when the cores are saturated; cpu-us/op is
// the CPU this process (central, the client and the simulated agents; not
// PostgreSQL) spent per call. Profile with -cpuprofile and focus on central's
// packages to leave the client and the agents out.
func BenchmarkProcess(b *testing.B) {
	_, dbURL := pgtest.NewURL(b)
	httpAddr, mqttAddr := freeAddr(b), freeAddr(b)
	cfg, err := loadConfig([]string{
		"--database-url", dbURL, "--http-addr", httpAddr, "--mqtt-addr", mqttAddr, "--metrics-addr", freeAddr(b),
		"--auto-confirm-registrations", "--trusted-proxies", "127.0.0.0/8",
		"--device-burst", "100000", "--device-rate", "100000",
	}, env(nil), io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	// Logged as in production: JSON at info, to nowhere.
	logger := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	go func() { served <- serve(ctx, cfg, logger) }()
	b.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			b.Errorf("serve: %v", err)
		}
	})
	base := "http://" + httpAddr
	if _, err := getWhenUp(&http.Client{Timeout: 5 * time.Second}, base+"/healthz"); err != nil {
		b.Fatal(err)
	}

	api := loadgen.NewAPI(base, 64)
	st, err := loadgen.OpenState(filepath.Join(b.TempDir(), "fleet.state"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := loadgen.Provision(ctx, api, st, benchHomes, benchHomes, 4, nil); err != nil {
		b.Fatal(err)
	}
	fleet := loadgen.NewFleet(st.Agents, loadgen.FleetOptions{Broker: mqttAddr, Telemetry: -1, Deltas: -1})
	fleetCtx, stopFleet := context.WithCancel(ctx)
	fleetDone := make(chan struct{})
	go func() { defer close(fleetDone); fleet.Run(fleetCtx) }()
	b.Cleanup(func() { stopFleet(); <-fleetDone })

	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64}}
	client := homeplanev1connect.NewIntentServiceClient(hc, base, connect.WithProtoJSON())
	process := func(dev loadgen.Device, text string) (*homeplanev1.ProcessResponse, error) {
		req := connect.NewRequest(&homeplanev1.ProcessRequest{Text: text})
		req.Header().Set("Authorization", "Bearer "+dev.Token)
		resp, err := client.Process(ctx, req)
		if err != nil {
			return nil, err
		}
		return resp.Msg, nil
	}
	// Every home answers once its agent is connected and has sent its
	// entities.
	for _, dev := range st.Devices {
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := process(dev, "turn on the kitchen lights")
			if err == nil && resp.GetSuccess() {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("home %s never answered: %v %v", dev.HomeID, resp, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	texts := []string{
		"turn off the kitchen lights", "turn on the kitchen lights", "turn on the living room lamp",
		"turn off the living room lamp", "lock the front door", "open the garage door",
	}
	var next, failed atomic.Int64
	var firstErr atomic.Value
	before := cpuTime()
	b.ReportAllocs()
	b.ResetTimer()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			resp, err := process(st.Devices[i%benchHomes], texts[i%int64(len(texts))])
			if err != nil || !resp.GetSuccess() {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, struct{ err error }{err})
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-before).Microseconds())/float64(b.N), "cpu-us/op")
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d calls failed; first: %v", n, b.N, firstErr.Load())
	}
}

// cpuTime is the CPU this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
