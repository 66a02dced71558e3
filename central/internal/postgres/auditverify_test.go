package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
)

// TestVerifyWhileRecordsAreWritten: records committed while the chain is
// read neither break nor extend what Verify checks, so a live central's
// chain verifies as intact.
func TestVerifyWhileRecordsAreWritten(t *testing.T) {
	ctx := context.Background()
	store := postgres.NewAuditStore(pgtest.New(t))
	w := audit.NewWriter(store, audit.Options{})
	defer w.Close()
	rec := func(i int) audit.Record {
		return audit.Record{RequestID: fmt.Sprint("live-", i), Kind: audit.KindIntent, HomeID: "h", Text: "turn on the kitchen lights", Outcome: "ok"}
	}
	for i := range 100 {
		if err := w.Write(ctx, rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := w.Write(ctx, rec(1000*(g+1)+i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	last := int64(0)
	for range 40 {
		v, err := store.Verify(ctx)
		if err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("Verify while records are written: %v", err)
		}
		if v.LastID < last || v.Records != v.LastID {
			t.Errorf("Verify = %+v after a verify up to %d", v, last)
		}
		last = v.LastID
	}
	close(stop)
	wg.Wait()
	if last <= 100 {
		t.Errorf("no record was written while verifying (last id %d)", last)
	}
}
