package supervisor

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"

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
// takes away what a container needs to reach past it. The container names
// the network by id: a name two networks carry (made by two agents at once,
// or before this agent serialized its own) cannot start a container.
func (s *Supervisor) isolate(ctx context.Context, host *container.HostConfig) error {
	if s.opts.Network == "" {
		return nil
	}
	id, err := s.ensureNetwork(ctx)
	if err != nil {
		return err
	}
	host.NetworkMode = container.NetworkMode(id)
	host.SecurityOpt = append(host.SecurityOpt, "no-new-privileges")
	// Raw sockets would let a container forge frames to its neighbours on
	// the bridge (ARP); unprivileged ICMP still works without them.
	host.CapDrop = append(host.CapDrop, "NET_RAW")
	return nil
}

// networkMu serializes the shared network's creation among the homes one
// agent hosts: the engine's check for a duplicate name is best effort, and
// two creates at once leave two networks of one name.
var networkMu sync.Mutex

// ensureNetwork returns the id of the shared network, creating it with
// inter-container traffic off, and refuses a network of that name that
// lets containers talk. Of several of that name, the oldest is used.
func (s *Supervisor) ensureNetwork(ctx context.Context) (string, error) {
	networkMu.Lock()
	defer networkMu.Unlock()
	for range 2 {
		id, err := s.findNetwork(ctx)
		if err != nil || id != "" {
			return id, err
		}
		resp, err := s.d.NetworkCreate(ctx, s.opts.Network, network.CreateOptions{
			Driver:  "bridge",
			Options: map[string]string{iccOption: "false"},
			Labels:  map[string]string{LabelRole: "hosted-network"},
		})
		if err == nil {
			return resp.ID, nil
		}
		if !cerrdefs.IsConflict(err) {
			return "", fmt.Errorf("supervisor: create network %s: %w", s.opts.Network, err)
		}
		// Another agent created it meanwhile: look again.
	}
	return "", fmt.Errorf("supervisor: network %s neither found nor created", s.opts.Network)
}

// findNetwork returns the id of the oldest network named as the options
// say, or "" when there is none.
func (s *Supervisor) findNetwork(ctx context.Context) (string, error) {
	list, err := s.d.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", s.opts.Network))})
	if err != nil {
		return "", fmt.Errorf("supervisor: list networks: %w", err)
	}
	var found *network.Summary
	for i, n := range list {
		if n.Name != s.opts.Network { // the engine's name filter matches a part
			continue
		}
		if n.Driver != "bridge" || n.Options[iccOption] != "false" {
			return "", fmt.Errorf("supervisor: network %s exists but lets its containers reach one another (driver %q, %s=%q)",
				s.opts.Network, n.Driver, iccOption, n.Options[iccOption])
		}
		if found == nil || n.Created.Before(found.Created) {
			found = &list[i]
		}
	}
	if found == nil {
		return "", nil
	}
	return found.ID, nil
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
