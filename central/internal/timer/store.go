package timer

import (
	"context"
	"errors"
	"fmt"
)

// Store keeps the timers so that they outlive the process. The Manager
// calls it on every change, before changing its memory, so that a failed
// call leaves both as they were.
type Store interface {
	// Save inserts t or replaces the timer with its id.
	Save(ctx context.Context, t Timer) error
	// Delete removes the timer id; ErrNotFound when there is none.
	Delete(ctx context.Context, id string) error
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
