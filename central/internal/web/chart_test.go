package web

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestBarChart(t *testing.T) {
	got := string(barChart("Price <per day>", "price", []bar{{"Dec 1", 1}, {"Dec 2", 4}, {"Dec 3", 0}},
		func(v float64) string { return fmt.Sprintf("%.1f", v) }))
	if n := strings.Count(got, "<rect "); n != 3 {
		t.Errorf("%d bars, want 3", n)
	}
	for _, want := range []string{"Price &lt;per day&gt;", "peak 4.0", "<title>Dec 2: 4.0</title>", ">Dec 1</text>", ">Dec 3</text>"} {
		if !strings.Contains(got, want) {
			t.Errorf("chart lacks %q:\n%s", want, got)
		}
	}
	// The peak bar fills the plot (200 - 34 - 34 = 132), a zero bar is flat.
	if !strings.Contains(got, `height="132.0"><title>Dec 2`) || !strings.Contains(got, `height="0.0"><title>Dec 3`) {
		t.Errorf("bars not scaled to the peak:\n%s", got)
	}
	if empty := string(barChart("x", "x", nil, nil)); !strings.Contains(empty, "no data") {
		t.Errorf("empty chart: %s", empty)
	}
}

func TestLineChart(t *testing.T) {
	nan := math.NaN()
	got := string(lineChart("Homes <all>", []string{"a", "b", "c", "d", "e"}, []series{
		{"online", "online", []float64{1, 2, nan, 4, 3}},
		{"homes", "homes", []float64{nan, nan, nan, nan, nan}},
	}, func(v float64) string { return fmt.Sprintf("%.0f", v) }))
	// The gap at c breaks the line in two: a-b and d-e; a dot per value.
	if n := strings.Count(got, "<polyline "); n != 2 {
		t.Errorf("%d line pieces, want 2:\n%s", n, got)
	}
	if n := strings.Count(got, "<circle "); n != 4 {
		t.Errorf("%d dots, want 4", n)
	}
	for _, want := range []string{"Homes &lt;all&gt;", "peak 4", "<title>d: 4 online</title>", `class="key homes"`, ">a</text>", ">e</text>"} {
		if !strings.Contains(got, want) {
			t.Errorf("chart lacks %q:\n%s", want, got)
		}
	}
	// The peak sits on top of the plot (y = 34), zero on the axis.
	if !strings.Contains(got, `cy="34.0" r="3"><title>d: 4`) {
		t.Errorf("peak not on top:\n%s", got)
	}
	if empty := string(lineChart("x", []string{"a"}, []series{{"s", "s", []float64{nan}}}, nil)); !strings.Contains(empty, "no data") {
		t.Errorf("empty chart: %s", empty)
	}
}
