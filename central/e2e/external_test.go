package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/jackc/pgx/v5"

	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"
	"github.com/homeplane/homeplane/protocol/topic"
)

// needMosquitto returns Debian's mosquitto and the Homeplane plugin built
// for this test, or skips (fails under HOMEPLANE_REQUIRE_SERVICES=1) when
// either cannot be had.
func needMosquitto(t testing.TB) (bin, plugin string) {
	t.Helper()
	missing := func(why string) {
		msg := why + " (apt-get install mosquitto mosquitto-dev libmosquitto-dev libcjson-dev libcurl4-openssl-dev)"
		if os.Getenv(pgtest.RequireVar) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, err := os.Stat("/usr/sbin/mosquitto"); err != nil {
			missing("mosquitto not installed")
		}
		bin = "/usr/sbin/mosquitto"
	}
	plugin = filepath.Join(t.TempDir(), "homeplane_auth.so")
	out, err := exec.Command("make", "--no-print-directory", "-C", "../..", "mosquitto-plugin", "MOSQUITTO_PLUGIN_OUT="+plugin).CombinedOutput()
	if err != nil {
		missing(fmt.Sprintf("cannot build the Mosquitto plugin: %v\n%s", err, out))
	}
	return bin, plugin
}

// externalStack is central in external mode behind Mosquitto with the
// Homeplane plugin.
type externalStack struct {
	*central
	mosquitto *process
	broker    string // tcp://host:port
}

// startExternal starts Mosquitto with the plugin and central as its client,
// with args added to central's.
func startExternal(t testing.TB, args ...string) *externalStack {
	t.Helper()
	bin, plugin := needMosquitto(t)
	dir := t.TempDir()
	tok := make([]byte, 16)
	rand.Read(tok)
	tokenFile, pwFile := filepath.Join(dir, "token"), filepath.Join(dir, "service-password")
	if err := os.WriteFile(tokenFile, []byte(hex.EncodeToString(tok)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rand.Read(tok)
	if err := os.WriteFile(pwFile, []byte(hex.EncodeToString(tok)), 0o600); err != nil {
		t.Fatal(err)
	}
	authAddr, brokerAddr := freeAddr(t), freeAddr(t)
	_, port, _ := net.SplitHostPort(brokerAddr)
	conf := filepath.Join(dir, "mosquitto.conf")
	// Run as root, mosquitto would switch to its own user, which cannot
	// read the test's files: it stays who the test is.
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`per_listener_settings false
user %s
listener %s 127.0.0.1
allow_anonymous false
persistence false
max_packet_size 1048576
plugin %s
plugin_opt_url http://%s/mqtt/v1/authn
plugin_opt_token_file %s
plugin_opt_timeout_ms 2000
plugin_opt_cache_seconds 5
log_dest stderr
log_type error
log_type warning
log_type notice
log_type information
`, me.Username, port, plugin, authAddr, tokenFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	m := &process{name: "mosquitto", done: make(chan struct{})}
	m.cmd = exec.Command(bin, "-c", conf)
	m.cmd.Stdout, m.cmd.Stderr = m, m
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("start mosquitto: %v", err)
	}
	go func() { m.cmd.Wait(); close(m.done) }()
	t.Cleanup(func() {
		m.stop(t)
		if t.Failed() {
			t.Logf("---- mosquitto output ----\n%s", m.output())
		}
	})
	eventually(t, 10*time.Second, "mosquitto listening", func() bool {
		c, err := net.Dial("tcp", brokerAddr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	db := testDatabase(t)
	t.Setenv("HOMEPLANE_MQTT_PASSWORD_FILE", pwFile)
	t.Setenv("HOMEPLANE_MQTT_AUTH_TOKEN_FILE", tokenFile)
	s := &externalStack{mosquitto: m, broker: "tcp://" + brokerAddr}
	s.central = s.replica(t, db, "a", authAddr, args...)
	return s
}

// replica starts a central replica on db and the stack's broker, with args
// added to its flags.
func (s *externalStack) replica(t testing.TB, db, id, authAddr string, args ...string) *central {
	t.Helper()
	httpAddr, metricsAddr := freeAddr(t), freeAddr(t)
	p := start(t, "homeplane-central", append([]string{"--http-addr", httpAddr, "--metrics-addr", metricsAddr, "--database-url", db,
		"--mqtt-mode", "external", "--mqtt-broker-url", s.broker, "--replica-id", id, "--mqtt-auth-addr", authAddr}, args...)...)
	return waitCentral(t, p, httpAddr, metricsAddr, db, s.broker)
}

// TestExternalBrokerEndToEnd: central as a client of Mosquitto, agents
// authenticated through central's contract by the Homeplane plugin. A real
// agent enrolls and connects through Mosquitto, a sentence runs end to end,
// a hostile agent is held to its own home, and a revoked agent is
// disconnected and cannot come back.
func TestExternalBrokerEndToEnd(t *testing.T) {
	s := startExternal(t)
	ctx := context.Background()
	alice := s.user(t, "alice@example.com")
	a := s.enrolledHome(t, alice, "alice-home")

	lights := kitchenLights(t, s.central, alice, a.id)
	resp, err := s.intents.Process(ctx, authed(alice, &homeplanev1.ProcessRequest{Text: "turn on the kitchen lights", HomeId: a.id}))
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	if !resp.Msg.GetSuccess() || resp.Msg.GetSpeech() != "Turned on the lights" {
		t.Fatalf("Process = success %v, speech %q, error %q", resp.Msg.GetSuccess(), resp.Msg.GetSpeech(), resp.Msg.GetErrorCode())
	}
	for _, id := range lights {
		if st, err := a.haState(id); err != nil || st != "on" {
			t.Errorf("%s = %q, %v; want on", id, st, err)
		}
	}

	t.Run("attacks", func(t *testing.T) { mqttAttacks(t, s, a.id) })

	// A second replica on the same database and broker: its commands'
	// results reach it (replica a ignores them), it sees the home online,
	// and a home deleted through it loses its agent at the broker.
	b := s.replica(t, s.db, "b", freeAddr(t))
	t.Run("second replica", func(t *testing.T) {
		eventually(t, 10*time.Second, "replica b sees the home online", func() bool {
			g, err := b.homes.GetHome(ctx, authed(alice, &homeplanev1.GetHomeRequest{HomeId: a.id}))
			return err == nil && g.Msg.GetHome().GetOnline()
		})
		resp, err := b.intents.Process(ctx, authed(alice, &homeplanev1.ProcessRequest{Text: "turn off the kitchen lights", HomeId: a.id}))
		if err != nil || !resp.Msg.GetSuccess() {
			t.Fatalf("Process on replica b: %v %v", err, resp.Msg.GetErrorCode())
		}
		for _, id := range lights {
			if st, err := a.haState(id); err != nil || st != "off" {
				t.Errorf("%s = %q, %v; want off", id, st, err)
			}
		}
		bob := b.user(t, "bob@example.com")
		hb := b.enrolledHome(t, bob, "bob-home")
		if _, err := s.homes.DeleteHome(ctx, authed(bob, &homeplanev1.DeleteHomeRequest{HomeId: hb.id})); err != nil {
			t.Fatalf("DeleteHome: %v", err)
		}
		eventually(t, 15*time.Second, "the deleted home's agent kicked", func() bool {
			return strings.Count(s.mosquitto.output(), "homeplane: disconnecting ") == 1
		})
	})

	t.Run("revoked agent is disconnected", func(t *testing.T) {
		id := agentID(t, s.central, a.id)
		if _, err := s.homes.RevokeAgent(ctx, authed(alice, &homeplanev1.RevokeAgentRequest{HomeId: a.id})); err != nil {
			t.Fatalf("RevokeAgent: %v", err)
		}
		eventually(t, 15*time.Second, "the broker to kick the revoked agent", func() bool {
			return strings.Contains(s.mosquitto.output(), "homeplane: disconnecting "+id)
		})
		eventually(t, 15*time.Second, "home offline", func() bool {
			g, err := s.homes.GetHome(ctx, authed(alice, &homeplanev1.GetHomeRequest{HomeId: a.id}))
			return err == nil && !g.Msg.GetHome().GetOnline()
		})
	})
}

// agentID reads the id of the home's agent from the database.
func agentID(t testing.TB, c *central, homeID string) string {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), c.db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var id string
	if err := conn.QueryRow(context.Background(), "SELECT id::text FROM agents WHERE home_id = $1", homeID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// agentCreds enrolls credentials for a new home of a new user, as an agent
// would, without running one.
func agentCreds(t testing.TB, c *central, email string) (homeID, user, pass string) {
	t.Helper()
	ctx := context.Background()
	tok := c.user(t, email)
	homeID = c.createHome(t, tok, email+"-home")
	et, err := c.homes.CreateEnrollmentToken(ctx, authed(tok, &homeplanev1.CreateEnrollmentTokenRequest{HomeId: homeID}))
	if err != nil {
		t.Fatal(err)
	}
	en, err := homeplanev1connect.NewAgentServiceClient(http.DefaultClient, c.url).Enroll(ctx,
		connect.NewRequest(&homeplanev1.EnrollRequest{Token: et.Msg.GetToken(), Hostname: "h", AgentVersion: "1"}))
	if err != nil {
		t.Fatal(err)
	}
	return homeID, en.Msg.GetMqttUsername(), en.Msg.GetMqttPassword()
}

func dial(t testing.TB, url, id, user, pass string) (paho.Client, error) {
	t.Helper()
	cl := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(id).SetUsername(user).SetPassword(pass).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second))
	tok := cl.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, fmt.Errorf("connect timed out")
	}
	if tok.Error() != nil {
		return nil, tok.Error()
	}
	t.Cleanup(func() { cl.Disconnect(0) })
	return cl, nil
}

// mqttAttacks runs a hostile agent against the external broker. A service
// observer (central's credentials) subscribed to everything sees what the
// broker let through: the attacker's denied publishes never arrive, its own
// allowed marker does, in order.
func mqttAttacks(t *testing.T, s *externalStack, victim string) {
	mallory, user, pass := agentCreds(t, s.central, "mallory@example.com")
	pw, err := os.ReadFile(os.Getenv("HOMEPLANE_MQTT_PASSWORD_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 1000)
	obs, err := dial(t, s.mqttURL, "central-observer", "homeplane-central", strings.TrimSpace(string(pw)))
	if err != nil {
		t.Fatalf("observer: %v", err)
	}
	if tok := obs.Subscribe("#", 1, func(_ paho.Client, m paho.Message) {
		seen <- fmt.Sprintf("%s r%v %s", m.Topic(), m.Retained(), m.Payload())
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal("observer subscribe")
	}

	for name, tc := range map[string][3]string{
		"wrong password":          {user, user, pass + "x"},
		"client id not the agent": {"other", user, pass},
		"central's user":          {"central-x", "homeplane-central", pass},
		"no credentials":          {"anon", "", ""},
	} {
		if _, err := dial(t, s.mqttURL, tc[0], tc[1], tc[2]); err == nil {
			t.Errorf("%s: connected", name)
		}
	}

	m, err := dial(t, s.mqttURL, user, user, pass)
	if err != nil {
		t.Fatalf("attacker connect: %v", err)
	}
	for _, f := range []string{
		topic.For(victim, topic.Command), topic.Filter(topic.Command), "homeplane/#", "#",
		"$share/homeplane-central/" + topic.Filter(topic.Entities), topic.For(mallory, topic.Result), "$SYS/#",
	} {
		tok := m.Subscribe(f, 1, nil)
		if !tok.WaitTimeout(5 * time.Second) {
			t.Fatalf("subscribe %s: no SUBACK", f)
		}
		for _, code := range tok.(*paho.SubscribeToken).Result() {
			if code != 0x80 {
				t.Errorf("subscribe %s granted (%#x)", f, code)
			}
		}
	}
	if tok := m.Subscribe(topic.For(mallory, topic.Command), 1, nil); !tok.WaitTimeout(5*time.Second) || tok.(*paho.SubscribeToken).Result()[topic.For(mallory, topic.Command)] == 0x80 {
		t.Error("own command topic refused")
	}
	denied := []struct {
		name   string
		retain bool
	}{
		{topic.For(victim, topic.Result), false},
		{topic.For(victim, topic.Entities), false},
		{topic.For(victim, topic.Presence), true},
		{topic.For(victim, topic.Command), false},   // impersonating central
		{topic.For(mallory, topic.Command), false},  // central's topic, even its own
		{topic.For(mallory, topic.Result), true},    // retained where the kind is not
		{topic.For(mallory, topic.Presence), false}, // presence must be retained
		{"$CONTROL/homeplane/v1/kick", false},
		{"homeplane/v1/other", false},
	}
	attack := `{"home":"` + victim + `"}`
	for _, d := range denied {
		if tok := m.Publish(d.name, 1, d.retain, attack); !tok.WaitTimeout(5 * time.Second) {
			t.Fatalf("publish %s: no PUBACK", d.name)
		}
	}
	marker := topic.For(mallory, topic.Events)
	if tok := m.Publish(marker, 1, false, "marker"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal("marker publish")
	}
	deadline := time.After(10 * time.Second)
	for done := false; !done; {
		select {
		case got := <-seen:
			if strings.HasPrefix(got, marker+" ") {
				done = true
				break
			}
			if strings.Contains(got, attack) {
				t.Errorf("the broker let through %q", got)
			}
		case <-deadline:
			t.Fatal("the attacker's allowed marker never arrived")
		}
	}
	if strings.Contains(s.mosquitto.output(), "homeplane: disconnecting") {
		t.Error("an agent's kick was obeyed")
	}

	// A packet over the broker's 1 MiB limit ends the connection.
	lost := make(chan struct{})
	big, err := func() (paho.Client, error) {
		cl := paho.NewClient(paho.NewClientOptions().AddBroker(s.mqttURL).SetClientID(user).SetUsername(user).SetPassword(pass).
			SetAutoReconnect(false).SetConnectionLostHandler(func(paho.Client, error) { close(lost) }))
		tok := cl.Connect()
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			return nil, fmt.Errorf("connect: %v", tok.Error())
		}
		return cl, nil
	}()
	if err != nil {
		t.Fatal(err)
	}
	defer big.Disconnect(0)
	big.Publish(topic.For(mallory, topic.Events), 1, false, make([]byte, 1<<20+1024))
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Error("an oversize packet did not end the connection")
	}
}

// BenchmarkExternalLogin measures an agent's CONNECT through Mosquitto, the
// plugin and central's contract: refused (a contract call each, the secret
// checked against PostgreSQL's hash through central's cache) and admitted
// from the plugin's login cache.
func BenchmarkExternalLogin(b *testing.B) {
	s := startExternal(b)
	_, user, pass := agentCreds(b, s.central, "bench@example.com")
	b.Run("refused", func(b *testing.B) {
		for range b.N {
			if _, err := dial(b, s.mqttURL, user, user, pass+"x"); err == nil {
				b.Fatal("wrong secret admitted")
			}
		}
	})
	b.Run("admitted", func(b *testing.B) {
		for range b.N {
			cl, err := dial(b, s.mqttURL, user, user, pass)
			if err != nil {
				b.Fatal(err)
			}
			cl.Disconnect(0)
		}
	})
}
