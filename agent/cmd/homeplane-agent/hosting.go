package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/docker/docker/client"

	"github.com/homeplane/homeplane/agent/internal/hosting"
	"github.com/homeplane/homeplane/agent/internal/supervisor"
)

// hostingScan is how often the homes directory is read for new homes.
const hostingScan = 5 * time.Second

// runHosting runs one managed home per directory under --homes-dir in this
// process: each with its own identity (its own MQTT connection and ACL),
// container, volume, port from --port-range and limits from its limits.json
// until central sets its own (ADR 0033).
func runHosting(ctx context.Context, cfg config, log *slog.Logger) error {
	dc, err := supervisor.EngineClient(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return fmt.Errorf("docker: %w", err)
	}
	defer dc.Close()
	var engineFailed atomic.Int64 // when the engine last failed a port look-up
	host, err := hosting.Open(cfg.HomesDir, hosting.Options{FirstPort: cfg.FirstPort, LastPort: cfg.LastPort, MemoryBytes: cfg.HostMemory,
		DefaultMemoryBytes: supervisor.HostedMemoryBytes,
		// A port is free only if nothing listens on it and no container
		// here publishes it, running or stopped: another agent's home,
		// or a released home's container not yet removed (ADR 0067).
		PortFree: func(port int) bool {
			// An engine that failed a moment ago is not asked for every
			// port of the range, each waiting out its timeout.
			if last := engineFailed.Load(); last != 0 && time.Since(time.Unix(0, last)) < time.Minute {
				return false
			}
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			held, err := supervisor.PortHeld(pctx, dc, port)
			if err != nil {
				engineFailed.Store(time.Now().UnixNano())
				log.Warn("no port handed out for a minute: the docker engine did not answer", "port", port, "error", err)
			}
			return !held
		}})
	if err != nil {
		return err
	}
	defer host.Close()
	return host.Run(ctx, cfg.HomesDir, hostingScan, func(ctx context.Context, h hosting.Home) error {
		hc := cfg
		hc.Mode = "managed"
		hc.StateDir, hc.DataDir, hc.EnrollmentToken = h.Dir, h.Dir, h.EnrollmentToken
		hc.HAPort, hc.HAURL, hc.HAToken = h.Slot.Port, "http://127.0.0.1:"+strconv.Itoa(h.Slot.Port), ""
		hc.ContainerName = "homeplane-ha-" + h.Name
		hc.MemoryBytes, hc.NanoCPUs = h.Slot.Limits.MemoryBytes, h.Slot.Limits.NanoCPUs
		hc.hosted = &hostedHome{
			admit: func(l supervisor.Limits) error {
				_, err := host.Resize(h.Name, hosting.Limits{MemoryBytes: l.MemoryBytes, NanoCPUs: l.NanoCPUs})
				return err
			},
			release: h.Release,
		}
		hc.MetricsAddr = "" // one process, one metrics address: the hosting agent's own
		return runHome(ctx, hc, log.With("home", h.Name))
	}, log)
}

// hostedHome is what a hosted home's agent gets from the hosting agent.
type hostedHome struct {
	admit   func(supervisor.Limits) error
	release func(reason string) error
}

// removeReleased removes the container of a home whose context ended with
// hosting.ErrReleased; its volume stays until the operator purges it (ADR
// 0033).
func removeReleased(ctx context.Context, sup *supervisor.Supervisor, log *slog.Logger) {
	if sup == nil || !errors.Is(context.Cause(ctx), hosting.ErrReleased) {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if err := sup.Remove(rctx, false); err != nil {
		log.Error("released home's container not removed", "error", err)
		return
	}
	log.Info("released home's container removed; its volume is kept")
}

// parseHosting reads the hosting flags into c.
func parseHosting(c *config, homesDir, portRange, hostMemory string) []error {
	var errs []error
	c.HomesDir = homesDir
	if homesDir == "" {
		errs = append(errs, errors.New("homes-dir: must be set in hosting mode"))
	}
	lo, hi, ok := strings.Cut(portRange, "-")
	first, err1 := strconv.Atoi(strings.TrimSpace(lo))
	last, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if !ok || err1 != nil || err2 != nil || first < 1 || last > 65535 || last < first {
		errs = append(errs, fmt.Errorf("port-range: %q is not FIRST-LAST", portRange))
	}
	c.FirstPort, c.LastPort = first, last
	if hostMemory == "" {
		total, err := memTotal()
		if err != nil {
			return append(errs, fmt.Errorf("host-memory: not set and %w", err))
		}
		c.HostMemory = max(total-1<<30, total/2)
		return errs
	}
	n, err := parseBytes(hostMemory)
	if err != nil || n <= 0 {
		errs = append(errs, fmt.Errorf("host-memory: %q is not a size such as 16GiB or 512MiB", hostMemory))
	}
	c.HostMemory = n
	return errs
}

// parseBytes reads "512MiB", "16GiB" or a number of bytes.
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40} {
		if strings.HasSuffix(s, suffix) {
			s, mult = strings.TrimSuffix(s, suffix), m
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return n * mult, err
}

// memTotal reads the host's memory from /proc/meminfo.
func memTotal() (int64, error) {
	f, err := os.Open(filepath.Join("/proc", "meminfo"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("MemTotal not in /proc/meminfo")
}
