package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
)

// TestAuditMigrationKeepsOldRecords starts from the schema before 0005 with
// records in the old unpartitioned table, migrates, and checks that the old
// records are kept, sealed into the chain on the next commit, and verifiable.
func TestAuditMigrationKeepsOldRecords(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	ms, err := postgres.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "DROP SCHEMA public CASCADE; CREATE SCHEMA public"); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
		checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Version >= 5 {
			break
		}
		if _, err := pool.Exec(ctx, m.SQL); err != nil {
			t.Fatalf("apply %s: %v", m.Name, err)
		}
		if _, err := pool.Exec(ctx, "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
			m.Version, m.Name, m.Checksum); err != nil {
			t.Fatal(err)
		}
	}
	months := []time.Time{
		time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 15, 8, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 16, 8, 0, 0, 0, time.UTC),
	}
	for i, at := range months {
		if _, err := pool.Exec(ctx, `INSERT INTO audit_records (request_id, kind, user_id, home_id, device_id, time,
			text, intent, slots, parser, outcome, error, parse_us, resolve_us, execute_us, total_us, llm_tokens)
			VALUES ($1, 'intent', 'u', 'h', '', $2, 'turn on', 'HassTurnOn', '{"area": "kitchen"}', 'rules', 'ok', '', 1, 2, 3, 6, 0)`,
			fmt.Sprint("old-", i), at); err != nil {
			t.Fatal(err)
		}
	}
	if err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	store := postgres.NewAuditStore(pool)
	old, err := store.Records(ctx, audit.Filter{UserID: "u"})
	if err != nil || len(old) != 3 || old[0].RequestID != "old-2" || old[0].Slots["area"] != "kitchen" {
		t.Fatalf("migrated records = %+v, %v", old, err)
	}
	if _, err := audit.Verify(ctx, store); err == nil {
		t.Fatal("Verify passed before the migrated records were sealed")
	}
	w := audit.NewWriter(store, audit.Options{})
	defer w.Close()
	if err := w.Write(ctx, audit.Record{RequestID: "new", Kind: audit.KindIntent}); err != nil {
		t.Fatal(err)
	}
	v, err := audit.Verify(ctx, store)
	if err != nil || v.Records != 4 || v.LastID != 4 {
		t.Fatalf("Verify = %+v, %v", v, err)
	}
}
