// Package metrics keeps the agent's counters, gauges and histograms and
// writes them in the Prometheus text exposition format.
//
// The agent has a memory budget of a few MiB on a small home server, and a
// full Prometheus client (with its protobuf model, expvar and process
// collectors) costs about a tenth of it; the handful of instruments the
// agent needs fit in this package instead (ADR 0014).
package metrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// maxLabelValues bounds the label values one family keeps; further values
// are counted under "other", so that no input can grow the registry.
const maxLabelValues = 64

var validName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

// Registry holds metric families in the order they were registered. A nil
// *Registry hands out working instruments that are never exposed.
type Registry struct {
	mu       sync.Mutex
	families []family
	names    map[string]bool
}

type family interface {
	write(w *bufio.Writer)
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry { return &Registry{names: map[string]bool{}} }

func (r *Registry) register(name, help string, f family) {
	if r == nil {
		return
	}
	if !validName.MatchString(name) {
		panic("metrics: invalid metric name " + strconv.Quote(name))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.names[name] {
		panic("metrics: " + name + " registered twice")
	}
	r.names[name] = true
	r.families = append(r.families, f)
}

// header writes the HELP and TYPE lines of a family.
func header(w *bufio.Writer, name, help, typ string) {
	w.WriteString("# HELP ")
	w.WriteString(name)
	w.WriteByte(' ')
	w.WriteString(escapeHelp(help))
	w.WriteString("\n# TYPE ")
	w.WriteString(name)
	w.WriteByte(' ')
	w.WriteString(typ)
	w.WriteByte('\n')
}

func sample(w *bufio.Writer, name, labels string, v float64) {
	w.WriteString(name)
	w.WriteString(labels)
	w.WriteByte(' ')
	w.WriteString(formatFloat(v))
	w.WriteByte('\n')
}

// Counter is a value that only goes up.
type Counter struct{ n atomic.Uint64 }

// Inc adds one.
func (c *Counter) Inc() { c.n.Add(1) }

// Value returns the count.
func (c *Counter) Value() uint64 { return c.n.Load() }

// Counter registers and returns a counter.
func (r *Registry) Counter(name, help string) *Counter {
	c := &Counter{}
	r.register(name, help, &valueFamily{name, help, "counter", func() float64 { return float64(c.Value()) }})
	return c
}

// CounterVec is a family of counters told apart by one label.
type CounterVec struct {
	name, help, label string
	mu                sync.Mutex
	byValue           map[string]*Counter
}

// With returns the counter for a label value, creating it on first use.
// Past maxLabelValues distinct values, new ones share the "other" counter.
func (v *CounterVec) With(value string) *Counter {
	v.mu.Lock()
	defer v.mu.Unlock()
	if c, ok := v.byValue[value]; ok {
		return c
	}
	if len(v.byValue) >= maxLabelValues {
		value = "other"
		if c, ok := v.byValue[value]; ok {
			return c
		}
	}
	c := &Counter{}
	v.byValue[value] = c
	return c
}

func (v *CounterVec) write(w *bufio.Writer) {
	header(w, v.name, v.help, "counter")
	v.mu.Lock()
	values := make([]string, 0, len(v.byValue))
	for k := range v.byValue {
		values = append(values, k)
	}
	slices.Sort(values)
	counters := make([]*Counter, len(values))
	for i, k := range values {
		counters[i] = v.byValue[k]
	}
	v.mu.Unlock()
	for i, k := range values {
		sample(w, v.name, "{"+v.label+`="`+escapeLabel(k)+`"}`, float64(counters[i].Value()))
	}
}

// CounterVec registers and returns a counter family with one label.
func (r *Registry) CounterVec(name, help, label string) *CounterVec {
	if !validName.MatchString(label) || strings.HasPrefix(label, "__") {
		panic("metrics: invalid label name " + strconv.Quote(label))
	}
	v := &CounterVec{name: name, help: help, label: label, byValue: map[string]*Counter{}}
	r.register(name, help, v)
	return v
}

// Gauge is a value that goes up and down.
type Gauge struct{ bits atomic.Uint64 }

// Set sets the value.
func (g *Gauge) Set(v float64) { g.bits.Store(math.Float64bits(v)) }

// Value returns the value.
func (g *Gauge) Value() float64 { return math.Float64frombits(g.bits.Load()) }

// valueFamily is a family of one sample read when it is exposed.
type valueFamily struct {
	name, help, typ string
	value           func() float64
}

func (f *valueFamily) write(w *bufio.Writer) {
	header(w, f.name, f.help, f.typ)
	sample(w, f.name, "", f.value())
}

// Gauge registers and returns a gauge.
func (r *Registry) Gauge(name, help string) *Gauge {
	g := &Gauge{}
	r.register(name, help, &valueFamily{name, help, "gauge", g.Value})
	return g
}

// GaugeFunc registers a gauge whose value is read when it is exposed.
func (r *Registry) GaugeFunc(name, help string, value func() float64) {
	r.register(name, help, &valueFamily{name, help, "gauge", value})
}

// CounterFunc registers a counter whose value is read when it is exposed.
func (r *Registry) CounterFunc(name, help string, value func() float64) {
	r.register(name, help, &valueFamily{name, help, "counter", value})
}

// Histogram counts observations into buckets with fixed upper bounds.
type Histogram struct {
	name, help string
	bounds     []float64
	counts     []atomic.Uint64 // one per bound, not cumulative; +Inf is count
	count      atomic.Uint64
	sumBits    atomic.Uint64
}

// Observe records one value.
func (h *Histogram) Observe(v float64) {
	if i, _ := slices.BinarySearch(h.bounds, v); i < len(h.bounds) {
		h.counts[i].Add(1)
	}
	for {
		old := h.sumBits.Load()
		if h.sumBits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			break
		}
	}
	h.count.Add(1)
}

// Count returns how many values were observed.
func (h *Histogram) Count() uint64 { return h.count.Load() }

func (h *Histogram) write(w *bufio.Writer) {
	header(w, h.name, h.help, "histogram")
	// Read the total first: buckets filled meanwhile can only make the
	// cumulative counts larger, never push +Inf below a bucket.
	total := h.count.Load()
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i].Load()
		sample(w, h.name+"_bucket", `{le="`+formatFloat(b)+`"}`, float64(min(cum, total)))
	}
	sample(w, h.name+"_bucket", `{le="+Inf"}`, float64(total))
	sample(w, h.name+"_sum", "", math.Float64frombits(h.sumBits.Load()))
	sample(w, h.name+"_count", "", float64(total))
}

// Histogram registers and returns a histogram with the given bucket upper
// bounds, which must be increasing.
func (r *Registry) Histogram(name, help string, bounds []float64) *Histogram {
	if len(bounds) == 0 || !slices.IsSorted(bounds) || slices.Contains(bounds, math.Inf(1)) {
		panic("metrics: histogram " + name + " needs increasing finite bounds")
	}
	h := &Histogram{name: name, help: help, bounds: slices.Clone(bounds), counts: make([]atomic.Uint64, len(bounds))}
	r.register(name, help, h)
	return h
}

// ExponentialBuckets returns n bounds starting at start, each factor times
// the one before.
func ExponentialBuckets(start, factor float64, n int) []float64 {
	b := make([]float64, n)
	for i := range b {
		b[i] = start
		start *= factor
	}
	return b
}

// WriteTo writes every family in the text exposition format (version 0.0.4).
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	bw := bufio.NewWriter(cw)
	r.mu.Lock()
	families := slices.Clone(r.families)
	r.mu.Unlock()
	for _, f := range families {
		f.write(bw)
	}
	err := bw.Flush()
	return cw.n, err
}

// ContentType is the media type of the text exposition format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Handler serves the registry.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", ContentType)
		_, _ = r.WriteTo(w)
	})
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func escapeHelp(s string) string  { return helpEscaper.Replace(s) }
func escapeLabel(s string) string { return labelEscaper.Replace(strings.ToValidUTF8(s, "\uFFFD")) }

// String returns the exposition, for logs and tests.
func (r *Registry) String() string {
	var b strings.Builder
	if _, err := r.WriteTo(&b); err != nil {
		return fmt.Sprintf("metrics: %v", err)
	}
	return b.String()
}
