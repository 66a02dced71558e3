package intent_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/rules"
)

// calledWith lists each service call as "domain.service entity data".
func calledWith(exec *fakeExecutor) []string {
	var out []string
	for _, sc := range exec.serviceCalls() {
		out = append(out, fmt.Sprintf("%s.%s %v %v", sc.GetDomain(), sc.GetService(), sc.GetEntityIds(), sc.GetData().AsMap()))
	}
	return out
}

// processIn says text from a voice device standing in the area here, on a
// fresh engine over reg, and returns the answer and the calls (calledWith).
func processIn(t *testing.T, reg *intent.Index, here, text string) (intent.Response, []string) {
	t.Helper()
	exec := &fakeExecutor{}
	e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{reg}, exec, intent.Options{})
	resp, err := e.Process(context.Background(), intent.Request{HomeID: "home-1", Text: text, DeviceID: "d1",
		Context: intent.Context{Area: here}})
	if err != nil {
		t.Fatal(err)
	}
	return resp, calledWith(exec)
}

// TestGuesthouseRules holds the rules of ADR 0055 in a home of numbered
// guest rooms: a digit misheard as a word after a room's name, a bare "in
// room", a thing and its undoing, one of several devices said with no
// place, "the heating" of a room, a room set to a temperature, and a fan's
// speed.
func TestGuesthouseRules(t *testing.T) {
	reg, err := intent.LoadFixtureFile(filepath.Join("..", "rules", "testdata", "guesthouse_home.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		here, text string
		want       []string // nil: nothing acts
	}{
		{"", "switch on the lights in room to", []string{"light.turn_on [light.room_2_light light.room_2_lamp] map[]"}},
		{"", "turn off the lights in room for", []string{"light.turn_off [light.room_4_light_1 light.room_4_light_2] map[]"}},
		{"Room 5", "turn on the heating in this room too", []string{"climate.turn_on [climate.room_5] map[]"}},
		{"", "turn on the lights in room", nil},
		{"", "lock and unlock the front door", nil},
		{"", "turn of the landing light", []string{"light.turn_off [light.landing_light] map[]"}},
		{"", "turn on the fan", nil},
		{"", "turn on the light", nil},
		{"Room 4", "turn on the fan", []string{"fan.turn_on [fan.room_4_fan] map[]"}},
		{"", "turn on the fans", []string{"fan.turn_on [fan.room_4_fan fan.grandad_fan fan.ceiling_fan fan.extractor_fan] map[]"}},
		{"", "turn on the heating in room 4", []string{"climate.turn_on [climate.room_4] map[]"}},
		{"", "set room 3 to 21", []string{"climate.set_temperature [climate.room_3] map[temperature:21]"}},
		{"", "set room 3 to 50", nil},
		{"", "set the room 4 fan to 50 percent", []string{"fan.turn_on [fan.room_4_fan] map[percentage:50]"}},
		{"", "set grandad's fan speed to 100 percent", []string{"fan.turn_on [fan.grandad_fan] map[percentage:100]"}},
		{"", "is the drier running", nil},
	} {
		resp, got := processIn(t, reg, c.here, c.text)
		if !slices.Equal(got, c.want) {
			t.Errorf("[%s] %q called %v, want %v (%s %q)", c.here, c.text, got, c.want, resp.ErrorCode, resp.Speech)
		}
		if c.want == nil && c.text != "is the drier running" && resp.ErrorCode == "" {
			t.Errorf("[%s] %q answered %q without an error", c.here, c.text, resp.Speech)
		}
	}
}
