package audit_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
)

// chained writes n records, one a day from start, and returns the store.
func chained(tb testing.TB, pool *pgxpool.Pool, start time.Time, n int) *postgres.AuditStore {
	tb.Helper()
	store := postgres.NewAuditStore(pool)
	w := audit.NewWriter(store, audit.Options{})
	defer w.Close()
	for i := range n {
		err := w.Write(context.Background(), audit.Record{
			RequestID: fmt.Sprint("req-", i+1), Kind: audit.KindIntent, HomeID: homeID,
			Text: fmt.Sprint("turn on light ", i), Slots: map[string]any{"name": "light", "n": i},
			Executed: []any{map[string]any{"service": "turn_on", "z": 1.5, "a": "x"}},
			Time:     start.Add(time.Duration(i) * 24 * time.Hour), Outcome: "ok",
		})
		if err != nil {
			tb.Fatalf("Write: %v", err)
		}
	}
	return store
}

func TestVerifyChain(t *testing.T) {
	start := time.Date(2026, 1, 20, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		tamper string // SQL run after writing 20 records
		want   *audit.Broken
	}{
		{name: "intact"},
		{name: "text changed", tamper: "UPDATE audit_records SET text = 'unlock the door' WHERE id = 7",
			want: &audit.Broken{ID: 7, RequestID: "req-7", Reason: "changed"}},
		{name: "json changed", tamper: `UPDATE audit_records SET slots = '{"name":"door"}' WHERE id = 3`,
			want: &audit.Broken{ID: 3, RequestID: "req-3", Reason: "changed"}},
		{name: "record and its hash rewritten",
			tamper: "UPDATE audit_records SET outcome = 'failed', hash = sha256('x') WHERE id = 11",
			want:   &audit.Broken{ID: 11, RequestID: "req-11", Reason: "changed"}},
		{name: "middle removed", tamper: "DELETE FROM audit_records WHERE id = 5",
			want: &audit.Broken{ID: 5, Reason: "removed"}},
		{name: "newest removed", tamper: "DELETE FROM audit_records WHERE id = 20",
			want: &audit.Broken{ID: 20, Reason: "removed"}},
		{name: "first removed", tamper: "DELETE FROM audit_records WHERE id = 1",
			want: &audit.Broken{ID: 1, Reason: "removed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pool := pgtest.New(t)
			store := chained(t, pool, start, 20)
			ctx := context.Background()
			if tc.tamper != "" {
				if _, err := pool.Exec(ctx, tc.tamper); err != nil {
					t.Fatal(err)
				}
			}
			v, err := audit.Verify(ctx, store)
			if tc.want == nil {
				if err != nil || v.Records != 20 || v.LastID != 20 || len(v.Head) != 64 {
					t.Fatalf("Verify = %+v, %v", v, err)
				}
				return
			}
			var b *audit.Broken
			if !errors.As(err, &b) || !errors.Is(err, audit.ErrTampered) || *b != *tc.want {
				t.Fatalf("Verify error = %v, want %+v", err, tc.want)
			}
		})
	}
}

func TestRetentionDropsMonthsAndKeepsChain(t *testing.T) {
	pool := pgtest.New(t)
	start := time.Date(2026, 1, 20, 12, 0, 0, 0, time.UTC)
	store := chained(t, pool, start, 60) // Jan 20 to Mar 20
	ctx := context.Background()
	dropped, err := store.DropBefore(ctx, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || len(dropped) != 2 || dropped[0] != "audit_records_p202601" || dropped[1] != "audit_records_p202602" {
		t.Fatalf("DropBefore = %v, %v", dropped, err)
	}
	var left int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM audit_records").Scan(&left); err != nil || left != 20 {
		t.Fatalf("%d records left, %v; want the 20 of March", left, err)
	}
	v, err := audit.Verify(ctx, store)
	if err != nil || v.Records != 20 || v.FirstID != 41 || v.LastID != 60 {
		t.Fatalf("Verify after retention = %+v, %v", v, err)
	}
	// New writes still chain after the kept ones.
	w := audit.NewWriter(store, audit.Options{})
	defer w.Close()
	if err := w.Write(ctx, audit.Record{RequestID: "late", Kind: audit.KindLogin}); err != nil {
		t.Fatal(err)
	}
	if v, err := audit.Verify(ctx, store); err != nil || v.LastID != 61 {
		t.Fatalf("Verify after a new write = %+v, %v", v, err)
	}
}

// Two central replicas write to one chain: each commits at the head it
// wrote last until the other moves it, and then reads the head again. The
// chain stays whole and every record verifies, so the stored columns are
// exactly what was hashed.
func TestReplicasShareOneChain(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	const perReplica = 150
	errs := make(chan error, 2*perReplica)
	var wg sync.WaitGroup
	for replica := range 2 {
		w := audit.NewWriter(postgres.NewAuditStore(pool), audit.Options{})
		t.Cleanup(func() { w.Close() })
		for i := range perReplica {
			wg.Go(func() {
				errs <- w.Write(ctx, audit.Record{
					RequestID: fmt.Sprintf("r%d-%d", replica, i), Kind: audit.KindIntent, HomeID: homeID,
					Text: "turn on the porch light", Slots: map[string]any{"name": "porch", "i": i},
					Executed: []any{map[string]any{"service": "turn_on"}}, Answer: map[string]any{"ok": true},
					Outcome: "ok", ParseUS: int64(i), LLMTokens: i,
				})
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	v, err := audit.Verify(ctx, postgres.NewAuditStore(pool))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if v.Records != 2*perReplica || v.LastID != 2*perReplica {
		t.Fatalf("verified %+v, want %d records", v, 2*perReplica)
	}
}
