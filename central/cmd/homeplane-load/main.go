// Command homeplane-load puts a fleet of simulated home agents and voice
// devices on one central and measures it:
//
//	homeplane-load provision|connect|steady|storm|replica-kill [flags]
//
// It creates (or reuses, from --state) the homes, agents and devices it
// needs through central's API, connects the agents over light MQTT
// connections bound across --sources, sends Process open-loop at --rate,
// prints a progress line while it runs and a table (and --json) at the end.
// It exits 2 when the run saw errors or lost agents, 1 when it could not run.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/homeplane/homeplane/central/internal/loadgen"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg, out, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "homeplane-load:", err)
		return 1
	}
	jsonPath := out.json
	if out.cpuProfile != "" {
		// The generator shares the machine with what it measures: its own
		// cost is worth knowing.
		f, err := os.Create(out.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(stderr, "homeplane-load:", err)
			return 1
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := loadgen.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "homeplane-load:", err)
		return 1
	}
	rep.WriteTable(stdout)
	if jsonPath != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		b = append(b, '\n')
		if jsonPath == "-" {
			stdout.Write(b)
		} else if err := os.WriteFile(jsonPath, b, 0o644); err != nil {
			fmt.Fprintln(stderr, "homeplane-load:", err)
			return 1
		}
	}
	if rep.Scenario == loadgen.ScenarioProvision {
		return 0
	}
	if rep.Connected != int64(rep.Agents) || len(rep.ProcessErrors) > 0 || rep.Storm != nil && !rep.Storm.AllBack {
		return 2
	}
	if k := rep.ReplicaKill; k != nil && (k.RunsOfOK["1"] != k.OK || k.RunsOfRetried["2+"] > 0) {
		return 2 // a command ran other than once
	}
	return 0
}

const usage = `usage: homeplane-load provision|connect|steady|storm|replica-kill [flags]

  provision     create the users, homes, agents and devices --state lacks, then stop
  connect       ramp to --agents and hold for --duration
  steady        --agents connected while --devices send --rate Process/s for --duration
  storm         as steady, and --storm-after into it kill central (--storm-signal),
                restart it and time until every agent is back (needs --central)
  replica-kill  as steady with an idempotency key per request, sent round robin to
                --replicas (central replicas on one external broker), retried
                with the same key on the next; --kill-after into the hold
                kill -9 --kill-pid, the replica at --kill-replica

flags:
`

// outputs are the files a run writes besides its table.
type outputs struct {
	json       string // the report as JSON, "-" for standard output
	cpuProfile string // the generator's own CPU profile
}

func parse(args []string, stderr io.Writer) (loadgen.Config, outputs, error) {
	cfg := loadgen.Config{Progress: stderr}
	fs := flag.NewFlagSet("homeplane-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fs.Usage()
		return cfg, outputs{}, errors.New("name a scenario first")
	}
	cfg.Scenario, args = args[0], args[1:]

	fs.StringVar(&cfg.APIURL, "api", "http://127.0.0.1:8080", "central's HTTP address: API, /readyz; the accounts it makes work at once only with central's --auto-confirm-registrations")
	fs.StringVar(&cfg.MetricsURL, "metrics", "http://127.0.0.1:9090/metrics", "central's /metrics (its --metrics-addr), for its own stage timings")
	fs.StringVar(&cfg.Fleet.Broker, "mqtt", "127.0.0.1:1883", "the MQTT broker agents connect to, host:port")
	fs.StringVar(&cfg.State, "state", "homeplane-load.state", "state file of the users, agents and devices created, reused by later runs against the same database")
	fs.IntVar(&cfg.Agents, "agents", 100, "simulated agents (one home each)")
	fs.IntVar(&cfg.Devices, "devices", 10, "voice devices, spread over the homes")
	fs.Float64Var(&cfg.Rate, "rate", 0, "Process requests per second over all devices, open loop")
	fs.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long the load is held once every agent is connected")
	fs.DurationVar(&cfg.ConnectWait, "connect-wait", 5*time.Minute, "how long to wait for every agent to connect (and, in storm, to come back)")
	fs.Float64Var(&cfg.Fleet.ConnectRate, "connect-rate", 1000, "first connections per second")
	sources := fs.String("sources", "127.0.0.2-127.0.0.9", "local addresses to bind agent connections to, round robin: a range a-b or a comma list")
	fs.DurationVar(&cfg.Fleet.KeepAlive, "keepalive", 30*time.Second, "MQTT keepalive; pings come from one shared timer")
	fs.DurationVar(&cfg.Fleet.Telemetry, "telemetry", 15*time.Second, "interval between an agent's telemetry samples (negative: none)")
	fs.DurationVar(&cfg.Fleet.Deltas, "deltas", 5*time.Minute, "interval between an agent's entity state changes (negative: none)")
	fs.DurationVar(&cfg.Fleet.MinBackoff, "min-backoff", time.Second, "first reconnect delay bound; doubles per failure, full jitter")
	fs.DurationVar(&cfg.Fleet.MaxBackoff, "max-backoff", 2*time.Minute, "largest reconnect delay bound")
	sentences := fs.String("sentences", "", "sentence file (default: built-in sentences for the simulated home)")
	fs.DurationVar(&cfg.RequestTimeout, "request-timeout", 10*time.Second, "bound on one Process request")
	fs.IntVar(&cfg.ProvisionConcurrency, "provision-concurrency", 16, "API calls in flight while creating homes")
	central := fs.String("central", "", "command line that starts central (split on spaces); the run starts, samples and, for storm, restarts it")
	centralLog := fs.String("central-log", "", "file for the output of --central (default: discarded)")
	fs.IntVar(&cfg.CentralPID, "central-pid", 0, "pid of a central started elsewhere, to sample its RSS and CPU")
	fs.IntVar(&cfg.BrokerPID, "broker-pid", 0, "pid of an external MQTT broker, to sample its RSS and CPU")
	fs.DurationVar(&cfg.StormAfter, "storm-after", 10*time.Second, "storm: when, into the hold, central is killed")
	signalName := fs.String("storm-signal", "kill", "storm: kill (SIGKILL) or term (SIGTERM, a clean shutdown)")
	replicas := fs.String("replicas", "", "replica-kill: API addresses of the replicas, comma separated (the first provisions, in place of --api)")
	killPID := fs.Int("kill-pid", 0, "replica-kill: process id of the replica to kill -9")
	killReplica := fs.Int("kill-replica", -1, "replica-kill: which of --replicas --kill-pid is, from 0 (default: the last)")
	killAfter := fs.Duration("kill-after", 10*time.Second, "replica-kill: when, into the hold, the replica is killed")
	jsonPath := fs.String("json", "", "write the report as JSON to this file (- for standard output)")
	cpuProfile := fs.String("cpuprofile", "", "write the generator's own CPU profile to this file")
	fs.DurationVar(&cfg.ProgressInterval, "progress-interval", time.Second, "how often the progress line is printed")
	if err := fs.Parse(args); err != nil {
		return cfg, outputs{}, err
	}

	var problems []error
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if cfg.Agents < 1 || cfg.Agents > 1_000_000 {
		problems = append(problems, errors.New("--agents must be 1 to 1,000,000"))
	}
	if cfg.Devices < 0 || cfg.Devices > cfg.Agents*100 {
		problems = append(problems, errors.New("--devices must be 0 to 100 per agent"))
	}
	if cfg.Rate < 0 || cfg.Rate > 0 && cfg.Devices == 0 {
		problems = append(problems, errors.New("--rate needs --devices and must not be negative"))
	}
	var err error
	if cfg.Fleet.Sources, err = parseSources(*sources); err != nil {
		problems = append(problems, err)
	}
	if *sentences != "" {
		if f, err := os.Open(*sentences); err != nil {
			problems = append(problems, err)
		} else {
			cfg.Sentences, err = loadgen.ReadSentences(f)
			f.Close()
			if err != nil {
				problems = append(problems, fmt.Errorf("%s: %w", *sentences, err))
			}
		}
	}
	switch *signalName {
	case "kill":
		cfg.StormSignal = syscall.SIGKILL
	case "term":
		cfg.StormSignal = syscall.SIGTERM
	default:
		problems = append(problems, fmt.Errorf("--storm-signal %q: kill or term", *signalName))
	}
	if *central != "" {
		parts := strings.Fields(*central)
		var log io.Writer = io.Discard
		if *centralLog != "" {
			f, err := os.OpenFile(*centralLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				problems = append(problems, err)
			} else {
				log = f // closed at exit
			}
		}
		cfg.Central = &loadgen.Central{Command: parts[0], Args: parts[1:], Log: log, ReadyURL: strings.TrimRight(cfg.APIURL, "/") + "/readyz"}
	}
	if *replicas != "" {
		for _, u := range strings.Split(*replicas, ",") {
			cfg.Replicas = append(cfg.Replicas, strings.TrimSpace(u))
		}
		cfg.APIURL = cfg.Replicas[0]
	}
	if *killPID > 0 {
		idx := *killReplica
		if idx < 0 {
			idx = len(cfg.Replicas) - 1
		}
		pid := *killPID
		cfg.Kill = &loadgen.Kill{After: *killAfter, Replica: idx, Do: func() error { return syscall.Kill(pid, syscall.SIGKILL) }}
	}
	cfg.APIURL = strings.TrimRight(cfg.APIURL, "/")
	return cfg, outputs{json: *jsonPath, cpuProfile: *cpuProfile}, errors.Join(problems...)
}

// parseSources reads "a-b" (an address range) or "a,b,c".
func parseSources(s string) ([]netip.Addr, error) {
	if from, to, ok := strings.Cut(s, "-"); ok {
		a, err1 := netip.ParseAddr(strings.TrimSpace(from))
		b, err2 := netip.ParseAddr(strings.TrimSpace(to))
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("--sources %q: %w", s, err)
		}
		var out []netip.Addr
		for ; a.Compare(b) <= 0 && len(out) < 256; a = a.Next() {
			out = append(out, a)
		}
		if len(out) == 0 || len(out) == 256 && out[255] != b {
			return nil, fmt.Errorf("--sources %q: give an ascending range of at most 256 addresses", s)
		}
		return out, nil
	}
	var out []netip.Addr
	for _, p := range strings.Split(s, ",") {
		a, err := netip.ParseAddr(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("--sources: %w", err)
		}
		out = append(out, a)
	}
	return out, nil
}
