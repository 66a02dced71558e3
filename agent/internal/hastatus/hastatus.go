// Package hastatus reports what the agent sees of Home Assistant itself:
// when it refuses the agent's token (an instance event, "ha_auth_failed",
// and "ha_auth_ok" once it accepts it again), the version it runs, when it
// last answered, and, in adopt mode where no supervisor samples a
// container, its reachability and health as an instance status.
//
// A refused token is never answered with other tokens. In managed mode the
// agent onboards again only when Home Assistant says it has no owner (its
// configuration was lost); otherwise it reports and waits for the operator,
// checking once a RecheckInterval with the same token (ADR 0022).
package hastatus

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/agent/internal/atomicfile"
	"github.com/homeplane/homeplane/agent/internal/homeassistant"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
	"github.com/homeplane/homeplane/protocol/vocab"
)

// Event kinds this package publishes.
const (
	KindAuthFailed = homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_HA_AUTH_FAILED
	KindAuthOK     = homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_HA_AUTH_OK
	KindOnboarded  = homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_ONBOARDED
)

// HomeAssistant is what the reporter asks Home Assistant.
type HomeAssistant interface {
	Ping(ctx context.Context) error
	Config(ctx context.Context) (homeassistant.Config, error)
	Onboarded(ctx context.Context) (bool, error)
}

// Publisher sends events and statuses to central (the agent's outbox).
type Publisher interface {
	Publish(ctx context.Context, kind topic.Kind, msg proto.Message) error
}

// Sink takes what the reporter learnt; in managed mode the supervisor, which
// puts it into the container's status.
type Sink interface {
	Observe(version string, lastOK time.Time)
}

// Options tunes a Reporter; zero values take the defaults in brackets.
type Options struct {
	Logger *slog.Logger
	// Adopt makes the reporter publish the instance status itself, as
	// telemetry, every Interval: nobody else does in adopt mode.
	Adopt bool
	// Interval is the time between probes of /api/ and /api/config (30s).
	Interval time.Duration
	// RecheckInterval is the time between checks of a refused token (1m).
	RecheckInterval time.Duration
	// Reonboard onboards Home Assistant and hands the client the new token;
	// managed mode only. It runs when Home Assistant reports that it has no
	// owner, and at start with OnboardAtStart.
	Reonboard func(ctx context.Context) error
	// OnboardAtStart: the agent has no token yet, so Run onboards first (a
	// fresh managed instance).
	OnboardAtStart bool
	// Sink, when set, hears the version and the last successful call.
	Sink Sink
	// StateFile, when set, keeps the last successful call across agent
	// restarts. It is written at most once a probe Interval, never on the
	// command path, whose only fsync is the ledger's.
	StateFile string
	// Now is the clock (time.Now).
	Now func() time.Time
}

// Reporter follows Home Assistant's answers; Observe is the client's
// homeassistant.Options.Observe.
type Reporter struct {
	ha   HomeAssistant
	pub  Publisher
	opts Options
	log  *slog.Logger
	kick chan struct{}

	mu       sync.Mutex
	refused  bool // the latest call with the token was refused
	reported bool // the refusal was published
	reason   string
	lastOK   time.Time
	saved    time.Time // lastOK as StateFile holds it
	version  string
}

// saved is what StateFile holds.
type savedState struct {
	LastSuccessAt time.Time `json:"last_success_at"`
}

// New returns a Reporter; run it with Run.
func New(ha HomeAssistant, pub Publisher, opts Options) *Reporter {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Interval <= 0 {
		opts.Interval = 30 * time.Second
	}
	if opts.RecheckInterval <= 0 {
		opts.RecheckInterval = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Reporter{ha: ha, pub: pub, opts: opts, log: opts.Logger, kick: make(chan struct{}, 1)}
	r.lastOK = r.load()
	r.saved = r.lastOK
	return r
}

// load reads the last successful call StateFile kept; an unreadable file
// only costs that time, so it is logged and ignored.
func (r *Reporter) load() time.Time {
	if r.opts.StateFile == "" {
		return time.Time{}
	}
	b, err := os.ReadFile(r.opts.StateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return time.Time{}
	}
	var st savedState
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil {
		r.log.Warn("last successful call not restored", "file", r.opts.StateFile, "error", err)
		return time.Time{}
	}
	return st.LastSuccessAt
}

// save writes the last successful call to StateFile when it changed.
func (r *Reporter) save() {
	r.mu.Lock()
	lastOK, saved := r.lastOK, r.saved
	r.mu.Unlock()
	if r.opts.StateFile == "" || !lastOK.After(saved) {
		return
	}
	b, _ := json.Marshal(savedState{LastSuccessAt: lastOK.UTC()})
	if err := atomicfile.WritePrivate(r.opts.StateFile, b); err != nil {
		r.log.Warn("last successful call not saved", "file", r.opts.StateFile, "error", err)
		return
	}
	r.mu.Lock()
	r.saved = lastOK
	r.mu.Unlock()
}

// Observe takes the outcome of one call made with the token.
func (r *Reporter) Observe(err error) {
	r.mu.Lock()
	changed := false
	switch {
	case err == nil:
		r.lastOK = r.opts.Now()
		changed = r.refused
		r.refused = false
	case errors.Is(err, homeassistant.ErrUnauthorized):
		changed = !r.refused
		r.refused, r.reason = true, err.Error()
	}
	r.mu.Unlock()
	if changed {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
}

// LastOK is when Home Assistant last accepted a call; zero: never.
func (r *Reporter) LastOK() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastOK
}

// Refused reports whether Home Assistant refuses the agent's token now.
func (r *Reporter) Refused() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refused
}

// Run probes and reports until ctx ends.
func (r *Reporter) Run(ctx context.Context) {
	probe := time.NewTicker(r.opts.Interval)
	defer probe.Stop()
	recheck := time.NewTicker(r.opts.RecheckInterval)
	defer recheck.Stop()
	if r.opts.OnboardAtStart && r.opts.Reonboard != nil {
		if err := r.opts.Reonboard(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			r.mu.Lock()
			r.refused, r.reason = true, err.Error()
			r.mu.Unlock()
		} else {
			r.mu.Lock()
			r.refused = false // calls made before the token existed
			r.mu.Unlock()
		}
	}
	r.probe(ctx)
	defer r.save()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
			r.settle(ctx)
		case <-recheck.C:
			if r.Refused() {
				// One call with the same token: is it accepted again?
				_ = r.ha.Ping(ctx)
				r.settle(ctx)
			}
		case <-probe.C:
			r.probe(ctx)
		}
	}
}

// probe reads /api/config (which also tells whether the token is taken),
// then /api/ when that failed for another reason, and reports.
func (r *Reporter) probe(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cfg, err := r.ha.Config(pctx)
	if err == nil && cfg.Version != "" {
		r.mu.Lock()
		r.version = cfg.Version
		r.mu.Unlock()
	}
	r.settle(ctx)
	r.mu.Lock()
	version, lastOK := r.version, r.lastOK
	r.mu.Unlock()
	r.save()
	if r.opts.Sink != nil {
		r.opts.Sink.Observe(version, lastOK)
	}
	if r.opts.Adopt && ctx.Err() == nil {
		r.publish(ctx, topic.Telemetry, &homeplanev1.Telemetry{Time: timestamppb.New(r.opts.Now()), Instance: r.adoptedStatus(err, version, lastOK)})
	}
}

// adoptedStatus is the instance status in adopt mode: what the API shows.
func (r *Reporter) adoptedStatus(err error, version string, lastOK time.Time) *homeplanev1.Instance {
	in := &homeplanev1.Instance{Mode: "adopted", Version: version, UpdatedAt: timestamppb.New(r.opts.Now())}
	if !lastOK.IsZero() {
		in.LastSuccessAt = timestamppb.New(lastOK)
	}
	var se *homeassistant.StatusError
	switch {
	case err == nil:
		in.State, in.Health = "running", "healthy"
	case errors.Is(err, homeassistant.ErrUnauthorized):
		// It answers, but not to the agent: running, health unknown.
		in.State, in.Health = "running", "unknown"
	case errors.Is(err, homeassistant.ErrUnavailable):
		in.State, in.Health = "running", "starting"
	case errors.As(err, &se):
		in.State, in.Health = "running", "unhealthy"
	default:
		// No answer at all: the agent cannot tell stopped from unreachable.
		in.State, in.Health = "unknown", "unhealthy"
	}
	return in
}

// settle reports a change of the token's acceptance once.
func (r *Reporter) settle(ctx context.Context) {
	r.mu.Lock()
	refused, reported, reason := r.refused, r.reported, r.reason
	r.mu.Unlock()
	switch {
	case refused && !reported:
		if r.reonboard(ctx) {
			return
		}
		r.log.Error("home assistant refuses the agent's token; waiting for the operator", "error", reason)
		r.event(ctx, KindAuthFailed, "Home Assistant refuses the agent's token ("+reason+"); give the agent a valid token (--ha-token)")
		r.setReported(true)
	case !refused && reported:
		r.log.Info("home assistant accepts the agent's token again")
		r.event(ctx, KindAuthOK, "Home Assistant accepts the agent's token again")
		r.setReported(false)
	}
}

// reonboard onboards again when Home Assistant has no owner; it reports
// whether that succeeded.
func (r *Reporter) reonboard(ctx context.Context) bool {
	if r.opts.Reonboard == nil {
		return false
	}
	done, err := r.ha.Onboarded(ctx)
	if err != nil || done {
		return false
	}
	r.log.Warn("home assistant lost its onboarding; onboarding it again")
	if err := r.opts.Reonboard(ctx); err != nil {
		r.log.Error("onboarding again failed", "error", err)
		return false
	}
	r.mu.Lock()
	r.refused = false
	r.mu.Unlock()
	r.event(ctx, KindOnboarded, "Home Assistant had no owner any more (its configuration was lost); onboarded again with a new token")
	return true
}

func (r *Reporter) setReported(v bool) {
	r.mu.Lock()
	r.reported = v
	r.mu.Unlock()
}

func (r *Reporter) event(ctx context.Context, kind homeplanev1.InstanceEventKind, reason string) {
	ev := vocab.Event(kind)
	ev.Time, ev.Reason = timestamppb.New(r.opts.Now()), reason
	r.publish(ctx, topic.Events, ev)
}

func (r *Reporter) publish(ctx context.Context, kind topic.Kind, msg proto.Message) {
	if err := r.pub.Publish(ctx, kind, msg); err != nil && ctx.Err() == nil {
		r.log.Warn("home assistant status not published", "kind", kind, "error", err)
	}
}
