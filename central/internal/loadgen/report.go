package loadgen

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable writes the report as a plain table.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{name}, args...)...)
	}
	dist := func(name string, s Summary) {
		row(name, "n %d  p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f ms", s.Count, s.P50, s.P90, s.P99, s.P999, s.Max)
	}
	row("scenario", "%s: %d agents, %d devices at %.0f Process/s, held %.0fs", r.Scenario, r.Agents, r.Devices, r.Rate, r.HeldSeconds)
	row("provisioning", "%.1fs", r.ProvisionSeconds)
	if r.Scenario == ScenarioProvision {
		return tw.Flush()
	}
	row("all connected after", "%.1fs", r.AllConnectedSeconds)
	if r.Storm == nil {
		row("connected", "%d at the end, at least %d while held", r.Connected, r.MinConnectedHeld)
	} else {
		row("connected", "%d at the end", r.Connected)
	}
	dist("connect time", r.ConnectTime)
	dist("reconnect time", r.ReconnectTime)
	row("connect errors", "%s", counted(r.ConnectErrors))
	row("connections lost", "%s", counted(r.ConnectionsLost))
	row("most failed attempts in a row", "%d", r.MaxFailedAttempts)
	row("agent messages", "%d published, %d acknowledged, %d commands answered, %d pings", r.Published, r.PublishAcked, r.CommandsAnswered, r.Pings)
	if s := r.Storm; s != nil {
		row("storm", "%s with %d connected; ready after %.1fs; all back after %.1fs (all back: %v)",
			s.Signal, s.ConnectedAtKill, s.ReadyAfterSeconds, s.AllBackSeconds, s.AllBack)
	}
	if k := r.ReplicaKill; k != nil {
		row("replica kill", "1 of %d replicas killed -9 %.0fs into the hold", k.Replicas, k.KilledAfterSecond)
		row("requests", "%d sent with a key, %d answered ok, %d not; %d retried on another replica (%d ok)",
			k.Requests, k.OK, k.Failed, k.Retried, k.RetriedOK)
		row("runs per command", "answered ok: %s; retried: %s", counted(k.RunsOfOK), counted(k.RunsOfRetried))
		dist("survivor before", k.Before)
		dist(fmt.Sprintf("survivor first %.0fs after", k.Window), k.During)
		dist("survivor after that", k.After)
		dist("retried requests", k.RetriedTime)
		row("errors", "%s", counted(k.Errors))
	}
	if r.Sent > 0 {
		row("Process", "%d sent, %d answered, %d succeeded", r.Sent, r.Answered, r.Succeeded)
		dist("Process latency", r.Latency)
		row("Process errors", "%s", counted(r.ProcessErrors))
	}
	for _, p := range r.Processes {
		row(p.Name, "RSS %.1f → %.1f MiB (max %.1f), CPU mean %.0f%% max %.0f%% of a core",
			p.RSSFirstMB, p.RSSLastMB, p.RSSMaxMB, p.CPUMean, p.CPUMax)
	}
	if r.RSSPerAgentKiB != 0 {
		row("central RSS per agent", "%.1f KiB (idle %.1f MiB, held %.1f MiB)", r.RSSPerAgentKiB, r.CentralIdleMB, r.CentralHeldMB)
	}
	for _, s := range r.CentralStages {
		row("central "+s.Name, "n %d  mean %.3f  p50≈%.3f  p99≈%.3f ms", s.Count, s.MeanMS, s.P50MS, s.P99MS)
	}
	return tw.Flush()
}

func counted(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
