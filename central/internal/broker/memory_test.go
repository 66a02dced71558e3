package broker_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/homeplane/homeplane/central/internal/broker"
	"github.com/homeplane/homeplane/central/internal/command"
	"github.com/homeplane/homeplane/central/internal/ingest"
	"github.com/homeplane/homeplane/central/internal/loadgen"
	"github.com/homeplane/homeplane/central/internal/presence"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// The memory harness measures what one connected agent costs the embedded
// broker and central's MQTT intake: it is not part of the normal test run.
//
//	HOMEPLANE_MEMORY_AGENTS=5000 go test -run '^TestMemoryPerAgent$' -v -timeout 10m ./central/internal/broker/
//
// HOMEPLANE_MEMORY_PROFILE=FILE also writes a heap profile with the fleet
// connected; HOMEPLANE_MEMORY_BARE=1 gives ingest handlers that drop
// everything, to tell the broker's share from central's. The agents are homeplane-load's simulated ones (a full entity
// sync and a retained presence on every connect, telemetry every 15 s), run
// in a child process so that their own memory is not counted.
const (
	memoryAgentsEnv  = "HOMEPLANE_MEMORY_AGENTS"
	memoryProfileEnv = "HOMEPLANE_MEMORY_PROFILE"
	memoryBareEnv    = "HOMEPLANE_MEMORY_BARE"
	memoryFleetEnv   = "HOMEPLANE_MEMORY_FLEET" // set in the child: the broker's address
)

// memoryAgent is the simulated agent number i, as the child and the
// broker's credentials both know it.
func memoryAgent(i int) loadgen.Agent {
	return loadgen.Agent{
		HomeID:   fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
		AgentID:  fmt.Sprintf("agent-%d", i),
		Username: fmt.Sprintf("agent-%d", i),
		Password: fmt.Sprintf("secret-%d", i),
	}
}

// memorySources are 100 loopback addresses, so that every admission limit
// per address stays at its default, as round 3 of the 15,000-agent runs did.
func memorySources() []netip.Addr {
	out := make([]netip.Addr, 100)
	for i := range out {
		out[i] = netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i)})
	}
	return out
}

// memorySnapshot is the process's memory at one moment.
type memorySnapshot struct {
	rss        uint64 // as the operating system sees it, before any forced GC
	rssFreed   uint64 // after a GC and returning free memory to the OS
	heapInuse  uint64
	stackInuse uint64
	// stackSettled is StackInuse after further GCs.
	stackSettled uint64
	numGC        uint32
	goroutines   int
}

func takeSnapshot(tb testing.TB) memorySnapshot {
	tb.Helper()
	var s memorySnapshot
	s.rss = residentBytes(tb)
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	tb.Logf("before GC: HeapAlloc %.1f MiB, HeapInuse %.1f, HeapIdle %.1f, HeapReleased %.1f, StackInuse %.1f, NextGC %.1f, NumGC %d, Sys %.1f",
		mib(before.HeapAlloc), mib(before.HeapInuse), mib(before.HeapIdle), mib(before.HeapReleased), mib(before.StackInuse), mib(before.NextGC), before.NumGC, mib(before.Sys))
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.heapInuse, s.stackInuse = ms.HeapInuse, ms.StackInuse
	s.goroutines = runtime.NumGoroutine()
	s.rssFreed = residentBytes(tb)
	// Each GC halves the stacks using less than a quarter of theirs: a
	// few more show where they settle under a steady load's GCs.
	for range 8 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	s.stackSettled = ms.StackInuse
	s.numGC = ms.NumGC
	return s
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// residentBytes reads VmRSS from /proc/self/status.
func residentBytes(tb testing.TB) uint64 {
	tb.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				tb.Fatalf("VmRSS %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	tb.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// memoryCreds accepts the simulated agents.
type memoryCreds struct{}

func (memoryCreds) AuthenticateAgent(_ context.Context, agentID, secret string) (string, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(agentID, "agent-"))
	if err != nil || memoryAgent(n).Password != secret {
		return "", errBadSecret
	}
	return memoryAgent(n).HomeID, nil
}

// discardEntities stands for the registry, which is measured with central.
type discardEntities struct{}

func (discardEntities) ApplySync(context.Context, string, ...*homeplanev1.EntitySync) error {
	return nil
}
func (discardEntities) Patch(string, []*homeplanev1.Entity) bool { return false }

func TestMemoryPerAgent(t *testing.T) {
	if addr := os.Getenv(memoryFleetEnv); addr != "" {
		runMemoryFleet(t, addr)
		return
	}
	n, _ := strconv.Atoi(os.Getenv(memoryAgentsEnv))
	if n <= 0 {
		t.Skipf("set %s=N to measure the memory of N connected agents", memoryAgentsEnv)
	}

	// Wired as central wires its embedded side: the broker with its
	// defaults, ingest on its inline client, the presence tracker and the
	// command router.
	reg := prometheus.NewRegistry()
	b := startBroker(t, memoryCreds{}, reg, func(o *broker.Options) { o.Logger = slog.New(slog.DiscardHandler) })
	agents, err := presence.New(presence.Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	router, err := command.New(b, agents, command.Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	var sub ingest.Subscriber = b
	if os.Getenv(memoryBareEnv) != "" {
		sub = bareSubscriber{b}
	}
	intake, err := ingest.New(sub, ingest.Targets{Results: router, Presence: agents, Entities: discardEntities{}},
		ingest.Options{Registerer: reg, Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(intake.Close)
	b.OnConnection(agents.SetConnected)

	idle := takeSnapshot(t)

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(exe, "-test.run=^TestMemoryPerAgent$", "-test.v")
	child.Env = append(os.Environ(), memoryFleetEnv+"="+b.Addr().String())
	child.Stdout, child.Stderr = os.Stderr, os.Stderr
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close() // the fleet disconnects and the child exits
		_ = child.Wait()
	})

	start := time.Now()
	waitWithin(t, 5*time.Minute, "every agent connected", func() bool {
		return metricValue(t, reg, "homeplane_central_mqtt_clients") == float64(n) &&
			(sub != ingest.Subscriber(b) || agents.OnlineCount() == n)
	})
	connected := time.Since(start)
	// Let the connect's syncs drain and a telemetry round pass.
	drain, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := intake.Drain(drain); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Second) // a fixed hold, the same for every measurement
	held := takeSnapshot(t)
	if got := metricValue(t, reg, "homeplane_central_mqtt_clients"); got != float64(n) {
		t.Fatalf("%v agents connected after the hold, want %d", got, n)
	}
	if path := os.Getenv(memoryProfileEnv); path != "" {
		writeHeapProfile(t, path)
	}
	// Every agent publishes telemetry once in 15 s; what its reader's stack
	// grew to in handling it stays until a GC shrinks it again.
	time.Sleep(16 * time.Second)
	var round runtime.MemStats
	runtime.ReadMemStats(&round)

	per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) / 1024 }
	t.Logf("%d agents online after %.1fs", n, connected.Seconds())
	t.Logf("%-22s %12s %12s %16s", "", "idle", "held", "per agent (KiB)")
	for _, r := range []struct {
		name       string
		idle, held uint64
	}{
		{"RSS", idle.rss, held.rss},
		{"RSS after GC+free", idle.rssFreed, held.rssFreed},
		{"HeapInuse", idle.heapInuse, held.heapInuse},
		{"StackInuse", idle.stackInuse, held.stackInuse},
		{"StackInuse, 9 GCs", idle.stackSettled, held.stackSettled},
	} {
		t.Logf("%-22s %9.1f MiB %9.1f MiB %16.2f", r.name, float64(r.idle)/(1<<20), float64(r.held)/(1<<20), per(r.held, r.idle))
	}
	t.Logf("%-22s %12s %9.1f MiB %16.2f (GCs during the round: %d)", "StackInuse, +1 round", "",
		mib(round.StackInuse), per(round.StackInuse, idle.stackSettled), round.NumGC-held.numGC)
	t.Logf("%-22s %12d %12d %16.2f", "goroutines", idle.goroutines, held.goroutines,
		float64(held.goroutines-idle.goroutines)/float64(n))
}

func writeHeapProfile(tb testing.TB, path string) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		tb.Fatal(err)
	}
}

// runMemoryFleet is the child: it keeps the simulated agents connected to
// addr until its standard input closes.
func runMemoryFleet(t *testing.T, addr string) {
	n, _ := strconv.Atoi(os.Getenv(memoryAgentsEnv))
	ids := make([]loadgen.Agent, n)
	for i := range ids {
		ids[i] = memoryAgent(i)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	loadgen.NewFleet(ids, loadgen.FleetOptions{Broker: addr, Sources: memorySources()}).Run(ctx)
}

// bareSubscriber subscribes handlers that do nothing in place of ingest's.
type bareSubscriber struct{ b ingest.Subscriber }

func (s bareSubscriber) Subscribe(filter string, _ func(string, []byte)) error {
	return s.b.Subscribe(filter, func(string, []byte) {})
}
