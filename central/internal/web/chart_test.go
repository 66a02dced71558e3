package web

import (
	"fmt"
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
