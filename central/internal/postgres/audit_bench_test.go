package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
)

// benchRows is how many audit records BenchmarkQueryAudit generates
// (HOMEPLANE_BENCH_AUDIT_ROWS, default ten million).
func benchRows(tb testing.TB) int {
	tb.Helper()
	if v := os.Getenv("HOMEPLANE_BENCH_AUDIT_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			tb.Fatalf("HOMEPLANE_BENCH_AUDIT_ROWS=%q: want a number of at least 1000", v)
		}
		return n
	}
	return 10_000_000
}

// Generated data: a year of records from 10,000 homes (2 users' worth of
// homes each), 4 devices per home, 12 intents, 3 outcomes.
const (
	benchHomes   = 10_000
	benchYear    = 365 * 24 * time.Hour
	benchIntents = 12
)

var benchStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// fillAudit generates n records with one INSERT ... SELECT generate_series,
// with the secondary indexes dropped and rebuilt afterwards, as a bulk load would.
func fillAudit(tb testing.TB, pool *pgxpool.Pool, n int) {
	tb.Helper()
	ctx := context.Background()
	ms, err := postgres.Migrations()
	if err != nil {
		tb.Fatal(err)
	}
	var indexes []string
	for _, m := range ms {
		if !strings.Contains(m.Name, "audit_partitions") && !strings.Contains(m.Name, "audit_security") {
			continue // the indexes of the partitioned table only
		}
		for line := range strings.SplitSeq(m.SQL, "\n") {
			if strings.HasPrefix(line, "CREATE INDEX audit_records_") {
				indexes = append(indexes, line)
			}
		}
	}
	for m := benchStart; m.Before(benchStart.Add(benchYear + 31*24*time.Hour)); m = m.AddDate(0, 1, 0) {
		if _, err := pool.Exec(ctx, fmt.Sprintf("CREATE TABLE audit_records_p%s PARTITION OF audit_records FOR VALUES FROM ('%s') TO ('%s')",
			m.Format("200601"), m.Format(time.RFC3339), m.AddDate(0, 1, 0).Format(time.RFC3339))); err != nil {
			tb.Fatal(err)
		}
	}
	for _, ix := range indexes {
		name := strings.Fields(ix)[2]
		if _, err := pool.Exec(ctx, "DROP INDEX "+name); err != nil {
			tb.Fatal(err)
		}
	}
	t0 := time.Now()
	_, err = pool.Exec(ctx, `INSERT INTO audit_records (id, request_id, kind, user_id, home_id, device_id, time, text,
			intent, slots, parser, executed, answer, outcome, error, parse_us, resolve_us, execute_us, total_us, llm_tokens)
		SELECT g, 'req-' || g, 'intent',
			'user-' || (g % $2 / 2), 'home-' || (g % $2), 'device-' || (g % ($2 * 4)),
			$3::timestamptz + (g::float8 / $1) * interval '365 days',
			(ARRAY['turn on the kitchen lights', 'turn off the bedroom lamp', 'what is the temperature in the living room',
			       'open the garage door', 'set the thermostat to 21 degrees', 'lock the front door'])[1 + g % 6] || ' ' || (g % 97),
			'Hass' || (ARRAY['TurnOn','TurnOff','GetState','LightSet','ClimateSetTemperature','SetPosition','ListAdd',
			       'Nevermind','MediaPause','MediaUnpause','StartTimer','CancelTimer'])[1 + g % $4],
			'{"area": "kitchen"}', 'rules', NULL, NULL,
			(ARRAY['ok','ok','ok','ok','failed','error'])[1 + g % 6], '', 40, 10, 9000, 9050, 0
		FROM generate_series(1, $1::bigint) AS g`, n, benchHomes, benchStart, benchIntents)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Logf("inserted %d records in %v", n, time.Since(t0))
	t0 = time.Now()
	if _, err := pool.Exec(ctx, "SET maintenance_work_mem = '512MB'"); err != nil {
		tb.Fatal(err)
	}
	for _, ix := range indexes {
		if _, err := pool.Exec(ctx, ix); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, "ANALYZE audit_records"); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("indexed and analyzed in %v", time.Since(t0))
}

// BenchmarkQueryAudit measures AuditStore.Records, as QueryAudit calls it
// (a page of 50, newest first), with typical filters on ten million
// records, and reports p50 and p99 per filter.
//
//	go test -run '^$' -bench QueryAudit -benchtime 200x -timeout 60m ./internal/postgres/
func BenchmarkQueryAudit(b *testing.B) {
	pool := pgtest.New(b)
	fillAudit(b, pool, benchRows(b))
	store := postgres.NewAuditStore(pool)
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(1, 2))
	home := func() string { return fmt.Sprint("home-", rnd.IntN(benchHomes)) }
	day := func() time.Time { return benchStart.Add(time.Duration(rnd.Int64N(int64(benchYear - 48*time.Hour)))) }
	cases := []struct {
		name   string
		filter func() audit.Filter
	}{
		{"newest", func() audit.Filter { return audit.Filter{} }},
		{"home", func() audit.Filter { return audit.Filter{HomeID: home()} }},
		{"user+week", func() audit.Filter {
			d := day()
			return audit.Filter{UserID: fmt.Sprint("user-", rnd.IntN(benchHomes/2)), Since: d, Until: d.Add(7 * 24 * time.Hour)}
		}},
		{"device", func() audit.Filter { return audit.Filter{DeviceID: fmt.Sprint("device-", rnd.IntN(benchHomes*4))} }},
		{"intent+outcome+day", func() audit.Filter {
			d := day()
			return audit.Filter{Intent: "HassLightSet", Outcome: "failed", Since: d, Until: d.Add(24 * time.Hour)}
		}},
		// A security event's action, which no generated record has: each
		// index must find nothing at once, on every call (ADR 0029).
		{"action", func() audit.Filter { return audit.Filter{Intent: "SetUserDisabled"} }},
		{"home+text", func() audit.Filter { return audit.Filter{HomeID: home(), Text: "garage"} }},
		{"text", func() audit.Filter {
			return audit.Filter{Text: fmt.Sprintf("thermostat to 21 degrees %d", rnd.IntN(97))}
		}},
		{"home page 2", func() audit.Filter {
			f := audit.Filter{HomeID: home(), Limit: 51}
			first, err := store.Records(ctx, f)
			if err != nil || len(first) == 0 {
				b.Fatalf("first page: %v", err)
			}
			last := first[len(first)-1]
			f.Before = audit.Cursor{Time: last.Time, ID: last.ID}
			return f
		}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				f := tc.filter()
				if f.Limit == 0 {
					f.Limit = 51
				}
				t0 := time.Now()
				recs, err := store.Records(ctx, f)
				lat = append(lat, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
				_ = recs
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
