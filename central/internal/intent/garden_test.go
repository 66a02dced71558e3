package intent_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/homeplane/homeplane/central/internal/intent"
)

// TestGardenHouseActs holds the language rules of ADR 0060 end to end: a
// name heard as two words, a scene said as a mode, a short name that ends
// a request that switches off, "make sure … is locked", a cover up or
// down, a lock's name then "lock", a light's name "to" a number; and what
// each leaves unread because it would open or guess.
func TestGardenHouseActs(t *testing.T) {
	home := func(file string) *intent.Index {
		reg, err := intent.LoadFixtureFile(filepath.Join("..", "rules", "testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		return reg
	}
	pool, share, family := home("pool_home.json"), home("sharehouse_home.json"), home("family_home.json")
	for _, c := range []struct {
		reg  *intent.Index
		text string
		want []string // nil: nothing acts
	}{
		{pool, "switch on the green house fan", []string{"fan.turn_on [fan.greenhouse_fan] map[]"}},
		{pool, "close the drive way gate", []string{"cover.close_cover [cover.driveway_gate] map[]"}},
		{pool, "pool party mode", []string{"scene.turn_on [scene.pool_party] map[]"}},
		{pool, "turn off the sprinklers", []string{"valve.close_valve [valve.lawn] map[]"}},
		{pool, "turn on the sprinklers", nil},
		{share, "turn off the floodlight", []string{"light.turn_off [light.yard] map[]"}},
		{share, "turn on the floodlight", nil},
		{pool, "make sure the back door is locked", []string{"lock.lock [lock.back_door] map[]"}},
		{pool, "make sure the garden lights are off", []string{"light.turn_off [light.garden_lights] map[]"}},
		{pool, "make sure the front door is unlocked", nil},
		{pool, "make sure the driveway gate is open", nil},
		{pool, "make sure the driveway gate is on", nil},
		{pool, "put the blinds down", []string{"cover.close_cover [cover.living_room_blinds] map[]"}},
		{pool, "put the right garage door down", []string{"cover.close_cover [cover.garage_door_right] map[]"}},
		{pool, "garage door up", nil}, // two garage doors: which one?
		{share, "front door lock", []string{"lock.lock [lock.front_door] map[]"}},
		{share, "kitchen lights to fifty", []string{"light.turn_on [light.kitchen_lights] map[brightness_pct:50]"}},
		{family, "are you able to open the garage", nil},
		{pool, "turn off the alarm", nil},
	} {
		resp, got := processIn(t, c.reg, "", c.text)
		if !slices.Equal(got, c.want) {
			t.Errorf("%q called %v, want %v (%s %q)", c.text, got, c.want, resp.ErrorCode, resp.Speech)
		}
		if c.want == nil && resp.Success {
			t.Errorf("%q answered as done: %q", c.text, resp.Speech)
		}
	}
}
