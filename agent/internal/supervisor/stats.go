package supervisor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/docker/docker/api/types/container"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
)

type cpuSample struct {
	total, system uint64
}

// Sample reads one resource sample of the container. CPU % needs the
// previous sample, which the supervisor keeps itself, because a one-shot
// stats answer carries no primed previous sample.
func (s *Supervisor) Sample(ctx context.Context) (*homeplanev1.Telemetry, error) {
	id, err := s.find(ctx)
	if err != nil {
		return nil, err
	}
	r, err := s.d.ContainerStatsOneShot(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("supervisor: stats: %w", err)
	}
	defer r.Body.Close()
	var st container.StatsResponse
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&st); err != nil {
		return nil, fmt.Errorf("supervisor: decode stats: %w", err)
	}
	s.mu.Lock()
	prev := s.prevCPU
	s.prevCPU = cpuSample{st.CPUStats.CPUUsage.TotalUsage, st.CPUStats.SystemUsage}
	s.mu.Unlock()
	st.PreCPUStats.CPUUsage.TotalUsage = prev.total
	st.PreCPUStats.SystemUsage = prev.system
	t := telemetryFrom(&st)
	t.Time = timestamp(s.now())
	t.ContainerId = id
	return t, nil
}

// telemetryFrom computes what the docker CLI shows from one stats object.
func telemetryFrom(st *container.StatsResponse) *homeplanev1.Telemetry {
	t := &homeplanev1.Telemetry{
		CpuPercent:       cpuPercent(st),
		MemoryBytes:      memoryUsed(st.MemoryStats),
		MemoryLimitBytes: st.MemoryStats.Limit,
		Pids:             st.PidsStats.Current,
	}
	for _, n := range st.Networks {
		t.NetworkRxBytes += n.RxBytes
		t.NetworkTxBytes += n.TxBytes
	}
	for _, e := range st.BlkioStats.IoServiceBytesRecursive {
		switch {
		case strings.HasPrefix(strings.ToLower(e.Op), "r"):
			t.BlockReadBytes += e.Value
		case strings.HasPrefix(strings.ToLower(e.Op), "w"):
			t.BlockWriteBytes += e.Value
		}
	}
	return t
}

func cpuPercent(st *container.StatsResponse) float64 {
	if st.PreCPUStats.SystemUsage == 0 || st.CPUStats.CPUUsage.TotalUsage < st.PreCPUStats.CPUUsage.TotalUsage ||
		st.CPUStats.SystemUsage <= st.PreCPUStats.SystemUsage {
		return 0
	}
	cpuDelta := float64(st.CPUStats.CPUUsage.TotalUsage - st.PreCPUStats.CPUUsage.TotalUsage)
	sysDelta := float64(st.CPUStats.SystemUsage - st.PreCPUStats.SystemUsage)
	cpus := float64(st.CPUStats.OnlineCPUs)
	if cpus == 0 {
		cpus = float64(len(st.CPUStats.CPUUsage.PercpuUsage))
	}
	if cpuDelta <= 0 || sysDelta <= 0 {
		return 0
	}
	return cpuDelta / sysDelta * cpus * 100
}

// memoryUsed excludes the inactive page cache, as the docker CLI does.
func memoryUsed(m container.MemoryStats) uint64 {
	if v, ok := m.Stats["total_inactive_file"]; ok && v < m.Usage {
		return m.Usage - v
	}
	if v := m.Stats["inactive_file"]; v < m.Usage {
		return m.Usage - v
	}
	return m.Usage
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
