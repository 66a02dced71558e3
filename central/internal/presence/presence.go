// Package presence knows which homes' agents are online: from the presence
// each agent announces (retained, with a Will that says offline) and from the
// broker's connection events, so that a command to an offline home fails at
// once instead of waiting for its deadline.
package presence

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// maxVersionLen bounds the version strings kept from presence payloads.
const maxVersionLen = 64

// home is what the tracker knows about one home's agent.
type home struct {
	announced    bool // the latest presence says online
	connKnown    bool // the transport reports connections for this home
	connected    bool
	lastSeen     time.Time
	agentVersion string
	haVersion    string
}

// online: the agent announced itself and, where the transport reports
// connections, is connected. A dropped connection counts before its Will
// arrives; a transport without connection events relies on presence alone.
func (h *home) online() bool {
	return h != nil && h.announced && (!h.connKnown || h.connected)
}

// Status is what the tracker knows about a home's agent.
type Status struct {
	Online               bool
	LastSeen             time.Time // last message or connection event
	AgentVersion         string    // from the latest presence
	HomeAssistantVersion string    // from the latest presence
}

// Options tunes a Tracker. Zero values take the defaults.
type Options struct {
	Logger     *slog.Logger          // default discards
	Registerer prometheus.Registerer // default registers nowhere
	Now        func() time.Time      // default time.Now
	// OnOnline, when set, runs in its own goroutine each time a home's
	// agent comes online, to send it what it may have missed.
	OnOnline func(homeID string)
}

// Tracker holds every home's agent presence.
type Tracker struct {
	log      *slog.Logger
	now      func() time.Time
	online   prometheus.Gauge
	onOnline func(homeID string)

	mu    sync.Mutex
	homes map[string]*home // by home id
}

// New returns an empty tracker.
func New(opts Options) (*Tracker, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	online := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "homeplane_central_homes_online",
		Help: "Homes whose agent is online.",
	})
	if err := opts.Registerer.Register(online); err != nil {
		return nil, fmt.Errorf("presence: metrics: %w", err)
	}
	return &Tracker{log: opts.Logger, now: opts.Now, online: online, onOnline: opts.OnOnline, homes: make(map[string]*home)}, nil
}

// Online reports whether the home's agent can take a command now.
func (t *Tracker) Online(homeID string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.homes[homeID].online()
}

// OnlineCount is how many homes' agents are online now.
func (t *Tracker) OnlineCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, h := range t.homes {
		if h.online() {
			n++
		}
	}
	return n
}

// LastSeen is when the tracker last heard from the home's agent.
func (t *Tracker) LastSeen(homeID string) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	h := t.homes[homeID]
	if h == nil {
		return time.Time{}, false
	}
	return h.lastSeen, true
}

// Status reports the home's agent as the tracker knows it; false when it has
// never heard of the home.
func (t *Tracker) Status(homeID string) (Status, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	h := t.homes[homeID]
	if h == nil {
		return Status{}, false
	}
	return Status{
		Online:               h.online(),
		LastSeen:             h.lastSeen,
		AgentVersion:         h.agentVersion,
		HomeAssistantVersion: h.haVersion,
	}, true
}

// SetConnected takes the transport's connection events (the broker's
// OnConnection): a home whose connection dropped is offline at once.
func (t *Tracker) SetConnected(homeID string, connected bool) {
	t.update(homeID, func(h *home) {
		h.connKnown = true
		h.connected = connected
	})
	t.log.Info("agent connection", "home_id", homeID, "connected", connected)
}

// Announce takes a presence message from the home's agent (or its Will).
func (t *Tracker) Announce(homeID string, p *homeplanev1.Presence) {
	t.update(homeID, func(h *home) {
		h.announced = p.GetOnline()
		if p.GetOnline() {
			h.agentVersion = clipVersion(p.GetAgentVersion())
			h.haVersion = clipVersion(p.GetHomeAssistantVersion())
		}
	})
	t.log.Info("agent presence", "home_id", homeID, "online", p.GetOnline(),
		"agent_version", clipVersion(p.GetAgentVersion()), "home_assistant_version", clipVersion(p.GetHomeAssistantVersion()))
}

// Seen records that a message from the home's agent arrived.
func (t *Tracker) Seen(homeID string) {
	t.update(homeID, func(*home) {})
}

// update applies fn to the home's state, marks it seen and keeps the
// online gauge in step.
func (t *Tracker) update(homeID string, fn func(*home)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	h := t.homes[homeID]
	if h == nil {
		h = &home{}
		t.homes[homeID] = h
	}
	was := h.online()
	fn(h)
	h.lastSeen = t.now()
	switch now := h.online(); {
	case now && !was:
		t.online.Inc()
		if t.onOnline != nil {
			go t.onOnline(homeID)
		}
	case was && !now:
		t.online.Dec()
	}
}

func clipVersion(s string) string {
	if len(s) > maxVersionLen {
		return s[:maxVersionLen]
	}
	return s
}
