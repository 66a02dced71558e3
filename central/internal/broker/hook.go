package broker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/homeplane/homeplane/protocol/topic"
)

// Reasons a connection is refused, as counted in the auth failures metric.
const (
	refuseNoCredentials = "no_credentials"
	refuseClientID      = "client_id"
	refuseCredentials   = "credentials"
	refuseUnavailable   = "unavailable"
	refuseWill          = "will"
)

// Actions the ACL refuses, as counted in the ACL denials metric.
const (
	actionSubscribe = "subscribe" // also a delivery to a session the hook no longer knows
	actionPublish   = "publish"
)

var errAuthBusy = errors.New("too many logins in progress")

// session is one authenticated client connection.
type session struct {
	cl      *mqtt.Client
	home    string
	counted bool // counted in hook.homes until OnDisconnect or expiry
}

type hookConfig struct {
	creds        Credentials
	server       *mqtt.Server
	log          *slog.Logger
	metrics      *metrics
	authTimeout  time.Duration
	maxAuth      int
	maxKeepalive uint16
}

// hook is the deny-by-default authentication and ACL hook. It is the only
// hook on the server: mochi allows nothing unless a hook says so.
type hook struct {
	mqtt.HookBase
	cfg     hookConfig
	authSem chan struct{}

	mu       sync.RWMutex
	sessions map[string][]*session // by client id (= agent id)
	homes    map[string]int        // counted sessions per home
	notify   []func(homeID string, connected bool)
}

func newHook(cfg hookConfig) *hook {
	return &hook{
		cfg:      cfg,
		authSem:  make(chan struct{}, cfg.maxAuth),
		sessions: make(map[string][]*session),
		homes:    make(map[string]int),
	}
}

func (h *hook) ID() string { return "homeplane-agent-acl" }

func (h *hook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnSessionEstablish,
		mqtt.OnACLCheck, mqtt.OnPublish, mqtt.OnWill, mqtt.OnDisconnect, mqtt.OnClientExpired:
		return true
	}
	return false
}

func (h *hook) onConnection(fn func(string, bool)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.notify = append(h.notify, fn)
}

// OnConnect bounds the keepalive before mochi arms the connection deadline
// with it: a client asking for none (or for hours) would otherwise hold a
// dead connection open indefinitely.
func (h *hook) OnConnect(cl *mqtt.Client, _ packets.Packet) error {
	if ka := cl.State.Keepalive; ka == 0 || ka > h.cfg.maxKeepalive {
		cl.State.Keepalive = h.cfg.maxKeepalive
		cl.State.ServerKeepalive = true // tells MQTT 5 clients in the CONNACK
	}
	return nil
}

// OnConnectAuthenticate admits a client only when its client id is its
// username, the username and password authenticate as an agent, and its
// Will (if any) is one AgentWillMay allows. Wills are checked here because
// mochi publishes them without any further ACL check.
func (h *hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	agentID := string(pk.Connect.Username)
	reason, home := h.admit(cl, pk)
	if reason != "" {
		h.cfg.metrics.authFailures.WithLabelValues(reason).Inc()
		h.cfg.log.Info("mqtt connection refused",
			"agent_id", clip(agentID), "client_id", clip(cl.ID), "remote", cl.Net.Remote, "reason", reason)
		return false
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	// Drop sessions of this agent that closed without OnDisconnect (mochi
	// skips it when the CONNACK cannot be written), so none lingers.
	kept := h.sessions[cl.ID][:0]
	for _, s := range h.sessions[cl.ID] {
		if s.cl.Closed() {
			h.uncountLocked(s)
			continue
		}
		kept = append(kept, s)
	}
	h.sessions[cl.ID] = append(kept, &session{cl: cl, home: home})
	h.cfg.log.Debug("mqtt agent authenticated", "agent_id", agentID, "home_id", home, "remote", cl.Net.Remote)
	return true
}

// admit returns why cl may not connect ("" when it may) and its home.
func (h *hook) admit(cl *mqtt.Client, pk packets.Packet) (reason, home string) {
	agentID := string(pk.Connect.Username)
	if agentID == "" || !pk.Connect.PasswordFlag || len(pk.Connect.Password) == 0 {
		return refuseNoCredentials, ""
	}
	// The inline client's id must stay central's: a client taking it over
	// would cut central off the broker.
	if cl.ID != agentID || agentID == mqtt.InlineClientId {
		return refuseClientID, ""
	}
	home, err := h.authenticate(agentID, string(pk.Connect.Password))
	switch {
	case errors.Is(err, errAuthBusy), errors.Is(err, context.DeadlineExceeded):
		h.cfg.log.Warn("mqtt authentication unavailable", "agent_id", clip(agentID), "error", err)
		return refuseUnavailable, ""
	case err != nil:
		return refuseCredentials, ""
	case !topic.ValidHomeID(home):
		h.cfg.log.Error("mqtt credentials returned an invalid home id", "agent_id", agentID)
		return refuseCredentials, ""
	}
	if w := cl.Properties.Will; w.Flag != 0 && (!topic.AgentWillMay(home, w.TopicName, w.Retain) ||
		len(w.Payload) > topic.MaxPayload(topic.Presence)) {
		return refuseWill, ""
	}
	return "", home
}

func (h *hook) authenticate(agentID, secret string) (string, error) {
	// mochi's hook API carries no context; the timeout bounds the call.
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.authTimeout)
	defer cancel()
	select {
	case h.authSem <- struct{}{}:
		defer func() { <-h.authSem }()
	case <-ctx.Done():
		return "", errAuthBusy
	}
	return h.cfg.creds.AuthenticateAgent(ctx, agentID, secret)
}

// OnSessionEstablish runs after authentication and before mochi takes over
// an older session of the same client id, so a takeover counts 1→2→1 and
// never reports the home disconnected.
func (h *hook) OnSessionEstablish(cl *mqtt.Client, _ packets.Packet) {
	if ac, ok := cl.Net.Conn.(*admittedConn); ok {
		ac.authenticated() // leaves the pending pool for MaxClients' room
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.lookupLocked(cl)
	if s == nil || s.counted {
		return
	}
	s.counted = true
	h.cfg.metrics.clients.Inc()
	h.homes[s.home]++
	if h.homes[s.home] == 1 {
		for _, fn := range h.notify {
			fn(s.home, true)
		}
	}
}

// OnDisconnect forgets the session; the home is reported disconnected when
// its last session goes.
func (h *hook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	h.forget(cl)
}

// OnClientExpired forgets a session mochi expired without OnDisconnect.
func (h *hook) OnClientExpired(cl *mqtt.Client) {
	h.forget(cl)
}

func (h *hook) forget(cl *mqtt.Client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	list := h.sessions[cl.ID]
	for i, s := range list {
		if s.cl != cl {
			continue
		}
		h.uncountLocked(s)
		list = append(list[:i], list[i+1:]...)
		if len(list) == 0 {
			delete(h.sessions, cl.ID)
		} else {
			h.sessions[cl.ID] = list
		}
		return
	}
}

func (h *hook) uncountLocked(s *session) {
	if !s.counted {
		return
	}
	s.counted = false
	h.cfg.metrics.clients.Dec()
	h.homes[s.home]--
	if h.homes[s.home] > 0 {
		return
	}
	delete(h.homes, s.home)
	for _, fn := range h.notify {
		fn(s.home, false)
	}
}

func (h *hook) lookupLocked(cl *mqtt.Client) *session {
	for _, s := range h.sessions[cl.ID] {
		if s.cl == cl {
			return s
		}
	}
	return nil
}

func (h *hook) home(cl *mqtt.Client) (string, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if s := h.lookupLocked(cl); s != nil {
		return s.home, true
	}
	return "", false
}

// OnACLCheck decides subscriptions (write false, a filter), deliveries to a
// client (write false, a topic) and publishes (write true, a topic). A
// publish passes here when its topic is allowed with either retain flag;
// OnPublish then checks the actual flag, which mochi does not pass here.
func (h *hook) OnACLCheck(cl *mqtt.Client, name string, write bool) bool {
	if cl.Net.Inline {
		return true
	}
	home, ok := h.home(cl)
	action := actionSubscribe
	if write {
		action = actionPublish
		ok = ok && (topic.AgentMay(home, topic.Publish, name, false) || topic.AgentMay(home, topic.Publish, name, true))
	} else {
		ok = ok && topic.AgentMay(home, topic.Subscribe, name, false)
	}
	if !ok {
		h.deny(cl, home, action, name)
	}
	return ok
}

// OnPublish checks the publish as it will be processed: its final topic, its
// retain flag and, for presence, its size (topic.MaxPayload). Other kinds
// are bounded by central's intake, which refuses and counts those over their
// budget without costing the agent its connection.
//
// An allowed publish is passed on unretained: the only subscriber is
// central, subscribed before the first agent connects, so a retained copy
// would never be read, yet mochi would keep one per home and copy them all
// every second looking for expired ones (ADR 0041).
func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	home, ok := h.home(cl)
	if ok && topic.AgentMay(home, topic.Publish, pk.TopicName, pk.FixedHeader.Retain) && fits(pk) {
		pk.FixedHeader.Retain = false
		return pk, nil
	}
	h.deny(cl, home, actionPublish, pk.TopicName)
	if pk.FixedHeader.Qos > 0 {
		if cl.Properties.ProtocolVersion == 5 {
			return pk, packets.ErrNotAuthorized // refused in the PUBACK
		}
		// MQTT 3 cannot refuse a QoS 1/2 publish; mochi's own ACL
		// disconnects in that case, and so do we.
		_ = h.cfg.server.DisconnectClient(cl, packets.ErrNotAuthorized)
	}
	return pk, packets.ErrRejectPacket
}

// OnWill sends an agent's Will (its presence, checked at CONNECT) unretained,
// as OnPublish does its publishes.
func (h *hook) OnWill(_ *mqtt.Client, will mqtt.Will) (mqtt.Will, error) {
	will.Retain = false
	return will, nil
}

// fits reports whether a presence publish is within its payload budget.
func fits(pk packets.Packet) bool {
	_, k, err := topic.Parse(pk.TopicName)
	return err == nil && (k != topic.Presence || len(pk.Payload) <= topic.MaxPayload(k))
}

func (h *hook) deny(cl *mqtt.Client, home, action, name string) {
	h.cfg.metrics.aclDenials.WithLabelValues(action).Inc()
	h.cfg.log.Warn("mqtt access denied",
		"agent_id", clip(cl.ID), "home_id", home, "action", action, "topic", clip(name))
}

// clip bounds client-chosen strings before they reach the logs.
func clip(s string) string {
	const limit = 128
	if len(s) > limit {
		return s[:limit] + "…"
	}
	return s
}

// clientsOf returns the clients authenticated for the home.
func (h *hook) clientsOf(homeID string) []*mqtt.Client {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []*mqtt.Client
	for _, list := range h.sessions {
		for _, s := range list {
			if s.home == homeID {
				out = append(out, s.cl)
			}
		}
	}
	return out
}
