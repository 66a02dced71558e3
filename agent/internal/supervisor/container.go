package supervisor

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/go-connections/nat"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// Provision creates the config volume and the container from spec (pulling
// the image when it is missing) and starts it. An existing container is
// replaced; the volume is kept.
func (s *Supervisor) Provision(ctx context.Context, spec Spec) error {
	if spec.Image == "" {
		return errors.New("supervisor: provision: an image is required")
	}
	if err := s.images.check(spec.Image); err != nil {
		return err
	}
	spec = s.withLimits(spec.withDefaults())
	return s.operate("provision", func() error {
		if err := s.ensureImage(ctx, spec.Image); err != nil {
			return err
		}
		if err := s.ensureVolume(ctx, s.volumeName()); err != nil {
			return err
		}
		if old, err := s.find(ctx); err == nil {
			if err := s.d.ContainerRemove(ctx, old, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
				return fmt.Errorf("supervisor: remove previous container: %w", err)
			}
		}
		id, err := s.create(ctx, spec, s.opts.Name)
		if err != nil {
			return err
		}
		s.update(func(p *persisted) {
			p.Spec, p.ContainerID, p.Provisioned, p.WantRunning, p.CrashLoop = spec, id, true, true, false
		})
		s.event(ctx, homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_PROVISIONED, "", nil)
		return s.startLocked(ctx, "provisioned")
	})
}

// create makes (but does not start) a container from spec under name.
func (s *Supervisor) create(ctx context.Context, spec Spec, name string) (string, error) {
	s.mu.Lock()
	s.haVersion = "" // a new container: Home Assistant has not said yet
	s.mu.Unlock()
	port := nat.Port(strconv.Itoa(spec.ContainerPort) + "/tcp")
	cfg := &container.Config{
		Image:  spec.Image,
		Env:    append([]string{}, spec.Env...),
		Labels: s.labels("home-assistant"),
		Cmd:    spec.Cmd,
	}
	if spec.HostPort > 0 && !spec.HostNetwork {
		cfg.Labels[LabelHostPort] = strconv.Itoa(spec.HostPort)
	}
	mem := spec.MemoryBytes
	if mem == 0 {
		mem = s.opts.DefaultMemoryBytes
	}
	var pids *int64
	if s.opts.PidsLimit > 0 {
		pids = &s.opts.PidsLimit
	}
	if spec.TimeZone != "" {
		cfg.Env = append(cfg.Env, "TZ="+spec.TimeZone)
	}
	stop := int(s.opts.StopTimeout / time.Second)
	cfg.StopTimeout = &stop
	host := &container.HostConfig{
		// The agent owns restarts, so Docker must not race it.
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
		Mounts:        []mount.Mount{{Type: mount.TypeVolume, Source: s.volumeName(), Target: "/config"}},
		Resources:     container.Resources{Memory: mem, NanoCPUs: spec.NanoCPUs, PidsLimit: pids},
		LogConfig:     container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "3"}},
	}
	if spec.HostNetwork && s.opts.Network != "" {
		return "", errors.New("supervisor: a hosted home's container cannot share the host's network")
	}
	if spec.HostNetwork {
		host.NetworkMode = "host"
	} else {
		if err := s.isolate(ctx, host); err != nil {
			return "", err
		}
		cfg.ExposedPorts = nat.PortSet{port: {}}
		hp := ""
		if spec.HostPort > 0 {
			hp = strconv.Itoa(spec.HostPort)
		}
		host.PortBindings = nat.PortMap{port: {{HostIP: spec.BindAddress, HostPort: hp}}}
	}
	resp, err := s.d.ContainerCreate(ctx, cfg, host, nil, nil, name)
	if err != nil {
		return "", fmt.Errorf("supervisor: create container: %w", err)
	}
	return resp.ID, nil
}

func (s *Supervisor) ensureVolume(ctx context.Context, name string) error {
	_, err := s.d.VolumeCreate(ctx, volume.CreateOptions{Name: name, Labels: s.labels("config")})
	if err != nil {
		return fmt.Errorf("supervisor: create volume %s: %w", name, err)
	}
	return nil
}

// Start starts the container; it also clears a crash loop.
func (s *Supervisor) Start(ctx context.Context) error {
	return s.operate("start", func() error {
		if _, err := s.current(ctx); err != nil {
			return err
		}
		s.update(func(p *persisted) { p.WantRunning, p.CrashLoop = true, false })
		return s.startLocked(ctx, "start requested")
	})
}

// Stop stops the container with the stop grace; the watchdog leaves a
// requested stop alone.
func (s *Supervisor) Stop(ctx context.Context) error {
	return s.operate("stop", func() error {
		id, err := s.current(ctx)
		if err != nil {
			return err
		}
		s.update(func(p *persisted) { p.WantRunning = false })
		if err := s.stopContainer(ctx, id); err != nil {
			return err
		}
		s.setHealth(HealthUnknown, "stopped")
		s.event(ctx, homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_STOPPED, "stop requested", nil)
		return nil
	})
}

// Restart restarts the container at the user's request, outside the budget.
func (s *Supervisor) Restart(ctx context.Context) error {
	return s.operate("restart", func() error {
		id, err := s.current(ctx)
		if err != nil {
			return err
		}
		s.update(func(p *persisted) { p.WantRunning, p.CrashLoop = true, false })
		if err := s.stopContainer(ctx, id); err != nil {
			return err
		}
		s.record("restart requested")
		return s.startLocked(ctx, "restart requested")
	})
}

// Remove removes the container; the config volume and its snapshot go too
// only with removeData.
func (s *Supervisor) Remove(ctx context.Context, removeData bool) error {
	return s.operate("remove", func() error {
		if id, err := s.find(ctx); err == nil {
			if err := s.stopContainer(ctx, id); err != nil {
				return err
			}
			if err := s.d.ContainerRemove(ctx, id, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
				return fmt.Errorf("supervisor: remove container: %w", err)
			}
		}
		if removeData {
			for _, v := range []string{s.volumeName(), s.snapshotName()} {
				if err := s.d.VolumeRemove(ctx, v, true); err != nil && !cerrdefs.IsNotFound(err) {
					return fmt.Errorf("supervisor: remove volume %s: %w", v, err)
				}
			}
		}
		s.update(func(p *persisted) {
			*p = persisted{Restarts: p.Restarts, TotalRestarts: p.TotalRestarts, Limits: p.Limits}
		})
		s.setHealth(HealthUnknown, "removed")
		reason := "data kept"
		if removeData {
			reason = "data removed"
		}
		s.event(ctx, homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_REMOVED, reason, nil)
		return nil
	})
}

// operate runs one operation with the watchdog standing back.
func (s *Supervisor) operate(name string, fn func() error) error {
	s.op.Lock()
	defer s.op.Unlock()
	s.mu.Lock()
	s.busy = name
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.busy = ""
		s.mu.Unlock()
		s.poke()
	}()
	return fn()
}

func (s *Supervisor) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Supervisor) stopContainer(ctx context.Context, id string) error {
	t := int(s.opts.StopTimeout / time.Second)
	if err := s.d.ContainerStop(ctx, id, container.StopOptions{Timeout: &t}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("supervisor: stop container: %w", err)
	}
	return nil
}

// startLocked starts the owned container; the caller holds s.op.
func (s *Supervisor) startLocked(ctx context.Context, reason string) error {
	id, err := s.current(ctx)
	if err != nil {
		return err
	}
	if err := s.d.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return fmt.Errorf("supervisor: start container: %w", err)
	}
	s.mu.Lock()
	s.started = s.now()
	s.failures = 0
	s.health = HealthStarting
	s.healthErr = ""
	s.mu.Unlock()
	s.event(ctx, homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_STARTED, reason, nil)
	return nil
}

// current returns the owned container's id, or ErrNotProvisioned.
func (s *Supervisor) current(ctx context.Context) (string, error) {
	s.mu.Lock()
	prov := s.st.Provisioned
	s.mu.Unlock()
	if !prov {
		return "", ErrNotProvisioned
	}
	id, err := s.find(ctx)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	if s.st.ContainerID != id {
		s.st.ContainerID = id
		s.saveLocked()
	}
	s.mu.Unlock()
	return id, nil
}

// find looks the container up by name and checks it carries our labels.
func (s *Supervisor) find(ctx context.Context) (string, error) {
	c, err := s.d.ContainerInspect(ctx, s.opts.Name)
	if cerrdefs.IsNotFound(err) {
		return "", ErrNotProvisioned
	}
	if err != nil {
		return "", fmt.Errorf("supervisor: inspect container: %w", err)
	}
	if c.Config == nil || c.Config.Labels[LabelManagedBy] != s.agentID {
		return "", fmt.Errorf("supervisor: container %s exists but is not managed by this agent", s.opts.Name)
	}
	if !validID(c.ID) {
		return "", fmt.Errorf("supervisor: the docker engine gave container %s the id %.80q", s.opts.Name, c.ID)
	}
	return c.ID, nil
}

// Attach re-attaches to the container after an agent start: a running
// container is left alone; a stopped one that should run is started with a
// recorded reason.
func (s *Supervisor) Attach(ctx context.Context) error {
	return s.operate("attach", func() error {
		s.mu.Lock()
		prov, want, loop := s.st.Provisioned, s.st.WantRunning, s.st.CrashLoop
		s.mu.Unlock()
		if !prov {
			return nil
		}
		id, err := s.current(ctx)
		if errors.Is(err, ErrNotProvisioned) && s.reclaim(ctx) {
			id, err = s.current(ctx)
		}
		if errors.Is(err, ErrNotProvisioned) {
			s.log.Warn("provisioned container is gone; provision again to recreate it")
			s.update(func(p *persisted) { p.Provisioned, p.ContainerID = false, "" })
			return nil
		}
		if err != nil {
			return err
		}
		c, err := s.d.ContainerInspect(ctx, id)
		if err != nil {
			return fmt.Errorf("supervisor: inspect container: %w", err)
		}
		if c.State != nil && c.State.Running {
			started, _ := time.Parse(time.RFC3339Nano, c.State.StartedAt)
			s.mu.Lock()
			s.started = started
			s.health = HealthStarting
			s.mu.Unlock()
			s.log.Info("attached to running container", "container_id", shortID(id))
			return nil
		}
		if want && !loop {
			s.record("found stopped when the agent started")
			return s.startLocked(ctx, "found stopped when the agent started")
		}
		return nil
	})
}

// reclaim renames the container an interrupted upgrade set aside back to
// the container's name, when it is ours and nothing has that name.
func (s *Supervisor) reclaim(ctx context.Context) bool {
	c, err := s.d.ContainerInspect(ctx, s.previousName())
	if err != nil || c.Config == nil || c.Config.Labels[LabelManagedBy] != s.agentID ||
		c.Config.Labels[LabelRole] != "home-assistant" || !validID(c.ID) {
		return false
	}
	if err := s.d.ContainerRename(ctx, c.ID, s.opts.Name); err != nil {
		s.log.Error("container set aside by an interrupted upgrade not renamed back", "error", err)
		return false
	}
	s.log.Warn("an upgrade was interrupted; the container it set aside is back under its name", "container_id", shortID(c.ID))
	return true
}

// Sweep removes containers with our labels for this instance that are not
// the owned container, and those of other agents' names on this host that
// carry this agent's id: leftovers of interrupted upgrades or old installs.
func (s *Supervisor) Sweep(ctx context.Context) (int, error) {
	list, err := s.d.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", LabelManagedBy+"="+s.agentID))})
	if err != nil {
		return 0, fmt.Errorf("supervisor: list containers: %w", err)
	}
	s.op.Lock()
	defer s.op.Unlock()
	s.mu.Lock()
	own := s.st.ContainerID
	s.mu.Unlock()
	n := 0
	for _, c := range list {
		if c.ID == own || c.Labels[LabelRole] != "home-assistant" {
			continue
		}
		if own == "" && hasName(c.Names, s.opts.Name) {
			continue
		}
		if err := s.d.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			return n, fmt.Errorf("supervisor: remove orphan %s: %w", shortID(c.ID), err)
		}
		n++
		s.event(ctx, homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_SWEPT, "orphaned container "+strings.Join(c.Names, ","), func(e *homeplanev1.InstanceEvent) { e.ContainerId = c.ID })
	}
	return n, nil
}

// validID reports whether id is a full container id, 64 lower-case hex
// digits, as every engine gives them.
func validID(id string) bool {
	if len(id) != 64 {
		return false
	}
	for _, r := range id {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

func hasName(names []string, name string) bool {
	for _, n := range names {
		if strings.TrimPrefix(n, "/") == name {
			return true
		}
	}
	return false
}
