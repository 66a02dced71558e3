// Package entitysync keeps central's copy of the home's entity registry
// current: a full sync on every connect and whenever the registry itself
// changes, and debounced deltas from Home Assistant's state changes in
// between.
package entitysync

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/homeplane/homeplane/agent/internal/backoff"
	"github.com/homeplane/homeplane/agent/internal/homeassistant"
	"github.com/homeplane/homeplane/agent/internal/uplink"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
)

// Publisher is how the syncer reaches central.
type Publisher interface {
	Publish(ctx context.Context, kind topic.Kind, msg proto.Message) error
}

var _ Publisher = (*uplink.Uplink)(nil)

// HomeAssistant is what the syncer reads from Home Assistant.
type HomeAssistant interface {
	Config(ctx context.Context) (homeassistant.Config, error)
	Registry(ctx context.Context) (homeassistant.Registry, error)
	Watch(ctx context.Context, fn func(homeassistant.Change)) error
}

var _ HomeAssistant = (*homeassistant.Client)(nil)

// maxPending bounds the changes batched between flushes; beyond it a full
// sync is cheaper than a huge delta.
const maxPending = 2000

// Syncer publishes the home's entity registry to central. It records the
// registry facts and Home Assistant's version of each full sync in Facts.
type Syncer struct {
	ha       HomeAssistant
	pub      Publisher
	facts    *homeassistant.Facts
	log      *slog.Logger
	debounce time.Duration
	// retry bounds the delay before retrying a failed full sync or Watch.
	retryMin, retryMax time.Duration

	full    chan struct{} // a full sync is wanted
	changed chan struct{} // pending holds something

	mu              sync.Mutex
	pending         map[string]*homeassistant.State // nil: removed
	registryChanged bool
}

// New returns a Syncer reading ha and publishing through pub.
func New(ha HomeAssistant, pub Publisher, facts *homeassistant.Facts, log *slog.Logger) *Syncer {
	return &Syncer{
		ha: ha, pub: pub, facts: facts, log: log,
		debounce: 250 * time.Millisecond,
		retryMin: time.Second, retryMax: time.Minute,
		full:    make(chan struct{}, 1),
		changed: make(chan struct{}, 1),
		pending: map[string]*homeassistant.State{},
	}
}

// RequestFull asks for a full sync soon; requests coalesce.
func (s *Syncer) RequestFull() {
	select {
	case s.full <- struct{}{}:
	default:
	}
}

// onChange is Watch's callback: it only records, the loop publishes.
func (s *Syncer) onChange(c homeassistant.Change) {
	s.mu.Lock()
	switch {
	case c.RegistryChanged:
		s.registryChanged = true
	case c.EntityID != "":
		s.pending[c.EntityID] = c.New
		if len(s.pending) > maxPending {
			s.registryChanged = true
			clear(s.pending)
		}
	}
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// Run publishes syncs until ctx ends, and follows Home Assistant's changes.
func (s *Syncer) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { s.watch(ctx) })
	defer wg.Wait()

	var flushC, retryC <-chan time.Time
	failures := 0
	for {
		full := false
		select {
		case <-ctx.Done():
			return
		case <-s.full:
			full = true
		case <-retryC:
			retryC = nil
			full = true
		case <-s.changed:
			// Batch: the first change starts the clock, later ones ride along.
			if flushC == nil {
				flushC = time.After(s.debounce)
			}
			continue
		case <-flushC:
			flushC = nil
			full = s.flushDelta(ctx)
		}
		if !full {
			continue
		}
		if err := s.fullSync(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			d := backoff.Jittered(failures, s.retryMin, s.retryMax)
			s.log.Warn("entity sync failed", "error", err, "retry_in", d.Round(time.Millisecond))
			retryC = time.After(d)
			continue
		}
		failures = 0
		retryC = nil
	}
}

// fullSync publishes the whole registry. A publish that fails because the
// uplink is down is not an error: the next connect asks for a full sync.
func (s *Syncer) fullSync(ctx context.Context) error {
	s.mu.Lock()
	// The snapshot about to be read includes everything pending.
	clear(s.pending)
	s.registryChanged = false
	s.mu.Unlock()

	if cfg, err := s.ha.Config(ctx); err == nil {
		s.facts.SetVersion(cfg.Version)
	}
	reg, err := s.ha.Registry(ctx)
	if err != nil {
		return err
	}
	msg, dropped := homeassistant.FullSync(reg)
	if dropped > 0 {
		s.log.Warn("entities left out of the sync: past central's bounds", "dropped", dropped, "sent", len(msg.Entities))
	}
	s.facts.SetEntities(msg.Entities)
	err = s.pub.Publish(ctx, topic.Entities, msg)
	switch {
	case errors.Is(err, uplink.ErrDisconnected):
		s.log.Debug("full entity sync deferred until connected")
		return nil
	case err != nil:
		return err
	}
	s.log.Info("full entity sync sent", "entities", len(msg.Entities), "areas", len(msg.Areas), "floors", len(msg.Floors))
	return nil
}

// flushDelta publishes the pending changes; it reports whether a full sync
// is needed instead.
func (s *Syncer) flushDelta(ctx context.Context) (full bool) {
	s.mu.Lock()
	if s.registryChanged {
		s.mu.Unlock()
		return true
	}
	pending := s.pending
	s.pending = map[string]*homeassistant.State{}
	s.mu.Unlock()
	if len(pending) == 0 {
		return false
	}
	var changed []*homeplanev1.Entity
	var removed []string
	for id, st := range pending {
		if st == nil {
			removed = append(removed, id)
			continue
		}
		changed = append(changed, s.facts.Entity(*st))
	}
	msg, fits := homeassistant.Delta(changed, removed)
	if !fits {
		// A full sync is fitted within the bound; a delta is not cut.
		return true
	}
	if len(msg.Entities) == 0 && len(msg.RemovedEntityIds) == 0 {
		return false
	}
	err := s.pub.Publish(ctx, topic.Entities, msg)
	switch {
	case errors.Is(err, uplink.ErrDisconnected):
		// Dropped: the full sync on reconnect carries it.
		return false
	case err != nil:
		s.log.Warn("entity delta not sent; resyncing", "error", err)
		return true
	}
	s.log.Debug("entity delta sent", "changed", len(msg.Entities), "removed", len(msg.RemovedEntityIds))
	return false
}

// watch follows Home Assistant's changes, reconnecting with backoff. Each
// (re)start asks for a full sync, since changes during the gap are lost.
func (s *Syncer) watch(ctx context.Context) {
	failures := 0
	for {
		s.RequestFull()
		start := time.Now()
		err := s.ha.Watch(ctx, s.onChange)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > s.retryMax {
			failures = 0
		}
		failures++
		d := backoff.Jittered(failures, s.retryMin, s.retryMax)
		s.log.Warn("home assistant watch ended", "error", err, "retry_in", d.Round(time.Millisecond))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
