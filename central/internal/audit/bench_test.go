package audit_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
)

// BenchmarkGroupCommit writes intent-sized records from many concurrent
// requests against a real PostgreSQL and reports records/s and the latency
// Write adds to a request (p50, p99).
//
//	go test -run '^$' -bench GroupCommit -benchtime 100000x ./internal/audit/
func BenchmarkGroupCommit(b *testing.B) {
	for _, writers := range []int{1, 16, 256, 1024} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			store := postgres.NewAuditStore(pgtest.New(b))
			w := audit.NewWriter(store, audit.Options{})
			defer w.Close()
			ctx := context.Background()
			rec := audit.Record{
				Kind: audit.KindIntent, UserID: "5fc9a243-a76b-49af-8a10-7df66097c42c", HomeID: "0e913cff-b1aa-4890-8efe-59725b31632d",
				Text: "turn on the kitchen lights", Intent: "HassTurnOn", Slots: map[string]any{"area": "kitchen", "domain": "light"},
				Parser: "rules", Executed: []any{map[string]any{"domain": "light", "service": "turn_on", "target": map[string]any{"entity_id": []string{"light.kitchen"}}}},
				Outcome: "ok", ParseUS: 40, ResolveUS: 12, ExecuteUS: 9000, TotalUS: 9100,
			}
			var next atomic.Int64
			lat := make([][]time.Duration, writers)
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for g := range writers {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						r := rec
						r.RequestID = fmt.Sprint("bench-", i)
						t0 := time.Now()
						if err := w.Write(ctx, r); err != nil {
							b.Error(err)
							return
						}
						lat[g] = append(lat[g], time.Since(t0))
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			all := slices.Concat(lat...)
			slices.Sort(all)
			if len(all) == 0 {
				return
			}
			b.ReportMetric(float64(len(all))/elapsed.Seconds(), "records/s")
			b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// BenchmarkWriteLatency sends records at a fixed rate, each from its own
// goroutine as requests would, and reports the latency Write adds (p50,
// p99, p99.9). b.N is the number of records. merge=foreground leaves the
// text index's pending list to PostgreSQL, which merges it inside the
// commit that finds it full; merge=background runs the store's merge loop
// as central does.
//
//	go test -run '^$' -bench WriteLatency -benchtime 30000x ./internal/audit/
func BenchmarkWriteLatency(b *testing.B) {
	for _, rate := range []int{500, 2000, 10000} {
		for _, merge := range []string{"foreground", "background"} {
			b.Run(fmt.Sprintf("rate=%d/merge=%s", rate, merge), func(b *testing.B) {
				store := postgres.NewAuditStore(pgtest.New(b))
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				if merge == "background" {
					go store.KeepTextIndexClean(ctx, postgres.TextCleanOptions{})
				}
				w := audit.NewWriter(store, audit.Options{})
				defer w.Close()
				writeAtRate(b, w, rate)
			})
		}
	}
}

func writeAtRate(b *testing.B, w *audit.Writer, rate int) {
	ctx := context.Background()
	lat := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		// Open loop: the i-th request arrives at its time whatever
		// happened to the others.
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		wg.Go(func() {
			t0 := time.Now()
			if err := w.Write(ctx, audit.Record{RequestID: fmt.Sprint("lat-", i), Kind: audit.KindIntent,
				HomeID: "0e913cff-b1aa-4890-8efe-59725b31632d", Text: "turn on the kitchen lights", Outcome: "ok"}); err != nil {
				b.Error(err)
			}
			lat[i] = time.Since(t0)
		})
	}
	wg.Wait()
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)*999/1000].Microseconds()), "p99.9-µs")
}
