package postgres_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

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
	migrateBelow(t, pool, 5)
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

// TestSecurityColumnsMigrationKeepsChain starts from the schema before 0008
// with a chain holding an intent and security events in the old shape
// (action in intent, client address among the slots), migrates, writes
// security events in the new shape and checks that the whole chain
// verifies, that old and new events read and filter alike, and that the
// old rows were left as they were.
func TestSecurityColumnsMigrationKeepsChain(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	migrateBelow(t, pool, 8)
	at := time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC)
	old := []audit.Record{
		{RequestID: "old-intent", Kind: audit.KindIntent, HomeID: "h", Text: "turn on", Intent: "HassTurnOn",
			Slots: map[string]any{"area": "kitchen"}, Parser: "rules", Outcome: audit.OutcomeOK},
		{RequestID: "old-admin", Kind: audit.KindAdmin, UserID: "admin-1", Intent: "SetUserDisabled",
			Slots: map[string]any{"target_user_id": "u2", "client_addr": "192.0.2.7"}, Outcome: audit.OutcomeOK},
		{RequestID: "old-login", Kind: audit.KindLogin, UserID: "u2", Intent: "Login", Outcome: audit.OutcomeOK},
	}
	// Chain them as the writer did before 0008, into the columns that existed then.
	var prev []byte
	var err error
	for i := range old {
		r := &old[i]
		r.ID, r.Time, r.PrevHash = int64(i+1), at.Add(time.Duration(i)*time.Minute), prev
		if r.Hash, err = audit.Digest(prev, *r); err != nil {
			t.Fatal(err)
		}
		prev = r.Hash
		if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS audit_records_p202611 PARTITION OF audit_records
			FOR VALUES FROM ('2026-11-01') TO ('2026-12-01')`); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `INSERT INTO audit_records (id, request_id, kind, user_id, home_id, device_id, time,
			text, intent, slots, parser, outcome, error, parse_us, resolve_us, execute_us, total_us, llm_tokens, prev_hash, hash)
			VALUES ($1, $2, $3, $4, $5, '', $6, $7, $8, $9, $10, $11, '', 0, 0, 0, 0, 0, $12, $13)`,
			r.ID, r.RequestID, r.Kind, r.UserID, r.HomeID, r.Time, r.Text, r.Intent, r.Slots, r.Parser, r.Outcome,
			r.PrevHash, r.Hash); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, "UPDATE audit_chain SET last_id = $1, last_hash = $2, sealed = true", len(old), prev); err != nil {
		t.Fatal(err)
	}
	if err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	store := postgres.NewAuditStore(pool)
	w := audit.NewWriter(store, audit.Options{})
	defer w.Close()
	if err := w.Event(ctx, audit.Event{Kind: audit.KindAdmin, RequestID: "new-admin", UserID: "admin-1",
		Action: "SetUserDisabled", Outcome: audit.OutcomeOK, Detail: map[string]any{"target_user_id": "u3"},
		ClientAddr: netip.MustParseAddr("2001:db8::7")}); err != nil {
		t.Fatal(err)
	}
	v, err := audit.Verify(ctx, store)
	if err != nil || v.Records != 4 || v.LastID != 4 {
		t.Fatalf("Verify across old and new records = %+v, %v", v, err)
	}

	recs, err := store.Records(ctx, audit.Filter{Kind: audit.KindAdmin, Intent: "SetUserDisabled"})
	if err != nil || len(recs) != 2 || recs[0].RequestID != "new-admin" || recs[1].RequestID != "old-admin" {
		t.Fatalf("Records(intent=SetUserDisabled) = %+v, %v", recs, err)
	}
	for _, r := range recs {
		action, detail, addr := r.Security()
		if action != "SetUserDisabled" || detail["target_user_id"] == nil || detail["client_addr"] != nil || !addr.IsValid() {
			t.Errorf("%s: Security() = %q %v %v", r.RequestID, action, detail, addr)
		}
		intent, slots := r.Shown()
		if intent != "SetUserDisabled" || slots["client_addr"] != addr.String() || slots["target_user_id"] != detail["target_user_id"] {
			t.Errorf("%s: Shown() = %q %v", r.RequestID, intent, slots)
		}
	}
	// The old rows were not moved: their hashes cover the columns they were written in.
	oldAdmin := recs[1]
	if oldAdmin.Intent != "SetUserDisabled" || oldAdmin.Action != "" || oldAdmin.Detail != nil || oldAdmin.ClientAddr.IsValid() {
		t.Errorf("old record changed by the migration: %+v", oldAdmin)
	}
	intents, err := store.Records(ctx, audit.Filter{Kind: audit.KindIntent})
	if err != nil || len(intents) != 1 {
		t.Fatalf("intent records = %+v, %v", intents, err)
	}
	if action, detail, addr := intents[0].Security(); action != "" || detail != nil || addr.IsValid() {
		t.Errorf("an intent record has security fields: %q %v %v", action, detail, addr)
	}
	if intent, slots := intents[0].Shown(); intent != "HassTurnOn" || slots["area"] != "kitchen" {
		t.Errorf("intent shown as %q %v", intent, slots)
	}
}

// migrateBelow empties the database and applies the migrations numbered
// below version, recording them as applied, as a database of that age was.
func migrateBelow(t *testing.T, pool *pgxpool.Pool, version int) {
	t.Helper()
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
		if m.Version >= version {
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
}
