package home

import (
	"context"
	"errors"
	"sync"
	"time"
)

// AgentSecretsStore is a Store that also reads many agents' secrets in one
// query. With it, the agents logging in at once (a reconnect storm after a
// restart, when no credential is cached) share a few queries instead of
// queueing one each for the database.
type AgentSecretsStore interface {
	// AgentSecrets returns the home and secret hash of each agent found.
	AgentSecrets(ctx context.Context, agentIDs []string) (map[string]AgentSecret, error)
}

// AgentSecret is what an agent's login is checked against.
type AgentSecret struct {
	HomeID string
	Hash   []byte
}

// ErrBusy refuses a login when too many wait for their credentials already.
var ErrBusy = errors.New("too many logins waiting")

// Bounds of the login batches.
const (
	loginBatch    = 500    // agents per query
	loginFetchers = 2      // queries at once
	loginWaiting  = 50_000 // agents waiting for a query, past which logins are refused
	loginTimeout  = 5 * time.Second
)

type loginAnswer struct {
	secret AgentSecret
	found  bool
	err    error
}

// loginBatcher gathers the lookups that arrive while a query runs into the
// next one.
type loginBatcher struct {
	store AgentSecretsStore

	mu      sync.Mutex
	waiting map[string][]chan loginAnswer
	order   []string // agent ids in waiting, oldest first
	running int
}

func newLoginBatcher(store AgentSecretsStore) *loginBatcher {
	return &loginBatcher{store: store, waiting: make(map[string][]chan loginAnswer)}
}

// lookup returns the agent's secret, found false for an unknown agent.
func (b *loginBatcher) lookup(ctx context.Context, agentID string) (AgentSecret, bool, error) {
	ch := make(chan loginAnswer, 1)
	b.mu.Lock()
	if _, ok := b.waiting[agentID]; !ok {
		if len(b.order) >= loginWaiting {
			b.mu.Unlock()
			return AgentSecret{}, false, ErrBusy
		}
		b.order = append(b.order, agentID)
	}
	b.waiting[agentID] = append(b.waiting[agentID], ch)
	if b.running < loginFetchers {
		b.running++
		go b.fetch()
	}
	b.mu.Unlock()
	select {
	case a := <-ch:
		return a.secret, a.found, a.err
	case <-ctx.Done():
		return AgentSecret{}, false, ctx.Err()
	}
}

// fetch queries for what waits until nothing does.
func (b *loginBatcher) fetch() {
	for {
		b.mu.Lock()
		if len(b.order) == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		n := min(len(b.order), loginBatch)
		ids := append([]string(nil), b.order[:n]...)
		b.order = append(b.order[:0], b.order[n:]...)
		waiters := make([][]chan loginAnswer, n)
		for i, id := range ids {
			waiters[i] = b.waiting[id]
			delete(b.waiting, id)
		}
		b.mu.Unlock()

		ctx, cancel := context.WithTimeout(context.Background(), loginTimeout)
		found, err := b.store.AgentSecrets(ctx, ids)
		cancel()
		for i, id := range ids {
			s, ok := found[id]
			for _, ch := range waiters[i] {
				ch <- loginAnswer{secret: s, found: ok, err: err} // buffered: a caller gone does not block
			}
		}
	}
}
