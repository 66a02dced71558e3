package home_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/central/internal/postgres"
)

// heldSecrets reads secrets in batches, counting the queries and holding
// the first until released.
type heldSecrets struct {
	*postgres.HomeStore
	queries atomic.Int32
	first   chan struct{} // closed when the first query starts
	release chan struct{}
	once    sync.Once
}

func (s *heldSecrets) AgentSecrets(ctx context.Context, ids []string) (map[string]home.AgentSecret, error) {
	if s.queries.Add(1) == 1 {
		s.once.Do(func() { close(s.first) })
		<-s.release
	}
	return s.HomeStore.AgentSecrets(ctx, ids)
}

// The logins that arrive while a query runs share the next one.
func TestAgentLoginsShareQueries(t *testing.T) {
	e := newEnv(t, home.Options{MaxHomesPerOwner: 200})
	ctx := context.Background()
	owner := newUser(t, e)
	type cred struct{ id, home, secret string }
	var creds []cred
	for range 100 {
		h := mustCreate(t, e, owner, "Home")
		a, secret := enroll(t, e, owner, h.ID)
		creds = append(creds, cred{a.ID, h.ID, secret})
	}
	store := &heldSecrets{HomeStore: e.store, first: make(chan struct{}), release: make(chan struct{})}
	svc := home.NewService(store, home.Options{})

	var wg sync.WaitGroup
	login := func(c cred) {
		wg.Go(func() {
			if got, err := svc.AuthenticateAgent(ctx, c.id, c.secret); err != nil || got != c.home {
				t.Errorf("AuthenticateAgent = %q, %v; want %q", got, err, c.home)
			}
		})
	}
	login(creds[0])
	<-store.first
	for _, c := range creds[1:] {
		login(c)
	}
	time.Sleep(100 * time.Millisecond) // let them queue behind the held query
	close(store.release)
	wg.Wait()
	// Two queries run at once: while the first is held, the second takes
	// whoever waits, again and again, so a few queries serve all.
	if n := store.queries.Load(); n > 10 {
		t.Errorf("100 logins took %d queries, want at most 10", n)
	}
}
