package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
)

func TestMigrationsAreNumberedInOrder(t *testing.T) {
	ms, err := postgres.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no migrations embedded")
	}
	// Numbers are handed out per change in advance, so one may be missing
	// for a while; they must still start at 1 and only go up.
	for i, m := range ms {
		if (i == 0 && m.Version != 1) || (i > 0 && m.Version <= ms[i-1].Version) {
			t.Fatalf("migration %d is %s (version %d): versions must start at 1 and increase", i, m.Name, m.Version)
		}
		if m.Checksum == "" || m.SQL == "" {
			t.Fatalf("migration %s is empty", m.Name)
		}
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	pool, url := pgtest.NewURL(t) // already migrated once
	ctx := context.Background()

	// Replicas starting together: every Migrate succeeds, each version applies once.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = postgres.Migrate(ctx, pool) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Migrate %d: %v", i, err)
		}
	}
	again, err := postgres.Open(ctx, url, postgres.Options{Migrate: true, MaxConns: 2})
	if err != nil {
		t.Fatalf("Open with Migrate on a migrated database: %v", err)
	}
	defer again.Close()

	ms, _ := postgres.Migrations()
	var n, maxVersion int
	if err := pool.QueryRow(ctx, "SELECT count(*), max(version) FROM schema_migrations").Scan(&n, &maxVersion); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) || maxVersion != ms[len(ms)-1].Version {
		t.Fatalf("schema_migrations holds %d rows up to %d, want %d up to %d", n, maxVersion, len(ms), ms[len(ms)-1].Version)
	}
}

func TestMigrateRefusesEditedMigration(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1"); err != nil {
		t.Fatal(err)
	}
	if err := postgres.Migrate(ctx, pool); err == nil {
		t.Fatal("Migrate accepted a migration whose file changed after it was applied")
	}
}

func TestOpenRejectsBadURL(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://user:s3cret@[bad", postgres.Options{})
	if err == nil {
		t.Fatal("Open accepted a malformed URL")
	}
	if got := err.Error(); strings.Contains(got, "s3cret") {
		t.Fatalf("error %q leaks the password", got)
	}
}
