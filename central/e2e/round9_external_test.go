package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/central/internal/mosquittotest"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
)

// TestAttacksRound9External is the external-broker part of the ninth
// attack round: central as Mosquitto's client, agents authenticated by the
// Homeplane plugin through central's contract. An agent's credentials
// against another home's topics, client ids taken over, the service
// identity forged, a revoked agent's login replayed, the contract flooded,
// slow, failing or lying, and a replica killed -9 in the middle.
func TestAttacksRound9External(t *testing.T) {
	s := startExternal(t)
	ctx := context.Background()
	// alice and bob enroll under one account: the per-address
	// registration throttle is not what these rows try.
	alice := newHandAgent(t, s.central, "alice@example.com")
	bob := newHandAgent(t, s.central, "bob@example.com")
	bob.sync(t, s.central, &homeplanev1.EntitySync{Entities: []*homeplanev1.Entity{
		{EntityId: "light.porch", Name: "Porch light", Domain: "light", State: "off"}}})
	bob.marker(t, s.central)

	t.Run("20 alice's credentials publish on bob's topics through Mosquitto", func(t *testing.T) {
		for kind, msg := range map[topic.Kind]proto.Message{
			topic.Entities: &homeplanev1.EntitySync{Full: true, Time: timestamppb.Now(), Entities: []*homeplanev1.Entity{
				{EntityId: "light.porch", Name: "Porch light", Domain: "light", State: "on"},
				{EntityId: "lock.planted", Name: "Planted", Domain: "lock", State: "unlocked"}}},
			topic.Presence: &homeplanev1.Presence{AgentId: bob.user, Online: false, Time: timestamppb.Now()},
			topic.Result:   &homeplanev1.Result{CommandId: "x"},
		} {
			b, _ := proto.Marshal(msg)
			tok := alice.c.Publish(topic.For(bob.homeID, kind), 1, kind == topic.Presence, b)
			tok.WaitTimeout(5 * time.Second)
		}
		bob.marker(t, s.central)
		alice.marker(t, s.central)
		es := bob.entities(t, s.central)
		if es["light.porch"].GetState() != "off" || es["lock.planted"] != nil {
			t.Errorf("bob's registry after alice's publishes: porch %q, planted %v", es["light.porch"].GetState(), es["lock.planted"] != nil)
		}
		g, err := s.homes.GetHome(ctx, authed(bob.token, &homeplanev1.GetHomeRequest{HomeId: bob.homeID}))
		if err != nil || !g.Msg.GetHome().GetOnline() {
			t.Errorf("bob's home after alice's offline presence: %v %v", g.Msg.GetHome().GetOnline(), err)
		}
	})

	t.Run("21 alice subscribes to bob's commands and to wildcards", func(t *testing.T) {
		var got atomic.Int64
		for _, f := range []string{topic.For(bob.homeID, topic.Command), "#", "homeplane/#", topic.Filter(topic.Command), "$SYS/#"} {
			tok := alice.c.Subscribe(f, 1, func(paho.Client, paho.Message) { got.Add(1) })
			tok.WaitTimeout(5 * time.Second)
			if st, ok := tok.(*paho.SubscribeToken); ok {
				if code := st.Result()[f]; code != 0x80 && tok.Error() == nil {
					t.Logf("subscribe %q: granted %#x (the ACL is then checked on delivery)", f, code)
				}
			}
		}
		n := bob.commandCount()
		if _, err := bob.say(s.central, "turn on the porch light"); err != nil {
			t.Fatal(err)
		}
		bob.nextCommand(t, n)
		time.Sleep(time.Second)
		if got.Load() > 0 {
			t.Errorf("alice received %d messages of bob's or the broker's", got.Load())
		}
	})

	t.Run("22 client ids taken over: bob's id with alice's credentials, the service's id with an agent's", func(t *testing.T) {
		for _, try := range []struct{ id, user, pass string }{
			{bob.user, alice.user, alice.pass}, {"central-a", alice.user, alice.pass}, {"central-a", "central-a", alice.pass},
			{bob.user, bob.user, alice.pass}, {"homeplane-central", "homeplane-central", bob.pass},
		} {
			if cl, err := dial(t, s.mqttURL, try.id, try.user, try.pass); err == nil {
				cl.Disconnect(0)
				t.Errorf("client id %q as %q admitted", try.id, try.user)
			}
		}
		time.Sleep(500 * time.Millisecond)
		if !bob.c.IsConnected() {
			t.Error("bob's agent lost its connection to a takeover")
		}
		bob.marker(t, s.central)
	})

	t.Run("23 a revoked agent's login replayed at once (inside the plugin's cache)", func(t *testing.T) {
		eve := newHandAgent(t, s.central, "eve@example.com")
		if _, err := s.homes.RevokeAgent(ctx, authed(eve.token, &homeplanev1.RevokeAgentRequest{HomeId: eve.homeID})); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			if cl, err := dial(t, s.mqttURL, eve.user, eve.user, eve.pass); err == nil {
				cl.Disconnect(0)
				t.Errorf("replay %d of the revoked agent's login admitted", i)
			}
		}
		eventually(t, 15*time.Second, "the revoked agent kicked", func() bool { return !eve.c.IsConnected() })
	})

	t.Run("24 the contract flooded: 300 wrong logins at once", func(t *testing.T) {
		var wg sync.WaitGroup
		var admitted atomic.Int64
		start := time.Now()
		for i := range 300 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cl := paho.NewClient(paho.NewClientOptions().AddBroker(s.mqttURL).SetClientID(fmt.Sprint("x", i)).
					SetUsername(alice.user).SetPassword(fmt.Sprint("wrong", i)).SetAutoReconnect(false).SetConnectTimeout(20 * time.Second))
				if tok := cl.Connect(); tok.WaitTimeout(30*time.Second) && tok.Error() == nil {
					admitted.Add(1)
					cl.Disconnect(0)
				}
			}()
		}
		alice.marker(t, s.central)
		wg.Wait()
		t.Logf("300 wrong logins answered in %s", time.Since(start).Round(time.Millisecond))
		if admitted.Load() > 0 {
			t.Errorf("%d wrong logins admitted", admitted.Load())
		}
		st := time.Now()
		cl, err := dial(t, s.mqttURL, bob.user+"x", bob.user, bob.pass)
		if err == nil {
			cl.Disconnect(0)
			t.Error("bob's credentials under another client id admitted")
		}
		if !alice.c.IsConnected() || !bob.c.IsConnected() {
			t.Error("an agent lost its connection to the flood")
		}
		t.Logf("a refused login after the flood: %s", time.Since(st).Round(time.Millisecond))
	})

	t.Run("25 a replica killed -9 mid-attack: the plugin fails closed, agents stay", func(t *testing.T) {
		b := s.replica(t, s.db, "b", freeAddr(t))
		var admitted atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// alice's right username and password under bob's id, and
				// a forged service login: both must stay refused while the
				// contract is gone.
				if cl, err := dial(t, s.mqttURL, bob.user, alice.user, alice.pass); err == nil {
					admitted.Add(1)
					cl.Disconnect(0)
				}
				if cl, err := dial(t, s.mqttURL, "central-z", "homeplane-central", fmt.Sprint("guess", i)); err == nil {
					admitted.Add(1)
					cl.Disconnect(0)
				}
			}
		}()
		time.Sleep(time.Second)
		// Replica a serves the plugin's contract: killing it leaves the
		// broker without anyone to say yes.
		s.central.proc.cmd.Process.Kill()
		<-s.central.proc.done
		time.Sleep(3 * time.Second)
		if cl, err := dial(t, s.mqttURL, alice.user, alice.user, alice.pass+"x"); err == nil {
			cl.Disconnect(0)
			t.Error("a wrong password admitted while the contract is down")
		}
		close(stop)
		wg.Wait()
		if admitted.Load() > 0 {
			t.Errorf("%d forged logins admitted around the kill", admitted.Load())
		}
		if !alice.c.IsConnected() || !bob.c.IsConnected() {
			t.Errorf("agents connected after the kill: alice %v, bob %v", alice.c.IsConnected(), bob.c.IsConnected())
		}
		// Replica b still carries bob's sentences to his agent (which,
		// in the test's hands, sends no result: the sentence times out).
		n := bob.commandCount()
		if _, err := b.intents.Process(ctx, authed(bob.token, &homeplanev1.ProcessRequest{Text: "turn off the porch light", HomeId: bob.homeID})); err != nil {
			t.Errorf("bob's sentence on replica b: %v", err)
		}
		if cmd := bob.nextCommand(t, n); len(cmd.GetCalls()) == 0 {
			t.Errorf("the command through replica b: %v", cmd)
		}
	})
}

// TestAttacksRound9Plugin runs Mosquitto with the plugin against a contract
// in the attacker's hands, or none: slow, failing, lying in its answers'
// shape or gone. Every login must be refused, each within the plugin's
// timeout and a margin.
func TestAttacksRound9Plugin(t *testing.T) {
	dir := t.TempDir()
	tok := make([]byte, 16)
	rand.Read(tok)
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte(hex.EncodeToString(tok)), 0o600)
	var mode atomic.Value
	mode.Store("")
	contract := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch mode.Load().(string) {
		case "slow":
			select {
			case <-time.After(10 * time.Second):
			case <-r.Context().Done():
			}
			w.Write([]byte(`{"result":"allow","is_superuser":true}`))
		case "500":
			http.Error(w, `{"result":"allow","is_superuser":true}`, http.StatusInternalServerError)
		case "huge":
			w.Write([]byte(`{"result":"allow","is_superuser":true,"pad":"`))
			pad := strings.Repeat("a", 1<<20)
			for range 64 {
				if _, err := w.Write([]byte(pad)); err != nil {
					return
				}
			}
			w.Write([]byte(`"}`))
		case "garbage":
			w.Write([]byte(`{"result":"allow","is_superuser":tru`))
		case "ignore":
			w.Write([]byte(`{"result":"ignore"}`))
		case "allow-no-home":
			w.Write([]byte(`{"result":"allow","acl":[{"permission":"allow","action":"all","topic":"#"}]}`))
		}
	}))
	defer contract.Close()
	m := mosquittotest.Start(t, mosquittotest.Options{AuthURL: contract.URL + "/mqtt/v1/authn", TokenFile: tokenFile})
	for _, row := range []string{"slow", "500", "huge", "garbage", "ignore", "allow-no-home", "gone"} {
		t.Run("26 contract "+row, func(t *testing.T) {
			mode.Store(row)
			if row == "gone" {
				contract.Close()
			}
			start := time.Now()
			cl, err := dial(t, m.URL, "agent", "agent", "secret")
			took := time.Since(start)
			if err == nil {
				cl.Disconnect(0)
				t.Errorf("login admitted by a contract that is %s", row)
			}
			if took > 5*time.Second {
				t.Errorf("login took %s (the plugin's timeout is 2 s)", took.Round(time.Millisecond))
			}
			t.Logf("refused in %s: %v", took.Round(time.Millisecond), err)
		})
	}
	if t.Failed() {
		t.Logf("mosquitto:\n%s", m.Output())
	}
}
