package intent_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/homeplane/homeplane/central/internal/intent"
)

// TestTerraceActs holds the rules of ADR 0065 end to end: a robot lawn
// mower mows and docks, a recogniser's spelling of a name's word is the
// word, "bung" puts on, "water the lawn" opens the one water valve whose name
// holds the lawn, a button is pressed by its name and "press" says
// nothing else, "open everything" opens nothing, and a sequence whose
// sensitive part is not said exactly runs none of its parts.
func TestTerraceActs(t *testing.T) {
	home := func(file string) *intent.Index {
		reg, err := intent.LoadFixtureFile(filepath.Join("..", "rules", "testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		return reg
	}
	terrace, pool := home("terrace_home.json"), home("pool_home.json")
	for _, c := range []struct {
		reg  *intent.Index
		text string
		want []string // nil: nothing acts
	}{
		{terrace, "mow the lawn", []string{"lawn_mower.start_mowing [lawn_mower.automower] map[]"}},
		{terrace, "start the automower", []string{"lawn_mower.start_mowing [lawn_mower.automower] map[]"}},
		{terrace, "send the mower back to its dock", []string{"lawn_mower.dock [lawn_mower.automower] map[]"}},
		{terrace, "stop the mower", []string{"lawn_mower.dock [lawn_mower.automower] map[]"}},
		{pool, "start the lawn mower", nil}, // the home has none
		{terrace, "press the pet feeder", []string{"button.press [button.pet_feeder] map[]"}},
		{terrace, "press the front door", nil},
		{terrace, "press the cat flap", nil},
		{terrace, "press", nil},
		{terrace, "turn on the nite light", []string{"light.turn_on [light.night_light] map[]"}},
		{terrace, "switch on the tumble drier", []string{"switch.turn_on [switch.tumble_dryer] map[]"}},
		{terrace, "bung the fire on", []string{"switch.turn_on [switch.fireplace] map[]"}},
		{terrace, "unlock the nite door", nil},
		{terrace, "open everything", nil},
		{terrace, "open up the house", nil},
		{pool, "open everything", nil},
		{pool, "water the lawn", []string{"valve.open_valve [valve.lawn] map[]"}},
		{pool, "water the veg patch", nil},
		{pool, "water the lawn and the roses", nil},
		{terrace, "close everything", []string{"cover.close_cover [cover.roof_blinds] map[]"}},
		{terrace, "open the roof blinds", []string{"cover.open_cover [cover.roof_blinds] map[]"}},
		{terrace, "turn off everything in the living room and unlock the door", nil},
		{terrace, "turn off the snug lamp and then unlock the door", nil},
		{terrace, "turn off the snug lamp and unlock the cat flap", []string{"light.turn_off [light.snug_lamp] map[]", "lock.unlock [lock.cat_flap] map[]"}},
		// locking opens nothing: both parts run
		{terrace, "turn off the snug lamp and lock the door", []string{"light.turn_off [light.snug_lamp] map[]", "lock.lock [lock.cat_flap lock.front_door] map[]"}},
	} {
		resp, got := processIn(t, c.reg, "", c.text)
		if !slices.Equal(got, c.want) {
			t.Errorf("%q called %v, want %v (%s %q)", c.text, got, c.want, resp.ErrorCode, resp.Speech)
		}
		if c.want == nil && resp.Success {
			t.Errorf("%q answered as done: %q", c.text, resp.Speech)
		}
	}
	resp, _ := processIn(t, terrace, "", "turn off everything in the living room and unlock the door")
	if resp.ErrorCode != intent.CodeAmbiguous || !strings.Contains(resp.Speech, "did nothing") {
		t.Errorf("a sequence with an inexact unlock answered %s %q, want it to ask and do nothing", resp.ErrorCode, resp.Speech)
	}
}
