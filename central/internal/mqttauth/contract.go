// Package mqttauth serves the contract an external MQTT broker uses to
// authenticate agents and learn their ACL: POST /mqtt/v1/authn, in the
// request and response format of EMQX's HTTP authentication, so EMQX uses it
// as is and the Homeplane Mosquitto plugin (deploy/mosquitto) speaks the
// same. The ACL is rendered from protocol/topic's AgentRules, the table the
// embedded broker's hook applies.
//
// Only brokers may call it: every request carries the shared bearer token,
// the body is bounded, and checks in flight are capped, the rest refused at
// once so that a connect storm cannot queue unbounded work.
package mqttauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/protocol/topic"
)

// Path is where the contract is served.
const Path = "/mqtt/v1/authn"

// maxBody bounds a request: four short strings.
const maxBody = 4 << 10

// Credentials checks an agent's credentials and returns its home
// (home.Service).
type Credentials interface {
	AuthenticateAgent(ctx context.Context, agentID, secret string) (homeID string, err error)
}

// Options configures the handler.
type Options struct {
	// Token is the bearer token brokers present.
	Token string
	// ServiceUser and ServicePassword are central's own broker
	// credentials; they authenticate as superuser with a client id
	// starting "central-".
	ServiceUser, ServicePassword string
	// MaxConcurrent caps checks in flight; more are refused with 503.
	// Default 32.
	MaxConcurrent int
	// Timeout bounds one check. Default 5s.
	Timeout    time.Duration
	Logger     *slog.Logger          // default discards
	Registerer prometheus.Registerer // default registers nowhere
}

// Request is EMQX's HTTP authentication request body, as configured in
// deploy/emqx.
type Request struct {
	ClientID string `json:"clientid"`
	Username string `json:"username"`
	Password string `json:"password"`
	PeerHost string `json:"peerhost"`
}

// Response is EMQX's HTTP authentication response body.
type Response struct {
	Result      string            `json:"result"` // allow or deny
	IsSuperuser bool              `json:"is_superuser"`
	ClientAttrs map[string]string `json:"client_attrs,omitempty"`
	ACL         []ACLRule         `json:"acl,omitempty"`
}

// ACLRule is one EMQX authorization rule. Topics are exact ("eq "), never
// filters; Retain is the flag a publish must carry.
type ACLRule struct {
	Permission string `json:"permission"` // allow or deny
	Action     string `json:"action"`     // publish or subscribe
	Topic      string `json:"topic"`
	QoS        []int  `json:"qos"`
	Retain     *bool  `json:"retain,omitempty"`
}

// RenderACL turns the agent rules of home into EMQX rules, ending with a
// deny of everything else.
func RenderACL(home string) []ACLRule {
	var out []ACLRule
	for _, r := range topic.AgentRules(home) {
		rule := ACLRule{Permission: "allow", Topic: "eq " + r.Topic, QoS: []int{0, 1}}
		if r.Access == topic.Subscribe {
			rule.Action = "subscribe"
		} else {
			retain := r.Retain
			rule.Action, rule.Retain = "publish", &retain
		}
		out = append(out, rule)
	}
	return append(out, ACLRule{Permission: "deny", Action: "all", Topic: "#"})
}

type handler struct {
	opts  Options
	token [32]byte
	svc   [32]byte
	creds Credentials
	slots chan struct{}
	log   *slog.Logger
	m     *prometheus.CounterVec
}

// NewHandler returns the contract's HTTP handler.
func NewHandler(creds Credentials, opts Options) (http.Handler, error) {
	if creds == nil || len(opts.Token) < 16 || opts.ServiceUser == "" || opts.ServicePassword == "" {
		return nil, errors.New("mqttauth: credentials, a token of 16+ characters and service credentials are required")
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 32
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	m := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "homeplane_central_mqtt_authn_total",
		Help: "Broker authentication contract requests by outcome.",
	}, []string{"outcome"})
	if err := opts.Registerer.Register(m); err != nil {
		return nil, err
	}
	h := &handler{opts: opts, token: sha256.Sum256([]byte(opts.Token)), svc: sha256.Sum256([]byte(opts.ServicePassword)),
		creds: creds, slots: make(chan struct{}, opts.MaxConcurrent), log: opts.Logger, m: m}
	mux := http.NewServeMux()
	mux.Handle("POST "+Path, h)
	return mux, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The token counts only under the Bearer scheme: the shared secret
	// alone, or under another scheme, is no broker's request.
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	got := sha256.Sum256([]byte(bearer))
	if subtle.ConstantTimeCompare(got[:], h.token[:]) != 1 || !ok {
		h.m.WithLabelValues("unauthorized").Inc()
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	default:
		h.m.WithLabelValues("busy").Inc()
		w.Header().Set("Retry-After", "1")
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	var req Request
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	// One object and nothing after it: a body a broker could read
	// differently is refused, not half read.
	if err := dec.Decode(&req); err != nil || dec.Decode(new(json.RawMessage)) != io.EOF {
		h.m.WithLabelValues("bad_request").Inc()
		http.Error(w, "bad request: want {clientid, username, password, peerhost}", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.Timeout)
	defer cancel()
	res, err := h.decide(ctx, req)
	if err != nil {
		// An error is not a denial: the broker refuses this connect, and
		// a retry may succeed.
		h.m.WithLabelValues("error").Inc()
		h.log.Warn("broker authentication failed", "client_id", clip(req.ClientID), "err", err)
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	h.m.WithLabelValues(res.Result).Inc()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(res)
}

var deny = Response{Result: "deny"}

func (h *handler) decide(ctx context.Context, req Request) (Response, error) {
	if req.Username == h.opts.ServiceUser {
		got := sha256.Sum256([]byte(req.Password))
		if subtle.ConstantTimeCompare(got[:], h.svc[:]) == 1 && strings.HasPrefix(req.ClientID, "central-") {
			return Response{Result: "allow", IsSuperuser: true}, nil
		}
		return deny, nil
	}
	if req.ClientID != req.Username {
		return deny, nil
	}
	homeID, err := h.creds.AuthenticateAgent(ctx, req.Username, req.Password)
	switch {
	case err == nil:
		return Response{Result: "allow", ClientAttrs: map[string]string{"home": homeID}, ACL: RenderACL(homeID)}, nil
	case errors.Is(err, home.ErrUnauthenticated):
		return deny, nil
	}
	return Response{}, err
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}
