// Package instance keeps the latest status of every home's Home Assistant
// container as the agents report it: state, health, image, version, restarts
// with their reasons, the last resource sample, and the lifecycle operation
// under way with its image pull progress. It holds the status in memory,
// persists it through a Store, and exports the resource samples per home to
// Prometheus.
package instance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// ErrUnknownHome means the home does not exist (any more); the store refuses
// to keep a status for it.
var ErrUnknownHome = errors.New("instance: unknown home")

// Bounds on what an agent's report may make central keep.
const (
	maxTextLen   = 512 // image references, reasons, versions
	maxStateLen  = 32  // state, health, mode, event kinds
	staleOpAfter = 2 * time.Hour
)

// Restart is one restart of the container and why it happened.
type Restart struct {
	Time   time.Time
	Reason string
}

// Record is one home's persisted status.
type Record struct {
	HomeID string
	// Status without Operation; RecentRestarts as kept in history.
	Status *homeplanev1.Instance
}

// Store persists the latest status per home and a bounded restart history.
type Store interface {
	// LoadInstances returns every stored status with its restart history.
	LoadInstances(ctx context.Context) ([]Record, error)
	// SaveInstance upserts the status, adds the new restarts and keeps only
	// the newest keep restarts of the home. ErrUnknownHome when the home is gone.
	SaveInstance(ctx context.Context, homeID string, status *homeplanev1.Instance, added []Restart, keep int) error
	// ForgetInstance drops the home's status and history.
	ForgetInstance(ctx context.Context, homeID string) error
	// InstanceHomes lists the homes with a stored status; a deleted home's
	// status goes with it.
	InstanceHomes(ctx context.Context) ([]string, error)
}

// Options tunes a Service; zero values take the defaults in brackets.
type Options struct {
	Logger     *slog.Logger          // (discard)
	Registerer prometheus.Registerer // (a private registry)
	// PersistInterval is how often a status whose only news is a resource
	// sample is written to the store (1m); any other change is written at once.
	PersistInterval time.Duration
	// HistoryLen bounds the restarts kept per home (20).
	HistoryLen int
	// Now is the clock (time.Now).
	Now func() time.Time
}

// Service holds every home's latest instance status.
type Service struct {
	store           Store
	log             *slog.Logger
	m               *metrics
	persistInterval time.Duration
	historyLen      int
	now             func() time.Time

	mu    sync.Mutex
	homes map[string]*entry
}

// entry is what the service knows about one home.
type entry struct {
	status    *homeplanev1.Instance // never nil; Operation kept apart
	restarts  []Restart             // oldest first, bounded
	op        *homeplanev1.InstanceOperation
	opByRPC   bool // begun by a ControlInstance call, ended by it too
	savedAt   time.Time
	savedSign string // the status fields that force a write when they change
	created   time.Time
	// authFailed: Home Assistant refuses the agent's token (an
	// ha_auth_failed event, not yet followed by ha_auth_ok or onboarded).
	// The health shows it until then, whatever the container's probe says.
	authFailed bool
}

// HealthAuthFailed is the health of an instance that runs but refuses the
// agent's token: the home cannot be controlled until an operator acts.
const HealthAuthFailed = "auth_failed"

// New returns a Service on store. Call Load before serving.
func New(store Store, opts Options) (*Service, error) {
	if store == nil {
		return nil, errors.New("instance: nil store")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.PersistInterval <= 0 {
		opts.PersistInterval = time.Minute
	}
	if opts.HistoryLen <= 0 {
		opts.HistoryLen = 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("instance: metrics: %w", err)
	}
	return &Service{
		store: store, log: opts.Logger, m: m, persistInterval: opts.PersistInterval,
		historyLen: opts.HistoryLen, now: opts.Now, homes: make(map[string]*entry),
	}, nil
}

// Load reads every stored status into memory.
func (s *Service) Load(ctx context.Context) error {
	recs, err := s.store.LoadInstances(ctx)
	if err != nil {
		return fmt.Errorf("instance: load: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		e := &entry{status: r.Status, savedAt: s.now(), authFailed: r.Status.GetHealth() == HealthAuthFailed}
		for _, rs := range r.Status.GetRecentRestarts() {
			e.restarts = append(e.restarts, Restart{Time: rs.GetTime().AsTime(), Reason: rs.GetReason()})
		}
		r.Status.RecentRestarts = nil
		e.savedSign = sign(e.status)
		s.homes[r.HomeID] = e
		s.m.set(r.HomeID, e.status)
	}
	return nil
}

// Get returns a copy of the home's latest status, with the operation under
// way; false when the home's agent never reported one.
func (s *Service) Get(homeID string) (*homeplanev1.Instance, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.homes[homeID]
	if e == nil {
		return nil, false
	}
	out := proto.Clone(e.status).(*homeplanev1.Instance)
	for _, r := range slices.Backward(e.restarts) {
		out.RecentRestarts = append(out.RecentRestarts, &homeplanev1.Restart{Time: timestamppb.New(r.Time), Reason: r.Reason})
	}
	if e.op != nil && s.now().Sub(e.op.GetStartedAt().AsTime()) < staleOpAfter {
		out.Operation = proto.Clone(e.op).(*homeplanev1.InstanceOperation)
	}
	return out, true
}

// Instance is Get under the name the admin listing asks for.
func (s *Service) Instance(homeID string) (*homeplanev1.Instance, bool) { return s.Get(homeID) }

// Forget drops everything known about a deleted home.
func (s *Service) Forget(ctx context.Context, homeID string) error {
	s.forgetMemory(homeID)
	if err := s.store.ForgetInstance(ctx, homeID); err != nil {
		return fmt.Errorf("instance: forget: %w", err)
	}
	return nil
}

func (s *Service) forgetMemory(homeID string) {
	s.mu.Lock()
	delete(s.homes, homeID)
	s.mu.Unlock()
	s.m.forget(homeID)
}

// Begin marks a lifecycle operation as under way, so a status read while it
// runs shows it (and its pull progress).
func (s *Service) Begin(homeID string, action homeplanev1.InstanceAction, image string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entryLocked(homeID)
	e.op = &homeplanev1.InstanceOperation{Action: action, Image: clip(image, maxTextLen), StartedAt: timestamppb.New(s.now())}
	e.opByRPC = true
}

// End clears the operation Begin marked.
func (s *Service) End(homeID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.homes[homeID]; e != nil {
		e.op, e.opByRPC = nil, false
	}
}

// entryLocked returns the home's entry, creating an empty one.
func (s *Service) entryLocked(homeID string) *entry {
	e := s.homes[homeID]
	if e == nil {
		e = &entry{status: &homeplanev1.Instance{State: "unknown", Health: "unknown"}, created: s.now()}
		s.homes[homeID] = e
	}
	return e
}

// sign is the part of a status whose change is written at once.
func sign(in *homeplanev1.Instance) string {
	return fmt.Sprintf("%s|%s|%s|%s|%s|%d|%d|%s|%s", in.GetState(), in.GetHealth(), in.GetMode(), in.GetImage(),
		in.GetVersion(), in.GetStartedAt().AsTime().UnixMicro(), in.GetRestarts(), in.GetLastEvent(), in.GetLastEventReason())
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Prune forgets the homes whose stored status is gone, which is what
// deleting a home does. Entries younger than minAge are kept: their first
// write may still be on its way.
func (s *Service) Prune(ctx context.Context, minAge time.Duration) (int, error) {
	ids, err := s.store.InstanceHomes(ctx)
	if err != nil {
		return 0, fmt.Errorf("instance: prune: %w", err)
	}
	stored := make(map[string]bool, len(ids))
	for _, id := range ids {
		stored[id] = true
	}
	var gone []string
	s.mu.Lock()
	for id, e := range s.homes {
		if !stored[id] && s.now().Sub(e.created) >= minAge {
			gone = append(gone, id)
		}
	}
	s.mu.Unlock()
	for _, id := range gone {
		s.forgetMemory(id)
	}
	return len(gone), nil
}

// Run prunes deleted homes every interval until ctx ends.
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.Prune(ctx, interval); err != nil && ctx.Err() == nil {
				s.log.Warn("instance prune failed", "error", err)
			} else if n > 0 {
				s.log.Info("forgot the instance status of deleted homes", "homes", n)
			}
		}
	}
}
