package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"

	"github.com/homeplane/homeplane/agent/internal/dispatch"
	"github.com/homeplane/homeplane/agent/internal/homeassistant"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// homeAssistant is what the agent's wiring needs from Home Assistant.
type homeAssistant interface {
	Config(ctx context.Context) (homeassistant.Config, error)
	CallService(ctx context.Context, domain, service string, data map[string]any) ([]homeassistant.State, error)
	Registry(ctx context.Context) (homeassistant.Registry, error)
	Watch(ctx context.Context, fn func(homeassistant.Change)) error
}

var _ homeAssistant = (*homeassistant.Client)(nil)

// known holds the registry facts of the last full sync, so that states
// (from deltas and command results) carry names, areas and aliases too.
type known struct {
	mu sync.RWMutex
	by map[string]facts
}

// facts are an entity's registry facts: what a bare state lacks. Only these
// are kept, not the states and attributes, which can be most of a large
// home's registry.
type facts struct {
	name, domain, deviceClass, areaID string
	aliases                           []string
}

func (k *known) set(entities []*homeplanev1.Entity) {
	by := make(map[string]facts, len(entities))
	for _, e := range entities {
		by[e.GetEntityId()] = facts{name: e.GetName(), domain: e.GetDomain(), deviceClass: e.GetDeviceClass(),
			areaID: e.GetAreaId(), aliases: e.GetAliases()}
	}
	k.mu.Lock()
	k.by = by
	k.mu.Unlock()
}

// get returns the facts of an entity of the last full sync.
func (k *known) get(id string) (facts, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	f, ok := k.by[id]
	return f, ok
}

// caller adapts the Home Assistant client to dispatch.HomeAssistant.
type caller struct {
	ha    homeAssistant
	known *known
}

var _ dispatch.HomeAssistant = (*caller)(nil)

func (c *caller) CallService(ctx context.Context, domain, service string, data map[string]any) ([]*homeplanev1.Entity, error) {
	states, err := c.ha.CallService(ctx, domain, service, data)
	out := make([]*homeplanev1.Entity, 0, len(states))
	for _, s := range states {
		out = append(out, stateProto(s, c.known))
	}
	if err != nil && unreachable(err) {
		return out, fmt.Errorf("%w: %w", dispatch.ErrUnavailable, err)
	}
	return out, err
}

// unreachable reports whether err means Home Assistant could not be reached
// or is starting, rather than that it refused the call.
func unreachable(err error) bool {
	var ne net.Error
	var ue *url.Error
	var oe *net.OpError
	return errors.Is(err, homeassistant.ErrUnavailable) || errors.As(err, &oe) || errors.As(err, &ue) || (errors.As(err, &ne) && !errors.Is(err, context.DeadlineExceeded))
}
