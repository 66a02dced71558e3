package timer

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Store keeps the timers so that they outlive the process. The Manager
// calls it on every change, before changing its memory, so that a failed
// call leaves both as they were.
type Store interface {
	// Save inserts t or replaces the timer with its id.
	Save(ctx context.Context, t Timer) error
	// Delete removes the timer id; ErrNotFound when there is none.
	Delete(ctx context.Context, id string) error
	// DeleteDue removes the timer id if it is running and ends at or
	// before now; ErrNotFound when there is no such timer (another
	// replica finished, cancelled, paused or extended it). The removal is
	// how a timer finishes once however many Managers share the Store.
	DeleteDue(ctx context.Context, id string, now time.Time) error
	// Load returns every stored timer.
	Load(ctx context.Context) ([]Timer, error)
}

// Restore brings back the stored timers: running ones are armed for the
// time they have left, paused ones stay paused, and those whose end passed
// while no Manager ran them finish at once, announcing it and running their
// command as they would have then. Call it once, before serving, after
// whatever Options.Finished needs is ready.
func (m *Manager) Restore(ctx context.Context) error {
	if m.opts.Store == nil {
		return nil
	}
	ts, err := m.opts.Store.Load(ctx)
	if err != nil {
		return fmt.Errorf("restore timers: %w", err)
	}
	now := m.opts.Clock.Now()
	var due []*entry
	m.mu.Lock()
	for _, t := range ts {
		if _, ok := m.timers[t.ID]; ok {
			continue
		}
		e := &entry{t: t}
		m.timers[t.ID] = e
		switch left := t.EndsAt.Sub(now); {
		case t.Paused:
		case left > 0:
			m.scheduleLocked(e, left)
		default:
			due = append(due, e)
		}
	}
	m.mu.Unlock()
	for _, e := range due {
		m.finish(e.t.ID, e, e.gen)
	}
	return nil
}

// saveLocked stores t. The Manager's methods take no context (intent.Timers
// does not pass one), so each call gets its own bounded one.
func (m *Manager) saveLocked(t Timer) error {
	if m.opts.Store == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.opts.StoreTimeout)
	defer cancel()
	if err := m.opts.Store.Save(ctx, t); err != nil {
		return fmt.Errorf("%w: save %s: %w", ErrStore, t.ID, err)
	}
	return nil
}

// finishLocked removes the due timer id from the Store and reports whether
// the Store still held it, due.
func (m *Manager) finishLocked(id string) (existed bool, err error) {
	if m.opts.Store == nil {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.opts.StoreTimeout)
	defer cancel()
	// A millisecond of slack: the Store may keep less precision.
	err = m.opts.Store.DeleteDue(ctx, id, m.opts.Clock.Now().Add(time.Millisecond))
	switch {
	case errors.Is(err, ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("%w: delete %s: %w", ErrStore, id, err)
	}
	return true, nil
}

// deleteLocked removes the timer id from the Store and reports whether the
// Store still held it.
func (m *Manager) deleteLocked(id string) (existed bool, err error) {
	if m.opts.Store == nil {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.opts.StoreTimeout)
	defer cancel()
	err = m.opts.Store.Delete(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("%w: delete %s: %w", ErrStore, id, err)
	}
	return true, nil
}

// sync makes this Manager's timers those of the Store, for a Manager
// sharing it with others: timers started elsewhere are added, changed ones
// taken over, removed ones forgotten, except where this Manager changed a
// timer since the Load began. Holding the lease, it then finishes every
// timer that is due, a dead holder's included.
func (m *Manager) sync(ctx context.Context) error {
	m.mu.Lock()
	since := m.ver
	m.mu.Unlock()
	ts, err := m.opts.Store.Load(ctx)
	if err != nil {
		return fmt.Errorf("sync timers: %w", err)
	}
	now := m.opts.Clock.Now()
	m.mu.Lock()
	stored := make(map[string]bool, len(ts))
	for _, t := range ts {
		stored[t.ID] = true
		if v, ok := m.gone[t.ID]; ok && v > since {
			continue
		}
		e, ok := m.timers[t.ID]
		switch {
		case !ok:
			e = &entry{t: t}
			m.timers[t.ID] = e
		case e.ver > since || same(e.t, t):
			continue
		default:
			m.unscheduleLocked(e)
			e.t = t
		}
		if left := t.EndsAt.Sub(now); !t.Paused && left > 0 {
			m.scheduleLocked(e, left)
		} else {
			m.ver++
			e.ver = m.ver
		}
	}
	for id, e := range m.timers {
		if !stored[id] && e.ver <= since {
			m.unscheduleLocked(e)
			delete(m.timers, id)
		}
	}
	for id, v := range m.gone {
		if v <= since {
			delete(m.gone, id)
		}
	}
	var due []*entry
	if !m.passive {
		for _, e := range m.timers {
			if !e.t.Paused && !e.t.EndsAt.After(now) {
				due = append(due, e)
			}
		}
	}
	m.mu.Unlock()
	for _, e := range due {
		m.finish(e.t.ID, e, e.gen)
	}
	return nil
}

// same reports whether two copies of a timer agree, the Store's precision
// aside.
func same(a, b Timer) bool {
	d := a.EndsAt.Sub(b.EndsAt)
	return a.Owner == b.Owner && a.Name == b.Name && a.Area == b.Area && a.Start == b.Start &&
		a.Paused == b.Paused && a.Left.Round(time.Millisecond) == b.Left.Round(time.Millisecond) &&
		a.Command == b.Command && d < time.Millisecond && d > -time.Millisecond
}
