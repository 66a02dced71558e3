package postgres_test

import (
	"context"
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
