// Package pgtest gives tests a fresh, migrated PostgreSQL database of their
// own, created from HOMEPLANE_TEST_DATABASE_URL and dropped on cleanup.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/homeplane/homeplane/central/internal/postgres"
)

// URLVar names the environment variable holding a superuser URL of the test server.
const URLVar = "HOMEPLANE_TEST_DATABASE_URL"

// RequireVar, set to 1, turns a missing test server into a failure.
const RequireVar = "HOMEPLANE_REQUIRE_SERVICES"

// New creates a database for the calling test, applies the migrations and
// returns a pool on it. The database is dropped when the test ends.
func New(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	pool, _ := NewURL(tb)
	return pool
}

// NewURL is New that also returns the new database's URL, for tests that open
// their own connections (for example to run migrations again).
func NewURL(tb testing.TB) (*pgxpool.Pool, string) {
	tb.Helper()
	adminURL := os.Getenv(URLVar)
	if adminURL == "" {
		if os.Getenv(RequireVar) == "1" {
			tb.Fatalf("pgtest: %s is not set and %s=1: a PostgreSQL server is required", URLVar, RequireVar)
		}
		tb.Skipf("pgtest: %s is not set; skipping a test that needs PostgreSQL", URLVar)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	adminCfg, err := pgx.ParseConfig(adminURL)
	if err != nil {
		tb.Fatalf("pgtest: parse %s: %v", URLVar, err)
	}
	admin, err := pgx.ConnectConfig(ctx, adminCfg)
	if err != nil {
		tb.Fatalf("pgtest: connect to the test server: %v", err)
	}
	defer admin.Close(ctx)

	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "homeplane_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() { drop(tb, adminCfg, name) })

	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		tb.Fatalf("pgtest: %s must be a postgres:// URL", URLVar)
	}
	u.Path = "/" + name
	dbURL := u.String()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		tb.Fatalf("pgtest: open %s: %v", name, err)
	}
	tb.Cleanup(pool.Close)
	if err := postgres.Migrate(ctx, pool); err != nil {
		tb.Fatalf("pgtest: migrate %s: %v", name, err)
	}
	return pool, dbURL
}

func drop(tb testing.TB, adminCfg *pgx.ConnConfig, name string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.ConnectConfig(ctx, adminCfg)
	if err != nil {
		tb.Errorf("pgtest: drop %s: %v", name, err)
		return
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		tb.Errorf("pgtest: drop %s: %v", name, err)
	}
}
