package web

import (
	"context"
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
	"time"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/fleet"
	"github.com/homeplane/homeplane/central/internal/usage"
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

// series is one line of a line chart; NaN is a gap (nothing recorded).
type series struct {
	Name, Class string
	Values      []float64
}

// lineChart draws series over shared labels as an inline SVG like
// barChart: one scale from zero to the peak, a dot per value with its label
// and value on hover, the line broken where nothing was recorded.
func lineChart(title string, labels []string, ss []series, format func(float64) string) template.HTML {
	const width, height, top, bottom = 600.0, 200.0, 34.0, 34.0
	var b strings.Builder
	fmt.Fprintf(&b, `<figure class="chart-box"><figcaption>%s`, html.EscapeString(title))
	for _, s := range ss {
		fmt.Fprintf(&b, ` <span class="key %s">%s</span>`, html.EscapeString(s.Class), html.EscapeString(s.Name))
	}
	fmt.Fprintf(&b, `</figcaption><svg class="lines" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s">`, width, height, html.EscapeString(title))
	fmt.Fprintf(&b, `<line class="axis" x1="0" y1="%.1f" x2="%.0f" y2="%.1f"/>`, height-bottom, width, height-bottom)
	peak, seen := 0.0, false
	for _, s := range ss {
		for _, v := range s.Values {
			if !math.IsNaN(v) {
				peak, seen = max(peak, v), true
			}
		}
	}
	if !seen || len(labels) == 0 {
		b.WriteString(`<text x="0" y="24">no data</text></svg></figure>`)
		return template.HTML(b.String()) // the title is escaped
	}
	step := width / float64(len(labels))
	x := func(i int) float64 { return float64(i)*step + step/2 }
	y := func(v float64) float64 {
		if peak == 0 {
			return height - bottom
		}
		return height - bottom - v/peak*(height-top-bottom)
	}
	for _, s := range ss {
		fmt.Fprintf(&b, `<g class="%s">`, html.EscapeString(s.Class))
		var pts []string
		line := func() {
			if len(pts) > 1 {
				fmt.Fprintf(&b, `<polyline points="%s"/>`, strings.Join(pts, " "))
			}
			pts = pts[:0]
		}
		for i, v := range s.Values {
			if math.IsNaN(v) {
				line()
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(v)))
		}
		line()
		for i, v := range s.Values {
			if !math.IsNaN(v) {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3"><title>%s: %s %s</title></circle>`,
					x(i), y(v), html.EscapeString(labels[i]), html.EscapeString(format(v)), html.EscapeString(s.Name))
			}
		}
		b.WriteString(`</g>`)
	}
	fmt.Fprintf(&b, `<text x="0" y="24">peak %s</text>`, html.EscapeString(format(peak)))
	fmt.Fprintf(&b, `<text x="0" y="%.0f">%s</text>`, height-8, html.EscapeString(labels[0]))
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="end">%s</text>`, width, height-8, html.EscapeString(labels[len(labels)-1]))
	b.WriteString(`</svg></figure>`)
	return template.HTML(b.String()) // every outside string above is escaped
}

// fleetCharts draws the fleet over r: homes, online and running as lines,
// crash loops and restarts per bucket as bars.
func (s *Server) fleetCharts(ctx context.Context, r fleet.Range) ([]template.HTML, error) {
	points, err := fleet.History(ctx, s.deps.Fleet, r, s.opts.Now())
	if err != nil {
		return nil, err
	}
	layout := "Jan 2 15:04"
	if r.Bucket >= 24*time.Hour {
		layout = "Jan 2"
	}
	labels := make([]string, len(points))
	homes, online, running := make([]float64, len(points)), make([]float64, len(points)), make([]float64, len(points))
	var loops, restarts []bar
	for i, p := range points {
		labels[i] = p.At.Format(layout)
		if p.Minutes == 0 {
			homes[i], online[i], running[i] = math.NaN(), math.NaN(), math.NaN()
		} else {
			homes[i], online[i], running[i] = p.Homes, p.Online, p.Running
		}
		loops = append(loops, bar{labels[i], p.CrashLoops})
		restarts = append(restarts, bar{labels[i], float64(p.Restarts)})
	}
	one := func(v float64) string { return fmt.Sprintf("%.1f", v) }
	return []template.HTML{
		lineChart("Homes (UTC)", labels, []series{
			{"homes", "homes", homes}, {"online", "online", online}, {"running", "running", running},
		}, func(v float64) string { return fmt.Sprintf("%.0f", v) }),
		barChart("Homes in a crash loop", "loops", loops, one),
		barChart("Restarts", "restarts", restarts, func(v float64) string { return fmt.Sprintf("%.0f", v) }),
	}, nil
}

// usageCharts draws the scope's use per day of the period, up to
// usage.MaxDays; a longer period shows the table only (nil).
func (s *Server) usageCharts(ctx context.Context, since, until time.Time, sc usage.Scope) ([]template.HTML, error) {
	if until.Sub(since.UTC().Truncate(24*time.Hour)) > usage.MaxDays*24*time.Hour {
		return nil, nil
	}
	days, err := s.deps.Usage.Daily(ctx, since, until, sc)
	if err != nil {
		return nil, err
	}
	var cpu, mem, intents, price []bar
	for _, d := range days {
		label := d.Day.Format("Jan 2")
		cpu, mem = append(cpu, bar{label, d.CPUCoreHours}), append(mem, bar{label, d.MemoryGiBHours})
		intents, price = append(intents, bar{label, float64(d.Intents)}), append(price, bar{label, d.Price})
	}
	cur := s.deps.Usage.Currency()
	return []template.HTML{
		barChart("CPU core-hours per day", "cpu", cpu, func(v float64) string { return fmt.Sprintf("%.3f", v) }),
		barChart("Memory GiB-hours per day", "mem", mem, func(v float64) string { return fmt.Sprintf("%.2f", v) }),
		barChart("Intents per day", "intents", intents, func(v float64) string { return fmt.Sprintf("%.0f", v) }),
		barChart("Price per day ("+cur+")", "price", price, func(v float64) string { return fmt.Sprintf("%.2f", v) }),
	}, nil
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
