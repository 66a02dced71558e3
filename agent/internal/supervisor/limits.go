package supervisor

import (
	"context"
	"errors"
	"fmt"

	"github.com/docker/docker/api/types/container"
)

// Limits bound the container's CPU and memory; 0 means no limit.
type Limits struct {
	MemoryBytes int64 `json:"memory_bytes"`
	NanoCPUs    int64 `json:"nano_cpus"`
}

// SetLimits changes the container's limits where it runs, without a
// restart, and keeps them for every later provision, which they win over
// the spec's. Docker cannot lift a limit in place: a limit set to 0 is
// lifted when the container is next provisioned.
func (s *Supervisor) SetLimits(ctx context.Context, l Limits) error {
	if l.MemoryBytes < 0 || l.NanoCPUs < 0 {
		return errors.New("supervisor: limits must not be negative")
	}
	return s.operate("limits", func() error {
		s.update(func(p *persisted) {
			p.Limits = &l
			p.Spec.MemoryBytes, p.Spec.NanoCPUs = l.MemoryBytes, l.NanoCPUs
		})
		id, err := s.find(ctx)
		if errors.Is(err, ErrNotProvisioned) {
			return nil // the next provision uses them
		}
		if err != nil {
			return err
		}
		r := container.Resources{NanoCPUs: l.NanoCPUs}
		mem := l.MemoryBytes
		if mem == 0 {
			mem = s.opts.DefaultMemoryBytes
		}
		if mem > 0 {
			// What Docker gives a container created with a memory limit
			// only: as much swap again.
			r.Memory, r.MemorySwap = mem, 2*mem
		}
		if r.Memory == 0 && r.NanoCPUs == 0 {
			return nil
		}
		if _, err := s.d.ContainerUpdate(ctx, id, container.UpdateConfig{Resources: r}); err != nil {
			return fmt.Errorf("supervisor: update container limits: %w", err)
		}
		s.log.Info("container limits changed", "memory_bytes", l.MemoryBytes, "nano_cpus", l.NanoCPUs)
		return nil
	})
}

// withLimits is spec with the limits SetLimits kept, if any.
func (s *Supervisor) withLimits(spec Spec) Spec {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.st.Limits; l != nil {
		spec.MemoryBytes, spec.NanoCPUs = l.MemoryBytes, l.NanoCPUs
	}
	return spec
}
