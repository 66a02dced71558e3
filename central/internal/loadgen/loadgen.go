// Package loadgen is a load generator for Homeplane: a fleet of simulated
// home agents on light MQTT connections, voice devices sending Process
// open-loop, and the scenarios that measure one central under them
// (connect, steady, storm). Homes, agents and devices are created through
// central's real API and kept in a state file for the next run.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"syscall"
	"time"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// Scenarios the generator runs.
const (
	ScenarioProvision   = "provision"    // only create what the state file lacks
	ScenarioConnect     = "connect"      // ramp to N agents and hold
	ScenarioSteady      = "steady"       // N agents connected, devices at a steady rate
	ScenarioStorm       = "storm"        // kill and restart central, time until every agent is back
	ScenarioReplicaKill = "replica-kill" // kill one central replica mid-load
)

// Config is one run.
type Config struct {
	Scenario string
	// APIURL is central's HTTP address (http://host:port): the Connect API
	// and /readyz.
	APIURL string
	// MetricsURL is central's /metrics, on its own listener.
	MetricsURL string
	// State is the state file's path.
	State string
	// Agents and Devices are the fleet's size.
	Agents, Devices int
	// Rate is Process requests per second over all devices (0: none).
	Rate float64
	// Duration is how long the load is held once every agent is connected.
	Duration time.Duration
	// ConnectWait bounds the wait for every agent to connect.
	ConnectWait time.Duration
	// StormAfter is when, into the hold, storm kills central; StormSignal
	// how (default SIGKILL).
	StormAfter  time.Duration
	StormSignal syscall.Signal
	// Replicas are the API addresses of central's replicas, for
	// replica-kill (the first is also APIURL, where provisioning goes);
	// Kill ends one of them mid-hold.
	Replicas []string
	Kill     *Kill
	// ExtraDevices, for replica-kill, are devices in homes outside the
	// fleet (real agents'); Runs, when set, counts how often each command
	// id ran there.
	ExtraDevices []Device
	Runs         func() map[string]int
	// Sentences the devices say; RequestTimeout bounds one Process.
	Sentences      []Sentence
	RequestTimeout time.Duration
	// ProvisionConcurrency is the API calls in flight while provisioning.
	ProvisionConcurrency int
	Fleet                FleetOptions
	// Central, when set, is started (and for storm restarted) by the run.
	// Otherwise CentralPID, if set, is only sampled.
	Central    *Central
	CentralPID int
	// BrokerPID is an external broker's process, sampled when set.
	BrokerPID int
	// Progress receives the live progress line; Interval paces it.
	Progress         io.Writer
	ProgressInterval time.Duration
}

// Report is what a run measured.
type Report struct {
	Scenario    string  `json:"scenario"`
	Agents      int     `json:"agents"`
	Devices     int     `json:"devices"`
	Rate        float64 `json:"rate_per_second"`
	HeldSeconds float64 `json:"held_seconds"`

	ProvisionSeconds float64 `json:"provision_seconds"`
	// AllConnectedSeconds is from the first connect to the last agent's.
	AllConnectedSeconds float64          `json:"all_connected_seconds"`
	Connected           int64            `json:"connected_at_end"`
	MinConnectedHeld    int64            `json:"min_connected_while_held,omitempty"`
	ConnectTime         Summary          `json:"connect_time"`
	ReconnectTime       Summary          `json:"reconnect_time"`
	ConnectErrors       map[string]int64 `json:"connect_errors"`
	ConnectionsLost     map[string]int64 `json:"connections_lost"`
	MaxFailedAttempts   int64            `json:"max_failed_attempts_in_a_row"`
	CommandsAnswered    int64            `json:"commands_answered"`
	Published           int64            `json:"published"`
	PublishAcked        int64            `json:"publish_acked"`
	Pings               int64            `json:"pings"`

	Sent          int64            `json:"process_sent"`
	Answered      int64            `json:"process_answered"`
	Succeeded     int64            `json:"process_succeeded"`
	Latency       Summary          `json:"process_latency"`
	ProcessErrors map[string]int64 `json:"process_errors"`

	Storm       *Storm       `json:"storm,omitempty"`
	ReplicaKill *ReplicaKill `json:"replica_kill,omitempty"`

	Processes []ProcStats `json:"processes"`
	// CentralIdleMB is central's RSS before the fleet connected;
	// RSSPerAgentKiB its growth per connected agent at the end of the hold.
	CentralIdleMB  float64 `json:"central_idle_rss_mib,omitempty"`
	CentralHeldMB  float64 `json:"central_held_rss_mib,omitempty"`
	RSSPerAgentKiB float64 `json:"central_rss_per_agent_kib,omitempty"`
	// CentralStages are central's own timings over the hold, from /metrics.
	CentralStages []Stage `json:"central_stages,omitempty"`
}

// Storm is what a central restart cost.
type Storm struct {
	Signal string `json:"signal"`
	// ConnectedAtKill agents were connected when central was killed;
	// ReadyAfter central answered /readyz again; AllBackAfter every agent
	// was connected again (both from the kill).
	ConnectedAtKill   int64   `json:"connected_at_kill"`
	ReadyAfterSeconds float64 `json:"ready_after_seconds"`
	AllBackSeconds    float64 `json:"all_back_after_seconds"`
	AllBack           bool    `json:"all_back"`
}

// Run provisions what is missing and runs the scenario.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	switch cfg.Scenario {
	case ScenarioProvision, ScenarioConnect, ScenarioSteady, ScenarioStorm:
	case ScenarioReplicaKill:
		if len(cfg.Replicas) < 2 || cfg.Kill == nil || cfg.Kill.Do == nil || cfg.Kill.Replica < 0 || cfg.Kill.Replica >= len(cfg.Replicas) {
			return nil, errors.New("replica-kill needs --replicas (two or more API addresses of central replicas on one broker) and the replica to kill (--kill-pid)")
		}
		if cfg.Kill.After >= cfg.Duration {
			return nil, errors.New("replica-kill: make --duration longer than --kill-after")
		}
	default:
		return nil, fmt.Errorf("unknown scenario %q: provision, connect, steady, storm or replica-kill", cfg.Scenario)
	}
	if cfg.Scenario == ScenarioStorm && cfg.Central == nil {
		return nil, errors.New("storm restarts central: run it through --central")
	}
	if cfg.ConnectWait <= 0 {
		cfg.ConnectWait = 5 * time.Minute
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.StormSignal == 0 {
		cfg.StormSignal = syscall.SIGKILL
	}
	if cfg.ProgressInterval <= 0 {
		cfg.ProgressInterval = time.Second
	}
	if len(cfg.Sentences) == 0 {
		cfg.Sentences = DefaultSentences()
	}
	rep := &Report{Scenario: cfg.Scenario, Agents: cfg.Agents, Devices: cfg.Devices, Rate: cfg.Rate}

	watch := newProcWatch()
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	if cfg.Central != nil {
		if err := cfg.Central.Start(ctx); err != nil {
			return nil, err
		}
		defer cfg.Central.Stop(syscall.SIGTERM)
		cfg.CentralPID = cfg.Central.PID()
	}
	if cfg.CentralPID > 0 {
		watch.set("central", cfg.CentralPID)
	}
	if cfg.BrokerPID > 0 {
		watch.set("broker", cfg.BrokerPID)
	}
	go watch.run(watchCtx)

	st, err := OpenState(cfg.State)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	// Idle connections enough for the requests in flight at a few thousand per
	// second, so the devices do not churn through ephemeral ports.
	api := NewAPI(cfg.APIURL, max(cfg.ProvisionConcurrency, 512))
	began := time.Now()
	if len(st.Agents) < cfg.Agents || len(st.Devices) < cfg.Devices {
		err := Provision(ctx, api, st, cfg.Agents, cfg.Devices, cfg.ProvisionConcurrency, func(a, d int) {
			if (a+d)%1000 == 0 && cfg.Progress != nil {
				fmt.Fprintf(cfg.Progress, "provisioned %d agents, %d devices\n", a, d)
			}
		})
		if err != nil {
			return nil, fmt.Errorf("provision: %w", err)
		}
	}
	rep.ProvisionSeconds = time.Since(began).Seconds()
	if cfg.Scenario == ScenarioProvision {
		rep.Processes = watch.stats()
		return rep, nil
	}
	watch.sample()
	rep.CentralIdleMB = watch.rss("central")

	devs, err := devicesOf(st, cfg.Agents, cfg.Devices)
	if err != nil {
		return nil, err
	}
	var keyed *KeyedDevices
	if cfg.Scenario == ScenarioReplicaKill {
		cfg.Fleet.CountRuns = true
		apis := []*API{api}
		for _, u := range cfg.Replicas[1:] {
			apis = append(apis, NewAPI(strings.TrimRight(u, "/"), 512))
		}
		if keyed, err = NewKeyedDevices(apis, append(devs, cfg.ExtraDevices...), cfg.Sentences, cfg.RequestTimeout); err != nil {
			return nil, err
		}
	}
	fleet := NewFleet(st.Agents[:cfg.Agents], cfg.Fleet)
	devices := NewDevices(api, devs, cfg.Sentences, cfg.RequestTimeout)
	fleetCtx, stopFleet := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		fleet.Run(fleetCtx)
	}()
	defer func() {
		stopFleet()
		wg.Wait()
	}()
	progCtx, stopProgress := context.WithCancel(ctx)
	defer stopProgress()
	go progress(progCtx, cfg, fleet, devices, watch)

	// Ramp.
	connectStart := time.Now()
	if !waitFor(ctx, cfg.ConnectWait, func() bool { return fleet.Connected() == int64(cfg.Agents) }) {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("only %d of %d agents connected within %s; connect errors %v",
			fleet.Connected(), cfg.Agents, cfg.ConnectWait, fleet.connectErrors.snapshot())
	}
	rep.AllConnectedSeconds = time.Since(connectStart).Seconds()
	// Central refuses a sentence naming what a home's registry lacks, and
	// an agent's first full sync may still be queued in central's intake:
	// the devices start once their homes' entities have arrived.
	if err := waitForEntities(ctx, api, st, devs, cfg.ConnectWait); err != nil {
		return nil, err
	}

	// Hold, with devices talking.
	before, scrapeErr := scrape(ctx, cfg.MetricsURL)
	holdCtx, stopHold := context.WithTimeout(ctx, cfg.Duration)
	defer stopHold()
	var dwg sync.WaitGroup
	dwg.Add(1)
	go func() {
		defer dwg.Done()
		if keyed != nil {
			keyed.Run(holdCtx, cfg.Rate)
		} else {
			devices.Run(holdCtx, cfg.Rate)
		}
	}()
	heldFrom := time.Now()
	minHeld := fleet.Connected()
	var killedAt time.Time
	if keyed != nil {
		dwg.Add(1)
		go func() {
			defer dwg.Done()
			if sleepUntil(holdCtx, heldFrom.Add(cfg.Kill.After)) {
				killedAt = time.Now()
				if err := cfg.Kill.Do(); err != nil && cfg.Progress != nil {
					fmt.Fprintln(cfg.Progress, "kill replica:", err)
				}
			}
		}()
	}
	if cfg.Scenario == ScenarioStorm {
		rep.Storm, err = storm(holdCtx, cfg, fleet, watch)
		if err != nil {
			return nil, err
		}
	} else {
		for holdCtx.Err() == nil {
			minHeld = min(minHeld, fleet.Connected())
			sleepUntil(holdCtx, time.Now().Add(100*time.Millisecond))
		}
	}
	watch.sample()
	rep.CentralHeldMB = watch.rss("central")
	if rep.Storm == nil {
		rep.MinConnectedHeld = min(minHeld, fleet.Connected())
	}
	<-holdCtx.Done()
	dwg.Wait()
	rep.HeldSeconds = time.Since(heldFrom).Seconds()
	if after, err := scrape(ctx, cfg.MetricsURL); err == nil && scrapeErr == nil && cfg.Scenario != ScenarioStorm {
		rep.CentralStages = stages(before, after)
	}

	rep.Connected = fleet.Connected()
	rep.ConnectTime = fleet.connectTime.summary()
	rep.ReconnectTime = fleet.reconnectTime.summary()
	rep.ConnectErrors = fleet.connectErrors.snapshot()
	rep.ConnectionsLost = fleet.lost.snapshot()
	rep.MaxFailedAttempts = fleet.maxFailures.Load()
	rep.CommandsAnswered = fleet.commands.Load()
	rep.Published = fleet.published.Load()
	rep.PublishAcked = fleet.acked.Load()
	rep.Pings = fleet.pings.Load()
	rep.Sent, rep.Answered, rep.Succeeded = devices.sent.Load(), devices.done.Load(), devices.ok.Load()
	rep.Latency = devices.Latency.summary()
	rep.ProcessErrors = devices.Errors.snapshot()
	if keyed != nil {
		if killedAt.IsZero() {
			return nil, errors.New("replica-kill: the hold ended before the kill")
		}
		runs := fleet.Runs()
		if cfg.Runs != nil {
			runs = mergeRuns(runs, cfg.Runs())
		}
		window := min(5*time.Second, (cfg.Duration-cfg.Kill.After)/2)
		rep.ReplicaKill = replicaKillReport(keyed.resultsByDue(), runs, len(cfg.Replicas), cfg.Kill, killedAt, window)
		rep.Sent, rep.Answered, rep.Succeeded = keyed.sent.Load(), keyed.done.Load(), keyed.ok.Load()
		rep.ProcessErrors = rep.ReplicaKill.Errors
		rep.Latency = rep.ReplicaKill.Latency
	}
	if rep.CentralIdleMB > 0 && cfg.Scenario != ScenarioStorm {
		rep.RSSPerAgentKiB = (rep.CentralHeldMB - rep.CentralIdleMB) * 1024 / float64(cfg.Agents)
	}
	rep.Processes = watch.stats()
	return rep, nil
}

// devicesOf picks n devices of homes among the first agents of the state:
// a device in a home whose agent is not in the run would only hear that its
// home is offline.
func devicesOf(st *State, agents, n int) ([]Device, error) {
	in := make(map[string]bool, agents)
	for _, a := range st.Agents[:agents] {
		in[a.HomeID] = true
	}
	var out []Device
	for _, d := range st.Devices {
		if len(out) < n && in[d.HomeID] {
			out = append(out, d)
		}
	}
	if len(out) < n {
		return nil, fmt.Errorf("the state has %d devices in the homes of the first %d agents, %d wanted: provision with --agents %d first, or ask for fewer devices",
			len(out), agents, n, agents)
	}
	return out, nil
}

// waitForEntities polls, as each home's owner, until every home with a
// device lists its entities.
func waitForEntities(ctx context.Context, api *API, st *State, devs []Device, within time.Duration) error {
	owner := make(map[string]string, len(st.Agents))
	for _, a := range st.Agents {
		owner[a.HomeID] = a.Owner
	}
	tokens := &tokenCache{api: api, tokens: map[string]string{}, passwords: map[string]string{}}
	for _, u := range st.Users {
		tokens.passwords[u.Email] = u.Password
	}
	pending := map[string]bool{}
	for _, d := range devs {
		pending[d.HomeID] = true
	}
	deadline := time.Now().Add(within)
	for len(pending) > 0 {
		for home := range pending {
			err := tokens.do(ctx, owner[home], func(token string) error {
				resp, err := api.homes.ListEntities(ctx, bearer(token, &homeplanev1.ListEntitiesRequest{HomeId: home}))
				if err == nil && len(resp.Msg.GetEntities()) > 0 {
					delete(pending, home)
				}
				return err
			})
			if err != nil && connect.CodeOf(err) != connect.CodeResourceExhausted {
				return fmt.Errorf("entities of home %s: %w", home, err)
			}
		}
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d homes with devices had no entities within %s", len(pending), within)
		}
		if !sleepUntil(ctx, time.Now().Add(100*time.Millisecond)) {
			return ctx.Err()
		}
	}
	return nil
}

// storm kills central at StormAfter into the hold, restarts it at once and
// waits until every agent is connected again.
func storm(ctx context.Context, cfg Config, fleet *Fleet, watch *procWatch) (*Storm, error) {
	if !sleepUntil(ctx, time.Now().Add(cfg.StormAfter)) {
		return nil, errors.New("the hold ended before the storm: make --duration longer than --storm-after")
	}
	s := &Storm{Signal: cfg.StormSignal.String(), ConnectedAtKill: fleet.Connected()}
	lostBefore := fleet.everLost.Load()
	killed := time.Now()
	cfg.Central.Stop(cfg.StormSignal)
	if err := cfg.Central.Start(ctx); err != nil {
		return nil, fmt.Errorf("restart central: %w", err)
	}
	s.ReadyAfterSeconds = time.Since(killed).Seconds()
	watch.set("central", cfg.Central.PID())
	// The old connections may not all have noticed yet; wait until the
	// count has dipped, then until it is whole again.
	s.AllBack = waitFor(ctx, time.Until(killed.Add(cfg.ConnectWait)), func() bool {
		return fleet.everLost.Load()-lostBefore >= s.ConnectedAtKill && fleet.Connected() == int64(cfg.Agents)
	})
	s.AllBackSeconds = time.Since(killed).Seconds()
	return s, nil
}

func waitFor(ctx context.Context, d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if ctx.Err() != nil || time.Now().After(deadline) {
			return false
		}
		sleepUntil(ctx, time.Now().Add(50*time.Millisecond))
	}
	return true
}

// progress prints the live line: connected, connect rate, Process rate,
// errors and p99 so far, central's RSS.
func progress(ctx context.Context, cfg Config, f *Fleet, d *Devices, w *procWatch) {
	if cfg.Progress == nil {
		return
	}
	start := time.Now()
	t := time.NewTicker(cfg.ProgressInterval)
	defer t.Stop()
	var lastConn, lastDone int64
	last := start
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		secs := now.Sub(last).Seconds()
		conns := f.connectTime.summary().Count
		done := d.done.Load()
		var b strings.Builder
		fmt.Fprintf(&b, "[%5.0fs] agents %d/%d (+%.0f/s, %d connect errors)", now.Sub(start).Seconds(),
			f.Connected(), f.Size(), float64(conns-lastConn)/secs, f.connectErrors.total())
		if cfg.Rate > 0 {
			fmt.Fprintf(&b, "  process %.0f/s, %d errors, p99 %s", float64(done-lastDone)/secs,
				d.Errors.total(), d.Latency.p99().Round(100*time.Microsecond))
		}
		if mb := w.rss("central"); mb > 0 {
			fmt.Fprintf(&b, "  central %.0f MiB", mb)
		}
		fmt.Fprintln(cfg.Progress, b.String())
		lastConn, lastDone, last = conns, done, now
	}
}
