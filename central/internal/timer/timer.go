// Package timer keeps the timers people set by voice. A timer belongs to the
// voice device (or user) that set it; central runs it, answers questions
// about it, and tells the device through Watch when it finishes.
package timer

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"
	"unicode/utf8"
)

// Sentinel errors.
var (
	// ErrNotFound means no timer matched.
	ErrNotFound = errors.New("no such timer")
	// ErrAmbiguous means several timers matched where one was meant.
	ErrAmbiguous = errors.New("several timers match")
	// ErrLimit means the owner has too many timers or watchers, or asked
	// for an unreasonable duration.
	ErrLimit = errors.New("timer limit reached")
	// ErrStore means the Store failed; the timers are as they were.
	ErrStore = errors.New("timers could not be stored")
)

// Bounds of what one timer may hold, so that any Store can keep it.
const (
	maxTextChars  = 1000 // name, area and command
	maxOwnerChars = 128  // home and device ids
)

// Owner is who set a timer: a voice device of a home, or a user without a
// device ("user:<id>").
type Owner struct {
	HomeID, DeviceID string
}

// Timer is one timer as its owner sees it.
type Timer struct {
	ID      string
	Owner   Owner
	Name    string        // spoken name, may be empty
	Area    string        // area of the device that set it, may be empty
	Start   time.Duration // the duration it was set for
	EndsAt  time.Time     // when it finishes, while running; zero while paused
	Left    time.Duration // what is left, while paused; zero while running
	Paused  bool
	Command string // a sentence to carry out when it finishes
}

// Remaining is the time left at now.
func (t Timer) Remaining(now time.Time) time.Duration {
	if t.Paused {
		return t.Left
	}
	return max(t.EndsAt.Sub(now), 0)
}

// EventKind says what happened to a timer.
type EventKind uint8

// Kinds of events.
const (
	Started EventKind = iota + 1
	Updated
	Finished
	Cancelled
)

// Event is one change of a timer, delivered to its owner's watchers.
type Event struct {
	Kind  EventKind
	Timer Timer
}

// Stopper stops a pending callback; it reports whether it stopped it.
type Stopper interface{ Stop() bool }

// Clock is the time source; tests pass a fake one.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) Stopper
}

type realClock struct{}

func (realClock) Now() time.Time                              { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) Stopper { return time.AfterFunc(d, f) }

// Options are the Manager's optional settings.
type Options struct {
	Clock  Clock
	Logger *slog.Logger
	// MaxPerOwner bounds the timers one owner runs at once; default 20.
	MaxPerOwner int
	// MaxDuration bounds one timer; default 24h.
	MaxDuration time.Duration
	// MaxWatchers bounds the open watches per owner; default 4.
	MaxWatchers int
	// Finished is called (in its own goroutine) when a timer with a
	// command finishes, to carry the command out.
	Finished func(Timer)
	// Store keeps the timers across restarts; without one they live in
	// memory only.
	Store Store
	// StoreTimeout bounds one Store call; default 5s. The calls are made
	// under the Manager's lock, so this is also how long a slow database
	// can hold up the other timers.
	StoreTimeout time.Duration
	// RetryDelay is how long a finished timer whose removal from the Store
	// failed waits before trying again; default 10s.
	RetryDelay time.Duration
	// Lease, when set, lets several Managers share one Store (replicas of
	// central): only the one holding the lease finishes timers, the others
	// keep a copy to answer questions about them. Such a Manager finishes
	// nothing until RunLease has taken the lease.
	Lease Lease
	// Holder names this Manager to the Lease (the replica's id).
	Holder string
	// LeaseTTL is how long the lease holds without renewal; default 15s. A
	// dead holder's timers finish at most about this late.
	LeaseTTL time.Duration
}

type entry struct {
	t Timer
	// ver is the Manager's version when this Manager last changed t, so
	// that a sync with an older copy of the Store leaves it alone.
	ver  uint64
	stop Stopper
	// gen tells the current schedule from one a later change replaced but
	// could no longer stop.
	gen uint64
}

type watcher struct {
	ch      chan Event
	dropped int
}

// Manager runs the timers of every home.
type Manager struct {
	opts     Options
	mu       sync.Mutex
	timers   map[string]*entry
	watchers map[Owner]map[*watcher]struct{}
	// passive is set while another Manager holds the Lease: timers are
	// kept but not finished here.
	passive bool
	// ver counts this Manager's changes (entry.ver); gone holds the
	// version at which timers left this Manager, until a sync's Load is
	// newer, so that the sync does not bring them back.
	ver  uint64
	gone map[string]uint64
}

// NewManager returns a Manager with no timers; Restore brings back the
// stored ones.
func NewManager(opts Options) *Manager {
	if opts.Clock == nil {
		opts.Clock = realClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxPerOwner <= 0 {
		opts.MaxPerOwner = 20
	}
	if opts.MaxDuration <= 0 {
		opts.MaxDuration = 24 * time.Hour
	}
	if opts.MaxWatchers <= 0 {
		opts.MaxWatchers = 4
	}
	if opts.StoreTimeout <= 0 {
		opts.StoreTimeout = 5 * time.Second
	}
	if opts.RetryDelay <= 0 {
		opts.RetryDelay = 10 * time.Second
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = 15 * time.Second
	}
	return &Manager{opts: opts, timers: map[string]*entry{}, watchers: map[Owner]map[*watcher]struct{}{},
		passive: opts.Lease != nil, gone: map[string]uint64{}}
}

// Start starts a timer for its owner.
func (m *Manager) Start(t Timer) (Timer, error) {
	if t.Start <= 0 || t.Start > m.opts.MaxDuration || !fits(t) {
		return Timer{}, ErrLimit
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, e := range m.timers {
		if e.t.Owner == t.Owner {
			n++
		}
	}
	if n >= m.opts.MaxPerOwner {
		return Timer{}, ErrLimit
	}
	t.ID = newID()
	t.Paused, t.Left = false, 0
	t.EndsAt = m.opts.Clock.Now().Add(t.Start)
	if err := m.saveLocked(t); err != nil {
		return Timer{}, err
	}
	e := &entry{t: t}
	m.timers[t.ID] = e
	m.scheduleLocked(e, t.Start)
	m.notifyLocked(Event{Kind: Started, Timer: t})
	return t, nil
}

func (m *Manager) scheduleLocked(e *entry, d time.Duration) {
	id := e.t.ID
	m.ver++
	e.ver = m.ver
	e.gen++
	gen := e.gen
	e.stop = m.opts.Clock.AfterFunc(d, func() { m.finish(id, e, gen) })
}

func (m *Manager) unscheduleLocked(e *entry) {
	m.ver++
	e.ver = m.ver
	e.gen++
	if e.stop != nil {
		e.stop.Stop()
	}
}

// finish ends a timer whose time is up. Its removal from the Store comes
// first: a timer is announced finished (and its command run) only once the
// Store no longer holds it, so a restart cannot finish it twice.
func (m *Manager) finish(id string, e *entry, gen uint64) {
	m.mu.Lock()
	cur, ok := m.timers[id]
	if !ok || cur != e || e.t.Paused || e.gen != gen || m.passive {
		// A passive Manager leaves it to the lease holder; should it take
		// the lease over, its sync finishes what is due.
		m.mu.Unlock()
		return
	}
	existed, err := m.finishLocked(id)
	if err != nil {
		m.opts.Logger.Error("finished timer not removed from the store; trying again", "home_id", e.t.Owner.HomeID, "timer_id", id, "retry_in", m.opts.RetryDelay, "err", err)
		m.scheduleLocked(e, m.opts.RetryDelay)
		m.mu.Unlock()
		return
	}
	m.dropLocked(id)
	if !existed {
		// Someone else removed or changed it (its home was deleted, another
		// replica finished, cancelled, paused or extended it): there is
		// nothing to finish now; a changed one comes back with the next sync.
		m.mu.Unlock()
		m.opts.Logger.Info("timer gone from the store before it finished", "home_id", e.t.Owner.HomeID, "timer_id", id)
		return
	}
	t := e.t
	m.notifyLocked(Event{Kind: Finished, Timer: t})
	m.mu.Unlock()
	if t.Command != "" && m.opts.Finished != nil {
		go m.opts.Finished(t)
	}
}

// dropLocked forgets the timer id.
func (m *Manager) dropLocked(id string) {
	delete(m.timers, id)
	if m.opts.Lease != nil {
		m.ver++
		m.gone[id] = m.ver
	}
}

// Selector picks timers: by name, by area (any device of the home), by the
// duration they were started with; with none of these, the owner's own.
type Selector struct {
	Name  string
	Area  string
	Start time.Duration
}

func (s Selector) empty() bool { return s.Name == "" && s.Area == "" && s.Start == 0 }

// Find returns the timers sel picks among those owner can reach, soonest
// first.
func (m *Manager) Find(owner Owner, sel Selector) []Timer {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.findLocked(owner, sel)
}

func (m *Manager) findLocked(owner Owner, sel Selector) []Timer {
	now := m.opts.Clock.Now()
	var out []Timer
	for _, e := range m.timers {
		t := e.t
		if t.Owner.HomeID != owner.HomeID {
			continue
		}
		if sel.Area == "" && t.Owner != owner {
			continue
		}
		if sel.Area != "" && !equalFold(t.Area, sel.Area) {
			continue
		}
		if sel.Name != "" && !equalFold(t.Name, sel.Name) {
			continue
		}
		if sel.Start != 0 && t.Start != sel.Start {
			continue
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Remaining(now) < out[j].Remaining(now) })
	return out
}

// one picks the single timer sel means.
func (m *Manager) oneLocked(owner Owner, sel Selector) (*entry, error) {
	found := m.findLocked(owner, sel)
	switch {
	case len(found) == 0:
		return nil, ErrNotFound
	case len(found) > 1:
		return nil, ErrAmbiguous
	}
	return m.timers[found[0].ID], nil
}

// Cancel cancels the timer sel picks.
func (m *Manager) Cancel(owner Owner, sel Selector) (Timer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.oneLocked(owner, sel)
	if err != nil {
		return Timer{}, err
	}
	if err := m.removeLocked(e); err != nil {
		return Timer{}, err
	}
	return e.t, nil
}

// CancelAll cancels every timer sel picks and returns how many. When the
// Store fails it stops there: the count says how many were cancelled.
func (m *Manager) CancelAll(owner Owner, sel Selector) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, t := range m.findLocked(owner, sel) {
		if err := m.removeLocked(m.timers[t.ID]); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (m *Manager) removeLocked(e *entry) error {
	// A timer the Store no longer holds is as good as cancelled.
	if _, err := m.deleteLocked(e.t.ID); err != nil {
		return err
	}
	m.unscheduleLocked(e)
	m.dropLocked(e.t.ID)
	m.notifyLocked(Event{Kind: Cancelled, Timer: e.t})
	return nil
}

// Pause pauses the timer sel picks.
func (m *Manager) Pause(owner Owner, sel Selector) (Timer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.oneLocked(owner, sel)
	if err != nil {
		return Timer{}, err
	}
	if !e.t.Paused {
		t := e.t
		t.Left = t.Remaining(m.opts.Clock.Now())
		t.Paused, t.EndsAt = true, time.Time{}
		if err := m.saveLocked(t); err != nil {
			return Timer{}, err
		}
		e.t = t
		m.unscheduleLocked(e)
		m.notifyLocked(Event{Kind: Updated, Timer: e.t})
	}
	return e.t, nil
}

// Resume resumes the paused timer sel picks.
func (m *Manager) Resume(owner Owner, sel Selector) (Timer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.oneLocked(owner, sel)
	if err != nil {
		return Timer{}, err
	}
	if e.t.Paused {
		t, left := e.t, e.t.Left
		t.Paused, t.Left = false, 0
		t.EndsAt = m.opts.Clock.Now().Add(left)
		if err := m.saveLocked(t); err != nil {
			return Timer{}, err
		}
		e.t = t
		m.scheduleLocked(e, left)
		m.notifyLocked(Event{Kind: Updated, Timer: e.t})
	}
	return e.t, nil
}

// Add adds delta (negative to remove time) to the timer sel picks; a timer
// left with no time finishes at once.
func (m *Manager) Add(owner Owner, sel Selector, delta time.Duration) (Timer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.oneLocked(owner, sel)
	if err != nil {
		return Timer{}, err
	}
	now := m.opts.Clock.Now()
	left := min(max(e.t.Remaining(now)+delta, 0), m.opts.MaxDuration)
	t := e.t
	if t.Paused {
		t.Left = left
	} else {
		t.EndsAt = now.Add(left)
	}
	if err := m.saveLocked(t); err != nil {
		return Timer{}, err
	}
	e.t = t
	if !t.Paused {
		m.unscheduleLocked(e)
		m.scheduleLocked(e, left)
	}
	m.notifyLocked(Event{Kind: Updated, Timer: e.t})
	return e.t, nil
}

// Watch delivers the owner's timer events until stop is called. Events a
// slow watcher cannot take are dropped, never blocking the timers.
func (m *Manager) Watch(owner Owner) (events <-chan Event, stop func(), err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ws := m.watchers[owner]
	if len(ws) >= m.opts.MaxWatchers {
		return nil, nil, ErrLimit
	}
	if ws == nil {
		ws = map[*watcher]struct{}{}
		m.watchers[owner] = ws
	}
	w := &watcher{ch: make(chan Event, 64)}
	ws[w] = struct{}{}
	var once sync.Once
	return w.ch, func() {
		once.Do(func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			delete(m.watchers[owner], w)
			if len(m.watchers[owner]) == 0 {
				delete(m.watchers, owner)
			}
			close(w.ch)
		})
	}, nil
}

func (m *Manager) notifyLocked(ev Event) {
	for w := range m.watchers[ev.Timer.Owner] {
		select {
		case w.ch <- ev:
		default:
			w.dropped++
			m.opts.Logger.Warn("timer event dropped for a slow watcher", "home_id", ev.Timer.Owner.HomeID, "timer_id", ev.Timer.ID)
		}
	}
}

// fits reports whether t is within the bounds any Store can keep.
func fits(t Timer) bool {
	return len(t.Owner.HomeID) <= maxOwnerChars && len(t.Owner.DeviceID) <= maxOwnerChars &&
		utf8.RuneCountInString(t.Name) <= maxTextChars && utf8.RuneCountInString(t.Area) <= maxTextChars &&
		utf8.RuneCountInString(t.Command) <= maxTextChars
}

func equalFold(a, b string) bool {
	return normalizeName(a) == normalizeName(b)
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
