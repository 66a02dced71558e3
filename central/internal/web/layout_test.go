package web_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/postgres"
)

// TestDashboardFitsPhoneAndDesktop opens every page at 390 and 1280 px with
// a 1,001-character rejected sentence in the audit log: the page never
// scrolls sideways, and the long text is clipped with the whole of it on
// hover.
func TestDashboardFitsPhoneAndDesktop(t *testing.T) {
	d := newDashboard(t)
	long := strings.Repeat("turn on the ", 83) + "lights" // 1,001 characters, no break for a while
	long = strings.ReplaceAll(long, " ", "_")[:1001]
	w := audit.NewWriter(postgres.NewAuditStore(d.pool), audit.Options{})
	if err := w.Write(context.Background(), audit.Record{RequestID: "long-1", Kind: audit.KindIntent, Outcome: "rejected",
		Text: long, Error: "text is longer than 1000 characters"}); err != nil {
		t.Fatal(err)
	}
	for i, us := range []int64{100_000, 200_000, 300_000} {
		if err := w.Write(context.Background(), audit.Record{RequestID: fmt.Sprint("ok-", i), Kind: audit.KindIntent,
			Outcome: "ok", Text: "turn on the lights", TotalUS: us}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Write(context.Background(), audit.Record{RequestID: "failed-1", Kind: audit.KindIntent, Outcome: "failed", Text: "open the garden gate"}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	// The last hour of the fleet, a snapshot a minute: one home, online
	// and running, a restart each minute.
	for i := 1; i <= 60; i++ {
		if _, err := d.pool.Exec(context.Background(), `INSERT INTO fleet_snapshots (at, homes, online, running, crash_loops, restarts)
			VALUES (date_trunc('minute', now()) - $1 * interval '1 minute', 1, 1, 1, 0, 1)`, i); err != nil {
			t.Fatal(err)
		}
	}

	ctx := browser(t)
	logIn(t, ctx, d.url)
	pages := []struct{ name, path, sel string }{
		{"fleet", "/admin/", "table"},
		{"users", "/admin/users", "table"},
		{"audit", "/admin/audit", "table.audit"},
		{"usage", "/admin/usage", "table"},
		{"fleet-7d", "/admin/?range=7d", "svg.lines"},
		{"usage-home", "/admin/usage?home=" + d.homeID, "svg.bars.price"},
		{"usage-user", "/admin/usage?user=" + d.aliceID, "svg.bars.price"},
	}
	for _, width := range []int64{390, 1280} {
		for _, p := range pages {
			name := fmt.Sprintf("%s-%d", p.name, width)
			err := chromedp.Do(ctx,
				chromedp.EmulateViewport(width, 800),
				chromedp.Navigate(d.url+p.path),
				chromedp.WaitVisible(chromedp.CSS(p.sel)),
			)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			fits, err := chromedp.Run(ctx, chromedp.Evaluate[string](
				`document.documentElement.scrollWidth + " " + window.innerWidth`))
			if err != nil {
				t.Fatal(err)
			}
			var scroll, inner int
			fmt.Sscan(fits, &scroll, &inner)
			if inner != int(width) || scroll > inner {
				t.Errorf("%s: the page is %d px wide in a %d px window", name, scroll, inner)
			}
			// The header, Log out included, stays inside the window.
			right, err := chromedp.Run(ctx, chromedp.Evaluate[float64](
				`document.querySelector("header").getBoundingClientRect().right`))
			if err != nil {
				t.Fatal(err)
			}
			logout, err := chromedp.Run(ctx, chromedp.Evaluate[float64](
				`document.querySelector(".logout button").getBoundingClientRect().right`))
			if err != nil {
				t.Fatal(err)
			}
			if right > float64(width) || logout > float64(width) {
				t.Errorf("%s: header ends at %.0f px, Log out at %.0f px, window %d px", name, right, logout, width)
			}
			shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			keepScreenshot(t, name, shot, int(width))
		}
	}
	// The usage page draws a bar per day of the month so far for each of its
	// four charts, and today's CPU bar is not empty.
	if err := chromedp.Do(ctx, chromedp.Navigate(d.url+"/admin/usage"), chromedp.WaitVisible(chromedp.CSS("svg.bars.price"))); err != nil {
		t.Fatal(err)
	}
	days := time.Now().UTC().Day()
	bars, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](
		`["cpu", "mem", "intents", "price"].map(c => document.querySelectorAll("svg.bars." + c + " rect").length)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(bars) != 4 || bars[0] != days || bars[3] != days {
		t.Errorf("usage charts have %v bars, want %d each", bars, days)
	}
	today, err := chromedp.Run(ctx, chromedp.Evaluate[float64](
		`[...document.querySelectorAll("svg.bars.cpu rect")].pop().getBBox().height`))
	if err != nil || today <= 0 {
		t.Errorf("today's CPU bar: height %v, %v", today, err)
	}

	// The fleet over the default 24 hours: the online line ends at 1 in
	// this quarter hour, and the restart bars add up to the hour's 60.
	if err := chromedp.Do(ctx, chromedp.Navigate(d.url+"/admin/"), chromedp.WaitVisible(chromedp.CSS("svg.lines"))); err != nil {
		t.Fatal(err)
	}
	fleetNow, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[
		[...document.querySelectorAll("svg.lines .online circle")].pop().textContent,
		String([...document.querySelectorAll("svg.bars.restarts rect")].reduce((n, r) => n + Number(r.textContent.split(": ")[1]), 0)),
		String(document.querySelectorAll("svg.bars.restarts rect").length),
		document.querySelector(".ranges a.on").textContent]`))
	if err != nil {
		t.Fatal(err)
	}
	// The online line ends in the quarter hour of the newest snapshot, read
	// back rather than taken from the clock, which may have passed into the
	// next quarter hour since the snapshots were written.
	var newest time.Time
	if err := d.pool.QueryRow(context.Background(), "SELECT max(at) FROM fleet_snapshots").Scan(&newest); err != nil {
		t.Fatal(err)
	}
	quarter := newest.UTC().Truncate(15 * time.Minute)
	wantFleet := []string{quarter.Format("Jan 2 15:04") + ": 1 online", "60", "96", "24h"}
	if fmt.Sprint(fleetNow) != fmt.Sprint(wantFleet) {
		t.Errorf("fleet charts: %q, want %q", fleetNow, wantFleet)
	}
	// Labels stay readable: the chart's text is at least 9 px high on a phone.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 800), chromedp.Navigate(d.url+"/admin/"), chromedp.WaitVisible(chromedp.CSS("svg.lines"))); err != nil {
		t.Fatal(err)
	}
	textPx, err := chromedp.Run(ctx, chromedp.Evaluate[float64](
		`Math.min(...[...document.querySelectorAll("svg.lines text, svg.bars text")].map(e => e.getBoundingClientRect().height))`))
	if err != nil || textPx < 9 {
		t.Errorf("chart labels at 390 px are %.1f px high (%v), want at least 9", textPx, err)
	}
	// Usage per home and per user: Alice's home has today's CPU; Bob owns
	// nothing, so his charts are flat.
	for _, c := range []struct {
		query string
		used  bool
	}{{"home=" + d.homeID, true}, {"user=" + d.aliceID, true}, {"user=" + d.bobID, false}} {
		if err := chromedp.Do(ctx, chromedp.Navigate(d.url+"/admin/usage?"+c.query), chromedp.WaitVisible(chromedp.CSS("svg.bars.cpu"))); err != nil {
			t.Fatal(err)
		}
		h, err := chromedp.Run(ctx, chromedp.Evaluate[float64](
			`[...document.querySelectorAll("svg.bars.cpu rect")].pop().getBBox().height`))
		if err != nil || (h > 0) != c.used {
			t.Errorf("usage?%s: today's CPU bar is %.1f high (%v), want used %v", c.query, h, err, c.used)
		}
	}

	// The clipped sentence keeps its full text for hover.
	if err := chromedp.Do(ctx, chromedp.Navigate(d.url+"/admin/audit"), chromedp.WaitVisible(chromedp.CSS("table.audit"))); err != nil {
		t.Fatal(err)
	}
	// Above the log, this hour's Process requests: 5, 2 of them not ok, p95
	// of (0, 0, 100, 200, 300 ms) = 280 ms.
	last, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`["requests", "errors", "latency"].map(c => [...document.querySelectorAll("svg.bars." + c + " rect")].pop().textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	hour := time.Now().UTC().Format("15:00")
	want := []string{hour + ": 5", hour + ": 40.0 %", hour + ": 280 ms"}
	if fmt.Sprint(last) != fmt.Sprint(want) {
		t.Errorf("Process charts, this hour: %q, want %q", last, want)
	}
	title, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`[...document.querySelectorAll("table.audit .clip")].map(e => e.title).find(t => t.length > 1000) || ""`))
	if err != nil {
		t.Fatal(err)
	}
	if title != long {
		t.Errorf("the long sentence's title has %d characters, want the %d of the text", len(title), len(long))
	}
}

// keepScreenshot fails unless buf is a PNG of the window's width with real
// content, and keeps it in $HOMEPLANE_SCREENSHOT_DIR when that is set.
func keepScreenshot(t *testing.T, name string, buf []byte, width int) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatalf("%s: screenshot is not a PNG: %v", name, err)
	}
	if got := img.Bounds().Dx(); got != width {
		t.Errorf("%s: screenshot is %d px wide, want %d", name, got, width)
	}
	if n := colors(img); n < 8 {
		t.Fatalf("%s: screenshot has %d colors: the page looks blank", name, n)
	}
	if dir := os.Getenv("HOMEPLANE_SCREENSHOT_DIR"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
