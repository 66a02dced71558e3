package supervisor

import (
	"context"
	"fmt"
	"net"
	"strconv"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
)

// Defaults of a home hosted beside others (ADR 0067).
const (
	// HostedNetwork is the bridge network every hosted home's container
	// joins; its containers cannot reach one another.
	HostedNetwork = "homeplane-hosted"
	// HostedMemoryBytes limits a hosted container no one gave a limit.
	HostedMemoryBytes = 512 << 20
	// HostedPidsLimit bounds a hosted container's processes and threads.
	HostedPidsLimit = 4096
	// LabelHostPort names the host port a container publishes, so that a
	// stopped container's port is not handed to another home.
	LabelHostPort = "io.homeplane.host-port"

	iccOption = "com.docker.network.bridge.enable_icc"
)

// HostedOptions are o for one home hosted beside others: its container
// joins HostedNetwork, runs without new privileges or raw sockets, and is
// bounded in memory and processes whatever central or the spec say.
func HostedOptions(o Options) Options {
	if o.Network == "" {
		o.Network = HostedNetwork
	}
	if o.DefaultMemoryBytes == 0 {
		o.DefaultMemoryBytes = HostedMemoryBytes
	}
	if o.PidsLimit == 0 {
		o.PidsLimit = HostedPidsLimit
	}
	return o
}

// isolate puts host on the options' network, creating it when missing, and
// takes away what a container needs to reach past it.
func (s *Supervisor) isolate(ctx context.Context, host *container.HostConfig) error {
	if s.opts.Network == "" {
		return nil
	}
	if err := s.ensureNetwork(ctx); err != nil {
		return err
	}
	host.NetworkMode = container.NetworkMode(s.opts.Network)
	host.SecurityOpt = append(host.SecurityOpt, "no-new-privileges")
	// Raw sockets would let a container forge frames to its neighbours on
	// the bridge (ARP); unprivileged ICMP still works without them.
	host.CapDrop = append(host.CapDrop, "NET_RAW")
	return nil
}

// ensureNetwork creates the shared network with inter-container traffic
// off, and refuses one of that name that lets containers talk.
func (s *Supervisor) ensureNetwork(ctx context.Context) error {
	for range 2 {
		n, err := s.d.NetworkInspect(ctx, s.opts.Network, network.InspectOptions{})
		if err == nil {
			if n.Driver != "bridge" || n.Options[iccOption] != "false" {
				return fmt.Errorf("supervisor: network %s exists but lets its containers reach one another (driver %q, %s=%q)",
					s.opts.Network, n.Driver, iccOption, n.Options[iccOption])
			}
			return nil
		}
		if !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("supervisor: inspect network %s: %w", s.opts.Network, err)
		}
		_, err = s.d.NetworkCreate(ctx, s.opts.Network, network.CreateOptions{
			Driver:  "bridge",
			Options: map[string]string{iccOption: "false"},
			Labels:  map[string]string{LabelRole: "hosted-network"},
		})
		if err == nil {
			return nil
		}
		if !cerrdefs.IsConflict(err) {
			return fmt.Errorf("supervisor: create network %s: %w", s.opts.Network, err)
		}
		// Another home created it meanwhile: look again.
	}
	return fmt.Errorf("supervisor: network %s neither found nor created", s.opts.Network)
}

// PortHeld reports whether port is taken on this host: something listens on
// it, or a container of any agent here publishes it, running or not.
func PortHeld(ctx context.Context, d Docker, port int) (bool, error) {
	l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return true, nil
	}
	l.Close()
	list, err := d.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", LabelHostPort+"="+strconv.Itoa(port)))})
	if err != nil {
		return true, fmt.Errorf("supervisor: list containers: %w", err)
	}
	return len(list) > 0, nil
}
