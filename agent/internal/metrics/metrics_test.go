package metrics

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// parse reads an exposition with the Prometheus parser itself, so that
// what Prometheus would refuse fails here.
func parse(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("exposition does not parse: %v\n%s", err, text)
	}
	return mfs
}

func TestExpositionParsesWithValues(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("jobs_total", "Jobs run.\nSecond line with a \\ backslash.")
	v := r.CounterVec("outcomes_total", "Outcomes.", "outcome")
	g := r.Gauge("connected", "1 while connected.")
	h := r.Histogram("call_seconds", "Call time.", ExponentialBuckets(0.01, 10, 3))

	c.Inc()
	c.Inc()
	v.With("ok").Inc()
	v.With(`quote " and \ slash`).Inc()
	v.With("ok").Inc()
	g.Set(1)
	for _, x := range []float64{0.005, 0.05, 0.05, 0.5, 7} {
		h.Observe(x)
	}

	mfs := parse(t, r.String())
	if got := mfs["jobs_total"].GetMetric()[0].GetCounter().GetValue(); got != 2 {
		t.Errorf("jobs_total = %v, want 2", got)
	}
	if got := mfs["jobs_total"].GetHelp(); got != "Jobs run.\nSecond line with a \\ backslash." {
		t.Errorf("help = %q", got)
	}
	byLabel := map[string]float64{}
	for _, m := range mfs["outcomes_total"].GetMetric() {
		byLabel[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
	}
	if byLabel["ok"] != 2 || byLabel[`quote " and \ slash`] != 1 || len(byLabel) != 2 {
		t.Errorf("outcomes_total = %v", byLabel)
	}
	if got := mfs["connected"].GetMetric()[0].GetGauge().GetValue(); got != 1 {
		t.Errorf("connected = %v, want 1", got)
	}
	hist := mfs["call_seconds"].GetMetric()[0].GetHistogram()
	if hist.GetSampleCount() != 5 || math.Abs(hist.GetSampleSum()-7.605) > 1e-9 {
		t.Errorf("histogram count %d sum %v, want 5 and 7.605", hist.GetSampleCount(), hist.GetSampleSum())
	}
	want := map[float64]uint64{0.01: 1, 0.1: 3, 1: 4, math.Inf(1): 5}
	for _, b := range hist.GetBucket() {
		if b.GetCumulativeCount() != want[b.GetUpperBound()] {
			t.Errorf("bucket le=%v holds %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want[b.GetUpperBound()])
		}
	}
}

func TestLabelValuesAreBounded(t *testing.T) {
	r := NewRegistry()
	v := r.CounterVec("reasons_total", "Reasons.", "reason")
	for i := range 3 * maxLabelValues {
		v.With(fmt.Sprintf("reason-%d", i)).Inc()
	}
	v.With("\xff invalid utf-8").Inc()
	mfs := parse(t, r.String())
	metrics := mfs["reasons_total"].GetMetric()
	if len(metrics) != maxLabelValues+1 {
		t.Fatalf("%d label values kept, want %d and other", len(metrics), maxLabelValues)
	}
	var total float64
	for _, m := range metrics {
		total += m.GetCounter().GetValue()
	}
	if total != 3*maxLabelValues+1 {
		t.Errorf("counted %v, want %d: nothing may be lost past the bound", total, 3*maxLabelValues+1)
	}
}

func TestRegistrationMistakesPanic(t *testing.T) {
	for name, f := range map[string]func(r *Registry){
		"twice":        func(r *Registry) { r.Counter("a_total", ""); r.Gauge("a_total", "") },
		"bad name":     func(r *Registry) { r.Counter("a-b", "") },
		"bad label":    func(r *Registry) { r.CounterVec("a_total", "", "__reserved") },
		"no buckets":   func(r *Registry) { r.Histogram("h", "", nil) },
		"bucket order": func(r *Registry) { r.Histogram("h", "", []float64{2, 1}) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			f(NewRegistry())
		})
	}
}

func TestNilRegistryHandsOutWorkingInstruments(t *testing.T) {
	var r *Registry
	c := r.Counter("x_total", "")
	c.Inc()
	r.CounterVec("y_total", "", "k").With("v").Inc()
	r.Histogram("z", "", []float64{1}).Observe(2)
	if c.Value() != 1 {
		t.Fatalf("counter = %d, want 1", c.Value())
	}
}

func TestRuntimeFiguresAndHandler(t *testing.T) {
	r := NewRegistry()
	r.RegisterRuntime()
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != ContentType {
		t.Errorf("Content-Type %q", ct)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	mfs := parse(t, string(body))
	value := func(name string) float64 {
		mf := mfs[name]
		if mf == nil {
			t.Fatalf("%s missing", name)
		}
		m := mf.GetMetric()[0]
		return m.GetGauge().GetValue() + m.GetCounter().GetValue()
	}
	if v := value("go_goroutines"); v < 1 {
		t.Errorf("go_goroutines = %v", v)
	}
	if v := value("go_memstats_heap_alloc_bytes"); v <= 0 {
		t.Errorf("go_memstats_heap_alloc_bytes = %v", v)
	}
	if v := value("process_resident_memory_bytes"); v < 1<<20 {
		t.Errorf("process_resident_memory_bytes = %v, want at least 1 MiB", v)
	}
	if v := value("process_cpu_seconds_total"); v < 0 {
		t.Errorf("process_cpu_seconds_total = %v", v)
	}
}

func TestConcurrentUpdatesAreCounted(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("n_total", "")
	h := r.Histogram("h", "", []float64{1})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				c.Inc()
				h.Observe(0.5)
				_ = r.String()
			}
		})
	}
	wg.Wait()
	if c.Value() != 8000 || h.Count() != 8000 {
		t.Fatalf("counter %d histogram %d, want 8000", c.Value(), h.Count())
	}
	mfs := parse(t, r.String())
	if got := mfs["h"].GetMetric()[0].GetHistogram().GetSampleSum(); got != 4000 {
		t.Errorf("sum %v, want 4000", got)
	}
}

func BenchmarkCounterVecInc(b *testing.B) {
	v := NewRegistry().CounterVec("x_total", "", "k")
	b.ReportAllocs()
	for b.Loop() {
		v.With("ok").Inc()
	}
}
