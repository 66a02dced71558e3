// Command agentbench measures the resident memory of a real homeplane-agent
// process: idle, and while it answers a steady stream of commands. It runs
// the agent binary against an embedded MQTT broker and the Home Assistant
// simulator and reads VmRSS from /proc/PID/status once a second. With
// -managed it runs the agent in managed mode, owning the simulator as a
// container on the Docker Engine.
//
//	go run ./agent/cmd/agentbench -idle 30s -load 60s -rate 10
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/agent/internal/hasim"
	"github.com/homeplane/homeplane/agent/internal/identity"
	"github.com/homeplane/homeplane/agent/internal/metrics"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
)

const (
	home    = "3f2a7c9e-1b4d-4e8f-9a6b-0c1d2e3f4a5b"
	agentID = "7c0e5d3a-2f1b-4c8d-9e6f-a1b2c3d4e5f6"
	haToken = "bench-token"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "agentbench:", err)
		os.Exit(1)
	}
}

type config struct {
	agent      string
	idle, load time.Duration
	rate       int
	smaps      string
	managed    string // hasim binary to run as the managed container; empty: adopt mode
}

func run(ctx context.Context) error {
	var c config
	flag.StringVar(&c.agent, "agent", "", "homeplane-agent binary (default: build it with go build)")
	flag.DurationVar(&c.idle, "idle", 30*time.Second, "how long to sample the idle agent")
	flag.DurationVar(&c.load, "load", 60*time.Second, "how long to send commands")
	flag.IntVar(&c.rate, "rate", 10, "commands per second")
	flag.StringVar(&c.smaps, "smaps", "", "copy the agent's /proc/PID/smaps here after the load phase")
	flag.StringVar(&c.managed, "managed", "", "hasim binary: run the agent in managed mode, supervising it as a container on the Docker Engine")
	flag.Parse()
	if c.rate < 1 || c.rate > 1000 {
		return errors.New("-rate must be 1 to 1000")
	}
	dir, err := os.MkdirTemp("", "agentbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if c.agent == "" {
		if c.agent, err = build(dir); err != nil {
			return err
		}
	}

	b, err := startBroker()
	if err != nil {
		return err
	}
	defer b.srv.Close()
	var haURL string
	var agentArgs []string
	mode := "adopt mode against the Home Assistant simulator"
	if c.managed == "" {
		url, closeHA, err := startHA()
		if err != nil {
			return err
		}
		defer closeHA()
		haURL = url
	} else {
		m, err := prepareManaged(ctx, c.managed, dir)
		if err != nil {
			return err
		}
		defer m.cleanup()
		haURL, agentArgs = m.url, m.args
		mode = "managed mode, supervising the simulator's container " + m.container
	}

	stateDir := filepath.Join(dir, "state")
	err = identity.Save(stateDir, identity.Identity{AgentID: agentID, HomeID: home, MQTTUsername: agentID,
		MQTTPassword: "secret", MQTTURL: b.url, CentralURL: "http://127.0.0.1:1"})
	if err != nil {
		return err
	}
	logPath := filepath.Join(dir, "agent.log")
	pid, wait, err := startAgent(c.agent, logPath, append([]string{"--ha-url", haURL, "--ha-token", haToken,
		"--state-dir", stateDir, "--log-level", "warn"}, agentArgs...)...)
	if err != nil {
		return err
	}
	defer wait()
	if err := b.waitOnline(ctx, 30*time.Second); err != nil {
		return fmt.Errorf("%w (agent log: %s)", err, tail(logPath))
	}
	if err := waitHA(ctx, haURL, 60*time.Second); err != nil {
		return fmt.Errorf("%w (agent log: %s)", err, tail(logPath))
	}

	fmt.Printf("agent %s, pid %d, %s\n", c.agent, pid, mode)
	idle, err := sample(ctx, pid, c.idle)
	if err != nil {
		return err
	}
	report("idle", c.idle, idle, pid)

	stat := fmt.Sprintf("/proc/%d/stat", pid)
	cpu0, start := metrics.CPUSeconds(stat), time.Now()
	send := startSending(b, c.rate)
	loaded, err := sample(ctx, pid, c.load)
	send.end()
	if err != nil {
		return err
	}
	report(fmt.Sprintf("%d commands/s", c.rate), c.load, loaded, pid)
	fmt.Printf("CPU under load: %.1f%% of one core\n",
		(metrics.CPUSeconds(stat)-cpu0)/time.Since(start).Seconds()*100)
	if c.smaps != "" {
		if err := copySmaps(pid, c.smaps); err != nil {
			return err
		}
	}
	sent, answered, failed, lat, rest := send.summary(b)
	fmt.Printf("commands: %d sent, %d answered (%d not ok), latency p50 %v p99 %v\n",
		sent, answered, failed, percentile(lat, 50), percentile(lat, 99))
	b.mu.Lock()
	for why, n := range b.why {
		fmt.Printf("  not ok %d×: %s\n", n, why)
	}
	b.mu.Unlock()
	ha := make([]time.Duration, 0, len(lat))
	for i := range lat {
		ha = append(ha, lat[i]-rest[i])
	}
	fmt.Printf("stages: Home Assistant (as the agent timed it) p50 %v p99 %v; the rest (MQTT both ways, receive, ledger, publish) p50 %v p99 %v\n",
		percentile(ha, 50), percentile(ha, 99), percentile(rest, 50), percentile(rest, 99))
	if answered < sent*95/100 {
		return fmt.Errorf("only %d of %d commands answered (agent log: %s)", answered, sent, tail(logPath))
	}
	return nil
}

// build builds the agent as shipped: through the Makefile, which alone
// holds its build flags.
func build(dir string) (string, error) {
	work, err := exec.Command("go", "env", "GOWORK").Output()
	if err != nil || strings.TrimSpace(string(work)) == "" || strings.TrimSpace(string(work)) == "off" {
		return "", fmt.Errorf("finding the repository (go env GOWORK): %v; run agentbench inside it or pass -agent", err)
	}
	bin := filepath.Join(dir, "homeplane-agent")
	cmd := exec.Command("make", "--no-print-directory", "-C", filepath.Dir(strings.TrimSpace(string(work))), "agent", "AGENT_OUT="+bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("make agent: %v: %s", err, out)
	}
	return bin, nil
}

// broker is the embedded broker, recording when each result arrives.
type broker struct {
	srv *mqtt.Server
	url string

	mu      sync.Mutex
	results map[string]time.Time
	ha      map[string]time.Duration // Result.home_assistant_us, the agent's own measure
	failed  int
	// why counts the failed results by code and message, so a run that
	// fails says why after its temporary directory is gone.
	why map[string]int
}

func startBroker() (*broker, error) {
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, err
	}
	l := listeners.NewTCP(listeners.Config{ID: "tcp", Address: "127.0.0.1:0"})
	if err := srv.AddListener(l); err != nil {
		return nil, err
	}
	if err := srv.Serve(); err != nil {
		return nil, err
	}
	b := &broker{srv: srv, url: "tcp://" + l.Address(), results: map[string]time.Time{}, ha: map[string]time.Duration{}, why: map[string]int{}}
	err := srv.Subscribe(topic.For(home, topic.Result), 1, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		var r homeplanev1.Result
		if proto.Unmarshal(pk.Payload, &r) != nil {
			return
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, seen := b.results[r.GetCommandId()]; !seen {
			b.results[r.GetCommandId()] = time.Now()
			b.ha[r.GetCommandId()] = time.Duration(r.GetHomeAssistantUs()) * time.Microsecond
			if !r.GetOk() {
				b.failed++
				why := r.GetCode().String() + ": " + r.GetError()
				if _, ok := b.why[why]; ok || len(b.why) < 20 {
					b.why[why]++
				}
			}
		}
	})
	return b, err
}

func (b *broker) waitOnline(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if msgs := b.srv.Topics.Messages(topic.For(home, topic.Presence)); len(msgs) > 0 {
			var p homeplanev1.Presence
			if proto.Unmarshal(msgs[0].Payload, &p) == nil && p.GetOnline() {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("agent did not come online")
}

func startHA() (url string, closeFn func(), err error) {
	sim := hasim.New(nil, hasim.Options{Token: haToken})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

func startAgent(bin, logPath string, args ...string) (pid int, wait func(), err error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return 0, nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return 0, nil, err
	}
	return cmd.Process.Pid, func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
	}, nil
}

// sender publishes commands at a fixed rate and remembers when.
type sender struct {
	b    *broker
	rate int
	stop chan struct{}
	done chan struct{}

	mu   sync.Mutex
	sent map[string]time.Time
}

var lights = []string{"light.kitchen_ceiling", "light.kitchen_counter", "light.living_room_lamp", "light.bedroom_lamp"}

func startSending(b *broker, rate int) *sender {
	s := &sender{b: b, rate: rate, stop: make(chan struct{}), done: make(chan struct{}), sent: map[string]time.Time{}}
	go s.loop()
	return s
}

func (s *sender) end() {
	close(s.stop)
	<-s.done
}

func (s *sender) loop() {
	defer close(s.done)
	t := time.NewTicker(time.Second / time.Duration(s.rate))
	defer t.Stop()
	for n := 0; ; n++ {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		id := "bench-" + strconv.Itoa(n)
		cmd := &homeplanev1.Command{
			Id: id, RequestId: "req-" + id, Deadline: timestamppb.New(time.Now().Add(30 * time.Second)),
			Calls: []*homeplanev1.ServiceCall{{Domain: "light", Service: "toggle", EntityIds: []string{lights[n%len(lights)]}}},
		}
		payload, _ := proto.Marshal(cmd)
		s.mu.Lock()
		s.sent[id] = time.Now()
		s.mu.Unlock()
		_ = s.b.srv.Publish(topic.For(home, topic.Command), payload, false, 1)
	}
}

// summary waits briefly for the last answers and reports the outcome.
// summary waits for the last answers and returns each command's latency
// and its part outside Home Assistant (rest): MQTT both ways, the agent's
// receive, ledger and publish.
func (s *sender) summary(b *broker) (sent, answered, failed int, lat, rest []time.Duration) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		sent = len(s.sent)
		s.mu.Unlock()
		b.mu.Lock()
		answered = len(b.results)
		b.mu.Unlock()
		if answered >= sent || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, at := range s.sent {
		if got, ok := b.results[id]; ok {
			lat = append(lat, got.Sub(at))
			rest = append(rest, got.Sub(at)-b.ha[id])
		}
	}
	return sent, answered, b.failed, lat, rest
}

// sample reads VmRSS once a second for d.
func sample(ctx context.Context, pid int, d time.Duration) ([]int64, error) {
	var out []int64
	t := time.NewTicker(time.Second)
	defer t.Stop()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-t.C:
		}
		kb, err := status(pid, "VmRSS")
		if err != nil {
			return out, err
		}
		out = append(out, kb)
	}
	return out, nil
}

// status reads one kB field of /proc/PID/status.
func status(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("agent gone? %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s not in /proc/%d/status", field, pid)
}

func report(phase string, d time.Duration, kb []int64, pid int) {
	if len(kb) == 0 {
		fmt.Printf("%s: no samples\n", phase)
		return
	}
	sorted := slices.Sorted(slices.Values(kb))
	hwm, _ := status(pid, "VmHWM")
	anon, _ := status(pid, "RssAnon")
	file, _ := status(pid, "RssFile")
	fmt.Printf("%s (%v, %d samples): VmRSS median %s, max %s, last %s (anon %s, file %s); VmHWM so far %s\n",
		phase, d, len(kb), mib(sorted[len(sorted)/2]), mib(sorted[len(sorted)-1]), mib(kb[len(kb)-1]), mib(anon), mib(file), mib(hwm))
}

func mib(kb int64) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }

func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(d))
	return s[min(len(s)*p/100, len(s)-1)].Round(100 * time.Microsecond)
}

// tail returns the end of the agent's log, for errors.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// copySmaps keeps the agent's memory map for a per-mapping breakdown.
func copySmaps(pid int, path string) error {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
