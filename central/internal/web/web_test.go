package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"html"
	"image"
	"image/png"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"

	"google.golang.org/protobuf/types/known/timestamppb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"

	"github.com/homeplane/homeplane/central/internal/admin"
	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/central/internal/pairing"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
	"github.com/homeplane/homeplane/central/internal/rpc"
	"github.com/homeplane/homeplane/central/internal/usage"
	"github.com/homeplane/homeplane/central/internal/web"
)

const password = "a long enough password"

// presence is a hand-written web.Presence: every home online.
type presence struct{ at time.Time }

func (p presence) Online(string) bool                { return true }
func (p presence) LastSeen(string) (time.Time, bool) { return p.at, true }

// instances is a hand-written web.Instances: every home healthy.
type instances struct{}

func (instances) Instance(string) (*homeplanev1.Instance, bool) {
	// An adopted instance: the agent reports what Home Assistant's API shows.
	return &homeplanev1.Instance{State: "running", Health: "healthy", Version: "2026.5.1", Restarts: 2, CpuPercent: 12.5, MemoryBytes: 420 << 20,
		Mode: "adopted", LastSuccessAt: timestamppb.New(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))}, true
}

// dashboard is the dashboard over a real database, with an admin, alice
// (owning a home with an hour of samples) and bob.
type dashboard struct {
	url      string
	bobID    string
	aliceID  string
	homeID   string // Alice's
	pool     *pgxpool.Pool
	pairings *pairing.Service
	writer   *audit.Writer
}

func newDashboard(t *testing.T) *dashboard {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.New(t)
	authStore := postgres.NewAuthStore(pool)
	keys, err := auth.LoadKeys(ctx, authStore, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	accounts := auth.NewService(authStore, keys, auth.Options{Notifier: postgres.NewOutbox(pool)})
	var ids []string
	for _, email := range []string{"root@example.com", "alice@example.com", "bob@example.com"} {
		u, err := accounts.CreateUser(ctx, email, password)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	if err := authStore.SetRoleByEmail(ctx, "root@example.com", auth.RoleAdmin, time.Now()); err != nil {
		t.Fatal(err)
	}
	homes := home.NewService(postgres.NewHomeStore(pool), home.Options{})
	h, err := homes.Create(ctx, ids[1], "Alice's flat")
	if err != nil {
		t.Fatal(err)
	}
	auditStore := postgres.NewAuditStore(pool)
	writer := audit.NewWriter(auditStore, audit.Options{})
	t.Cleanup(func() { writer.Close() })
	usageStore := postgres.NewUsageStore(pool)
	rec := usage.NewRecorder(usageStore, usage.Options{})
	start := time.Now().Add(-time.Hour)
	for i := range 60 {
		s := usage.Sample{Time: start.Add(time.Duration(i) * time.Minute), CPUPercent: 10 + float64(i%7)*5, MemoryBytes: uint64(400+i) << 20}
		if err := rec.Add(ctx, h.ID, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	pairings := pairing.NewService(postgres.NewPairingStore(pool), homes, writer, pairing.Options{})
	rates, _ := usage.ParseRates("cpu_core_hour=0.05,memory_gib_hour=0.01,currency=EUR")
	srv := web.New(web.Deps{
		Accounts:  accounts,
		Operators: admin.New(postgres.NewAdminStore(pool), accounts, writer, admin.Options{}),
		Audit:     auditStore,
		Usage:     usage.NewReporter(usageStore, rates),
		Presence:  presence{at: time.Now()},
		Instances: instances{},
		Samples:   rec,
		Auditor:   writer,
		Stats:     auditStore,
		Fleet:     postgres.NewFleetStore(pool),
		Homes:     homes,
		Pairings:  pairings,
	}, web.Options{Admits: rpc.DashboardAdmits, Errors: rpc.HTTPError})
	if rpc.DashboardPath != web.Prefix {
		t.Fatalf("the policy table names the dashboard %q, but it lives at %q", rpc.DashboardPath, web.Prefix)
	}
	// As in central: the client's address reaches the login audit.
	ts := httptest.NewServer(rpc.ClientAddrs(nil, srv))
	t.Cleanup(ts.Close)
	if rpc.PairPath != web.PairPath {
		t.Fatalf("the API hands out %q as the verification URI, but the page lives at %q", rpc.PairPath, web.PairPath)
	}
	return &dashboard{url: ts.URL, bobID: ids[2], aliceID: ids[1], homeID: h.ID, pool: pool, pairings: pairings, writer: writer}
}

// browser starts headless Chromium, or skips when it is not installed.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("HOMEPLANE_REQUIRE_SERVICES") == "1" {
			t.Fatal("chromium is not installed and HOMEPLANE_REQUIRE_SERVICES=1 (apt-get install chromium)")
		}
		t.Skip("chromium is not installed (apt-get install chromium); skipping the browser test")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(1400, 900))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel3)
	return ctx
}

// checkScreenshot fails unless buf is a PNG with real content, and keeps it
// in $HOMEPLANE_SCREENSHOT_DIR when that is set.
func checkScreenshot(t *testing.T, name string, buf []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatalf("%s: screenshot is not a PNG: %v", name, err)
	}
	if b := img.Bounds(); b.Dx() < 800 || b.Dy() < 400 {
		t.Fatalf("%s: screenshot is %v", name, b)
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

func colors(img image.Image) int {
	seen := map[uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[r>>8<<16|g>>8<<8|bl>>8] = true
		}
	}
	return len(seen)
}

func TestDashboardInChromium(t *testing.T) {
	d := newDashboard(t)
	ctx := browser(t)

	logIn(t, ctx, d.url)
	page(t, ctx, "fleet", "main", "Fleet", "1 of 1 homes online", "Alice's flat", "alice@example.com", "healthy", "2026.5.1", "adopted")

	// Disable bob from the users page.
	row := "#user-" + d.bobID
	err := chromedp.Do(ctx,
		chromedp.Navigate(d.url+"/admin/users"),
		chromedp.WaitVisible(chromedp.CSS(row+" button.disable")),
		chromedp.Click(chromedp.CSS(row+" button.disable")),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	)
	if err != nil {
		t.Fatalf("disable bob: %v", err)
	}
	page(t, ctx, "users", row, "bob@example.com", "disabled")

	// The action is in the audit log.
	if err := chromedp.Do(ctx, chromedp.Navigate(d.url+"/admin/audit?kind=admin"), chromedp.WaitVisible(chromedp.CSS("table.audit"))); err != nil {
		t.Fatal(err)
	}
	page(t, ctx, "audit", "table.audit", "DisableUser", "admin")
	// Every kind can be picked, and the one searched for stays picked.
	picked, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("select[name=kind]").value`))
	if err != nil {
		t.Fatal(err)
	}
	kinds, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("select[name=kind] option")].map(o => o.value)`))
	if err != nil {
		t.Fatal(err)
	}
	if want := append([]string{""}, audit.Kinds...); picked != "admin" || !slices.Equal(kinds, want) {
		t.Errorf("kind picker: %q picked of %q, want admin of %q", picked, kinds, want)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(d.url+"/admin/audit?kind=login"), chromedp.WaitVisible(chromedp.CSS("table.audit"))); err != nil {
		t.Fatal(err)
	}
	page(t, ctx, "logins", "table.audit", "AdminDashboardLogin", "ok", "127.0.0.1")

	// A security event stored before it had columns of its own (action in
	// intent, address among the slots) shows as one stored in them, and
	// the intent search finds both shapes by action.
	if err := d.writer.Write(context.Background(), audit.Record{RequestID: "legacy-1", Kind: audit.KindAdmin,
		Intent: "DisableUser", Slots: map[string]any{"target_user_id": "u9", "client_addr": "192.0.2.9"}, Outcome: audit.OutcomeOK}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(d.url+"/admin/audit?intent=DisableUser"), chromedp.WaitVisible(chromedp.CSS("table.audit"))); err != nil {
		t.Fatal(err)
	}
	page(t, ctx, "audit-by-action", "table.audit", "legacy-1", "192.0.2.9")
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.querySelectorAll("table.audit tbody tr").length`)); err != nil || n != 2 {
		t.Fatalf("intent=DisableUser shows %v rows, %v; want the old and the new record", n, err)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(d.url+"/admin/usage"), chromedp.WaitVisible(chromedp.CSS("table"))); err != nil {
		t.Fatal(err)
	}
	page(t, ctx, "usage", "table", "alice@example.com", "total", "EUR")
}

// logIn opens the dashboard, which sends a stranger to the login form
// first, logs in as the admin and waits for the fleet page.
func logIn(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate(url+"/admin/"),
		chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), "root@example.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("svg.spark.cpu polyline")),
	)
	if err != nil {
		t.Fatalf("log in and open the fleet page: %v", err)
	}
}

// page checks that the element sel of the current page shows every wanted
// text, and that a screenshot of the page is not blank.
func page(t *testing.T, ctx context.Context, name, sel string, want ...string) {
	t.Helper()
	body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("%s: read %s: %v", name, sel, err)
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Fatalf("%s page lacks %q:\n%s", name, w, body)
		}
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100 means PNG
	if err != nil {
		t.Fatalf("%s: screenshot: %v", name, err)
	}
	checkScreenshot(t, name, shot)
}

// TestDashboardRefusesForgedForms posts without and with the CSRF token.
func TestDashboardRefusesForgedForms(t *testing.T) {
	d := newDashboard(t)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	tests := []struct {
		name     string
		withCSRF bool
		password string
		want     int
	}{
		{"login without token", false, password, http.StatusForbidden},
		{"login with wrong password", true, "nope", http.StatusUnauthorized},
		{"login", true, password, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{"email": {"root@example.com"}, "password": {tc.password}}
			if tok := loginToken(t, c, d.url); tc.withCSRF {
				form.Set("csrf", tok)
			}
			resp, err := c.PostForm(d.url+"/admin/login", form)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	u, _ := url.Parse(d.url + "/admin/")
	found := false
	for _, ck := range jar.Cookies(u) {
		found = found || ck.Name == "homeplane_admin" && ck.Value != ""
	}
	if !found {
		t.Fatal("no session cookie after logging in")
	}
	resp, err := c.PostForm(d.url+"/admin/users/"+d.bobID+"/disable", url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("forged disable: status %d, want 403", resp.StatusCode)
	}
}

// loginToken fetches the login form, which sets the login cookie, and
// returns the form's CSRF token.
func loginToken(tb testing.TB, c *http.Client, base string) string {
	tb.Helper()
	resp, err := c.Get(base + "/admin/login")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	page := new(bytes.Buffer)
	_, _ = page.ReadFrom(resp.Body)
	return between(page.String(), `name="csrf" value="`, `"`)
}

func between(s, start, end string) string {
	_, after, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, end)
	return v
}

// logIn logs the admin in on c.
func (d *dashboard) logIn(t *testing.T, c *http.Client) {
	t.Helper()
	form := url.Values{"email": {"root@example.com"}, "password": {password}, "csrf": {loginToken(t, c, d.url)}}
	resp, err := c.PostForm(d.url+"/admin/login", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("log in: status %d", resp.StatusCode)
	}
}

// get returns the body of a dashboard page.
func get(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := new(bytes.Buffer)
	_, _ = body.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", u, resp.StatusCode)
	}
	return body.String()
}

// pageThrough follows the "more" links from path and returns the rows of
// every page (each row's text after rowMark up to the next quote or tag).
func pageThrough(t *testing.T, c *http.Client, base, path, rowMark, rowEnd string) (pages []int, rows []string) {
	t.Helper()
	for next := path; next != ""; {
		body := get(t, c, base+next)
		n := 0
		for rest := body; ; n++ {
			_, after, ok := strings.Cut(rest, rowMark)
			if !ok {
				break
			}
			row, _, _ := strings.Cut(after, rowEnd)
			rows = append(rows, row)
			rest = after
		}
		pages = append(pages, n)
		next = html.UnescapeString(between(body, `class="more" href="`, `"`))
		if len(pages) > 10 {
			t.Fatal("the pages do not end")
		}
	}
	return pages, rows
}

func TestFleetAndUsersPageThrough(t *testing.T) {
	d := newDashboard(t)
	ctx := context.Background()
	users := postgres.NewAuthStore(d.pool)
	var owners []string
	for i := range 120 {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
		id := fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
		u := auth.User{ID: id, Email: fmt.Sprintf("user%03d@example.com", i), Role: auth.RoleUser, CreatedAt: time.Now()}
		if _, err := users.CreateUser(ctx, u, "not-a-login"); err != nil {
			t.Fatal(err)
		}
		owners = append(owners, id)
	}
	homes := home.NewService(postgres.NewHomeStore(d.pool), home.Options{})
	for i := range 230 {
		if _, err := homes.Create(ctx, owners[i%len(owners)], fmt.Sprintf("Home %03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	d.logIn(t, c)

	pages, ids := pageThrough(t, c, d.url, "/admin/", "<code>", "</code>")
	if !slices.Equal(pages, []int{200, 31}) || len(ids) != 231 || len(unique(ids)) != 231 {
		t.Fatalf("fleet pages of %v rows, %d ids (%d distinct), want 200 and 31 distinct homes", pages, len(ids), len(unique(ids)))
	}
	pages, emails := pageThrough(t, c, d.url, "/admin/users?q=user", `<tr id="user-`, `"`)
	if !slices.Equal(pages, []int{100, 20}) || len(unique(emails)) != 120 {
		t.Fatalf("users pages of %v rows (%d distinct), want 100 and 20", pages, len(unique(emails)))
	}
}

func unique(xs []string) map[string]bool {
	m := map[string]bool{}
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// The pictures' parameters come from outside: an unknown range, an
// overlong home id or a usage period too long to draw answer clearly and
// draw nothing.
func TestChartParametersAreChecked(t *testing.T) {
	d := newDashboard(t)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	d.logIn(t, c)
	for _, tc := range []struct {
		path, want string
		status     int
	}{
		{"/admin/?range=1y", "range", http.StatusBadRequest},
		{"/admin/usage?home=" + strings.Repeat("x", 65), "too long", http.StatusBadRequest},
	} {
		resp, err := c.Get(d.url + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body := new(bytes.Buffer)
		_, _ = body.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(body.String(), tc.want) {
			t.Errorf("GET %s: %d %q, want %d naming %q", tc.path, resp.StatusCode, body.String(), tc.status, tc.want)
		}
	}
	// A period over usage.MaxDays shows the table without charts.
	long := get(t, c, d.url+"/admin/usage?since=2026-01-01&until=2026-06-01")
	if strings.Contains(long, "svg class=\"bars") || !strings.Contains(long, "<table") {
		t.Error("a five-month period drew daily charts")
	}
	if page := get(t, c, d.url+"/admin/?range=90d"); !strings.Contains(page, `class="on">90d`) || strings.Count(page, "<rect ") != 180 {
		t.Errorf("the 90-day range: not chosen, or not 90 bars in each of its two bar charts")
	}
}
