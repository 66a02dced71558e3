// Package timertest holds a timer.Clock for tests that moves only when told to.
package timertest

import (
	"sync"
	"time"

	"github.com/homeplane/homeplane/central/internal/timer"
)

// Clock is a timer.Clock whose time stands still until Advance moves it;
// Advance then runs the callbacks whose time has come.
type Clock struct {
	mu    sync.Mutex
	now   time.Time
	tasks []*task
}

// NewClock returns a Clock showing now.
func NewClock(now time.Time) *Clock { return &Clock{now: now} }

type task struct {
	at      time.Time
	f       func()
	stopped bool
}

func (t *task) Stop() bool { was := !t.stopped; t.stopped = true; return was }

// Now returns the Clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// AfterFunc schedules f for d from now.
func (c *Clock) AfterFunc(d time.Duration, f func()) timer.Stopper {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &task{at: c.now.Add(d), f: f}
	c.tasks = append(c.tasks, t)
	return t
}

// Advance moves the time on by d and runs what became due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*task
	rest := c.tasks[:0]
	for _, t := range c.tasks {
		if !t.stopped && !t.at.After(c.now) {
			t.stopped = true
			due = append(due, t)
		} else if !t.stopped {
			rest = append(rest, t)
		}
	}
	c.tasks = rest
	c.mu.Unlock()
	for _, t := range due {
		t.f()
	}
}
