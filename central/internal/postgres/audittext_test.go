package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/metrictest"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
)

func textRecords(n int, at time.Time) []audit.Record {
	rs := make([]audit.Record, n)
	for i := range rs {
		rs[i] = audit.Record{RequestID: fmt.Sprint("text-", at.UnixNano(), "-", i), Kind: audit.KindIntent, HomeID: "h",
			Time: at, Text: fmt.Sprintf("turn on the kitchen lights number %d", i), Outcome: "ok"}
	}
	return rs
}

// TestCleanPendingTextMergesTheList: records land in the text index's
// pending list, CleanPendingText merges them (and then finds nothing), and
// the text search finds every record after the merge.
func TestCleanPendingTextMergesTheList(t *testing.T) {
	ctx := context.Background()
	store := postgres.NewAuditStore(pgtest.New(t))
	now := time.Now().UTC()
	if err := store.InsertRecords(ctx, textRecords(200, now)); err != nil {
		t.Fatal(err)
	}
	pages, err := store.CleanPendingText(ctx, now)
	if err != nil || pages < 1 {
		t.Fatalf("CleanPendingText = %d, %v; want the pending pages of 200 records", pages, err)
	}
	if pages, err := store.CleanPendingText(ctx, now); err != nil || pages != 0 {
		t.Fatalf("second CleanPendingText = %d, %v; want 0", pages, err)
	}
	got, err := store.Records(ctx, audit.Filter{Text: "LIGHTS NUMBER 17", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, r := range textRecords(200, now) {
		if n := r.Text[len("turn on the kitchen lights number "):]; n == "17" || len(n) == 3 && n[:2] == "17" {
			want[r.RequestID] = true
		}
	}
	if len(got) != len(want) {
		t.Fatalf("text search after the merge found %d records, want %d", len(got), len(want))
	}
	for _, r := range got {
		if !want[r.RequestID] {
			t.Fatalf("text search found %q (%q)", r.RequestID, r.Text)
		}
	}
	// A month with no partition merges nothing and is no error.
	if pages, err := store.CleanPendingText(ctx, time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil || pages != 0 {
		t.Fatalf("CleanPendingText for a month never written = %d, %v", pages, err)
	}
}

// TestKeepTextIndexCleanMergesWhileRecordsAreWritten: the loop merges the
// pending list after records are written, and stops with its context.
func TestKeepTextIndexCleanMergesWhileRecordsAreWritten(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := postgres.NewAuditStore(pgtest.New(t))
	reg := prometheus.NewRegistry()
	done := make(chan struct{})
	go func() {
		defer close(done)
		store.KeepTextIndexClean(ctx, postgres.TextCleanOptions{Every: 20 * time.Millisecond, Registerer: reg})
	}()
	merged := func() float64 {
		return metrictest.Value(t, reg, "homeplane_central_audit_text_index_merged_pages_total")
	}
	now := time.Now().UTC()
	if err := store.InsertRecords(ctx, textRecords(200, now)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for merged() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no pending page merged 10 s after 200 records were written")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if pages, err := store.CleanPendingText(ctx, now); err != nil || pages != 0 {
		t.Fatalf("pending pages left after the loop merged = %d, %v", pages, err)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("KeepTextIndexClean did not return after its context ended")
	}
}
