package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"google.golang.org/protobuf/types/known/timestamppb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
)

// chromium starts headless Chromium for the test, or skips (fails under
// HOMEPLANE_REQUIRE_SERVICES=1) when it is not installed.
func chromium(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("HOMEPLANE_REQUIRE_SERVICES") == "1" {
			t.Fatal("chromium is not installed and HOMEPLANE_REQUIRE_SERVICES=1 (apt-get install chromium)")
		}
		t.Skip("chromium is not installed (apt-get install chromium); skipping the browser rows")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(ctx); err != nil { // starts the browser on a context without a deadline
		t.Fatal(err)
	}
	return ctx
}

// xss is markup that runs script wherever it is parsed as HTML rather than
// shown as text: each variant sets a global the test reads back.
const xss = `"'><script>__xss=1</script><img src=x onerror=__xss=2><svg onload=__xss=3>`

// ranScript reports whether any of xss's scripts ran on the page loaded
// in ctx, or its markup became elements.
func ranScript(t *testing.T, ctx context.Context) bool {
	t.Helper()
	time.Sleep(300 * time.Millisecond) // an onerror fires once the image failed
	ran, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
		`typeof window.__xss !== "undefined" || document.querySelectorAll('img[src="x"], svg[onload], script:not([src])').length > 0`))
	if err != nil {
		t.Fatal(err)
	}
	return ran
}

// shows reports whether the page loaded in ctx shows text as text.
func shows(t *testing.T, ctx context.Context, text string) bool {
	t.Helper()
	body, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(body, text)
}

// chromeLogin logs into scope ("/admin" or "/pair") through its form in
// Chromium.
func chromeLogin(t *testing.T, ctx context.Context, c *central, scope, email string) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate(c.url+scope+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), "correct horse battery"),
		chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS(map[string]string{"/admin": "header nav", "/pair": "#home"}[scope])),
	)
	if err != nil {
		t.Fatalf("log in to %s as %s: %v", scope, email, err)
	}
}

// TestAttacksRound9Browser is the browser part of the ninth attack round
// (docs/benchmarks.md, "Attacks, round 9"): central's dashboard and pairing
// page in headless Chromium, with names, emails, sentences and what an agent
// reports carrying markup and script; framing, the Content-Security-Policy,
// cookies, logout, sessions of the wrong part of the site, redirects after
// login and cache headers.
func TestAttacksRound9Browser(t *testing.T) {
	c := startCentral(t)
	ctx := context.Background()
	bctx := chromium(t)
	alice := newHandAgent(t, c, "alice@example.com")
	c.admin(t, "ops@example.com")

	// Markup everywhere an outsider can write what the pages show.
	if _, err := c.homes.CreateHome(ctx, authed(alice.token, &homeplanev1.CreateHomeRequest{Name: "home" + xss})); err != nil {
		t.Logf("a home named with markup: %v", err)
	}
	if _, err := c.homes.RegisterDevice(ctx, authed(alice.token, &homeplanev1.RegisterDeviceRequest{HomeId: alice.homeID, Name: "dev" + xss, Area: "area" + xss})); err != nil {
		t.Logf("a device named with markup: %v", err)
	}
	alice.sync(t, c, &homeplanev1.EntitySync{Entities: []*homeplanev1.Entity{
		{EntityId: "light.x", Name: "light" + xss, Domain: "light", State: "off"},
	}})
	alice.publish(t, c, topic.Telemetry, false, &homeplanev1.Telemetry{Time: timestamppb.Now(), CpuPercent: 1,
		Instance: &homeplanev1.Instance{State: "running" + xss, Health: "bad" + xss, Version: "2026.1" + xss, Mode: "adopted"}})
	if _, err := alice.say(c, "turn on the lamp"+xss); err != nil {
		t.Logf("a sentence with markup: %v", err)
	}
	// A failed dashboard login under an email of markup leaves an audit record.
	lb := newBrowser(t, c)
	lb.get(t, "/admin/login")
	lb.post(t, "/admin/login", url.Values{"email": {"x" + xss + "@example.com"}, "password": {"nope nope nope"}})
	eventually(t, 10*time.Second, "the version alice's agent reported", func() bool {
		p := newBrowser(t, c)
		p.login(t, "/admin", "ops@example.com")
		return strings.Contains(p.get(t, "/admin/").body, "2026.1")
	})

	chromeLogin(t, bctx, c, "/admin", "ops@example.com")

	t.Run("01 stored markup on the dashboard's pages runs no script", func(t *testing.T) {
		for _, path := range []string{"/admin/", "/admin/users", "/admin/audit", "/admin/audit?kind=login_failed", "/admin/usage"} {
			if err := chromedp.Do(bctx, chromedp.Navigate(c.url+path), chromedp.WaitVisible(chromedp.CSS("main"))); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if ranScript(t, bctx) {
				t.Errorf("%s: markup from outside ran as script or became elements", path)
			}
		}
		// The markup reached the pages, shown as text.
		if err := chromedp.Do(bctx, chromedp.Navigate(c.url+"/admin/")); err != nil {
			t.Fatal(err)
		}
		if !shows(t, bctx, "2026.1"+xss) {
			t.Errorf("the reported version is not on the fleet page as text")
		}
	})

	t.Run("02 reflected markup in the query runs no script", func(t *testing.T) {
		q := url.QueryEscape(xss)
		for _, path := range []string{"/admin/users?q=" + q, "/admin/audit?text=" + q, "/admin/audit?since=" + q, "/admin/usage?since=" + q, "/admin/login?next=/admin/" + q} {
			if err := chromedp.Do(bctx, chromedp.Navigate(c.url+path)); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if ranScript(t, bctx) {
				t.Errorf("%s: markup in the query ran as script", path)
			}
		}
		chromeLogin(t, bctx, c, "/admin", "ops@example.com")
	})

	t.Run("03 the pairing page shows a home named with markup as text", func(t *testing.T) {
		pctx, cancel := chromedp.NewContext(bctx)
		defer cancel()
		chromeLogin(t, pctx, c, "/pair", "alice@example.com")
		if ranScript(t, pctx) {
			t.Error("/pair: a home's name ran as script")
		}
		if n, err := chromedp.Run(pctx, chromedp.Evaluate[float64](`document.querySelectorAll("#home option").length`)); err != nil || n < 2 {
			t.Errorf("/pair lists %v homes (%v), want alice's two", n, err)
		}
	})

	t.Run("04 an inline script injected into a page does not run (CSP)", func(t *testing.T) {
		if err := chromedp.Do(bctx, chromedp.Navigate(c.url+"/admin/users"), chromedp.WaitVisible(chromedp.CSS("main"))); err != nil {
			t.Fatal(err)
		}
		// What an escaping mistake would put in the page: an inline
		// handler and an inline script. The devtools call that inserts
		// them is not the page's; the page's policy decides whether they run.
		_, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`(() => {
			window.__violations = 0;
			document.addEventListener("securitypolicyviolation", () => window.__violations++);
			document.body.insertAdjacentHTML("beforeend", '<img src="/nope.png" onerror="window.__csp=1">');
			const s = document.createElement("script"); s.textContent = "window.__csp=2"; document.body.appendChild(s);
			return true })()`))
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		ran, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`typeof window.__csp !== "undefined"`))
		if err != nil || ran {
			t.Errorf("an injected inline script ran (%v)", err)
		}
		if v, err := chromedp.Run(bctx, chromedp.Evaluate[float64](`window.__violations`)); err != nil || v < 1 {
			t.Errorf("Chromium reported %v policy violations (%v), want the blocked scripts", v, err)
		}
	})

	t.Run("05 a page of another site cannot frame the dashboard", func(t *testing.T) {
		u, _ := url.Parse(c.url)
		target := "http://localhost:" + u.Port() + "/admin/login" // another site than the attacker's 127.0.0.1
		ctrl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte(`<!doctype html><p>a page that may be framed</p>`))
		}))
		defer ctrl.Close()
		control := strings.Replace(ctrl.URL, "127.0.0.1", "localhost", 1) + "/control"
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte(`<!doctype html><iframe src="` + target + `"></iframe><iframe src="` + control + `"></iframe>`))
		}))
		defer evil.Close()
		fctx, cancel := chromedp.NewContext(bctx)
		defer cancel()
		if err := chromedp.Do(fctx, chromedp.Navigate(evil.URL)); err != nil {
			t.Fatal(err)
		}
		// Frames of another site are targets of their own (site isolation).
		loaded := map[string]bool{}
		eventually(t, 10*time.Second, "the control frame loaded", func() bool {
			ts, err := chromedp.Targets(fctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, ti := range ts {
				loaded[ti.URL] = true
			}
			return loaded[control]
		})
		time.Sleep(500 * time.Millisecond)
		// What each frame holds, read inside it.
		holds := func(url, js string) bool {
			ts, err := chromedp.Targets(fctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, ti := range ts {
				if ti.URL != url {
					continue
				}
				ictx, cancel := chromedp.NewContext(fctx, chromedp.WithTargetID(ti.TargetID))
				defer cancel()
				ok, err := chromedp.Run(ictx, chromedp.Evaluate[bool](js))
				return err == nil && ok
			}
			return false
		}
		if !holds(control, `document.body.innerText.includes("may be framed")`) {
			t.Fatal("the control page is not shown in its frame: the row cannot tell a blocked frame")
		}
		if holds(target, `!!document.getElementById("email")`) {
			t.Error("the login form is shown in another site's frame")
		}
	})

	t.Run("06 session cookies are HttpOnly, SameSite=Strict, scoped, unseen by scripts", func(t *testing.T) {
		b := newBrowser(t, c)
		b.get(t, "/admin/login")
		resp := b.post(t, "/admin/login", url.Values{"email": {"ops@example.com"}, "password": {"correct horse battery"}})
		n := 0
		for _, sc := range (&http.Response{Header: resp.header}).Cookies() {
			if sc.MaxAge < 0 || sc.Value == "" {
				continue
			}
			n++
			if !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode || sc.Path != "/admin/" {
				t.Errorf("cookie %s: HttpOnly %v, SameSite %v, Path %q", sc.Name, sc.HttpOnly, sc.SameSite, sc.Path)
			}
		}
		if n < 2 {
			t.Errorf("%d session cookies set at login, want 2", n)
		}
		if err := chromedp.Do(bctx, chromedp.Navigate(c.url+"/admin/")); err != nil {
			t.Fatal(err)
		}
		if jc, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.cookie`)); err != nil || strings.Contains(jc, "homeplane") {
			t.Errorf("document.cookie = %q (%v), want no session cookie", jc, err)
		}
	})

	t.Run("07 logout ends the session for a copy of its cookies", func(t *testing.T) {
		b := newBrowser(t, c)
		b.login(t, "/admin", "ops@example.com")
		access, refresh := b.cookie(t, "/admin/", "homeplane_admin"), b.cookie(t, "/admin/", "homeplane_admin_refresh")
		b.get(t, "/admin/")
		if p := b.post(t, "/admin/logout", url.Values{}); p.status != http.StatusSeeOther {
			t.Fatalf("logout: %d", p.status)
		}
		thief := newBrowser(t, c)
		thief.setCookie(t, "/admin/", "homeplane_admin", access)
		thief.setCookie(t, "/admin/", "homeplane_admin_refresh", refresh)
		if p := thief.get(t, "/admin/users"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/admin/login") {
			t.Errorf("/admin/users with the cookies of an ended session: %d %s", p.status, p.header.Get("Location"))
		}
		thief2 := newBrowser(t, c)
		thief2.setCookie(t, "/admin/", "homeplane_admin_refresh", refresh)
		if p := thief2.get(t, "/admin/"); p.status != http.StatusSeeOther {
			t.Errorf("/admin/ with the refresh cookie of an ended session: %d", p.status)
		}
	})

	t.Run("08 a user's session opens no admin page", func(t *testing.T) {
		b := newBrowser(t, c)
		if p := b.login(t, "/admin", "alice@example.com"); p.status == http.StatusSeeOther || b.cookie(t, "/admin/", "homeplane_admin") != "" {
			t.Errorf("alice logged into the dashboard: %d", p.status)
		}
		b.login(t, "/pair", "alice@example.com")
		pairSession := b.cookie(t, "/pair", "homeplane_pair")
		if pairSession == "" {
			t.Fatal("no pairing session")
		}
		thief := newBrowser(t, c)
		thief.setCookie(t, "/admin/", "homeplane_admin", pairSession)
		thief.setCookie(t, "/admin/", "homeplane_admin_refresh", b.cookie(t, "/pair", "homeplane_pair_refresh"))
		for _, path := range []string{"/admin/", "/admin/users", "/admin/audit", "/admin/usage.csv"} {
			if p := thief.get(t, path); p.status != http.StatusSeeOther || strings.Contains(p.body, "ops@example.com") {
				t.Errorf("%s with a user's session: %d", path, p.status)
			}
		}
		opsID := userID(t, c, "ops@example.com")
		if p := thief.post(t, "/admin/users/"+opsID+"/disable", url.Values{"csrf": {csrfOf(pairSession)}}); p.status < 400 {
			t.Errorf("disabling the operator with a user's session: %d", p.status)
		}
	})

	t.Run("09 login's next parameter stays on central", func(t *testing.T) {
		for _, try := range []struct{ scope, email string }{{"/admin", "ops@example.com"}, {"/pair", "alice@example.com"}} {
			for _, next := range []string{"//evil.example/", "https://evil.example" + try.scope + "/", "/\\evil.example", try.scope + "/\\evil.example",
				"\t//evil.example", " //evil.example", "/%2F%2Fevil.example", "javascript:alert(1)", try.scope + "@evil.example",
				"//evil.example" + try.scope + "/", try.scope + "/%0d%0aLocation:%20https://evil.example", "http:evil.example", "\\\\evil.example",
				try.scope + "/../..//evil.example", try.scope + "\t//evil.example", try.scope + ".evil.example"} {
				b := newBrowser(t, c)
				b.get(t, try.scope+"/login?next="+url.QueryEscape(next))
				p := b.post(t, try.scope+"/login", url.Values{"email": {try.email}, "password": {"correct horse battery"}, "next": {next}})
				loc := p.header.Get("Location")
				base, _ := url.Parse(c.url + try.scope + "/login")
				to, err := base.Parse(strings.ReplaceAll(loc, "\t", "")) // browsers drop tabs from URLs
				if p.status != http.StatusSeeOther || err != nil || to.Host != base.Host || to.Scheme != base.Scheme || strings.ContainsAny(loc, "\r\n\\") {
					t.Errorf("%s: next %q: %d to %q", try.scope, next, p.status, loc)
				}
			}
		}
	})

	t.Run("10 pages with personal data are not stored by caches", func(t *testing.T) {
		b := newBrowser(t, c)
		b.login(t, "/admin", "ops@example.com")
		pb := newBrowser(t, c)
		pb.login(t, "/pair", "alice@example.com")
		for _, p := range []struct {
			b    *browser
			path string
		}{{b, "/admin/"}, {b, "/admin/users"}, {b, "/admin/audit"}, {b, "/admin/usage"}, {b, "/admin/usage.csv"}, {b, "/admin/login"}, {pb, "/pair"}} {
			got := p.b.get(t, p.path)
			if got.status != http.StatusOK || !strings.Contains(got.header.Get("Cache-Control"), "no-store") {
				t.Errorf("%s: %d, Cache-Control %q", p.path, got.status, got.header.Get("Cache-Control"))
			}
		}
	})
}

// csrfOf is the dashboard's CSRF token for a session token, as central
// derives it (web.csrfFor); an attacker holding the token can compute it.
func csrfOf(token string) string {
	m := hmac.New(sha256.New, []byte("homeplane admin csrf"))
	m.Write([]byte(token))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
