package supervisor

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

func (s *Supervisor) snapshotName() string { return s.opts.Name + "-config-snapshot" }

// Upgrade replaces the container with one running ref. The config volume is
// snapshotted first; when the new version is not healthy within
// UpgradeDeadline, the snapshot is restored and the previous image runs
// again, and the error wraps ErrRolledBack with the reason.
func (s *Supervisor) Upgrade(ctx context.Context, ref string) error {
	if ref == "" {
		return errors.New("supervisor: upgrade: an image is required")
	}
	if err := s.images.check(ref); err != nil {
		return err
	}
	return s.operate("upgrade", func() error {
		id, err := s.current(ctx)
		if err != nil {
			return err
		}
		if err := s.ensureImage(ctx, ref); err != nil {
			return err
		}
		old := s.spec()
		next := old
		next.Image = ref
		if err := s.stopContainer(ctx, id); err != nil {
			return err
		}
		// Once stopped, Home Assistant is brought back even when the
		// caller's deadline ran out on the way.
		back := func() context.Context {
			c, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.UpgradeDeadline)
			context.AfterFunc(c, cancel) // the timer ends with c; nothing leaks
			return c
		}
		if err := s.snapshot(ctx, old.Image); err != nil {
			// Nothing changed yet: bring the old version back.
			if serr := s.startLocked(back(), "upgrade aborted"); serr != nil {
				s.log.Error("home assistant not started again after an aborted upgrade", "error", serr)
			}
			return err
		}
		s.update(func(p *persisted) { p.Snapshot = s.snapshotName() })
		// The old container is kept, renamed, until the new version is
		// healthy: an engine refusing the new container's create (or the
		// rollback's) must not leave no container at all.
		if err := s.d.ContainerRename(ctx, id, s.previousName()); err != nil {
			if serr := s.startLocked(back(), "upgrade aborted"); serr != nil {
				s.log.Error("home assistant not started again after an aborted upgrade", "error", serr)
			}
			return fmt.Errorf("supervisor: upgrade: set the old container aside: %w", err)
		}
		nid, err := s.create(ctx, next, s.opts.Name)
		if err != nil {
			return s.rollback(back(), id, "", false, old, err.Error())
		}
		s.update(func(p *persisted) { p.ContainerID = nid })
		if err := s.startLocked(ctx, "starting "+next.Image); err != nil {
			return s.rollback(back(), id, nid, false, old, err.Error())
		}
		if err := s.waitHealthy(ctx, s.opts.UpgradeDeadline); err != nil {
			return s.rollback(back(), id, nid, true, old, err.Error())
		}
		if err := s.d.ContainerRemove(ctx, id, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			s.log.Warn("old container not removed after the upgrade; the sweep removes it", "container_id", shortID(id), "error", err)
		}
		s.update(func(p *persisted) { p.Spec = next })
		s.event(ctx, homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_UPGRADED, "from "+old.Image, nil)
		return nil
	})
}

// previousName is the name the old container waits under during an upgrade.
func (s *Supervisor) previousName() string { return s.opts.Name + "-previous" }

// rollback removes the new container nid (when one was created), puts the
// old container oldID back under the container's name and starts it. When
// the new version ran, it may have changed the config volume: the snapshot
// is restored first, which needs the old container removed (a volume in
// use cannot be), so the old spec is created again.
func (s *Supervisor) rollback(ctx context.Context, oldID, nid string, ran bool, old Spec, reason string) error {
	reason = "new version not healthy: " + reason
	s.log.Warn("upgrade failed; rolling back", "reason", reason, "image", old.Image)
	if nid != "" && nid != oldID {
		if err := s.d.ContainerRemove(ctx, nid, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("supervisor: rollback: remove new container: %w", err)
		}
	}
	if !ran {
		// The new version never ran: the config is as the snapshot holds it.
		if err := s.d.ContainerRename(ctx, oldID, s.opts.Name); err != nil {
			return fmt.Errorf("supervisor: rollback: rename the old container back: %w", err)
		}
		s.update(func(p *persisted) { p.ContainerID, p.Spec = oldID, old })
	} else {
		if err := s.d.ContainerRemove(ctx, oldID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("supervisor: rollback: remove old container: %w", err)
		}
		if err := s.restoreVolume(ctx, old.Image); err != nil {
			// Home Assistant on the config the new version left beats none.
			s.log.Error("config snapshot not restored; the old version starts on the config as it is", "error", err)
			reason += "; config snapshot not restored: " + err.Error()
		}
		id, err := s.create(ctx, old, s.opts.Name)
		if err != nil {
			return fmt.Errorf("supervisor: rollback: %w", err)
		}
		s.update(func(p *persisted) { p.ContainerID, p.Spec = id, old })
	}
	if err := s.startLocked(ctx, "rolled back"); err != nil {
		return fmt.Errorf("supervisor: rollback: %w", err)
	}
	s.event(ctx, homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_ROLLED_BACK, reason, func(e *homeplanev1.InstanceEvent) { e.Image = old.Image })
	return fmt.Errorf("%w: %s", ErrRolledBack, reason)
}

// Restore puts the config volume back to the last snapshot and starts the
// current image on it.
func (s *Supervisor) Restore(ctx context.Context) error {
	return s.operate("restore", func() error {
		id, err := s.current(ctx)
		if err != nil {
			return err
		}
		spec := s.spec()
		if err := s.d.ContainerRemove(ctx, id, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("supervisor: restore: %w", err)
		}
		if err := s.restoreVolume(ctx, spec.Image); err != nil {
			return err
		}
		nid, err := s.create(ctx, spec, s.opts.Name)
		if err != nil {
			return err
		}
		s.update(func(p *persisted) { p.ContainerID = nid })
		return s.startLocked(ctx, "config restored from snapshot")
	})
}

// waitHealthy polls until Home Assistant answers, the container exits, or
// the deadline passes.
func (s *Supervisor) waitHealthy(ctx context.Context, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	tick := time.NewTicker(min(s.opts.ProbeInterval, 250*time.Millisecond))
	defer tick.Stop()
	var last error = errors.New("no answer yet")
	for {
		c, err := s.d.ContainerInspect(ctx, s.opts.Name)
		if err == nil && c.State != nil {
			if !c.State.Running && !c.State.Restarting {
				return fmt.Errorf("container exited with code %d", c.State.ExitCode)
			}
			if last = s.probeHTTP(ctx, s.baseURL(c)); last == nil {
				s.setHealth(HealthHealthy, "")
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w within %v: %v", ErrUnhealthy, within, last)
		case <-tick.C:
		}
	}
}

// snapshot copies the config volume into the snapshot volume through a
// helper container that is created but never started, so no tool inside
// the image is needed.
func (s *Supervisor) snapshot(ctx context.Context, img string) error {
	if err := s.d.VolumeRemove(ctx, s.snapshotName(), true); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("supervisor: snapshot: clear: %w", err)
	}
	if err := s.ensureVolume(ctx, s.snapshotName()); err != nil {
		return err
	}
	return s.copyVolume(ctx, img, s.volumeName(), s.snapshotName())
}

// restoreVolume recreates the config volume from the snapshot.
func (s *Supervisor) restoreVolume(ctx context.Context, img string) error {
	if err := s.d.VolumeRemove(ctx, s.volumeName(), true); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("supervisor: restore: clear config volume: %w", err)
	}
	if err := s.ensureVolume(ctx, s.volumeName()); err != nil {
		return err
	}
	return s.copyVolume(ctx, img, s.snapshotName(), s.volumeName())
}

func (s *Supervisor) copyVolume(ctx context.Context, img, from, to string) error {
	// The archive streams have no end of their own: an engine may stall
	// or trickle them forever.
	ctx, cancel := context.WithTimeout(ctx, s.opts.SnapshotTimeout)
	defer cancel()
	h, err := s.d.ContainerCreate(ctx, &container.Config{Image: img, Labels: s.labels("helper")}, &container.HostConfig{
		Mounts: []mount.Mount{
			{Type: mount.TypeVolume, Source: from, Target: "/from"},
			{Type: mount.TypeVolume, Source: to, Target: "/to"},
		},
	}, nil, nil, "")
	if err != nil {
		return fmt.Errorf("supervisor: copy volume: helper: %w", err)
	}
	defer func() {
		_ = s.d.ContainerRemove(context.WithoutCancel(ctx), h.ID, container.RemoveOptions{Force: true})
	}()
	rc, _, err := s.d.CopyFromContainer(ctx, h.ID, "/from")
	if err != nil {
		return fmt.Errorf("supervisor: copy volume: read: %w", err)
	}
	defer rc.Close()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(rebase(rc, pw, "from")) }()
	if err := s.d.CopyToContainer(ctx, h.ID, "/to", pr, container.CopyToContainerOptions{}); err != nil {
		pr.CloseWithError(err)
		return fmt.Errorf("supervisor: copy volume: write: %w", err)
	}
	return nil
}

// rebase rewrites a tar stream whose entries sit under dir/ so they sit at
// the root, dropping dir itself.
func rebase(r io.Reader, w io.Writer, dir string) error {
	tr, tw := tar.NewReader(r), tar.NewWriter(w)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return tw.Close()
		}
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(strings.TrimPrefix(h.Name, "./"), dir)
		name = strings.TrimPrefix(name, "/")
		if name == "" {
			continue
		}
		h.Name = name
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}
