package supervisor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
)

// maxCPUs bounds the CPU count an engine may claim for a container.
const maxCPUs = 1024

type cpuSample struct {
	total, system uint64
}

// Sample reads one resource sample of the container. CPU % needs the
// previous sample, which the supervisor keeps itself, because a one-shot
// stats answer carries no primed previous sample.
func (s *Supervisor) Sample(ctx context.Context) (*homeplanev1.Telemetry, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.EngineTimeout)
	defer cancel()
	id, err := s.find(ctx)
	if err != nil {
		return nil, err
	}
	r, err := s.d.ContainerStatsOneShot(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("supervisor: stats: %w", err)
	}
	defer r.Body.Close()
	st, err := decodeStats(r.Body)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	prev := s.prevCPU
	s.prevCPU = cpuSample{st.CPU.Usage.Total, st.CPU.System}
	s.mu.Unlock()
	t := telemetryFrom(st, prev)
	t.Time = timestamp(s.now())
	t.ContainerId = id
	return t, nil
}

// stats is the part of the Engine's stats answer the agent reads. Decoding
// into it instead of the API's full StatsResponse keeps encoding/json's
// per-type cache and each sample's garbage small: the full type has a dozen
// nested structs the agent never looks at.
type stats struct {
	CPU struct {
		Usage struct {
			Total  uint64   `json:"total_usage"`
			PerCPU []uint64 `json:"percpu_usage"`
		} `json:"cpu_usage"`
		System uint64 `json:"system_cpu_usage"`
		Online uint32 `json:"online_cpus"`
	} `json:"cpu_stats"`
	Memory struct {
		Usage uint64            `json:"usage"`
		Limit uint64            `json:"limit"`
		Stats map[string]uint64 `json:"stats"`
	} `json:"memory_stats"`
	Pids struct {
		Current uint64 `json:"current"`
	} `json:"pids_stats"`
	Networks map[string]struct {
		Rx uint64 `json:"rx_bytes"`
		Tx uint64 `json:"tx_bytes"`
	} `json:"networks"`
	Blkio struct {
		ServiceBytes []struct {
			Op    string `json:"op"`
			Value uint64 `json:"value"`
		} `json:"io_service_bytes_recursive"`
	} `json:"blkio_stats"`
}

// decodeStats reads one stats answer, at most 1 MiB of it.
func decodeStats(r io.Reader) (*stats, error) {
	var st stats
	if err := json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(&st); err != nil {
		return nil, fmt.Errorf("supervisor: decode stats: %w", err)
	}
	return &st, nil
}

// telemetryFrom computes what the docker CLI shows from one stats answer
// and the CPU counters of the sample before it.
func telemetryFrom(st *stats, prev cpuSample) *homeplanev1.Telemetry {
	t := &homeplanev1.Telemetry{
		CpuPercent:       cpuPercent(st, prev),
		MemoryBytes:      memoryUsed(st.Memory.Usage, st.Memory.Stats),
		MemoryLimitBytes: st.Memory.Limit,
		Pids:             st.Pids.Current,
	}
	for _, n := range st.Networks {
		t.NetworkRxBytes += n.Rx
		t.NetworkTxBytes += n.Tx
	}
	for _, e := range st.Blkio.ServiceBytes {
		switch {
		case strings.HasPrefix(strings.ToLower(e.Op), "r"):
			t.BlockReadBytes += e.Value
		case strings.HasPrefix(strings.ToLower(e.Op), "w"):
			t.BlockWriteBytes += e.Value
		}
	}
	return t
}

func cpuPercent(st *stats, prev cpuSample) float64 {
	if prev.system == 0 || st.CPU.Usage.Total <= prev.total || st.CPU.System <= prev.system {
		return 0
	}
	cpuDelta := float64(st.CPU.Usage.Total - prev.total)
	sysDelta := float64(st.CPU.System - prev.system)
	cpus := float64(st.CPU.Online)
	if cpus == 0 {
		cpus = float64(len(st.CPU.Usage.PerCPU))
	}
	// An engine's counters are not to be believed past what a host can
	// have: a container uses at most all of its CPUs.
	cpus = min(cpus, maxCPUs)
	return min(cpuDelta/sysDelta, 1) * cpus * 100
}

// memoryUsed excludes the inactive page cache, as the docker CLI does
// (total_inactive_file on cgroup v1, inactive_file on v2).
func memoryUsed(usage uint64, m map[string]uint64) uint64 {
	if v, ok := m["total_inactive_file"]; ok && v < usage {
		return usage - v
	}
	if v := m["inactive_file"]; v < usage {
		return usage - v
	}
	return usage
}

func (s *Supervisor) sampleOnce(ctx context.Context) {
	t, err := s.Sample(ctx)
	if err != nil {
		return // not provisioned or not running: nothing to sample
	}
	s.mu.Lock()
	s.sample = t
	s.mu.Unlock()
	t.Instance = s.Status(ctx)
	if s.pub != nil {
		if err := s.pub.Publish(ctx, topic.Telemetry, t); err != nil {
			s.log.Debug("telemetry not published", "error", err)
		}
	}
}
