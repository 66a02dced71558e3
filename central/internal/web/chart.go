package web

import (
	"context"
	"fmt"
	"html"
	"html/template"
	"strings"
	"time"

	"github.com/homeplane/homeplane/central/internal/audit"
)

// bar is one bar of a chart: its label (a day) and value.
type bar struct {
	Label string
	Value float64
}

// barChart draws bars as an inline SVG that scales to its box: the peak
// on top, the first and last label below, each bar's label and value on
// hover (<title>). Rendered on the server: the page loads no script.
func barChart(title, class string, bars []bar, format func(float64) string) template.HTML {
	const width, height, top, bottom = 600.0, 200.0, 34.0, 34.0
	var b strings.Builder
	fmt.Fprintf(&b, `<figure class="chart-box"><figcaption>%s</figcaption>`, html.EscapeString(title))
	fmt.Fprintf(&b, `<svg class="bars %s" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s">`,
		html.EscapeString(class), width, height, html.EscapeString(title))
	peak := 0.0
	for _, v := range bars {
		peak = max(peak, v.Value)
	}
	fmt.Fprintf(&b, `<line class="axis" x1="0" y1="%.1f" x2="%.0f" y2="%.1f"/>`, height-bottom, width, height-bottom)
	if len(bars) > 0 {
		step := width / float64(len(bars))
		for i, v := range bars {
			h := 0.0
			if peak > 0 {
				h = v.Value / peak * (height - top - bottom)
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %s</title></rect>`,
				float64(i)*step+step*0.1, height-bottom-h, step*0.8, h, html.EscapeString(v.Label), html.EscapeString(format(v.Value)))
		}
		fmt.Fprintf(&b, `<text x="0" y="24">peak %s</text>`, html.EscapeString(format(peak)))
		fmt.Fprintf(&b, `<text x="0" y="%.0f">%s</text>`, height-8, html.EscapeString(bars[0].Label))
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="end">%s</text>`, width, height-8, html.EscapeString(bars[len(bars)-1].Label))
	} else {
		fmt.Fprintf(&b, `<text x="0" y="24">no data</text>`)
	}
	b.WriteString(`</svg></figure>`)
	return template.HTML(b.String()) // every outside string above is escaped
}

// maxChartDays bounds the per-day charts of the usage page; a longer
// period shows the table only.
const maxChartDays = 62

// dailyUsage totals the usage of every home for each day of the period.
func (s *Server) dailyUsage(ctx context.Context, since, until time.Time) (cpu, mem, intents, price []bar, err error) {
	day := since.UTC().Truncate(24 * time.Hour)
	if until.Sub(day) > maxChartDays*24*time.Hour {
		return nil, nil, nil, nil, nil
	}
	for ; day.Before(until); day = day.Add(24 * time.Hour) {
		lines, err := s.deps.Usage.Report(ctx, day, day.Add(24*time.Hour))
		if err != nil {
			return nil, nil, nil, nil, err
		}
		label := day.Format("Jan 2")
		var c, m, p float64
		var n int64
		for _, l := range lines {
			if l.HomeID == "" { // a user's total line
				continue
			}
			c, m, n, p = c+l.CPUCoreHours, m+l.MemoryGiBHours, n+l.Intents, p+l.Price
		}
		cpu, mem = append(cpu, bar{label, c}), append(mem, bar{label, m})
		intents, price = append(intents, bar{label, float64(n)}), append(price, bar{label, p})
	}
	return cpu, mem, intents, price, nil
}

// statsHours is how far back the Process pictures of the audit page look.
const statsHours = 24

// processCharts draws the last day of IntentService.Process per hour:
// requests, the share not answered ok, and the 95th percentile latency.
func (s *Server) processCharts(ctx context.Context) ([]template.HTML, error) {
	if s.deps.Stats == nil {
		return nil, nil
	}
	until := s.opts.Now().UTC().Truncate(time.Hour).Add(time.Hour)
	since := until.Add(-statsHours * time.Hour)
	stats, err := s.deps.Stats.IntentStats(ctx, since, until)
	if err != nil {
		return nil, err
	}
	byHour := map[time.Time]audit.HourStats{}
	for _, h := range stats {
		byHour[h.Hour] = h
	}
	var requests, notOK, p95 []bar
	for hour := since; hour.Before(until); hour = hour.Add(time.Hour) {
		h := byHour[hour]
		label := hour.Format("15:00")
		share := 0.0
		if h.Requests > 0 {
			share = float64(h.NotOK) / float64(h.Requests) * 100
		}
		requests = append(requests, bar{label, float64(h.Requests)})
		notOK = append(notOK, bar{label, share})
		p95 = append(p95, bar{label, h.P95US / 1000})
	}
	return []template.HTML{
		barChart("Process requests per hour (UTC)", "requests", requests, func(v float64) string { return fmt.Sprintf("%.0f", v) }),
		barChart("Not answered ok (%)", "errors", notOK, func(v float64) string { return fmt.Sprintf("%.1f %%", v) }),
		barChart("Latency, 95th percentile (ms)", "latency", p95, func(v float64) string { return fmt.Sprintf("%.0f ms", v) }),
	}, nil
}
