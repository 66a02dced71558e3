package hasim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a Server. Token is required: an empty token refuses
// every request.
type Options struct {
	// Token is the long-lived access token clients must present.
	Token string
	// Version is reported by /api/config, auth_required and auth_ok.
	Version string
	// Delay is added before every answer (REST requests and WebSocket commands).
	Delay time.Duration
	// FailServices makes every service call fail as an integration error would.
	FailServices bool
	// StartDelay: every endpoint answers 503 until this long after New.
	StartDelay time.Duration
	// Unhealthy makes every endpoint answer 503, as Home Assistant does while stopping.
	Unhealthy bool
	// MaxBodyBytes bounds request bodies and WebSocket messages (default 1 MiB).
	MaxBodyBytes int64
	// Fresh makes the instance not yet onboarded: /api/onboarding/users
	// creates the owner, and the tokens minted afterwards are accepted
	// besides Token.
	Fresh bool
	// ConfigDir is Home Assistant's configuration directory (/config in the
	// image): onboarding, the auth store and the entities' last states are
	// kept in its .storage, so a restarted simulator accepts the same tokens
	// and shows the same states. Empty keeps everything in memory. Only Open
	// reads it.
	ConfigDir string
	// Faults make the simulator misbehave toward its client; tests only.
	Faults Faults
	// Logger receives the simulator's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultVersion is the Home Assistant version reported when Options.Version is empty.
const DefaultVersion = "2026.8.1"

// ServiceCall records one service call the simulator received.
type ServiceCall struct {
	Domain  string
	Service string
	Data    map[string]any
	Time    time.Time
	// WebSocket tells a call_service command from a REST request.
	WebSocket bool
}

// Server is a simulated Home Assistant instance. It is safe for concurrent use.
type Server struct {
	opts    Options
	log     *slog.Logger
	started time.Time
	userID  string

	unhealthy atomic.Bool
	onb       onboarding
	// persistMu orders writes of the restore-state file.
	persistMu sync.Mutex

	mu       sync.Mutex
	config   Home // location and time zone only
	states   map[string]State
	order    []string
	floors   []Floor
	areas    []Area
	devices  []Device
	registry map[string]*registryEntry
	regOrder []string
	memory   map[string]map[string]any // per-entity values kept while off
	todo     map[string][]todoItem     // to-do lists' items
	calls    []ServiceCall
	subs     map[*subscription]struct{}
	conns    map[*wsConn]struct{}
	// statesDirty: a state changed since the restore-state file was written.
	statesDirty bool
}

type registryEntry struct {
	Entity
	regID   string
	created time.Time
}

// Open builds a simulator for home (nil: DemoHome) with opts, restoring
// onboarding, tokens and entity states from opts.ConfigDir when it holds them.
func Open(home *Home, opts Options) (*Server, error) {
	var restored map[string]restoredState
	var onb onboarding
	if dir := opts.ConfigDir; dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("hasim: config dir: %w", err)
		}
		if err := onb.load(dir); err != nil {
			return nil, fmt.Errorf("hasim: %w", err)
		}
		var err error
		if restored, err = loadRestoredStates(dir); err != nil {
			return nil, fmt.Errorf("hasim: %w", err)
		}
	}
	return newServer(home, opts, &onb, restored), nil
}

// New builds an in-memory simulator for home (nil: DemoHome) with opts;
// opts.ConfigDir needs Open.
func New(home *Home, opts Options) *Server {
	if opts.ConfigDir != "" {
		panic("hasim: New with a ConfigDir; use Open")
	}
	return newServer(home, opts, &onboarding{}, nil)
}

func newServer(home *Home, opts Options, onb *onboarding, restored map[string]restoredState) *Server {
	if home == nil {
		home = DemoHome()
	}
	if opts.Version == "" {
		opts.Version = DefaultVersion
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts:     opts,
		log:      log,
		started:  opts.Now(),
		userID:   randomHex(16),
		config:   Home{LocationName: home.LocationName, TimeZone: home.TimeZone},
		states:   map[string]State{},
		floors:   slices.Clone(home.Floors),
		areas:    slices.Clone(home.Areas),
		devices:  slices.Clone(home.Devices),
		registry: map[string]*registryEntry{},
		memory:   map[string]map[string]any{},
		todo:     map[string][]todoItem{},
		subs:     map[*subscription]struct{}{},
		conns:    map[*wsConn]struct{}{},
	}
	s.onb.done, s.onb.auth = onb.done, onb.auth
	for _, u := range s.onb.auth.Users {
		if u.IsOwner {
			s.userID = u.ID // writes carry the owner's id, as the agent's calls do
		}
	}
	if s.config.LocationName == "" {
		s.config.LocationName = "Home"
	}
	if s.config.TimeZone == "" {
		s.config.TimeZone = "UTC"
	}
	s.unhealthy.Store(opts.Unhealthy)
	now := s.now()
	ctx := s.newContext(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range home.Entities {
		if !validEntityID(e.ID) {
			log.Warn("skipping entity with invalid id", "entity_id", e.ID)
			continue
		}
		if _, dup := s.states[e.ID]; dup {
			continue
		}
		if !e.NoRegistry {
			e.Aliases = slices.Clone(e.Aliases)
			s.registry[e.ID] = &registryEntry{Entity: e, regID: randomHex(16), created: now}
			s.regOrder = append(s.regOrder, e.ID)
		}
		if c, ok := e.Attributes[alarmCodeAttr].(string); ok && domainOf(e.ID) == "alarm_control_panel" {
			s.memory[e.ID] = map[string]any{alarmCodeAttr: c}
		}
		if r, ok := restored[e.ID]; ok {
			// The device kept the state it was last put in.
			s.states[e.ID] = r.State
			s.order = append(s.order, e.ID)
			var extra struct {
				Items []todoItem `json:"items"`
			}
			if json.Unmarshal(r.ExtraData, &extra) == nil && extra.Items != nil {
				s.todo[e.ID] = extra.Items
			}
			continue
		}
		s.setStateLocked(e.ID, e.State, initialAttributes(e), false, ctx)
	}
	return s
}

// initialAttributes adds what Home Assistant itself would put beside the
// configured attributes: friendly_name, device_class, a light's colour attributes.
func initialAttributes(e Entity) map[string]any {
	attrs := cloneAttrs(e.Attributes)
	name := e.Name
	if e.RegistryName != "" {
		name = e.RegistryName
	}
	if _, ok := attrs["friendly_name"]; !ok && name != "" {
		attrs["friendly_name"] = name
	}
	if _, ok := attrs["device_class"]; !ok && e.DeviceClass != "" {
		attrs["device_class"] = e.DeviceClass
	}
	switch domainOf(e.ID) {
	case "light":
		attrs = initialLightAttributes(e.State, attrs)
	case "alarm_control_panel":
		delete(attrs, alarmCodeAttr) // the simulated integration's secret
	}
	return attrs
}

func (s *Server) now() time.Time { return s.opts.Now().UTC() }

func (s *Server) newContext(now time.Time) Context {
	uid := s.userID
	return Context{ID: newULID(now), UserID: &uid}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// State returns an entity's current state.
func (s *Server) State(entityID string) (State, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.states[entityID]
	return st.clone(), ok
}

// States returns every state in creation order.
func (s *Server) States() []State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statesLocked()
}

func (s *Server) statesLocked() []State {
	out := make([]State, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.states[id].clone())
	}
	return out
}

// SetState writes a state the way an integration would; attrs nil keeps the
// current attributes. It follows the state machine's write semantics and
// returns the stored state.
func (s *Server) SetState(entityID, state string, attrs map[string]any) (State, error) {
	if !validEntityID(entityID) {
		return State{}, fmt.Errorf("set state: invalid entity id %q", entityID)
	}
	s.mu.Lock()
	if attrs == nil {
		attrs = s.states[entityID].Attributes
	}
	st, _ := s.setStateLocked(entityID, state, attrs, false, s.newContext(s.now()))
	st = st.clone()
	s.mu.Unlock()
	s.saveStates()
	return st, nil
}

// RemoveState removes an entity's state, firing state_changed with new_state null.
func (s *Server) RemoveState(entityID string) bool {
	s.mu.Lock()
	ok := s.removeStateLocked(entityID, s.newContext(s.now()))
	s.mu.Unlock()
	s.saveStates()
	return ok
}

// CloseConnections drops every WebSocket connection, as a restart would.
func (s *Server) CloseConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.cancel()
	}
}

// SetUnhealthy switches the stopping-like 503 answers on or off.
func (s *Server) SetUnhealthy(v bool) { s.unhealthy.Store(v) }

// ServiceCalls returns the service calls received so far.
func (s *Server) ServiceCalls() []ServiceCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// CallCount returns how many service calls were received.
func (s *Server) CallCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// SetEntityArea moves an entity to another area ("" for none) and fires
// entity_registry_updated.
func (s *Server) SetEntityArea(entityID, areaID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.registry[entityID]
	if !ok {
		return fmt.Errorf("set entity area: %s not in the entity registry", entityID)
	}
	old := e.AreaID
	e.AreaID = areaID
	s.fireLocked("entity_registry_updated", map[string]any{
		"action": "update", "entity_id": entityID, "changes": map[string]any{"area_id": nullable(old)},
	}, s.newContext(s.now()))
	return nil
}

// PutArea creates or replaces an area and fires area_registry_updated.
func (s *Server) PutArea(a Area) {
	s.mu.Lock()
	defer s.mu.Unlock()
	action := "create"
	if i := slices.IndexFunc(s.areas, func(x Area) bool { return x.ID == a.ID }); i >= 0 {
		s.areas[i] = a
		action = "update"
	} else {
		s.areas = append(s.areas, a)
	}
	s.fireLocked("area_registry_updated", map[string]any{"action": action, "area_id": a.ID}, s.newContext(s.now()))
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// normaliseAttrs gives attribute values their JSON types so that equality
// checks compare like with like.
func normaliseAttrs(a map[string]any) map[string]any {
	if len(a) == 0 {
		return map[string]any{}
	}
	b, err := json.Marshal(a)
	if err != nil {
		return cloneAttrs(a)
	}
	var out map[string]any
	if json.Unmarshal(b, &out) != nil || out == nil {
		return cloneAttrs(a)
	}
	return out
}

// setStateLocked applies core's StateMachine write semantics.
func (s *Server) setStateLocked(id, state string, attrs map[string]any, force bool, ctx Context) (State, bool) {
	now := s.now()
	attrs = normaliseAttrs(attrs)
	old, exists := s.states[id]
	if exists && !force && old.State == state && reflect.DeepEqual(old.Attributes, attrs) {
		prev := old.LastReported
		old.LastReported = now
		s.states[id] = old
		s.fireLocked("state_reported", map[string]any{
			"entity_id": id, "old_last_reported": isoTime(prev), "new_state": old,
		}, ctx)
		return old, false
	}
	s.statesDirty = true
	st := State{EntityID: id, State: state, Attributes: attrs, LastChanged: now, LastReported: now, LastUpdated: now, Context: ctx}
	if exists && old.State == state {
		st.LastChanged = old.LastChanged
	}
	if !exists {
		s.order = append(s.order, id)
	}
	s.states[id] = st
	var oldState any
	if exists {
		oldState = old
	}
	s.fireLocked("state_changed", map[string]any{"entity_id": id, "old_state": oldState, "new_state": st}, ctx)
	return st, true
}

func (s *Server) removeStateLocked(id string, ctx Context) bool {
	old, ok := s.states[id]
	if !ok {
		return false
	}
	delete(s.states, id)
	s.statesDirty = true
	s.order = slices.DeleteFunc(s.order, func(x string) bool { return x == id })
	s.fireLocked("state_changed", map[string]any{"entity_id": id, "old_state": old, "new_state": nil}, ctx)
	return true
}

// Event is an event as subscribers receive it.
type Event struct {
	EventType string         `json:"event_type"`
	Data      map[string]any `json:"data"`
	Origin    string         `json:"origin"`
	TimeFired string         `json:"time_fired"`
	Context   Context        `json:"context"`
}

// subscription delivers events of one type ("" = all but state_reported).
type subscription struct {
	eventType string
	deliver   func(Event)
}

func (s *Server) fireLocked(eventType string, data map[string]any, ctx Context) {
	ev := Event{EventType: eventType, Data: data, Origin: "LOCAL", TimeFired: isoTime(s.now()), Context: ctx}
	for sub := range s.subs {
		if sub.eventType == eventType || sub.eventType == "" && eventType != "state_reported" {
			sub.deliver(ev)
		}
	}
}

func (s *Server) subscribe(eventType string, deliver func(Event)) *subscription {
	sub := &subscription{eventType: eventType, deliver: deliver}
	s.mu.Lock()
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	return sub
}

func (s *Server) unsubscribe(sub *subscription) {
	s.mu.Lock()
	delete(s.subs, sub)
	s.mu.Unlock()
}

// ready reports whether the simulated core answers requests.
func (s *Server) ready() bool {
	return !s.unhealthy.Load() && !s.opts.Now().Before(s.started.Add(s.opts.StartDelay))
}

// wait applies the Delay fault.
func (s *Server) wait(ctx context.Context) error {
	if s.opts.Delay <= 0 {
		return nil
	}
	t := time.NewTimer(s.opts.Delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Handler returns the HTTP handler serving the REST and WebSocket API.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.route(w, r)
		s.saveStates()
	})
}
