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
	EndsAt  time.Time     // when it finishes, while running
	Left    time.Duration // what is left, while paused
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
}

type entry struct {
	t    Timer
	stop Stopper
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
}

// NewManager returns a Manager with no timers.
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
	return &Manager{opts: opts, timers: map[string]*entry{}, watchers: map[Owner]map[*watcher]struct{}{}}
}

// Start starts a timer for its owner.
func (m *Manager) Start(t Timer) (Timer, error) {
	if t.Start <= 0 || t.Start > m.opts.MaxDuration {
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
	e := &entry{t: t}
	m.timers[t.ID] = e
	m.scheduleLocked(e, t.Start)
	m.notifyLocked(Event{Kind: Started, Timer: t})
	return t, nil
}

func (m *Manager) scheduleLocked(e *entry, d time.Duration) {
	id := e.t.ID
	e.stop = m.opts.Clock.AfterFunc(d, func() { m.finish(id, e) })
}

func (m *Manager) finish(id string, e *entry) {
	m.mu.Lock()
	cur, ok := m.timers[id]
	if !ok || cur != e || e.t.Paused {
		m.mu.Unlock()
		return
	}
	delete(m.timers, id)
	t := e.t
	m.notifyLocked(Event{Kind: Finished, Timer: t})
	m.mu.Unlock()
	if t.Command != "" && m.opts.Finished != nil {
		go m.opts.Finished(t)
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
	m.removeLocked(e)
	return e.t, nil
}

// CancelAll cancels every timer sel picks and returns how many.
func (m *Manager) CancelAll(owner Owner, sel Selector) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	found := m.findLocked(owner, sel)
	for _, t := range found {
		m.removeLocked(m.timers[t.ID])
	}
	return len(found)
}

func (m *Manager) removeLocked(e *entry) {
	if e.stop != nil {
		e.stop.Stop()
	}
	delete(m.timers, e.t.ID)
	m.notifyLocked(Event{Kind: Cancelled, Timer: e.t})
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
		e.t.Left = e.t.Remaining(m.opts.Clock.Now())
		e.t.Paused = true
		if e.stop != nil {
			e.stop.Stop()
		}
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
		e.t.Paused = false
		e.t.EndsAt = m.opts.Clock.Now().Add(e.t.Left)
		m.scheduleLocked(e, e.t.Left)
		e.t.Left = 0
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
	if e.t.Paused {
		e.t.Left = left
	} else {
		if e.stop != nil {
			e.stop.Stop()
		}
		e.t.EndsAt = now.Add(left)
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

func equalFold(a, b string) bool {
	return normalizeName(a) == normalizeName(b)
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
