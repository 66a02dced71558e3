package rpc

import (
	"errors"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"

	hv1c "github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"
)

// Overload sheds sentences while central cannot keep up with them. Every
// Process call waits for its audit record's commit, so the age of the
// oldest record waiting (audit.Writer.Backlog) is how far behind central
// is: when it stays above Target for twice as long, new sentences are
// refused at once, before any work is spent on them, instead of joining a
// queue that only grows until every request times out. Calls already
// admitted finish; the other procedures (administration, logins) are not
// shed, so operators keep their view of an overloaded central (ADR 0038).
type Overload struct {
	// Backlog reports how long the records being committed have waited;
	// nil disables shedding.
	Backlog func() time.Duration
	// Target is the backlog above which central counts as behind
	// (DefaultOverloadTarget when zero; negative disables shedding).
	Target time.Duration
}

// DefaultOverloadTarget is well above the audit wait of a loaded but
// keeping-up central (p99 0.14 s at 500 Process/s with 15,000 agents on
// two cores), and well below the seconds a voice device waits.
const DefaultOverloadTarget = 250 * time.Millisecond

var errOverloaded = errors.New("central is overloaded; try again in a moment")

// shedder decides, call by call, whether central is overloaded.
type shedder struct {
	backlog  func() time.Duration
	target   time.Duration
	interval time.Duration
	// above is when the backlog was first seen above target (unix
	// nanoseconds), 0 while it is below.
	above atomic.Int64
	// reported is when a shed call was last audited, refused how many
	// calls were shed since.
	reported atomic.Int64
	refused  atomic.Int64
	shed     prometheus.Counter
}

func newShedder(o Overload, reg prometheus.Registerer) *shedder {
	if o.Target == 0 {
		o.Target = DefaultOverloadTarget
	}
	if o.Backlog == nil || o.Target < 0 {
		return nil
	}
	s := &shedder{backlog: o.Backlog, target: o.Target, interval: 2 * o.Target,
		shed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "homeplane_central_process_shed_total",
			Help: "Sentences refused at once because central was overloaded (its audit backlog stayed above the target).",
		})}
	if reg != nil {
		reg.MustRegister(s.shed)
	}
	return s
}

// sheds reports whether procedure is refused now. Only sentences are shed.
func (s *shedder) sheds(procedure string, now time.Time) bool {
	if s == nil || procedure != hv1c.IntentServiceProcessProcedure {
		return false
	}
	if s.backlog() <= s.target {
		if s.above.Load() != 0 {
			s.above.Store(0)
		}
		return false
	}
	t := now.UnixNano()
	first := s.above.Load()
	if first == 0 {
		s.above.CompareAndSwap(0, t)
		return false
	}
	if t-first < int64(s.interval) {
		return false // a slow commit or two, not a standing queue
	}
	s.shed.Inc()
	s.refused.Add(1)
	return true
}

// report says whether this shed call is to be audited, with the number of
// shed calls it stands for: the first, then at most one a reportEvery.
func (s *shedder) report(now time.Time) int64 {
	t, last := now.UnixNano(), s.reported.Load()
	if last != 0 && t-last < int64(reportEvery) || !s.reported.CompareAndSwap(last, t) {
		return 0
	}
	return s.refused.Swap(0)
}

// overloadedError is what a shed caller gets: Unavailable, which clients
// retry, with a hint of when.
func overloadedError() error {
	err := connect.NewError(connect.CodeUnavailable, errOverloaded)
	err.Meta().Set("Retry-After", "1")
	return err
}
