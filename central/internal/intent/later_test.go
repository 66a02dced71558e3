package intent_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/homeplane/homeplane/central/internal/intent"
)

// TestLaterStopsAndOtherKinds holds the rules of ADR 0064 end to end: a
// command said with a time or schedule the engine cannot keep is refused in
// words that say so, "at" and a bare number after a command that opens or
// switches is a time, not a position, "stop" said of a cover stops it where
// it is (HassStopMoving) and does not close it, and a media verb said of
// another kind's device acts on no player; beside them, the commands that
// still act.
func TestLaterStopsAndOtherKinds(t *testing.T) {
	home := func(file string) *intent.Index {
		reg, err := intent.LoadFixtureFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return reg
	}
	demo := home(filepath.Join("testdata", "demo_home.json"))
	villa := home(filepath.Join("..", "rules", "testdata", "villa_home.json"))
	flat := home(filepath.Join("..", "rules", "testdata", "flat_home.json"))
	const later = "Sorry, I can't do that at a later time"
	for _, c := range []struct {
		reg    *intent.Index
		text   string
		want   []string // nil: nothing acts
		speech string   // when nothing acts and the answer matters
	}{
		{demo, "stop the fan", []string{"fan.turn_off [fan.bedroom_fan] map[]"}, ""},
		{demo, "stop the garden water", []string{"valve.close_valve [valve.garden_water] map[]"}, ""},
		{demo, "set the garage door to 50 percent", []string{"cover.set_cover_position [cover.garage_door] map[position:50]"}, ""},
		{flat, "open the kitchen blind to 30%", []string{"cover.set_cover_position [cover.kitchen_blind] map[position:30]"}, ""},
		{villa, "open the blinds to 30%", []string{"cover.set_cover_position [cover.living_room_blinds cover.kitchen_blind cover.bedroom_up_blinds cover.bedroom_down_blinds] map[position:30]"}, ""},
		{demo, "pause the tv", []string{"media_player.media_pause [media_player.tv] map[]"}, ""},
		{demo, "stop the music", []string{"media_player.media_pause [media_player.tv] map[]"}, ""},
		{demo, "set the thermostat at 21", []string{"climate.set_temperature [climate.thermostat] map[temperature:21]"}, ""},
		{demo, "set the thermostat from 19 to 21", []string{"climate.set_temperature [climate.thermostat] map[temperature:21]"}, ""},
		{demo, "turn off the kitchen ceiling for now", []string{"light.turn_off [light.kitchen_ceiling] map[]"}, ""},
		{demo, "stop the garage door", []string{"cover.stop_cover [cover.garage_door] map[]"}, ""},
		{flat, "stop the bedroom curtains", []string{"cover.stop_cover [cover.bedroom_curtains] map[]"}, ""},
		{demo, "halt the garage door", nil, ""},
		{demo, "stop opening the garage door", nil, ""},
		{villa, "stop the awning", []string{"cover.stop_cover [cover.awning] map[]"}, ""},
		{villa, "stop the garden", nil, ""}, // every device there: it would close its covers
		{demo, "pause the garage door", nil, ""},
		{demo, "play the garage door", nil, ""},
		{demo, "next track on the thermostat", nil, ""},
		{flat, "pause the kettle", nil, ""},
		{villa, "open the driveway gate at six", nil, later},
		{villa, "open the blinds at 8", nil, later},
		{demo, "open the garage door at 50", nil, later},
		{demo, "set the thermostat to 21 at 6", nil, later},
		{demo, "set the thermostat to 21 from 6", nil, later},
		{demo, "turn on the kitchen ceiling at 7 am", nil, later},
		{demo, "unlock the front door tonight", nil, later},
		{demo, "turn on the kitchen ceiling for 10 minutes", nil, later},
		{demo, "open the garage door no wait close it", nil, ""},
	} {
		resp, got := processIn(t, c.reg, "", c.text)
		if !slices.Equal(got, c.want) {
			t.Errorf("%q called %v, want %v (%s %q)", c.text, got, c.want, resp.ErrorCode, resp.Speech)
		}
		if c.want == nil && resp.Success {
			t.Errorf("%q answered as done: %q", c.text, resp.Speech)
		}
		if c.speech != "" && resp.Speech != c.speech {
			t.Errorf("%q answered %q, want %q", c.text, resp.Speech, c.speech)
		}
	}
	// "in 10 minutes" is the one later the engine keeps: a timer that runs
	// the command (ADR 0012).
	resp, _ := processIn(t, demo, "", "turn on the kitchen ceiling in 10 minutes")
	if resp.Intent.Name != intent.StartTimer || resp.Intent.Slot("conversation_command") != "turn on the kitchen ceiling" {
		t.Errorf("a delayed command read as %s %v", resp.Intent.Name, resp.Intent.Slots)
	}
}
