package timer

import (
	"context"
	"time"
)

// Lease elects the one Manager, among several on one Store, that finishes
// the timers. Implementations keep it where every replica sees it
// (postgres.Lease) and judge its expiry by one clock (the database's).
type Lease interface {
	// Hold takes the lease for holder, or renews it, until ttl from now;
	// it reports whether holder has it. Another holder's lease can be taken
	// only once it expired.
	Hold(ctx context.Context, holder string, ttl time.Duration) (bool, error)
	// Release gives the lease up if holder has it.
	Release(ctx context.Context, holder string) error
}

// RunLease runs the Manager as one of several replicas until ctx ends:
// every third of the lease's TTL it takes or renews the lease and syncs
// with the Store. The holder finishes timers, including those due while
// no one held the lease (a dead holder's); the others only keep their copy
// of the Store current. A Manager that cannot renew stops finishing timers
// at once, before its lease can expire, so two holders never overlap by the
// Manager's doing; the Store's due deletion keeps a timer from finishing
// twice even then. On return the lease is released.
func (m *Manager) RunLease(ctx context.Context) error {
	l := m.opts.Lease
	if l == nil {
		return m.Restore(ctx)
	}
	every := m.opts.LeaseTTL / 3
	tick := time.NewTicker(every)
	defer tick.Stop()
	defer func() {
		m.setPassive(true)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.opts.StoreTimeout)
		defer cancel()
		if err := l.Release(rctx, m.opts.Holder); err != nil {
			m.opts.Logger.Warn("timer lease not released; another replica takes over when it expires", "err", err)
		}
	}()
	for {
		hctx, cancel := context.WithTimeout(ctx, every)
		held, err := l.Hold(hctx, m.opts.Holder, m.opts.LeaseTTL)
		cancel()
		if err != nil && ctx.Err() == nil {
			m.opts.Logger.Warn("timer lease not renewed; not finishing timers until it is", "holder", m.opts.Holder, "err", err)
		}
		if was := m.setPassive(!held); was == held {
			if held {
				m.opts.Logger.Info("timer lease taken; this replica finishes the timers", "holder", m.opts.Holder)
			} else {
				m.opts.Logger.Info("timer lease lost; another replica finishes the timers", "holder", m.opts.Holder)
			}
		}
		if ctx.Err() == nil {
			if err := m.sync(ctx); err != nil {
				m.opts.Logger.Warn("timers not synced with the store", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// setPassive sets whether this Manager leaves finishing to another and
// returns what it was.
func (m *Manager) setPassive(p bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	was := m.passive
	m.passive = p
	return was
}

// Holds reports whether this Manager finishes timers: it holds the lease,
// or has none.
func (m *Manager) Holds() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.passive
}
