package usage_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"google.golang.org/protobuf/types/known/timestamppb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"

	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
	"github.com/homeplane/homeplane/central/internal/usage"
)

// memStore is a hand-written usage.ReportStore.
type memStore struct {
	home []usage.HomeUsage
}

func (m *memStore) DailyUsage(context.Context, time.Time, time.Time, usage.Scope) ([]usage.DayUsage, error) {
	return nil, nil
}

func (m *memStore) HomeUsage(context.Context, time.Time, time.Time) ([]usage.HomeUsage, error) {
	return m.home, nil
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

const h1 = "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"

// failing is a Store that fails while fail is set.
type failing struct {
	usage.Store
	fail error
}

func (f *failing) AddSamples(ctx context.Context, s []usage.HomeSample, gap time.Duration) error {
	if f.fail != nil {
		return f.fail
	}
	return f.Store.AddSamples(ctx, s, gap)
}

// billed sums what PostgreSQL rolled up for the home.
func billed(t *testing.T, store *postgres.UsageStore, homeID string) (cpu, mem float64, n int64) {
	t.Helper()
	rows, err := store.History(context.Background(), homeID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		cpu, mem, n = cpu+r.CPUCoreSeconds, mem+r.MemoryGiBSeconds, n+r.Samples
	}
	return cpu, mem, n
}

// at is a Recorder clock two hours after base, so that base's samples are
// late but not too late.
func at(base time.Time) func() time.Time { return func() time.Time { return base.Add(2 * time.Hour) } }

func TestRecorderIntegrates(t *testing.T) {
	base := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		samples   []usage.Sample
		wantCPU   float64 // core-seconds in the 10:00 hour
		wantMem   float64 // GiB-seconds
		wantCount int64
	}{
		{name: "first sample only sets gauges", samples: []usage.Sample{{Time: base, CPUPercent: 100, MemoryBytes: 1 << 30}}},
		{name: "a minute of two cores and 1 GiB", samples: []usage.Sample{
			{Time: base, CPUPercent: 200, MemoryBytes: 1 << 30},
			{Time: base.Add(time.Minute), CPUPercent: 200, MemoryBytes: 1 << 30},
		}, wantCPU: 120, wantMem: 60, wantCount: 1},
		{name: "a long gap counts at most five minutes", samples: []usage.Sample{
			{Time: base, CPUPercent: 100},
			{Time: base.Add(40 * time.Minute), CPUPercent: 100},
		}, wantCPU: 300, wantCount: 1},
		{name: "a sample arriving late is billed in its place", samples: []usage.Sample{
			{Time: base, CPUPercent: 100},
			{Time: base.Add(2 * time.Minute), CPUPercent: 300},
			{Time: base.Add(time.Minute), CPUPercent: 200},
		}, wantCPU: 120 + 180, wantCount: 2},
		{name: "a duplicate is billed once", samples: []usage.Sample{
			{Time: base, CPUPercent: 100},
			{Time: base.Add(time.Minute), CPUPercent: 100},
			{Time: base.Add(time.Minute), CPUPercent: 100},
		}, wantCPU: 60, wantCount: 1},
		{name: "an interval crossing the hour is billed to the later sample's hour", samples: []usage.Sample{
			{Time: base.Add(-30 * time.Second), CPUPercent: 100},
			{Time: base.Add(30 * time.Second), CPUPercent: 100},
		}, wantCPU: 60, wantCount: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := postgres.NewUsageStore(pgtest.New(t))
			reg := prometheus.NewRegistry()
			r := usage.NewRecorder(store, usage.Options{Registerer: reg, Now: at(base)})
			ctx := context.Background()
			for _, s := range tc.samples {
				if err := r.Add(ctx, h1, s); err != nil {
					t.Fatal(err)
				}
				// One flush per sample: the order the store sees them in.
				if err := r.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			}
			cpu, mem, n := billed(t, store, h1)
			if !near(cpu, tc.wantCPU) || !near(mem, tc.wantMem) || n != tc.wantCount {
				t.Fatalf("rolled up cpu=%v mem=%v samples=%d, want %v %v %d", cpu, mem, n, tc.wantCPU, tc.wantMem, tc.wantCount)
			}
			last := tc.samples[0]
			for _, s := range tc.samples {
				if s.Time.After(last.Time) {
					last = s
				}
			}
			if got := testutil.ToFloat64(r.CPUGauge(h1)); !near(got, last.CPUPercent/100) {
				t.Fatalf("cpu gauge = %v, want %v", got, last.CPUPercent/100)
			}
		})
	}
}

func TestRecorderKeepsSamplesWhenFlushFails(t *testing.T) {
	pg := postgres.NewUsageStore(pgtest.New(t))
	store := &failing{Store: pg, fail: errors.New("db down")}
	base := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	reg := prometheus.NewRegistry()
	r := usage.NewRecorder(store, usage.Options{Now: at(base), MaxPending: 2, Registerer: reg})
	ctx := context.Background()
	for i := range 3 {
		if err := r.Add(ctx, h1, usage.Sample{Time: base.Add(time.Duration(i) * time.Minute), CPUPercent: 100}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Flush(ctx); err == nil {
		t.Fatal("Flush succeeded on a failing store")
	}
	store.fail = nil
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if cpu, _, n := billed(t, pg, h1); !near(cpu, 60) || n != 1 {
		t.Fatalf("after retry: %v core-s from %d samples; want 60 from 1 (the third sample was past MaxPending)", cpu, n)
	}
	if n := testutil.ToFloat64(r.Dropped("backlog")); n != 1 {
		t.Fatalf("dropped{backlog} = %v, want 1", n)
	}
	if err := r.Add(ctx, h1, usage.Sample{Time: base.Add(-5 * time.Hour), CPUPercent: 100}); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(r.Dropped("late")); n != 1 {
		t.Fatalf("dropped{late} = %v, want 1 for a sample older than MaxLate", n)
	}
}

// Purging keeps what a late sample still needs and the rollups.
func TestPurgeSamples(t *testing.T) {
	pool := pgtest.New(t)
	store := postgres.NewUsageStore(pool)
	base := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	ctx := context.Background()
	var s []usage.HomeSample
	for i := range 3 {
		s = append(s, usage.HomeSample{HomeID: h1, Sample: usage.Sample{Time: base.Add(time.Duration(i) * time.Hour), CPUPercent: 100}})
	}
	if err := store.AddSamples(ctx, s, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := store.PurgeSamples(ctx, base.Add(90*time.Minute)); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM usage_samples").Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d samples left, %v; want 1", n, err)
	}
	if cpu, _, n := billed(t, store, h1); !near(cpu, 600) || n != 2 {
		t.Fatalf("rollups after purge: %v core-s from %d samples; want 600 from 2", cpu, n)
	}
}

func TestParseRates(t *testing.T) {
	tests := []struct {
		in      string
		want    usage.Rates
		wantErr bool
	}{
		{in: "", want: usage.Rates{Currency: "EUR"}},
		{in: "cpu_core_hour=0.02, memory_gib_hour=0.005,intent=0.0001,currency=USD",
			want: usage.Rates{CPUCoreHour: 0.02, MemoryGiBHour: 0.005, Intent: 0.0001, Currency: "USD"}},
		{in: "cpu_core_hour=-1", wantErr: true},
		{in: "gpu=1", wantErr: true},
		{in: "cpu_core_hour", wantErr: true},
		{in: "cpu_core_hour=NaN", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := usage.ParseRates(tc.in)
			if (err != nil) != tc.wantErr || (!tc.wantErr && got != tc.want) {
				t.Fatalf("ParseRates = %+v, %v", got, err)
			}
			if tc.wantErr && !errors.Is(err, usage.ErrInvalidInput) {
				t.Fatalf("err = %v, want ErrInvalidInput", err)
			}
		})
	}
}

func TestReportPricesAndTotals(t *testing.T) {
	store := &memStore{home: []usage.HomeUsage{
		{HomeID: "h2", UserID: "u1", Email: "a@x", CPUCoreHours: 1, MemoryGiBHours: 2, Intents: 100},
		{HomeID: "h1", UserID: "u1", Email: "a@x", CPUCoreHours: 3},
		{HomeID: "h3", UserID: "u2", Email: "b@x", Intents: 10},
	}}
	rates := usage.Rates{CPUCoreHour: 1, MemoryGiBHour: 0.5, Intent: 0.01, Currency: "EUR"}
	since := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	lines, err := usage.Report(context.Background(), store, rates, since, since.AddDate(0, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		home  string
		price float64
	}{{"h1", 3}, {"h2", 3}, {"", 6}, {"h3", 0.1}, {"", 0.1}}
	if len(lines) != len(want) {
		t.Fatalf("lines = %+v", lines)
	}
	for i, w := range want {
		if lines[i].HomeID != w.home || !near(lines[i].Price, w.price) {
			t.Fatalf("line %d = %+v, want home %q price %v", i, lines[i], w.home, w.price)
		}
	}
	var buf bytes.Buffer
	if err := usage.WriteCSV(&buf, lines, "EUR"); err != nil {
		t.Fatal(err)
	}
	if rows := strings.Split(strings.TrimSpace(buf.String()), "\n"); len(rows) != 6 || !strings.HasPrefix(rows[0], "user_id,") {
		t.Fatalf("csv = %q", buf.String())
	}
	if _, err := usage.Report(context.Background(), store, rates, since, since); !errors.Is(err, usage.ErrInvalidInput) {
		t.Fatalf("empty period: %v", err)
	}
}

func TestApplyTelemetry(t *testing.T) {
	store := postgres.NewUsageStore(pgtest.New(t))
	base := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	r := usage.NewRecorder(store, usage.Options{Now: at(base)})
	ctx := context.Background()
	for i := range 2 {
		err := r.ApplyTelemetry(ctx, h1, &homeplanev1.Telemetry{Time: timestamppb.New(base.Add(time.Duration(i) * time.Minute)),
			CpuPercent: 50, MemoryBytes: 2 << 30})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := r.ApplyTelemetry(ctx, h1, &homeplanev1.Telemetry{CpuPercent: -5}); !errors.Is(err, usage.ErrInvalidInput) {
		t.Fatalf("bad sample: %v", err)
	}
	if err := r.ApplyTelemetry(ctx, "h1", &homeplanev1.Telemetry{Time: timestamppb.New(base), CpuPercent: 5}); !errors.Is(err, usage.ErrInvalidInput) {
		t.Fatalf("sample of a home id that is no uuid: %v", err)
	}
	if rec := r.Recent(h1); len(rec) != 2 || rec[1].MemoryBytes != 2<<30 {
		t.Fatalf("recent = %+v", rec)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if cpu, mem, _ := billed(t, store, h1); !near(cpu, 30) || !near(mem, 120) {
		t.Fatalf("billed %v core-s, %v GiB-s; want 30, 120", cpu, mem)
	}
}

// TestCSVFormulaInjection is row 15 of the attack suite: an email chosen to
// be a spreadsheet formula is written as text.
func TestCSVFormulaInjection(t *testing.T) {
	lines := []usage.Line{
		{UserID: "u1", Email: "=1+2@x.test", HomeID: "h1", Intents: 3},
		{UserID: "u2", Email: "@SUM(1)@x.test"},
		{UserID: "u3", Email: "+cmd@x.test"},
		{UserID: "u4", Email: "-2@x.test"},
		{UserID: "u5", Email: "\t=1@x.test"},
		{UserID: "u6", Email: "alice@example.com"},
	}
	var buf bytes.Buffer
	if err := usage.WriteCSV(&buf, lines, "EUR"); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"'=1+2@x.test", "'@SUM(1)@x.test", "'+cmd@x.test", "'-2@x.test", "'\t=1@x.test", "alice@example.com"}
	if len(rows) != len(want)+1 {
		t.Fatalf("rows = %q", rows)
	}
	for i, w := range want {
		if rows[i+1][1] != w {
			t.Errorf("email cell %d = %q, want %q", i, rows[i+1][1], w)
		}
	}
	if rows[1][5] != "3" {
		t.Errorf("intents cell = %q, want 3", rows[1][5])
	}
}
