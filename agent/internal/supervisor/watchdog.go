package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// Run watches the container until ctx ends: Docker events, probes of Home
// Assistant itself, restarts with backoff inside the budget, and resource
// samples. Operations may run concurrently; the watchdog stands back while
// one does.
func (s *Supervisor) Run(ctx context.Context) error {
	evc := s.watchEvents(ctx)
	probe := time.NewTicker(s.opts.ProbeInterval)
	defer probe.Stop()
	var sampleC <-chan time.Time
	if s.opts.SampleInterval > 0 {
		t := time.NewTicker(s.opts.SampleInterval)
		defer t.Stop()
		sampleC = t.C
	}
	var restartAt <-chan time.Time // pending restart after backoff
	var pendingReason string
	schedule := func(reason string) {
		if restartAt != nil || !s.shouldRun() {
			return
		}
		d := s.nextBackoff()
		pendingReason = reason
		s.log.Warn("home assistant down; restarting after backoff", "reason", reason, "backoff", d)
		restartAt = time.After(d)
	}
	s.poke()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-evc:
			if !s.isOwn(ev.Actor.ID) {
				continue // e.g. the old container of an upgrade
			}
			switch {
			case ev.Action == events.ActionOOM:
				s.setHealth(HealthUnhealthy, "out of memory")
				s.event(ctx, homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_DIED, "out of memory", nil)
			case ev.Action == events.ActionDie:
				// An event is the engine's word only: a die while a
				// restart is pending, or for a container it says runs,
				// is not acted on again.
				if restartAt == nil && s.idle() && !s.running(ctx) {
					code := ev.Actor.Attributes["exitCode"]
					reason := "exited with code " + code
					if s.healthErrIs("out of memory") {
						reason = "killed out of memory (exit code " + code + ")"
					}
					s.setHealth(HealthUnhealthy, reason)
					s.event(ctx, homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_DIED, reason, nil)
					schedule(reason)
				}
			case strings.HasPrefix(string(ev.Action), string(events.ActionHealthStatus)):
				if strings.HasSuffix(string(ev.Action), HealthUnhealthy) && s.idle() {
					schedule("docker health check unhealthy")
				}
			}
		case <-probe.C:
			if reason, down := s.probeOnce(ctx); down {
				schedule(reason)
			}
		case <-s.kick:
			// An operation ended or the state changed: re-check at once.
			if reason, down := s.probeOnce(ctx); down {
				schedule(reason)
			}
		case <-sampleC:
			s.sampleOnce(ctx)
		case <-restartAt:
			restartAt = nil
			s.watchdogRestart(ctx, pendingReason)
		}
	}
}

// watchEvents follows container events for our container, reconnecting
// from the last event seen when the stream ends.
func (s *Supervisor) watchEvents(ctx context.Context) <-chan events.Message {
	out := make(chan events.Message, 16)
	go func() {
		since := ""
		for ctx.Err() == nil {
			f := filters.NewArgs(filters.Arg("type", "container"), filters.Arg("container", s.opts.Name),
				filters.Arg("label", LabelManagedBy+"="+s.agentID),
				filters.Arg("event", "die"), filters.Arg("event", "oom"), filters.Arg("event", "health_status"))
			msgs, errs := s.d.Events(ctx, events.ListOptions{Since: since, Filters: f})
		loop:
			for {
				select {
				case <-ctx.Done():
					return
				case m := <-msgs:
					since = strconv.FormatInt(m.TimeNano/int64(time.Second), 10) + "." + fmt.Sprintf("%09d", m.TimeNano%int64(time.Second)+1)
					select {
					case out <- m:
					case <-ctx.Done():
						return
					}
				case err := <-errs:
					if ctx.Err() == nil {
						s.log.Warn("docker event stream ended; reconnecting", "error", err)
					}
					break loop
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	return out
}

// running reports whether the engine says the container runs.
func (s *Supervisor) running(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, s.opts.EngineTimeout)
	defer cancel()
	c, err := s.d.ContainerInspect(ctx, s.opts.Name)
	return err == nil && c.State != nil && c.State.Running
}

// answers reports whether Home Assistant itself answers its probe: then
// no word of the engine is reason to stop it.
func (s *Supervisor) answers(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, s.opts.EngineTimeout)
	defer cancel()
	base := s.BaseURL(ctx)
	return base != "" && s.probeHTTP(ctx, base) == nil
}

func (s *Supervisor) isOwn(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return id != "" && id == s.st.ContainerID
}

func (s *Supervisor) idle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.busy == ""
}

func (s *Supervisor) shouldRun() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.busy == "" && s.st.Provisioned && s.st.WantRunning && !s.st.CrashLoop
}

func (s *Supervisor) healthErrIs(v string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.healthErr == v
}

func (s *Supervisor) setHealth(h, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.health, s.healthErr = h, reason
}

// probeOnce checks the container and Home Assistant; it reports whether a
// restart is called for, and why.
func (s *Supervisor) probeOnce(ctx context.Context) (string, bool) {
	if !s.shouldRun() {
		return "", false
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.EngineTimeout)
	defer cancel()
	c, err := s.d.ContainerInspect(ctx, s.opts.Name)
	if err != nil || c.State == nil {
		return "", false // a missing container needs provisioning, not restarts
	}
	if !c.State.Running {
		return fmt.Sprintf("found not running (exit code %d)", c.State.ExitCode), true
	}
	err = s.probeHTTP(ctx, s.baseURL(c))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastProbe = s.now()
	was := s.health
	if err == nil {
		s.failures = 0
		s.health, s.healthErr = HealthHealthy, ""
		if was != HealthHealthy {
			go s.event(context.WithoutCancel(ctx), homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_HEALTHY, "", nil)
		}
		return "", false
	}
	if s.now().Sub(s.started) < s.opts.StartPeriod && was != HealthHealthy {
		s.health, s.healthErr = HealthStarting, err.Error()
		return "", false
	}
	s.failures++
	s.healthErr = err.Error()
	if s.failures < s.opts.FailureThreshold {
		return "", false
	}
	s.health = HealthUnhealthy
	return "home assistant not answering: " + err.Error(), true
}

func (s *Supervisor) probeHTTP(ctx context.Context, base string) error {
	if base == "" {
		return errors.New("no published port")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+s.opts.ProbePath, nil)
	if err != nil {
		return err
	}
	resp, err := s.opts.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d", s.opts.ProbePath, resp.StatusCode)
	}
	return nil
}

// BaseURL returns where Home Assistant answers on this host, or "".
func (s *Supervisor) BaseURL(ctx context.Context) string {
	c, err := s.d.ContainerInspect(ctx, s.opts.Name)
	if err != nil {
		return ""
	}
	return s.baseURL(c)
}

func (s *Supervisor) baseURL(c container.InspectResponse) string {
	spec := s.spec().withDefaults()
	if c.HostConfig != nil && c.HostConfig.NetworkMode == "host" {
		return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(spec.ContainerPort))
	}
	if c.NetworkSettings == nil {
		return ""
	}
	for p, bs := range c.NetworkSettings.Ports {
		if p.Int() != spec.ContainerPort {
			continue
		}
		for _, b := range bs {
			host := b.HostIP
			if host == "" || host == "0.0.0.0" || host == "::" {
				host = "127.0.0.1"
			}
			return "http://" + net.JoinHostPort(host, b.HostPort)
		}
	}
	return ""
}

// nextBackoff doubles from BackoffMin with each restart in the window.
func (s *Supervisor) nextBackoff() time.Duration {
	s.mu.Lock()
	n := s.recentLocked()
	s.mu.Unlock()
	d := s.opts.BackoffMin
	for i := 0; i < n && d < s.opts.BackoffMax; i++ {
		d *= 2
	}
	return min(d, s.opts.BackoffMax)
}

// recentLocked counts the restarts inside the budget window.
func (s *Supervisor) recentLocked() int {
	cut := s.now().Add(-s.opts.BudgetWindow)
	n := 0
	for _, r := range s.st.Restarts {
		if r.Time.After(cut) {
			n++
		}
	}
	return n
}

// record notes one restart with its reason.
func (s *Supervisor) record(reason string) {
	s.update(func(p *persisted) {
		p.Restarts = append(p.Restarts, Restart{Time: s.now(), Reason: reason})
		if len(p.Restarts) > s.opts.HistoryLen {
			p.Restarts = p.Restarts[len(p.Restarts)-s.opts.HistoryLen:]
		}
		p.TotalRestarts++
	})
}

// watchdogRestart restarts the container inside the budget, or declares a
// crash loop: stop, report, and wait for a person.
func (s *Supervisor) watchdogRestart(ctx context.Context, reason string) {
	s.op.Lock()
	defer s.op.Unlock()
	if !s.shouldRun() {
		return
	}
	if s.answers(ctx) {
		s.log.Info("home assistant answers; restart not needed", "reason", reason)
		return
	}
	s.mu.Lock()
	used := s.recentLocked()
	s.mu.Unlock()
	if used >= s.opts.RestartBudget {
		id, err := s.find(ctx)
		if err == nil {
			_ = s.stopContainer(ctx, id)
		}
		s.update(func(p *persisted) { p.CrashLoop = true })
		s.setHealth(HealthUnhealthy, "crash loop: "+reason)
		s.event(ctx, homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_CRASH_LOOP, fmt.Sprintf("%d restarts within %v; last: %s", used, s.opts.BudgetWindow, reason), nil)
		return
	}
	s.record(reason)
	id, err := s.find(ctx)
	if err == nil {
		// A container that died is stopped already; one that hangs is stopped here.
		err = s.stopContainer(ctx, id)
	}
	if err == nil {
		err = s.startLocked(ctx, "watchdog: "+reason)
	}
	left := int32(s.opts.RestartBudget - used - 1)
	s.event(ctx, homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_RESTARTED, reason, func(e *homeplanev1.InstanceEvent) { e.RestartsLeft = left })
	if err != nil {
		s.log.Error("watchdog restart failed", "reason", reason, "error", err)
	}
}
