package intent_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/rules"
)

// TestHereWithoutRoom holds ADR 0058: a sentence that names the voice
// device's own room ("in here", "this room") acts in that room, and on
// nothing when the device has none; it does not fall back to the whole home.
func TestHereWithoutRoom(t *testing.T) {
	reg, err := intent.LoadFixtureFile(filepath.Join("..", "rules", "testdata", "sharehouse_home.json"))
	if err != nil {
		t.Fatal(err)
	}
	const noRoom = "Sorry, I don't know which room this device is in"
	for _, c := range []struct {
		here, text string
		want       []string // nil: nothing acts and the answer is noRoom
	}{
		{"", "turn on the heating in this room too", nil},
		{"", "all lights on in here", nil},
		{"", "switch off the lights in this room", nil},
		{"", "turn the fan on in here", nil},
		{"", "set the radiator in here to 25", nil},
		{"", "what's the temperature in here", nil},
		{"", "turn everything off in here", nil},
		{"Lounge", "turn on the heating in this room too", []string{"climate.turn_on [climate.lounge_radiator] map[]"}},
		{"Kitchen", "all lights on in here", []string{"light.turn_on [light.kitchen_lights light.under_cabinet] map[]"}},
		{"Bathroom", "turn the fan on in here", []string{"fan.turn_on [fan.bathroom_extractor] map[]"}},
		{"", "turn on the kitchen lights", []string{"light.turn_on [light.kitchen_lights] map[]"}},
		{"", "turn off all the lights in ollie's room", []string{"light.turn_off [light.ollie] map[]"}},
	} {
		resp, got := processIn(t, reg, c.here, c.text)
		if !slices.Equal(got, c.want) {
			t.Errorf("[%s] %q called %v, want %v (%s %q)", c.here, c.text, got, c.want, resp.ErrorCode, resp.Speech)
		}
		if c.want == nil && (resp.Success || resp.ErrorCode != intent.CodeNoMatch || resp.Speech != noRoom) {
			t.Errorf("[%s] %q answered %v %s %q, want %s %q", c.here, c.text, resp.Success, resp.ErrorCode, resp.Speech, intent.CodeNoMatch, noRoom)
		}
	}
}

// TestShortNames holds the rest of ADR 0058: a name said short and closed
// by "on", "off" or "please" is its device; one that ends the sentence, or
// fits two devices, or a lock's door, is not read.
func TestShortNames(t *testing.T) {
	home := func(file string) *intent.Index {
		reg, err := intent.LoadFixtureFile(filepath.Join("..", "rules", "testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		return reg
	}
	share, guest, duplex := home("sharehouse_home.json"), home("guesthouse_home.json"), home("duplex_home.json")
	for _, c := range []struct {
		reg  *intent.Index
		text string
		want []string // nil: nothing acts
	}{
		{share, "turn the extractor off", []string{"fan.turn_off [fan.bathroom_extractor] map[]"}},
		{share, "extractor on please", []string{"fan.turn_on [fan.bathroom_extractor] map[]"}},
		{share, "switch the towel rail off", []string{"switch.turn_off [switch.towel_rail] map[]"}},
		{guest, "switch the sign off", []string{"light.turn_off [light.sign_light] map[]"}},
		{duplex, "turn on the ring", nil},
		{share, "turn on the extractor", nil},
		{share, "unlock the door please", nil},
		{share, "turn the radiator off please", nil},
	} {
		exec := &fakeExecutor{}
		e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{c.reg}, exec, intent.Options{})
		resp, err := e.Process(context.Background(), intent.Request{HomeID: "home-1", Text: c.text, DeviceID: "d1"})
		if err != nil {
			t.Fatal(err)
		}
		if got := calledWith(exec); !slices.Equal(got, c.want) {
			t.Errorf("%q called %v, want %v (%s %q)", c.text, got, c.want, resp.ErrorCode, resp.Speech)
		}
	}
}
