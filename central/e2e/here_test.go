package e2e

import (
	"context"
	"maps"
	"path/filepath"
	"testing"

	"github.com/homeplane/homeplane/central/internal/llm"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// TestHereThroughModelAndPlugin: a model or a plugin answers "the lights in
// here" with no place at all. From a voice device paired with no room
// nothing acts ("I don't know which room this device is in"); from one in
// the Kitchen, the Kitchen's lights and no others.
func TestHereThroughModelAndPlugin(t *testing.T) {
	m := newModel(t)
	m.set(m.content(llm.AnswerJSON(map[string]any{"intent": "HassTurnOn", "domain": "light"})))
	c := startCentral(t, "--llm-backend", "ollama", "--llm-url", m.srv.URL, "--llm-model", "m", "--llm-timeout", "2s",
		"--parser-plugin", buildHostilePlugin(t), "--command-timeout", "3s")
	ctx := context.Background()
	lights := []string{"light.kitchen_ceiling", "light.kitchen_counter", "light.living_room_lamp", "light.bedroom_lamp"}
	for _, p := range []struct {
		name     string
		pipeline homeplanev1.Pipeline
		text     string // the hostile plugin answers by the first word
	}{
		{"model", homeplanev1.Pipeline_PIPELINE_LLM, "turn on the lights in here"},
		{"plugin", homeplanev1.Pipeline_PIPELINE_PLUGIN, "lights on in here"},
	} {
		t.Run(p.name, func(t *testing.T) {
			owner := c.user(t, "here-"+p.name+"@example.com")
			h := c.enrolledHome(t, owner, "here-"+p.name) // hasim's demo home
			if _, err := c.intents.SetPipeline(ctx, authed(owner, &homeplanev1.SetPipelineRequest{HomeId: h.id, Pipeline: p.pipeline})); err != nil {
				t.Fatal(err)
			}
			say := func(area string) *homeplanev1.ProcessResponse {
				t.Helper()
				dev, err := c.homes.RegisterDevice(ctx, authed(owner, &homeplanev1.RegisterDeviceRequest{HomeId: h.id, Name: "Speaker " + area, Area: area}))
				if err != nil {
					t.Fatal(err)
				}
				r, err := c.intents.Process(ctx, authed(dev.Msg.GetToken(), &homeplanev1.ProcessRequest{Text: p.text}))
				if err != nil {
					t.Fatalf("%q from a device in %q: %v", p.text, area, err)
				}
				return r.Msg
			}
			states := func() map[string]string {
				t.Helper()
				out := map[string]string{}
				for _, id := range lights {
					st, err := h.haState(id)
					if err != nil {
						t.Fatal(err)
					}
					out[id] = st
				}
				return out
			}

			before := states()
			r := say("")
			if r.GetSuccess() || r.GetErrorCode() != "no_match" || r.GetSpeech() != "Sorry, I don't know which room this device is in" {
				t.Errorf("from a device in no room: %v %q %q, targets %v", r.GetSuccess(), r.GetErrorCode(), r.GetSpeech(), r.GetTargets())
			}
			if after := states(); !maps.Equal(after, before) {
				t.Errorf("from a device in no room the lights changed: %v → %v", before, after)
			}

			r = say("Kitchen")
			if !r.GetSuccess() {
				t.Fatalf("from the Kitchen: %q %q", r.GetErrorCode(), r.GetSpeech())
			}
			want := maps.Clone(before)
			want["light.kitchen_ceiling"], want["light.kitchen_counter"] = "on", "on"
			if after := states(); !maps.Equal(after, want) {
				t.Errorf("from the Kitchen the lights are %v, want %v", after, want)
			}
		})
	}
}

// TestDeviceRoomByAreaID pairs voice devices through the API in a home with
// a Bedroom on each floor: one paired with the area id acts in its own
// room, one paired with the name the two rooms share asks which.
func TestDeviceRoomByAreaID(t *testing.T) {
	c := startCentral(t)
	ctx := context.Background()
	owner := c.user(t, "villa@example.com")
	h := c.enrolledHomeWith(t, owner, "villa", "--home", filepath.Join("..", "internal", "rules", "testdata", "villa_home.json"))
	ceilings := []string{"light.bedroom_up_ceiling", "light.bedroom_down_ceiling"}
	for _, d := range []struct {
		area string
		want string // the ceiling light turned on; "" asks and acts on none
	}{
		{"Bedroom", ""},
		{"bedroom_up", "light.bedroom_up_ceiling"},
		{"bedroom_down", "light.bedroom_down_ceiling"},
	} {
		h.restore(t, map[string]string{ceilings[0]: "off", ceilings[1]: "off"})
		dev, err := c.homes.RegisterDevice(ctx, authed(owner, &homeplanev1.RegisterDeviceRequest{HomeId: h.id, Name: "Speaker " + d.area, Area: d.area}))
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.intents.Process(ctx, authed(dev.Msg.GetToken(), &homeplanev1.ProcessRequest{Text: "turn on the ceiling light"}))
		if err != nil {
			t.Fatal(err)
		}
		if d.want == "" && (r.Msg.GetSuccess() || r.Msg.GetErrorCode() != "ambiguous") {
			t.Errorf("paired with %q: %v %q %q, want a question", d.area, r.Msg.GetSuccess(), r.Msg.GetErrorCode(), r.Msg.GetSpeech())
		}
		if d.want != "" && !r.Msg.GetSuccess() {
			t.Errorf("paired with %q: %q %q", d.area, r.Msg.GetErrorCode(), r.Msg.GetSpeech())
		}
		for _, id := range ceilings {
			want := "off"
			if id == d.want {
				want = "on"
			}
			if st, err := h.haState(id); err != nil || st != want {
				t.Errorf("paired with %q: %s is %q (%v), want %q", d.area, id, st, err, want)
			}
		}
	}
}
