package rpc

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/auth"
	hv1c "github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"
)

// Overload bounds the sentences central works on at once by what it keeps
// up with. Every Process call waits for its audit record's commit, so the
// age of the oldest record waiting (audit.Writer.Backlog) tells how far
// behind central is. The number of sentences in flight is capped by a
// limit that shrinks while the backlog stays above Target and grows back
// while it is below (additive increase, multiplicative decrease); a
// sentence over the limit is refused at once, before any work is spent on
// it, instead of joining a queue that grows until every request times out.
// Only sentences are limited: administration and logins keep working on an
// overloaded central (ADR 0040).
type Overload struct {
	// Backlog reports how long the records being committed have waited;
	// nil disables the limit.
	Backlog func() time.Duration
	// Target is the backlog above which central counts as behind
	// (DefaultOverloadTarget when zero; negative disables the limit).
	Target time.Duration
}

// DefaultOverloadTarget is well above the audit wait of a loaded central
// that keeps up (p99 0.10–0.24 s at 500 Process/s with 15,000 agents on two
// cores; 250 ms refused 0.75 % of one such run), and below the seconds a
// voice device waits for an answer.
const DefaultOverloadTarget = 500 * time.Millisecond

// The limit's range and steps. It starts at its ceiling, so a central that
// keeps up never refuses; sentences waiting on slow homes hold slots but
// add no backlog, so the limit grows to cover them.
const (
	maxInflightSentences = 4096
	minInflightSentences = 4
	limitDecrease        = 0.75 // of the sentences in flight, each step behind
	limitIncrease        = 1.1  // each step caught up, plus one
)

var errOverloaded = errors.New("central is overloaded; try again in a moment")

// shedder is the limit; nil never sheds.
type shedder struct {
	backlog func() time.Duration
	target  time.Duration
	step    time.Duration // between adjustments
	now     func() time.Time
	report  func(ctx context.Context, refused int)

	mu       sync.Mutex
	limit    float64
	inflight int
	adjusted time.Time
	behind   bool      // the backlog was above the target at the last adjustment
	reported time.Time // when shed calls were last audited
	refused  int       // shed calls since

	shed  prometheus.Counter
	gauge prometheus.Gauge
}

func newShedder(o Overload, reg prometheus.Registerer, now func() time.Time, report func(ctx context.Context, refused int)) *shedder {
	if o.Target == 0 {
		o.Target = DefaultOverloadTarget
	}
	if o.Backlog == nil || o.Target < 0 {
		return nil
	}
	s := &shedder{backlog: o.Backlog, target: o.Target, step: max(o.Target/2, 10*time.Millisecond), now: now, report: report,
		limit: maxInflightSentences,
		shed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "homeplane_central_process_shed_total",
			Help: "Sentences refused at once because central was overloaded (over the limit of sentences in flight).",
		}),
		gauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "homeplane_central_process_inflight_limit",
			Help: "The limit of sentences in flight, shrunk while the audit backlog is above the overload target.",
		}),
	}
	s.gauge.Set(s.limit)
	if reg != nil {
		reg.MustRegister(s.shed, s.gauge)
	}
	return s
}

// acquire takes a slot for a sentence, or reports that it is shed and
// whether (how many shed calls) to audit now.
func (s *shedder) acquire() (ok bool, report int) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.adjusted) >= s.step {
		s.adjusted = now
		behind := s.backlog() > s.target
		switch {
		case behind && s.behind:
			// Behind for a whole step: a standing queue, not a slow
			// commit. From what is in flight, not from a ceiling never
			// reached.
			s.limit = max(minInflightSentences, min(s.limit, float64(s.inflight))*limitDecrease)
		case !behind:
			s.limit = min(maxInflightSentences, s.limit*limitIncrease+1)
		}
		s.behind = behind
		s.gauge.Set(s.limit)
	}
	if float64(s.inflight) < s.limit {
		s.inflight++
		return true, 0
	}
	s.shed.Inc()
	s.refused++
	if !s.reported.IsZero() && now.Sub(s.reported) < reportEvery {
		return false, 0
	}
	s.reported, report, s.refused = now, s.refused, 0
	return false, report
}

func (s *shedder) release() {
	s.mu.Lock()
	s.inflight--
	s.mu.Unlock()
}

// WrapUnary limits Process. It runs outside the auditor, so a sentence's
// slot is held until its record is committed, and a shed one leaves no
// record of its own.
func (s *shedder) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient || req.Spec().Procedure != hv1c.IntentServiceProcessProcedure {
			return next(ctx, req)
		}
		ok, report := s.acquire()
		if !ok {
			if report > 0 {
				s.report(ctx, report)
			}
			err := connect.NewError(connect.CodeUnavailable, errOverloaded)
			err.Meta().Set("Retry-After", "1")
			return nil, err
		}
		defer s.release()
		return next(ctx, req)
	}
}

func (s *shedder) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (s *shedder) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// reportShed returns the shedder's report: one overloaded record for the
// calls shed since the last, written in the background so that the shed
// call is answered at once.
func reportShed(w Auditor, log *slog.Logger, now func() time.Time) func(ctx context.Context, refused int) {
	return func(ctx context.Context, refused int) {
		ev := audit.Event{Kind: audit.KindOverloaded, RequestID: RequestID(ctx), Time: now(),
			Action: hv1c.IntentServiceProcessProcedure, Outcome: audit.OutcomeDenied,
			Text: "overloaded: sentences refused", Detail: map[string]any{"refused": refused}}
		if addr, ok := auth.ClientAddrFrom(ctx); ok {
			ev.ClientAddr = addr
		}
		go func() {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
			defer cancel()
			if err := w.Write(actx, ev.Record()); err != nil {
				log.Error("audit record not committed", "kind", ev.Kind, "err", err)
			}
		}()
	}
}
