package homeassistant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Change is one thing Watch saw happen.
type Change struct {
	EntityID string
	// New is the entity's new state; nil means the entity was removed.
	New *State
	// RegistryChanged: an area, floor, device or entity registry entry
	// changed; the caller re-reads Registry. EntityID is set when the event
	// named one.
	RegistryChanged bool
}

type eventWire struct {
	EventType string          `json:"event_type"`
	Data      json.RawMessage `json:"data"`
}

type stateChangedData struct {
	EntityID string          `json:"entity_id"`
	NewState json.RawMessage `json:"new_state"`
}

// decodeEvent turns an event payload into a Change; ok is false for events
// that do not concern the caller.
func decodeEvent(raw json.RawMessage) (Change, bool, error) {
	var ev eventWire
	if err := json.Unmarshal(raw, &ev); err != nil {
		return Change{}, false, fmt.Errorf("home assistant: event: %w", err)
	}
	switch ev.EventType {
	case "state_changed":
		var d stateChangedData
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return Change{}, false, fmt.Errorf("home assistant: state_changed: %w", err)
		}
		if d.EntityID == "" {
			return Change{}, false, errors.New("home assistant: state_changed without entity_id")
		}
		ch := Change{EntityID: d.EntityID}
		if len(d.NewState) > 0 && string(d.NewState) != "null" {
			var st State
			if err := json.Unmarshal(d.NewState, &st); err != nil {
				return Change{}, false, fmt.Errorf("home assistant: state_changed %s: %w", d.EntityID, err)
			}
			ch.New = &st
		}
		return ch, true, nil
	case "entity_registry_updated", "area_registry_updated", "floor_registry_updated", "device_registry_updated":
		var d struct {
			EntityID string `json:"entity_id"`
		}
		_ = json.Unmarshal(ev.Data, &d) // the entity id is a hint only
		return Change{EntityID: d.EntityID, RegistryChanged: true}, true, nil
	}
	return Change{}, false, nil
}

// Watch follows state changes and registry updates over one WebSocket
// session, calling fn for each in order, from a single goroutine; fn should
// return quickly, since Home Assistant drops clients that fall behind. Watch
// blocks until ctx ends (returning ctx.Err()) or the connection is lost or
// stops answering (returning the reason); the caller reconnects and re-reads
// the Registry, since changes in between are not replayed.
func (c *Client) Watch(ctx context.Context, fn func(Change)) error {
	setup, cancelSetup := withDefaultTimeout(ctx)
	s, err := c.dial(setup)
	if err != nil {
		cancelSetup()
		return fmt.Errorf("watch: %w", err)
	}
	defer s.close()
	for _, evType := range watchedEvents {
		if _, err := s.command(setup, "subscribe_events", map[string]any{"event_type": evType}); err != nil {
			cancelSetup()
			return fmt.Errorf("watch: subscribe %s: %w", evType, err)
		}
	}
	cancelSetup()
	c.log.Debug("watching home assistant", "version", s.version)
	// Service calls use this connection until it ends.
	s.serve()
	c.live.Store(s)
	defer s.lose()
	defer c.live.CompareAndSwap(s, nil)

	// A heartbeat notices a connection that died without closing.
	s.seen()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stale atomic.Bool
	go func() {
		t := time.NewTicker(pingInterval)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
			}
			if s.quietFor() > 2*pingInterval {
				stale.Store(true)
				cancel()
				return
			}
			wctx, wcancel := context.WithTimeout(runCtx, pingInterval)
			_, err := s.send(wctx, "ping", nil)
			wcancel()
			if err != nil {
				cancel()
				return
			}
		}
	}()
	for {
		m, err := s.read(runCtx)
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return ctx.Err()
			case stale.Load():
				return errors.New("watch: home assistant stopped answering")
			}
			return fmt.Errorf("watch: connection lost: %w", err)
		}
		s.seen()
		switch m.Type {
		case "result":
			s.settle(m)
			continue
		case "event":
		case "auth_invalid":
			return fmt.Errorf("watch: %w", revoked(m))
		default:
			continue
		}
		ch, ok, err := decodeEvent(m.Event)
		if err != nil {
			c.log.Warn("skipping malformed event", "err", err)
			continue
		}
		if !ok {
			continue
		}
		if ch.New != nil {
			s.changed(*ch.New)
		}
		fn(ch)
	}
}
