// Package rpc serves central's Connect API: the Auth, Home, Intent, Agent and
// Admin services over Connect, gRPC and gRPC-Web. It authenticates every call
// against one policy table, scopes every query by the verified caller, and
// translates domain errors into Connect codes in one place (mapError).
package rpc

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/central/internal/idempotency"
	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/registry"
)

// Accounts is what rpc needs from the account service (auth.Service).
type Accounts interface {
	Register(ctx context.Context, email, password string) error
	ConfirmRegistration(ctx context.Context, token string) (auth.User, auth.Tokens, error)
	Login(ctx context.Context, email, password string) (auth.User, auth.Tokens, error)
	Refresh(ctx context.Context, refreshToken string) (auth.Tokens, error)
	Logout(ctx context.Context, refreshToken string) error
	Verify(ctx context.Context, accessToken string) (auth.Claims, error)
	ChangePassword(ctx context.Context, userID, current, next string) error
	RequestPasswordReset(ctx context.Context, email string) error
	ResetPassword(ctx context.Context, token, next string) error
}

// Homes is what rpc needs from the home service (home.Service). Every call
// but Enroll and AuthenticateDevice is scoped by the owner's user id.
type Homes interface {
	Create(ctx context.Context, ownerID, name string) (home.Home, error)
	List(ctx context.Context, ownerID string) ([]home.Home, error)
	Get(ctx context.Context, ownerID, homeID string) (home.Home, error)
	Delete(ctx context.Context, ownerID, homeID string) error
	CreateEnrollmentToken(ctx context.Context, ownerID, homeID string, ttl time.Duration) (string, time.Time, error)
	Enroll(ctx context.Context, token, hostname, version string) (home.Agent, string, error)
	RegisterDevice(ctx context.Context, ownerID, homeID, name, area string) (home.Device, string, error)
	ListDevices(ctx context.Context, ownerID, homeID string) ([]home.Device, error)
	RevokeDevice(ctx context.Context, ownerID, homeID, deviceID string) error
	AuthenticateDevice(ctx context.Context, token string) (home.Device, error)
	RevokeAgent(ctx context.Context, ownerID, homeID string) error
	RevokeEnrollmentTokens(ctx context.Context, ownerID, homeID string) (int, error)
	SetSensitivePolicy(ctx context.Context, ownerID, homeID string, p home.Policy) (home.Home, error)
}

// Entities is what rpc needs from the entity registry (registry.Store).
type Entities interface {
	Snapshot(ctx context.Context, homeID string) (*registry.Snapshot, error)
}

// Intents is what rpc needs from the intent engine (intent.Engine).
type Intents interface {
	Process(ctx context.Context, req intent.Request) (intent.Response, error)
}

// Auditor is what rpc needs from the audit writer (audit.Writer). Write
// returns once the record is committed.
type Auditor interface {
	Write(ctx context.Context, r audit.Record) error
}

// Presence tells whether a home's agent is connected (presence.Tracker).
type Presence interface {
	Online(homeID string) bool
	LastSeen(homeID string) (time.Time, bool)
}

// Deps are the services the handlers call. All are required except Presence:
// without it every home reports offline.
type Deps struct {
	Accounts Accounts
	Homes    Homes
	Entities Entities
	Intents  Intents
	Auditor  Auditor
	Presence Presence
	// Admin serves AdminService; without it AdminService answers Unimplemented.
	Admin AdminDeps
	// InstanceStatus and Commands serve GetInstance and ControlInstance;
	// without them those answer Unimplemented.
	InstanceStatus InstanceStatus
	Commands       Commands
	// Limits serves SetInstanceLimits and the limits in GetInstance, and
	// tells a home's agent when DeleteHome or RevokeAgent releases it;
	// without it SetInstanceLimits answers Unimplemented.
	Limits InstanceLimits
	// Timers serves WatchTimers and Pipelines Get/SetPipeline; without
	// them those answer Unimplemented.
	Timers    Timers
	Pipelines Pipelines
	// Idempotency keeps the answers of Process and ControlInstance calls
	// made with an idempotency key, for every replica. Without it a key
	// still fixes the id of the command sent to the home, whose agent then
	// runs a retry at most once, but the retry's answer is not the first's.
	Idempotency *idempotency.Keeper
	// Usage serves GetUsage, a user's own use per day; without it GetUsage
	// answers Unimplemented.
	Usage DailyUsage
	// Pairings serves PairingService and RFC 8628's form endpoints;
	// without it those answer Unimplemented and 404.
	Pairings Pairings
}

// DefaultMaxRequestBytes bounds a request message when Options leaves it zero.
const DefaultMaxRequestBytes = 64 << 10

// Options are the optional settings of NewHandler.
type Options struct {
	// Logger receives one line per unexpected error; nil discards.
	Logger *slog.Logger
	// Registerer receives the RPC metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	// MaxRequestBytes bounds every request message, after decompression.
	MaxRequestBytes int
	// MQTTURL is the broker address handed to enrolling agents; may be empty.
	MQTTURL string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// TrustedProxies are the proxies whose X-Forwarded-For header names the
	// client; for anyone else the connection's address is the client's.
	TrustedProxies []netip.Prefix
	// HandlerTimeout bounds every call (DefaultHandlerTimeout when zero);
	// the client's own shorter deadline still wins.
	HandlerTimeout time.Duration
	// DeviceRate and UserRate bound the authenticated calls of each voice
	// device and each user (DefaultDeviceRate, DefaultUserRate when zero);
	// the voice devices of one home together get UserRate, the owner's.
	DeviceRate, UserRate RateLimit
	// PublicURL is central's address as devices and people reach it
	// ("https://central.example"), the base of the pairing verification
	// URI; empty takes ListenAddr (ADR 0053).
	PublicURL string
	// ListenAddr is the address the API listens on; without PublicURL,
	// verification URIs name it when it names a host (ADR 0053).
	ListenAddr string
	// Overload sheds sentences while central is overloaded; its zero value
	// sheds nothing (no Backlog to watch).
	Overload Overload
}

// DefaultHandlerTimeout bounds a call when Options leaves it zero. Process
// waits for the home at most the command timeout, well below it.
const DefaultHandlerTimeout = 30 * time.Second

// compressMinBytes is the smallest answer sent compressed to a client that
// accepts it. A voice device's answer is a few hundred bytes: gzip makes it
// no smaller, and a compressor's set-up cost more CPU than the rest of the
// answer's encoding (issue 16's profile of Process).
const compressMinBytes = 1024

// server holds what every handler shares.
type server struct {
	deps    Deps
	log     *slog.Logger
	mqttURL string
	now     func() time.Time
	streams *streams
	// publicURL is Options.PublicURL without a trailing slash.
	publicURL string
	// listenHost is Options.ListenAddr as a URL's host, or empty when it
	// names none (every interface, or port 0).
	listenHost string
}

// sessionNotifier is an Accounts that tells when it ends sessions
// (auth.Service), so that their streams close at once.
type sessionNotifier interface {
	OnSessionsEnded(fn func(auth.SessionEnd))
}

// NewHandler returns an http.Handler serving every Connect service under its
// procedure path. It panics when a required dependency is missing, which is a
// wiring mistake. Health, readiness and metrics endpoints are added by NewMux.
func NewHandler(deps Deps, opts Options) http.Handler {
	switch {
	case deps.Accounts == nil:
		panic("rpc: Deps.Accounts is nil")
	case deps.Homes == nil:
		panic("rpc: Deps.Homes is nil")
	case deps.Entities == nil:
		panic("rpc: Deps.Entities is nil")
	case deps.Intents == nil:
		panic("rpc: Deps.Intents is nil")
	case deps.Auditor == nil:
		panic("rpc: Deps.Auditor is nil")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.MaxRequestBytes <= 0 {
		opts.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.HandlerTimeout <= 0 {
		opts.HandlerTimeout = DefaultHandlerTimeout
	}
	s := &server{deps: deps, log: opts.Logger, mqttURL: opts.MQTTURL, now: opts.Now, streams: newStreams(),
		publicURL: strings.TrimRight(opts.PublicURL, "/"), listenHost: listenHost(opts.ListenAddr)}
	if n, ok := deps.Accounts.(sessionNotifier); ok {
		n.OnSessionsEnded(s.streams.sessionsEnded)
	}

	// Outermost first: metrics see the final code, errors are mapped before
	// that, the overload limit holds a sentence's slot until its record is
	// committed, the audit decorator sees every call with its request id and
	// the domain's errors, and authentication runs right before the handler.
	interceptors := []connect.Interceptor{newMetrics(opts.Registerer), requestInterceptor(s.log), timeoutInterceptor(opts.HandlerTimeout)}
	if shed := newShedder(opts.Overload, opts.Registerer, s.now, reportShed(deps.Auditor, s.log, s.now)); shed != nil {
		interceptors = append(interceptors, shed)
	}
	interceptors = append(interceptors, auditor{w: deps.Auditor, log: s.log, now: s.now}, authInterceptor(s, opts))
	handlerOpts := append(jsonCodecs(),
		connect.WithReadMaxBytes(opts.MaxRequestBytes),
		connect.WithCompressMinBytes(compressMinBytes),
		connect.WithInterceptors(interceptors...),
	)

	mux := http.NewServeMux()
	mux.Handle(homeplanev1connect.NewAuthServiceHandler(&authService{s: s}, handlerOpts...))
	mux.Handle(homeplanev1connect.NewHomeServiceHandler(&homeService{s: s}, handlerOpts...))
	mux.Handle(homeplanev1connect.NewIntentServiceHandler(&intentService{s: s}, handlerOpts...))
	mux.Handle(homeplanev1connect.NewAgentServiceHandler(&agentService{s: s}, handlerOpts...))
	mux.Handle(homeplanev1connect.NewAdminServiceHandler(&adminService{s: s}, handlerOpts...))
	mux.Handle(homeplanev1connect.NewPairingServiceHandler(&pairingService{s: s}, handlerOpts...))
	mux.HandleFunc("POST "+DeviceAuthorizationPath, s.deviceAuthorization)
	mux.HandleFunc("POST "+TokenPath, s.token)
	return ClientAddrs(opts.TrustedProxies, withOrigin(withDeadlines(noStore(mux))))
}

// noStore marks every answer of the API as one no cache may keep: answers
// carry tokens (Login, Refresh, RegisterDevice, Enroll, …) and a person's
// own data, and the Connect protocol lets GET serve the procedures without
// side effects, which a shared cache or the browser's would otherwise be
// free to keep (RFC 6749 §5.1 asks the same of token answers).
func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}
