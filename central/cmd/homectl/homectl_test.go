package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/homeplane/homeplane/central/internal/rpc"
	"github.com/homeplane/homeplane/central/internal/rpc/rpctest"
	"github.com/homeplane/homeplane/central/internal/timer"
)

// cli runs homectl in-process against a central serving rpc over fakes,
// with the real timer manager on a clock the test moves.
type cli struct {
	t         testing.TB
	url       string
	env       map[string]string
	accounts  *rpctest.Accounts
	homes     *rpctest.Homes
	intents   *rpctest.Intents
	clock     *manualClock
	timers    *timer.Manager
	pipelines *rpctest.Pipelines
	store     credentialStore
	// timeout is the request timeout homectl runs with; zero is its default.
	timeout time.Duration
	// dropProcess makes central carry out the next Process call and then
	// break the connection instead of answering.
	dropProcess atomic.Bool
}

func newCLI(t testing.TB) *cli {
	t.Helper()
	c := &cli{
		t:         t,
		accounts:  rpctest.NewAccounts(),
		homes:     rpctest.NewHomes(),
		intents:   &rpctest.Intents{},
		clock:     newManualClock(),
		pipelines: &rpctest.Pipelines{},
	}
	c.timers = timer.NewManager(timer.Options{Clock: c.clock})
	c.intents.Answer(rpctest.LightsOn(), nil)
	srv := httptest.NewServer(c.dropping(rpc.NewHandler(rpc.Deps{
		Accounts:  c.accounts,
		Homes:     c.homes,
		Entities:  rpctest.Entities{},
		Intents:   c.intents,
		Auditor:   &rpctest.Auditor{},
		Timers:    c.timers,
		Pipelines: c.pipelines,
		Usage:     oneDayUsage{},
	}, rpc.Options{Now: c.clock.Now})))
	t.Cleanup(srv.Close)
	dir := t.TempDir() + "/config"
	c.url = srv.URL
	c.store = credentialStore{dir: dir}
	c.env = map[string]string{envCentralURL: srv.URL, envConfigDir: dir}
	return c
}

// dropping serves h, but a Process call while dropProcess is set is
// carried out and its answer lost with the connection.
func (c *cli) dropping(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/Process") || !c.dropProcess.CompareAndSwap(true, false) {
			h.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			c.t.Errorf("hijack: %v", err)
			return
		}
		conn.Close()
	})
}

// environment is what homectl sees: c.env as it is now, and no terminal.
func (c *cli) environment(stdout, stderr io.Writer) *environment {
	env := make(map[string]string, len(c.env))
	for k, v := range c.env {
		env[k] = v
	}
	return &environment{
		Stdin:          strings.NewReader(""),
		Stdout:         stdout,
		Stderr:         stderr,
		Getenv:         func(k string) string { return env[k] },
		RequestTimeout: c.timeout,
		Now:            c.clock.Now,
	}
}

// run runs homectl with args and returns its exit code and output.
func (c *cli) run(args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, c.environment(&out, &errOut))
	return code, out.String(), errOut.String()
}

// ok runs homectl and fails the test unless it exits 0.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	code, out, errOut := c.run(args...)
	if code != exitOK {
		c.t.Fatalf("homectl %s: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
	}
	return out
}

// fails runs homectl, wants exit code want and a one-line stderr containing msg.
func (c *cli) fails(want int, msg string, args ...string) {
	c.t.Helper()
	code, _, errOut := c.run(args...)
	if code != want {
		c.t.Fatalf("homectl %s: exit %d, want %d (stderr %q)", strings.Join(args, " "), code, want, errOut)
	}
	if !strings.Contains(errOut, msg) {
		c.t.Errorf("homectl %s: stderr %q lacks %q", strings.Join(args, " "), errOut, msg)
	}
	if want == exitError && strings.Count(strings.TrimRight(errOut, "\n"), "\n") != 0 {
		c.t.Errorf("homectl %s: error message is not one line: %q", strings.Join(args, " "), errOut)
	}
}

// signup registers email, confirms it with the token the mail would carry
// and returns what the confirmation printed: homectl is then logged in.
func (c *cli) signup(email, password string) string {
	c.t.Helper()
	out := c.ok("register", "--email", email, "--password", password)
	if !strings.Contains(out, "register confirm") {
		c.t.Errorf("register said %q", out)
	}
	tok := c.accounts.Confirmation(email)
	if tok == "" {
		c.t.Fatalf("no confirmation pending for %s", email)
	}
	return c.ok("register", "confirm", tok)
}

// decode parses JSON output into v.
func decode(t testing.TB, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
}

func TestEndToEnd(t *testing.T) {
	c := newCLI(t)

	c.fails(exitError, "not logged in", "homes")
	c.fails(exitUsage, "usage: homectl register confirm TOKEN", "register", "confirm")
	c.fails(exitError, "unauthenticated", "register", "confirm", "confirm-0")
	out := c.signup("carol@example.com", "carol-password")
	if !strings.Contains(out, "carol@example.com") {
		t.Errorf("register said %q", out)
	}
	assertMode(t, c.store.path(), 0o600)
	assertMode(t, c.store.dir, 0o700)

	out = c.ok("homes")
	if !strings.HasPrefix(out, "ID") || strings.Count(out, "\n") != 1 {
		t.Errorf("empty homes table:\n%s", out)
	}
	c.fails(exitError, "no home yet", "say", "hello")

	var created struct {
		Home struct{ ID, Name string } `json:"home"`
	}
	decode(t, c.ok("homes", "create", "Cabin", "--json"), &created)
	if created.Home.Name != "Cabin" || created.Home.ID == "" {
		t.Fatalf("created %+v", created)
	}
	homeID := created.Home.ID

	out = c.ok("homes")
	if !strings.Contains(out, homeID) || !strings.Contains(out, "Cabin") || !strings.Contains(out, "offline") {
		t.Errorf("homes table:\n%s", out)
	}
	var list struct {
		Homes []struct {
			ID     string `json:"id"`
			Online bool   `json:"online"`
		} `json:"homes"`
	}
	out = c.ok("--json", "homes")
	// One layout every run: scripts may grep it.
	if !strings.Contains(out, `"id": "`+homeID+`"`) || !strings.Contains(out, `"online": false`) {
		t.Errorf("homes --json layout:\n%s", out)
	}
	decode(t, out, &list)
	if len(list.Homes) != 1 || list.Homes[0].ID != homeID {
		t.Errorf("homes --json: %+v", list)
	}
	if out := c.ok("homes", "show", homeID); !strings.Contains(out, "Cabin") {
		t.Errorf("homes show:\n%s", out)
	}

	if tok := strings.TrimSpace(c.ok("enroll-token")); !strings.HasPrefix(tok, "hpe_") {
		t.Errorf("enroll-token printed %q", tok)
	}
	c.fails(exitError, "invalid_argument", "enroll-token", "--ttl", "200h")

	devTok := strings.TrimSpace(c.ok("devices", "add", "--name", "Kitchen satellite", "--area", "kitchen"))
	if !strings.HasPrefix(devTok, "hpd_") {
		t.Fatalf("devices add printed %q", devTok)
	}
	var devs struct {
		Devices []struct{ ID, Area string } `json:"devices"`
	}
	decode(t, c.ok("devices", "--home", homeID, "--json"), &devs)
	if len(devs.Devices) != 1 || devs.Devices[0].Area != "kitchen" {
		t.Fatalf("devices: %+v", devs)
	}
	if out := c.ok("devices"); !strings.Contains(out, "Kitchen satellite") || !strings.Contains(out, "AREA") {
		t.Errorf("devices table:\n%s", out)
	}

	if out := c.ok("entities"); !strings.Contains(out, "light.kitchen") || !strings.Contains(out, "STATE") {
		t.Errorf("entities table:\n%s", out)
	}

	if out := c.ok("say", "turn", "on", "the", "lights"); out != "Turned on the lights\n" {
		t.Errorf("say printed %q", out)
	}
	var answer struct {
		Speech    string `json:"speech"`
		Success   bool   `json:"success"`
		RequestID string `json:"request_id"`
		Intent    struct {
			Name  string         `json:"name"`
			Slots map[string]any `json:"slots"`
		} `json:"intent"`
	}
	decode(t, c.ok("say", "--json", "turn on the lights"), &answer)
	if !answer.Success || answer.RequestID == "" || answer.Intent.Name != "HassTurnOn" || answer.Intent.Slots["area"] != "Kitchen" {
		t.Errorf("say --json: %+v", answer)
	}
	reqs := c.intents.Requests()
	if last := reqs[len(reqs)-1]; last.HomeID != homeID || last.Text != "turn on the lights" {
		t.Errorf("engine got %+v", last)
	}

	// As the voice device: its home and area, no login needed.
	c.env[envDeviceToken] = devTok
	c.env[envConfigDir] = t.TempDir()
	if out := c.ok("say", "turn on the lights in here"); out != "Turned on the lights\n" {
		t.Errorf("say as device printed %q", out)
	}
	reqs = c.intents.Requests()
	if last := reqs[len(reqs)-1]; last.HomeID != homeID || last.Context.Area != "kitchen" {
		t.Errorf("device request ran as %+v", last)
	}
	delete(c.env, envDeviceToken)
	c.env[envConfigDir] = c.store.dir

	// Two homes: say needs to be told which.
	var second struct {
		Home struct{ ID string } `json:"home"`
	}
	decode(t, c.ok("homes", "create", "Flat", "--json"), &second)
	c.fails(exitError, "2 homes", "say", "hello")
	c.ok("say", "--home", second.Home.ID, "hello")
	c.env[envHome] = second.Home.ID
	c.ok("devices")
	delete(c.env, envHome)

	devID := devs.Devices[0].ID
	if out := c.ok("devices", "revoke", "--home", homeID, devID); !strings.Contains(out, devID) {
		t.Errorf("revoke printed %q", out)
	}
	c.env[envDeviceToken] = devTok
	c.fails(exitError, "unauthenticated", "say", "hello")
	delete(c.env, envDeviceToken)

	c.ok("homes", "delete", second.Home.ID)
	c.fails(exitError, "not_found", "homes", "show", second.Home.ID)

	if out := c.ok("logout"); !strings.Contains(out, "Logged out") {
		t.Errorf("logout printed %q", out)
	}
	if _, err := os.Stat(c.store.path()); !os.IsNotExist(err) {
		t.Errorf("credentials left after logout: %v", err)
	}
	c.fails(exitError, "not logged in", "homes")
	c.fails(exitError, "invalid email or password", "login", "--email", "carol@example.com", "--password", "wrong")
	c.env[envPassword] = "carol-password"
	c.ok("login", "--email", "carol@example.com")
	c.ok("homes")
}

func TestSessionRefresh(t *testing.T) {
	c := newCLI(t)
	c.signup("dave@example.com", "dave-password")

	tests := []struct {
		name  string
		spoil func(t testing.TB, cr *credentials)
	}{
		{"rejected access token", func(_ testing.TB, cr *credentials) { c.accounts.Expire(cr.AccessToken) }},
		{"expired by the clock", func(_ testing.TB, cr *credentials) {
			cr.AccessExpiresAt = time.Now().Add(-time.Minute)
			// Central would still take it: only the client's clock says refresh.
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, err := c.store.load()
			if err != nil {
				t.Fatal(err)
			}
			tt.spoil(t, &before)
			if err := c.store.save(before); err != nil {
				t.Fatal(err)
			}
			c.ok("homes")
			after, err := c.store.load()
			if err != nil {
				t.Fatal(err)
			}
			if after.AccessToken == before.AccessToken || after.RefreshToken == before.RefreshToken {
				t.Errorf("tokens not refreshed: %+v", after)
			}
			if !after.AccessExpiresAt.After(time.Now()) {
				t.Errorf("refreshed token expires %v", after.AccessExpiresAt)
			}
			assertMode(t, c.store.path(), 0o600)
		})
	}

	// Both tokens dead: the session is over and forgotten.
	cr, err := c.store.load()
	if err != nil {
		t.Fatal(err)
	}
	c.accounts.Expire(cr.AccessToken)
	c.accounts.Expire(cr.RefreshToken)
	c.fails(exitError, "session expired", "homes")
	if _, err := c.store.load(); err != errNotLoggedIn {
		t.Errorf("dead session kept: %v", err)
	}
}

func TestCredentialsStayWithTheirCentral(t *testing.T) {
	c := newCLI(t)
	c.signup("erin@example.com", "erin-password")
	other := httptest.NewServer(nil)
	defer other.Close()
	c.fails(exitError, "logged in to "+c.url, "--central-url", other.URL, "homes")
}

func TestUsageAndErrors(t *testing.T) {
	c := newCLI(t)
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no command", nil, exitUsage, "no command"},
		{"unknown command", []string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{"unknown flag", []string{"homes", "--bogus"}, exitUsage, "bogus"},
		{"login without email", []string{"login", "--password", "x"}, exitUsage, "--email"},
		{"no password anywhere", []string{"login", "--email", "a@example.com"}, exitUsage, envPassword},
		{"homes create without name", []string{"homes", "create"}, exitUsage, "exactly one argument"},
		{"homes unknown", []string{"homes", "paint"}, exitUsage, "unknown homes command"},
		{"devices add without name", []string{"devices", "add"}, exitUsage, "--name"},
		{"devices revoke without id", []string{"devices", "revoke"}, exitUsage, "device id"},
		{"say nothing", []string{"say"}, exitUsage, "sentence"},
		{"password without command", []string{"password"}, exitUsage, "password needs a command"},
		{"password unknown", []string{"password", "remember"}, exitUsage, `unknown password command "remember"`},
		{"password forgot without email", []string{"password", "forgot"}, exitUsage, "--email"},
		{"password reset without token", []string{"password", "reset", "--new", "new-password"}, exitUsage, "--token"},
		{"password change with argument", []string{"password", "change", "now"}, exitUsage, "takes no arguments"},
		{"agent without command", []string{"agent"}, exitUsage, "agent needs a command (revoke)"},
		{"agent unknown", []string{"agent", "restart"}, exitUsage, `unknown agent command "restart"`},
		{"agent revoke with argument", []string{"agent", "revoke", "home-1"}, exitUsage, "takes no arguments"},
		{"timers without command", []string{"timers"}, exitUsage, "timers needs a command (watch)"},
		{"timers unknown", []string{"timers", "list"}, exitUsage, `unknown timers command "list"`},
		{"pipeline unknown name", []string{"pipeline", "set", "magic"}, exitUsage, "rules, llm, plugin, rules_then_llm"},
		{"bad central url", []string{"--central-url", "ftp://x", "login", "--email", "a@example.com", "--password", "p"}, exitUsage, "not an http(s) URL"},
		{"central down", []string{"--central-url", "http://127.0.0.1:1", "login", "--email", "a@example.com", "--password", "p"}, exitError, "cannot reach central at http://127.0.0.1:1"},
		{"server-side validation", []string{"register", "--email", "a@example.com", "--password", "short"}, exitError, "invalid_argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.fails(tt.code, tt.msg, tt.args...)
		})
	}
	if code, out, _ := c.run("help"); code != exitOK || !strings.Contains(out, "usage: homectl") {
		t.Errorf("help: exit %d, %q", code, out)
	}
}

func TestInternalErrorIsOneGenericLine(t *testing.T) {
	c := newCLI(t)
	c.signup("fay@example.com", "fay-password")
	c.homes.SetFail(errFake("pq: connection to 10.9.8.7 refused\nwith detail"))
	c.fails(exitError, "internal", "homes")
	_, _, errOut := c.run("homes")
	if strings.Contains(errOut, "10.9.8.7") {
		t.Errorf("internal detail printed: %q", errOut)
	}
}

type errFake string

func (e errFake) Error() string { return string(e) }
