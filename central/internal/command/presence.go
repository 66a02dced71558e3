package command

import "time"

// maxVersionLen bounds the version strings kept from presence payloads.
const maxVersionLen = 64

// home is what the router knows about one home's agent.
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

// Status is what the router knows about a home's agent.
type Status struct {
	Online               bool
	LastSeen             time.Time // last message or connection event
	AgentVersion         string    // from the latest presence
	HomeAssistantVersion string    // from the latest presence
}

// Online reports whether the home's agent can take a command now.
func (r *Router) Online(homeID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.homes[homeID].online()
}

// LastSeen is when the router last heard from the home's agent.
func (r *Router) LastSeen(homeID string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.homes[homeID]
	if h == nil {
		return time.Time{}, false
	}
	return h.lastSeen, true
}

// Status reports the home's agent as the router knows it; false when the
// router has never heard of the home.
func (r *Router) Status(homeID string) (Status, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.homes[homeID]
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
func (r *Router) SetConnected(homeID string, connected bool) {
	r.update(homeID, func(h *home) {
		h.connKnown = true
		h.connected = connected
	})
	r.log.Info("agent connection", "home_id", homeID, "connected", connected)
}

// update applies fn to the home's state, marks it seen and keeps the
// online gauge in step.
func (r *Router) update(homeID string, fn func(*home)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.homes[homeID]
	if h == nil {
		h = &home{}
		r.homes[homeID] = h
	}
	was := h.online()
	fn(h)
	h.lastSeen = r.now()
	switch now := h.online(); {
	case now && !was:
		r.m.online.Inc()
	case was && !now:
		r.m.online.Dec()
	}
}

func clipVersion(s string) string {
	if len(s) > maxVersionLen {
		return s[:maxVersionLen]
	}
	return s
}
