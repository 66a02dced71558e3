package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
)

// TestAttacksRound2EndToEnd is the part of the second attack round
// (docs/benchmarks.md, "Attacks, round 2") that needs the real intent
// engine and the real intake of what agents publish: the binaries of
// central, two agents and their simulated Home Assistants, and a third
// enrolled agent in the attacker's hands, speaking MQTT itself.
func TestAttacksRound2EndToEnd(t *testing.T) {
	c := startCentral(t)
	ctx := context.Background()
	alice := c.user(t, "alice@example.com")
	bob := c.user(t, "bob@example.com")
	a := c.enrolledHome(t, alice, "alice-home") // hasim's demo home
	b := c.enrolledHomeWith(t, bob, "bob-home", "--home", filepath.Join("..", "internal", "intent", "testdata", "cabin_home.json"))
	dev, err := c.homes.RegisterDevice(ctx, authed(alice, &homeplanev1.RegisterDeviceRequest{HomeId: a.id, Name: "Hall", Area: "Kitchen"}))
	if err != nil {
		t.Fatal(err)
	}
	device := dev.Msg.GetToken()

	// Mallory owns a home and its enrolled agent's credentials, and runs
	// no agent: what she publishes is her own.
	mallory := c.user(t, "mallory@example.com")
	mHome := c.createHome(t, mallory, "mallory-home")
	mUser, mPass := c.enrollAgent(t, mallory, mHome)
	mqttc, err := dial(t, c.mqttURL, mUser, mUser, mPass)
	if err != nil {
		t.Fatal(err)
	}

	// Bob's home must never change: his devices' states before the rows.
	bobStates := map[string]string{}
	for _, id := range []string{"light.porch", "switch.kettle", "lock.front_door", "lock.back_door", "light.kitchen_pendant"} {
		st, err := b.haState(id)
		if err != nil {
			t.Fatal(err)
		}
		bobStates[id] = st
	}
	bobUntouched := func(t *testing.T) {
		t.Helper()
		for id, want := range bobStates {
			if st, err := b.haState(id); err != nil || st != want {
				t.Fatalf("bob's %s is %q (%v), was %q", id, st, err, want)
			}
		}
	}
	aliceStates := func(t *testing.T) map[string]string {
		t.Helper()
		out := map[string]string{}
		for _, id := range []string{"light.kitchen_ceiling", "light.kitchen_counter", "light.living_room_lamp", "light.bedroom_lamp", "lock.front_door"} {
			st, err := a.haState(id)
			if err != nil {
				t.Fatal(err)
			}
			out[id] = st
		}
		return out
	}
	say := func(text string) (*homeplanev1.ProcessResponse, error) {
		r, err := c.intents.Process(ctx, authed(device, &homeplanev1.ProcessRequest{Text: text}))
		if err != nil {
			return nil, err
		}
		return r.Msg, nil
	}
	// nothingHappens says text from alice's device and fails unless it
	// changed nothing in either home.
	nothingHappens := func(text string) func(t *testing.T) {
		return func(t *testing.T) {
			before := aliceStates(t)
			r, err := say(text)
			if err == nil && r.GetSuccess() {
				t.Errorf("%q succeeded: %q, targets %v", text, r.GetSpeech(), r.GetTargets())
			}
			if after := aliceStates(t); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("alice's home changed: %v → %v", before, after)
			}
			bobUntouched(t)
		}
	}
	// aliceStillWorks turns a kitchen light on and off through the whole
	// chain, with the answer Home Assistant's state confirms.
	aliceStillWorks := func(t *testing.T) {
		t.Helper()
		for _, want := range []string{"on", "off"} {
			r, err := say("turn " + want + " the kitchen ceiling")
			if err != nil || !r.GetSuccess() {
				t.Fatalf("turn %s the kitchen ceiling: %v, %v", want, r, err)
			}
			if st, _ := a.haState("light.kitchen_ceiling"); st != want {
				t.Fatalf("kitchen ceiling is %q after %q answered %q", st, "turn "+want, r.GetSpeech())
			}
		}
	}
	// publish sends payload as mallory's agent. The broker may end the
	// connection over what it refuses (a QoS 1 publish cannot be refused
	// otherwise): the attacker then connects again, as she could.
	publish := func(t *testing.T, kind topic.Kind, retain bool, payload []byte) (dropped bool) {
		t.Helper()
		if !mqttc.IsConnected() {
			if mqttc, err = dial(t, c.mqttURL, mUser, mUser, mPass); err != nil {
				t.Fatalf("the attacker cannot connect again: %v", err)
			}
		}
		tok := mqttc.Publish(topic.For(mHome, kind), 1, retain, payload)
		if !tok.WaitTimeout(10 * time.Second) {
			t.Fatalf("publish %s: no answer", kind)
		}
		return tok.Error() != nil
	}

	rows := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"intent/a device only bob's home has", nothingHappens("turn on the porch light")},
		{"intent/bob's entity id said aloud", nothingHappens("turn on light.porch")},
		{"intent/bob's kettle", nothingHappens("switch on the kettle")},
		{"intent/a lookalike letter in a lock's name", nothingHappens("unlock the fr\u043ent door")},
		{"intent/a zero-width space in a lock's name", nothingHappens("unlock the front\u200b door")},
		{"intent/a homoglyph light name", func(t *testing.T) {
			before := aliceStates(t)
			_, _ = say("turn on the k\u0456tchen ceiling")
			after := aliceStates(t)
			for id, st := range after {
				if id != "light.kitchen_ceiling" && st != before[id] {
					t.Errorf("%s changed: %q → %q", id, before[id], st)
				}
			}
			bobUntouched(t)
			_, _ = say("turn off the kitchen ceiling")
		}},
		{"intent/the longest sentence allowed, one name said over and over", func(t *testing.T) {
			text := strings.Repeat("turn on the porch light and ", 35)
			text = text[:min(len(text), 1000)]
			start := time.Now()
			_, _ = say(text)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("answered in %v", d)
			}
			bobUntouched(t)
		}},
		{"intent/a 100 KB sentence", func(t *testing.T) {
			start := time.Now()
			_, err := say(strings.Repeat("turn on the lights ", 5500))
			if connect.CodeOf(err) != connect.CodeInvalidArgument && connect.CodeOf(err) != connect.CodeResourceExhausted {
				t.Errorf("got %v, want invalid argument or resource exhausted", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("refused in %v", d)
			}
		}},
		{"mqtt/a thousand results for commands never sent, during a real one", func(t *testing.T) {
			publish(t, topic.Telemetry, false, nil) // connected
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i := range 1000 {
					r, _ := proto.Marshal(&homeplanev1.Result{CommandId: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Ok: true,
						Changed: []*homeplanev1.Entity{{EntityId: "light.kitchen_ceiling", State: "on"}}})
					mqttc.Publish(topic.For(mHome, topic.Result), 0, false, r)
				}
			}()
			aliceStillWorks(t)
			<-done
			bobUntouched(t)
		}},
		{"mqtt/malformed payloads of every kind", func(t *testing.T) {
			var nested []byte
			for range 3000 {
				nested = protowire.AppendTag(nested, 2, protowire.StartGroupType)
			}
			payloads := [][]byte{{0xff, 0xff, 0xff, 0xff, 0x0f}, []byte(`{"full":true,"entities":[{"entity_id":"light.x"}]}`), nested,
				protowire.AppendTag(nil, 2, protowire.BytesType), make([]byte, 64<<10)}
			dropped := 0
			for _, kind := range []topic.Kind{topic.Result, topic.Entities, topic.Telemetry, topic.Events} {
				for _, p := range payloads {
					if publish(t, kind, false, p) {
						dropped++
					}
				}
			}
			for _, p := range payloads {
				if publish(t, topic.Presence, true, p) {
					dropped++
				}
			}
			t.Logf("the broker ended the attacker's connection %d times", dropped)
			// The home's registry holds nothing the garbage claimed.
			es, err := c.homes.ListEntities(ctx, authed(mallory, &homeplanev1.ListEntitiesRequest{HomeId: mHome}))
			if err == nil && len(es.Msg.GetEntities()) > 0 {
				t.Errorf("the garbage made entities: %v", es.Msg.GetEntities())
			}
			aliceStillWorks(t)
		}},
		{"mqtt/an entity sync with NUL and direction controls in names", func(t *testing.T) {
			sync := &homeplanev1.EntitySync{Full: true, Time: timestamppb.Now(),
				Areas: []*homeplanev1.Area{{Id: "k\x00", Name: "Kitchen\x00"}},
				Entities: []*homeplanev1.Entity{
					{EntityId: "light.evil", Name: "Evil\x00Lamp", Domain: "light", AreaId: "k\x00", State: "off"},
					{EntityId: "lock.spoof", Name: "\u202erood tnorF", Domain: "lock", State: "locked"},
				}}
			p, err := proto.Marshal(sync)
			if err != nil {
				t.Fatal(err)
			}
			publish(t, topic.Entities, false, p)
			// A valid sync after it is applied: the home is not stuck.
			good, _ := proto.Marshal(&homeplanev1.EntitySync{Full: true, Time: timestamppb.Now(),
				Entities: []*homeplanev1.Entity{{EntityId: "light.good", Name: "Good Lamp", Domain: "light", State: "off"}}})
			publish(t, topic.Entities, false, good)
			eventually(t, 10*time.Second, "the valid sync applied", func() bool {
				es, err := c.homes.ListEntities(ctx, authed(mallory, &homeplanev1.ListEntitiesRequest{HomeId: mHome}))
				if err != nil {
					return false
				}
				ids := ""
				for _, e := range es.Msg.GetEntities() {
					ids += e.GetEntityId() + " "
				}
				return ids == "light.good "
			})
			aliceStillWorks(t)
		}},
	}
	passed := 0
	for _, r := range rows {
		if t.Run(r.name, r.run) {
			passed++
		}
	}
	t.Logf("round 2 end to end: %d of %d attacks defended", passed, len(rows))
}
