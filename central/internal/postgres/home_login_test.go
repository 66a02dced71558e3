package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
)

// TestAgentLoginsHaveTheirOwnPool: with every connection of the main pool
// taken (as a reconnect storm's entity syncs take them), an agent still
// logs in at once.
func TestAgentLoginsHaveTheirOwnPool(t *testing.T) {
	pool, url := pgtest.NewURL(t)
	ctx := context.Background()
	logins, err := postgres.Open(ctx, url, postgres.Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer logins.Close()
	svc := home.NewService(postgres.NewHomeStore(pool).WithLoginPool(logins), home.Options{CacheTTL: -1})

	owner := "00000000-0000-4000-8000-000000000001"
	if _, err := postgres.NewAuthStore(pool).CreateUser(ctx, auth.User{
		ID: owner, Email: "owner@example.com", Role: auth.RoleUser, CreatedAt: time.Now(),
	}, "$argon2id$unused"); err != nil {
		t.Fatal(err)
	}
	h, err := svc.Create(ctx, owner, "Home")
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := svc.CreateEnrollmentToken(ctx, owner, h.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	agent, secret, err := svc.Enroll(ctx, tok, "server.local", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}

	for range pool.Config().MaxConns {
		c, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Release()
	}
	loginCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	got, err := svc.AuthenticateAgent(loginCtx, agent.ID, secret)
	if err != nil || got != h.ID {
		t.Fatalf("AuthenticateAgent with the main pool exhausted = %q, %v; want %q", got, err, h.ID)
	}
}

// TestAgentLoginStormIsBatched: many agents logging in at once with nothing
// cached (central just restarted) all get in, unknown and wrong secrets are
// refused, and a revocation still refuses the next login at once although
// the credential was cached.
func TestAgentLoginStormIsBatched(t *testing.T) {
	pool, url := pgtest.NewURL(t)
	ctx := context.Background()
	logins, err := postgres.Open(ctx, url, postgres.Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer logins.Close()
	store := postgres.NewHomeStore(pool).WithLoginPool(logins)
	enrolled := home.NewService(store, home.Options{MaxHomesPerOwner: 1000})
	owner := "00000000-0000-4000-8000-000000000001"
	if _, err := postgres.NewAuthStore(pool).CreateUser(ctx, auth.User{
		ID: owner, Email: "owner@example.com", Role: auth.RoleUser, CreatedAt: time.Now(),
	}, "$argon2id$unused"); err != nil {
		t.Fatal(err)
	}
	type agent struct{ id, home, secret string }
	agents := make([]agent, 300)
	for i := range agents {
		h, err := enrolled.Create(ctx, owner, fmt.Sprintf("Home %d", i))
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := enrolled.CreateEnrollmentToken(ctx, owner, h.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		a, secret, err := enrolled.Enroll(ctx, tok, "server.local", "1.0.0")
		if err != nil {
			t.Fatal(err)
		}
		agents[i] = agent{a.ID, h.ID, secret}
	}

	svc := home.NewService(store, home.Options{}) // a restarted central: nothing cached
	loginCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, a := range agents {
		wg.Go(func() {
			if got, err := svc.AuthenticateAgent(loginCtx, a.id, a.secret); err != nil || got != a.home {
				t.Errorf("AuthenticateAgent(%s) = %q, %v; want %q", a.id, got, err, a.home)
			}
		})
		wg.Go(func() {
			if _, err := svc.AuthenticateAgent(loginCtx, a.id, a.secret+"x"); !errors.Is(err, home.ErrUnauthenticated) {
				t.Errorf("a wrong secret: %v, want unauthenticated", err)
			}
		})
	}
	wg.Go(func() {
		if _, err := svc.AuthenticateAgent(loginCtx, "00000000-0000-4000-8000-00000000dead", "x"); !errors.Is(err, home.ErrUnauthenticated) {
			t.Errorf("an unknown agent: %v, want unauthenticated", err)
		}
	})
	wg.Wait()

	a := agents[0]
	if err := svc.RevokeAgent(ctx, owner, a.home); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AuthenticateAgent(ctx, a.id, a.secret); !errors.Is(err, home.ErrUnauthenticated) {
		t.Fatalf("login right after revocation: %v, want unauthenticated", err)
	}
}
