package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// kitchenLights returns the entity ids of the lights in the home's kitchen, as
// central's registry knows them from the agent's sync.
func kitchenLights(t testing.TB, c *central, token, homeID string) []string {
	t.Helper()
	resp, err := c.homes.ListEntities(context.Background(), authed(token, &homeplanev1.ListEntitiesRequest{HomeId: homeID}))
	if err != nil {
		t.Fatalf("list entities: %v", err)
	}
	kitchen := ""
	for _, a := range resp.Msg.GetAreas() {
		if a.GetName() == "Kitchen" {
			kitchen = a.GetId()
		}
	}
	var ids []string
	for _, e := range resp.Msg.GetEntities() {
		if e.GetDomain() == "light" && e.GetAreaId() == kitchen && kitchen != "" {
			ids = append(ids, e.GetEntityId())
		}
	}
	if len(ids) == 0 {
		t.Fatalf("no kitchen lights in the synced registry (%d entities)", len(resp.Msg.GetEntities()))
	}
	return ids
}

func TestSentenceTurnsOnLightsEndToEnd(t *testing.T) {
	c := startCentral(t)
	ctx := context.Background()

	alice := c.user(t, "alice@example.com")
	bob := c.user(t, "bob@example.com")
	a := c.enrolledHome(t, alice, "alice-home")
	b := c.enrolledHome(t, bob, "bob-home")

	lightsA := kitchenLights(t, c, alice, a.id)
	lightsB := kitchenLights(t, c, bob, b.id)
	for _, id := range append(lightsA, lightsB...) {
		for _, h := range []*home{a, b} {
			if st, err := h.haState(id); err == nil && st != "off" {
				t.Fatalf("%s starts %q, want off", id, st)
			}
		}
	}

	t.Run("user turns on the kitchen lights", func(t *testing.T) {
		resp, err := c.intents.Process(ctx, authed(alice, &homeplanev1.ProcessRequest{
			Text: "turn on the kitchen lights", HomeId: a.id,
		}))
		if err != nil {
			t.Fatalf("Process: %v", err)
		}
		m := resp.Msg
		if !m.GetSuccess() || m.GetSpeech() != "Turned on the lights" {
			t.Fatalf("Process = success %v, speech %q, error %q", m.GetSuccess(), m.GetSpeech(), m.GetErrorCode())
		}
		if m.GetIntent().GetName() != "HassTurnOn" || m.GetRequestId() == "" {
			t.Fatalf("intent %q, request id %q", m.GetIntent().GetName(), m.GetRequestId())
		}
		for _, id := range lightsA {
			if st, err := a.haState(id); err != nil || st != "on" {
				t.Errorf("home A %s = %q, %v; want on", id, st, err)
			}
		}
		// Central's registry already holds the new states when Process
		// returns: a question asked right after the action sees them.
		ents, err := c.homes.ListEntities(ctx, authed(alice, &homeplanev1.ListEntitiesRequest{HomeId: a.id}))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents.Msg.GetEntities() {
			if slices.Contains(lightsA, e.GetEntityId()) && e.GetState() != "on" {
				t.Errorf("central's registry has %s = %q right after the action, want on", e.GetEntityId(), e.GetState())
			}
		}
	})

	t.Run("the other home is untouched", func(t *testing.T) {
		for _, id := range lightsB {
			if st, err := b.haState(id); err != nil || st != "off" {
				t.Errorf("home B %s = %q, %v; want off", id, st, err)
			}
		}
	})

	t.Run("someone else's home looks missing", func(t *testing.T) {
		_, err := c.intents.Process(ctx, authed(bob, &homeplanev1.ProcessRequest{
			Text: "turn off the kitchen lights", HomeId: a.id,
		}))
		if connect.CodeOf(err) != connect.CodeNotFound {
			t.Fatalf("bob on alice's home: %v, want NotFound", err)
		}
		for _, id := range lightsA {
			if st, _ := a.haState(id); st != "on" {
				t.Errorf("bob changed alice's %s to %q", id, st)
			}
		}
	})

	t.Run("voice device token fixes the home", func(t *testing.T) {
		dev, err := c.homes.RegisterDevice(ctx, authed(alice, &homeplanev1.RegisterDeviceRequest{
			HomeId: a.id, Name: "Kitchen satellite", Area: "Kitchen",
		}))
		if err != nil {
			t.Fatalf("register device: %v", err)
		}
		resp, err := c.intents.Process(ctx, authed(dev.Msg.GetToken(), &homeplanev1.ProcessRequest{
			Text: "turn off the kitchen lights", HomeId: b.id, // ignored: the device fixes the home
		}))
		if err != nil || !resp.Msg.GetSuccess() {
			t.Fatalf("device Process: %v %v", err, resp)
		}
		for _, id := range lightsA {
			if st, _ := a.haState(id); st != "off" {
				t.Errorf("home A %s = %q after device turned them off", id, st)
			}
		}
		for _, id := range lightsB {
			if st, _ := b.haState(id); st != "off" {
				t.Errorf("device token reached home B: %s = %q", id, st)
			}
		}
	})

	t.Run("bad token is refused", func(t *testing.T) {
		for _, tok := range []string{"garbage", "hpd_not-a-device", alice + "x"} {
			_, err := c.intents.Process(ctx, authed(tok, &homeplanev1.ProcessRequest{
				Text: "turn on the kitchen lights", HomeId: a.id,
			}))
			if connect.CodeOf(err) != connect.CodeUnauthenticated {
				t.Errorf("token %.12q…: %v, want Unauthenticated", tok, err)
			}
		}
	})

	t.Run("offline home answers at once", func(t *testing.T) {
		offline := c.createHome(t, alice, "cabin")
		// A home with no agent has no entities either; stop home A's agent to
		// test a home that was online and went away.
		a.agent.stop(t)
		eventually(t, 10*time.Second, "home A offline", func() bool {
			g, err := c.homes.GetHome(ctx, authed(alice, &homeplanev1.GetHomeRequest{HomeId: a.id}))
			return err == nil && !g.Msg.GetHome().GetOnline()
		})
		for _, id := range []string{a.id, offline} {
			began := time.Now()
			resp, err := c.intents.Process(ctx, authed(alice, &homeplanev1.ProcessRequest{
				Text: "turn on the kitchen lights", HomeId: id,
			}))
			if err != nil {
				t.Fatalf("Process on offline home: %v", err)
			}
			if resp.Msg.GetSuccess() {
				t.Fatalf("offline home reported success: %q", resp.Msg.GetSpeech())
			}
			// The answer must not wait for the command deadline (5s).
			if took := time.Since(began); took > 2*time.Second {
				t.Errorf("offline answer took %s", took)
			}
			if id == a.id && resp.Msg.GetErrorCode() != "home_offline" {
				t.Errorf("error code %q, want home_offline (speech %q)", resp.Msg.GetErrorCode(), resp.Msg.GetSpeech())
			}
		}
	})
}
