// Package e2e runs the real binaries (central, agent, hasim) against a real
// PostgreSQL and drives them through the public Connect API, the way users and
// voice devices do.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"

	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"
	"github.com/homeplane/homeplane/protocol/polltest"
)

// binDir holds the binaries TestMain builds once for the whole package.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "homeplane-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// The agent is built as shipped, by the Makefile, which alone holds its
	// build flags.
	for _, build := range []*exec.Cmd{
		exec.Command("go", "build", "-o", dir, "github.com/homeplane/homeplane/central/cmd/homeplane-central",
			"github.com/homeplane/homeplane/central/cmd/homectl", "github.com/homeplane/homeplane/agent/cmd/hasim"),
		exec.Command("make", "--no-print-directory", "-C", "../..", "agent", "AGENT_OUT="+filepath.Join(dir, "homeplane-agent")),
	} {
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build binaries: %v\n%s", err, out)
			return 1
		}
	}
	binDir = dir
	return m.Run()
}

// testDatabase creates a fresh, migrated database for one test and returns
// its URL; it is dropped when the test ends.
func testDatabase(t testing.TB) string {
	t.Helper()
	_, url := pgtest.NewURL(t)
	return url
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// process is a running binary whose output is kept for the test log.
type process struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func (p *process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.out.Len() < 4<<20 {
		p.out.Write(b)
	}
	return len(b), nil
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// start runs a binary from binDir until the test ends; its output is logged
// when the test fails.
func start(t testing.TB, name string, args ...string) *process {
	t.Helper()
	p := &process{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(filepath.Join(binDir, name), args...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	p.cmd.Env = append(os.Environ(), "HOMEPLANE_LOG_LEVEL=debug")
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("---- %s output ----\n%s", name, p.output())
		}
	})
	return p
}

// stop sends SIGTERM and waits, killing the process if it lingers.
func (p *process) stop(t testing.TB) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Errorf("%s did not stop within 15s of SIGTERM", p.name)
		p.cmd.Process.Kill()
		<-p.done
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	polltest.Until(t, d, what, cond)
}

// central is a running central server and clients for its API.
type central struct {
	url        string
	mqttURL    string
	metricsURL string // /metrics, on a listener apart from the API
	db         string // the database URL, for reading the audit log
	proc       *process
	auth       homeplanev1connect.AuthServiceClient
	homes      homeplanev1connect.HomeServiceClient
	intents    homeplanev1connect.IntentServiceClient
}

// unlimited raises the per-device and per-user rate limits past what a test
// that sends sentences or polls as fast as it can would reach; every central
// the tests start has it (the limits themselves are tested in rpc's attack
// suite, against the same server code).
var unlimited = []string{"--device-burst", "100000", "--device-rate", "100000", "--user-burst", "100000", "--user-rate", "100000"}

// startCentral starts central with its default settings, or with args
// added to them.
func startCentral(t testing.TB, args ...string) *central {
	t.Helper()
	return startCentralOn(t, testDatabase(t), args...)
}

// startCentralOn starts central on the database db, which another central
// may share (a second replica).
func startCentralOn(t testing.TB, db string, args ...string) *central {
	t.Helper()
	httpAddr, mqttAddr, metricsAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	p := start(t, "homeplane-central", append(append([]string{"--http-addr", httpAddr, "--mqtt-addr", mqttAddr,
		"--metrics-addr", metricsAddr, "--database-url", db}, unlimited...), args...)...)
	return waitCentral(t, p, httpAddr, metricsAddr, db, "tcp://"+mqttAddr)
}

// waitCentral waits until the started central is ready and returns its
// API clients.
func waitCentral(t testing.TB, p *process, httpAddr, metricsAddr, db, mqttURL string) *central {
	t.Helper()
	base := "http://" + httpAddr
	if strings.Contains(httpAddr, "://") { // https://host:port, central with --tls-cert
		base = httpAddr
	}
	c := &central{url: base, mqttURL: mqttURL, metricsURL: "http://" + metricsAddr + "/metrics", proc: p, db: db}
	eventually(t, 30*time.Second, "central /readyz", func() bool {
		resp, err := http.Get(c.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	hc := http.DefaultClient
	c.auth = homeplanev1connect.NewAuthServiceClient(hc, c.url)
	c.homes = homeplanev1connect.NewHomeServiceClient(hc, c.url)
	c.intents = homeplanev1connect.NewIntentServiceClient(hc, c.url)
	return c
}

// authed wraps a request with a bearer token.
func authed[T any](token string, msg *T) *connect.Request[T] {
	r := connect.NewRequest(msg)
	r.Header().Set("Authorization", "Bearer "+token)
	return r
}

// confirmToken matches a registration token in a confirmation notice.
var confirmToken = regexp.MustCompile(`hpc_[A-Za-z0-9_-]{43}`)

// enrollAgent enrolls an agent for homeID, which token owns, through the
// API, and returns the agent's MQTT credentials.
func (c *central) enrollAgent(t testing.TB, token, homeID string) (user, pass string) {
	t.Helper()
	ctx := context.Background()
	et, err := c.homes.CreateEnrollmentToken(ctx, authed(token, &homeplanev1.CreateEnrollmentTokenRequest{HomeId: homeID}))
	if err != nil {
		t.Fatal(err)
	}
	en, err := homeplanev1connect.NewAgentServiceClient(http.DefaultClient, c.url).Enroll(ctx,
		connect.NewRequest(&homeplanev1.EnrollRequest{Token: et.Msg.GetToken(), Hostname: "test", AgentVersion: "1"}))
	if err != nil {
		t.Fatal(err)
	}
	return en.Msg.GetMqttUsername(), en.Msg.GetMqttPassword()
}

// dialBroker opens a plain TCP connection to central's MQTT listener.
func (c *central) dialBroker(t testing.TB) net.Conn {
	t.Helper()
	u, err := url.Parse(c.mqttURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// user registers a fresh account, confirms it with the token central left
// in its outbox, and returns its access token.
func (c *central) user(t testing.TB, email string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := c.auth.Register(ctx, connect.NewRequest(&homeplanev1.RegisterRequest{
		Email: email, Password: "correct horse battery",
	})); err != nil {
		t.Fatalf("register %s: %v", email, err)
	}
	resp, err := c.auth.ConfirmRegistration(ctx, connect.NewRequest(&homeplanev1.ConfirmRegistrationRequest{
		Token: c.outboxToken(t, email, "confirm_registration", confirmToken),
	}))
	if err != nil {
		t.Fatalf("confirm %s: %v", email, err)
	}
	return resp.Msg.GetTokens().GetAccessToken()
}

// resetToken matches a password reset token in a reset notice.
var resetToken = regexp.MustCompile(`hpw_[A-Za-z0-9_-]{43}`)

// outboxToken is the token matching re in the newest notice of kind central
// left in its outbox for email.
func (c *central) outboxToken(t testing.TB, email, kind string, re *regexp.Regexp) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var body string
	if err := conn.QueryRow(ctx, `SELECT body FROM notification_outbox WHERE email = $1 AND kind = $2
		ORDER BY id DESC LIMIT 1`, email, kind).Scan(&body); err != nil {
		t.Fatalf("%s notice of %s: %v", kind, email, err)
	}
	return re.FindString(body)
}

// home is a home with its simulated Home Assistant and enrolled agent.
type home struct {
	id      string
	haURL   string
	haToken string
	agent   *process
}

// createHome creates a home owned by token's user, without an agent.
func (c *central) createHome(t testing.TB, token, name string) string {
	t.Helper()
	resp, err := c.homes.CreateHome(context.Background(), authed(token, &homeplanev1.CreateHomeRequest{Name: name}))
	if err != nil {
		t.Fatalf("create home: %v", err)
	}
	return resp.Msg.GetHome().GetId()
}

// enrolledHome creates a home, starts hasim with the demo home and an agent
// enrolled through the real flow, and waits until central sees it online with
// its entities.
func (c *central) enrolledHome(t testing.TB, token, name string) *home {
	t.Helper()
	return c.enrolledHomeWith(t, token, name)
}

// enrolledHomeWith is enrolledHome with more hasim flags ("--home", FILE).
func (c *central) enrolledHomeWith(t testing.TB, token, name string, hasimArgs ...string) *home {
	t.Helper()
	ctx := context.Background()
	h := &home{id: c.createHome(t, token, name), haToken: "ha-" + name}
	haAddr := freeAddr(t)
	h.haURL = "http://" + haAddr
	start(t, "hasim", append([]string{"--addr", haAddr, "--token", h.haToken}, hasimArgs...)...)
	eventually(t, 10*time.Second, "hasim up", func() bool {
		_, err := h.haState("light.does_not_exist")
		return err == errNotFound
	})
	et, err := c.homes.CreateEnrollmentToken(ctx, authed(token, &homeplanev1.CreateEnrollmentTokenRequest{HomeId: h.id}))
	if err != nil {
		t.Fatalf("enrollment token: %v", err)
	}
	h.agent = start(t, "homeplane-agent",
		"--central-url", c.url, "--mqtt-url", c.mqttURL,
		"--enrollment-token", et.Msg.GetToken(), "--state-dir", t.TempDir(),
		"--ha-url", h.haURL, "--ha-token", h.haToken)
	eventually(t, 20*time.Second, "agent online with entities", func() bool {
		g, err := c.homes.GetHome(ctx, authed(token, &homeplanev1.GetHomeRequest{HomeId: h.id}))
		if err != nil || !g.Msg.GetHome().GetOnline() {
			return false
		}
		e, err := c.homes.ListEntities(ctx, authed(token, &homeplanev1.ListEntitiesRequest{HomeId: h.id}))
		return err == nil && len(e.Msg.GetEntities()) > 0
	})
	return h
}

var errNotFound = fmt.Errorf("entity not found")

// haState reads an entity's state straight from the simulated Home Assistant.
func (h *home) haState(entityID string) (string, error) {
	req, _ := http.NewRequest(http.MethodGet, h.haURL+"/api/states/"+entityID, nil)
	req.Header.Set("Authorization", "Bearer "+h.haToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return "", errNotFound
	default:
		return "", fmt.Errorf("GET /api/states/%s: %s: %s", entityID, resp.Status, strings.TrimSpace(buf.String()))
	}
	var st struct {
		State string `json:"state"`
	}
	if err := json.Unmarshal(buf.Bytes(), &st); err != nil {
		return "", fmt.Errorf("decode state of %s: %w", entityID, err)
	}
	return st.State, nil
}
