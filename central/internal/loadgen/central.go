package loadgen

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// histogram is one labelled Prometheus histogram as scraped.
type histogram struct {
	count   uint64
	sum     float64
	uppers  []float64
	buckets []uint64 // cumulative
}

// scrape reads central's timing histograms (homeplane_central_*_seconds)
// from its /metrics.
func scrape(ctx context.Context, metricsURL string) (map[string]histogram, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", metricsURL, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", metricsURL, err)
	}
	out := map[string]histogram{}
	for name, f := range fams {
		if f.GetType() != dto.MetricType_HISTOGRAM || !strings.HasPrefix(name, "homeplane_central_") || !strings.HasSuffix(name, "_seconds") {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			key := strings.TrimPrefix(name, "homeplane_central_")
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			h := histogram{count: m.GetHistogram().GetSampleCount(), sum: m.GetHistogram().GetSampleSum()}
			for _, b := range m.GetHistogram().GetBucket() {
				h.uppers = append(h.uppers, b.GetUpperBound())
				h.buckets = append(h.buckets, b.GetCumulativeCount())
			}
			out[key] = h
		}
	}
	return out, nil
}

// Stage is one of central's timings over the run: requests observed and
// their mean, with p50 and p99 interpolated within Prometheus buckets (so
// only as fine as the buckets).
type Stage struct {
	Name   string  `json:"name"`
	Count  uint64  `json:"count"`
	MeanMS float64 `json:"mean_ms"`
	P50MS  float64 `json:"p50_ms"`
	P99MS  float64 `json:"p99_ms"`
}

// stages is after − before for every histogram that saw observations.
func stages(before, after map[string]histogram) []Stage {
	var out []Stage
	for key, a := range after {
		b := before[key]
		n := a.count - b.count
		if n == 0 || len(a.uppers) != len(b.buckets) && len(b.buckets) != 0 {
			continue
		}
		cum := slices.Clone(a.buckets)
		for i := range b.buckets {
			cum[i] -= b.buckets[i]
		}
		out = append(out, Stage{
			Name: key, Count: n, MeanMS: 1000 * (a.sum - b.sum) / float64(n),
			P50MS: 1000 * quantile(0.5, a.uppers, cum, n), P99MS: 1000 * quantile(0.99, a.uppers, cum, n),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// quantile interpolates linearly inside the bucket holding q, as
// Prometheus's histogram_quantile does.
func quantile(q float64, uppers []float64, cum []uint64, total uint64) float64 {
	rank := q * float64(total)
	lower, below := 0.0, uint64(0)
	for i, up := range uppers {
		if float64(cum[i]) >= rank {
			if math.IsInf(up, 1) {
				return lower
			}
			inBucket := cum[i] - below
			if inBucket == 0 {
				return up
			}
			return lower + (up-lower)*(rank-float64(below))/float64(inBucket)
		}
		lower, below = up, cum[i]
	}
	return lower
}
