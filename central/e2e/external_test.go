package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/jackc/pgx/v5"

	"github.com/homeplane/homeplane/central/internal/mosquittotest"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// externalStack is central in external mode behind Mosquitto with the
// Homeplane plugin.
type externalStack struct {
	*central
	mosquitto *mosquittotest.Broker
	broker    string // tcp://host:port
	authURL   string // the broker authentication contract, http://host:port/mqtt/v1/authn
}

// startExternal starts Mosquitto with the plugin and central as its client,
// with args added to central's.
func startExternal(t testing.TB, args ...string) *externalStack {
	t.Helper()
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
	authAddr := freeAddr(t)
	m := mosquittotest.Start(t, mosquittotest.Options{AuthURL: "http://" + authAddr + "/mqtt/v1/authn", TokenFile: tokenFile})

	db := testDatabase(t)
	t.Setenv("HOMEPLANE_MQTT_PASSWORD_FILE", pwFile)
	t.Setenv("HOMEPLANE_MQTT_AUTH_TOKEN_FILE", tokenFile)
	s := &externalStack{mosquitto: m, broker: m.URL, authURL: "http://" + authAddr + "/mqtt/v1/authn"}
	s.central = s.replica(t, db, "a", authAddr, args...)
	return s
}

// replica starts a central replica on db and the stack's broker, with args
// added to its flags.
func (s *externalStack) replica(t testing.TB, db, id, authAddr string, args ...string) *central {
	t.Helper()
	httpAddr, metricsAddr := freeAddr(t), freeAddr(t)
	// unlimited as for every central the tests start: a poll for a home's
	// entities made two calls every few milliseconds, and once the user's
	// burst was spent, only one of the two got through at a time.
	p := start(t, "homeplane-central", append(append([]string{"--http-addr", httpAddr, "--metrics-addr", metricsAddr, "--database-url", db,
		"--mqtt-mode", "external", "--mqtt-broker-url", s.broker, "--replica-id", id, "--mqtt-auth-addr", authAddr}, unlimited...), args...)...)
	return waitCentral(t, p, httpAddr, metricsAddr, db, s.broker)
}

// TestExternalBrokerEndToEnd: central as a client of Mosquitto, agents
// authenticated through central's contract by the Homeplane plugin. A real
// agent enrolls and connects through Mosquitto, a sentence runs end to end,
// and a revoked agent is disconnected and cannot come back. The MQTT attacks
// run against both modes in central/internal/broker (TestMQTTAttacks).
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
			return strings.Count(s.mosquitto.Output(), "homeplane: disconnecting ") == 1
		})
	})

	t.Run("revoked agent is disconnected", func(t *testing.T) {
		id := agentID(t, s.central, a.id)
		if _, err := s.homes.RevokeAgent(ctx, authed(alice, &homeplanev1.RevokeAgentRequest{HomeId: a.id})); err != nil {
			t.Fatalf("RevokeAgent: %v", err)
		}
		eventually(t, 15*time.Second, "the broker to kick the revoked agent", func() bool {
			return strings.Contains(s.mosquitto.Output(), "homeplane: disconnecting "+id)
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
	_, homeID, user, pass = newEnrolledHome(t, c, email)
	return homeID, user, pass
}

// newEnrolledHome registers email, creates its home and enrolls an agent's
// credentials for it, returning the user's access token too.
func newEnrolledHome(t testing.TB, c *central, email string) (token, homeID, user, pass string) {
	t.Helper()
	token = c.user(t, email)
	homeID = c.createHome(t, token, email+"-home")
	user, pass = c.enrollAgent(t, token, homeID)
	return token, homeID, user, pass
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
