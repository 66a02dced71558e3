package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/homeplane/homeplane/central/internal/pairing"
)

// TestPairPageInChromium follows a device's verification URI as its owner
// would: the pairing page asks a user (not an admin) to log in, comes back
// with the code filled in, and approves the device for her home, which
// the device's next poll turns into its token. At 390 and 1280 px the
// pages never scroll sideways.
func TestPairPageInChromium(t *testing.T) {
	d := newDashboard(t)
	ctx := browser(t)
	g, err := d.pairings.Start(context.Background(), "Kitchen satellite")
	if err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 800),
		chromedp.Navigate(d.url+"/pair?code="+url.QueryEscape(g.UserCode)),
		chromedp.WaitVisible(chromedp.CSS("#email")),
	)
	if err != nil {
		t.Fatalf("open the verification URI: %v", err)
	}
	fits(t, ctx, "pair-login-390", 390)
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil || !strings.Contains(text, "Log in to pair a device") {
		t.Fatalf("the login page shows %q, %v", text, err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	keepScreenshot(t, "pair-login-390", shot, 390)
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#email"), "alice@example.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("#approve")),
	)
	if err != nil {
		t.Fatalf("log in as alice: %v", err)
	}
	code, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#code").value`))
	if err != nil || code != g.UserCode {
		t.Fatalf("the code field holds %q, %v; want %q", code, err, g.UserCode)
	}
	for _, width := range []int64{390, 1280} {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 800)); err != nil {
			t.Fatal(err)
		}
		fits(t, ctx, fmt.Sprintf("pair-%d", width), width)
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		keepScreenshot(t, fmt.Sprintf("pair-%d", width), shot, int(width))
	}
	page(t, ctx, "pair", "main", "Pair a voice device", "Alice's flat")
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#area"), "Kitchen"),
		chromedp.Click(chromedp.CSS("#approve")),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	)
	if err != nil {
		t.Fatalf("approve: %v", err)
	}
	page(t, ctx, "paired", ".notice", "Approved “Kitchen satellite”")

	p, dev, token, err := d.pairings.Poll(context.Background(), g.DeviceCode)
	if err != nil || p.Status != pairing.StatusApproved || !strings.HasPrefix(token, "hpd_") {
		t.Fatalf("the device's poll after approval: %v, %v", p.Status, err)
	}
	if dev.HomeID != d.homeID || dev.Area != "Kitchen" {
		t.Fatalf("paired device %+v", dev)
	}

	// A code nobody waits for reads as such.
	err = chromedp.Do(ctx,
		chromedp.Navigate(d.url+"/pair"),
		chromedp.WaitVisible(chromedp.CSS("#approve")),
		chromedp.SendKeys(chromedp.CSS("#code"), "BBBB-BBBB"),
		chromedp.Click(chromedp.CSS("#approve")),
		chromedp.WaitVisible(chromedp.CSS(".problem")),
	)
	if err != nil {
		t.Fatal(err)
	}
	page(t, ctx, "pair-wrong-code", ".problem", "No device waits for this code")
}

// fits fails when the current page is wider than the window.
func fits(t *testing.T, ctx context.Context, name string, width int64) {
	t.Helper()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`document.documentElement.scrollWidth + " " + window.innerWidth`))
	if err != nil {
		t.Fatal(err)
	}
	var scroll, inner int
	fmt.Sscan(got, &scroll, &inner)
	if inner != int(width) || scroll > inner {
		t.Errorf("%s: the page is %d px wide in a %d px window", name, scroll, inner)
	}
}

// TestPairPageRefusesForgedForms: the pairing page's form needs its CSRF
// token, as the dashboard's do.
func TestPairPageRefusesForgedForms(t *testing.T) {
	d := newDashboard(t)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(d.url + "/pair/login")
	if err != nil {
		t.Fatal(err)
	}
	body := new(strings.Builder)
	fmt.Fprint(body, readAll(t, resp))
	form := url.Values{"email": {"alice@example.com"}, "password": {password}, "csrf": {between(body.String(), `name="csrf" value="`, `"`)}}
	resp, err = c.PostForm(d.url+"/pair/login", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("log in on the pairing page: status %d", resp.StatusCode)
	}
	g, err := d.pairings.Start(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	resp, err = c.PostForm(d.url+"/pair", url.Values{"code": {g.UserCode}, "home": {d.homeID}, "action": {"approve"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("approve without the form token: status %d, want 403", resp.StatusCode)
	}
	if p, _, _, err := d.pairings.Poll(context.Background(), g.DeviceCode); err != nil || p.Status != pairing.StatusPending {
		t.Fatalf("after the forged form: %v, %v; want pending", p.Status, err)
	}
	// The pairing page's session is no admin session.
	resp, err = c.Get(d.url + "/admin/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/admin/login" {
		t.Fatalf("a user's pairing session opened %s", resp.Request.URL.Path)
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b := new(strings.Builder)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}
