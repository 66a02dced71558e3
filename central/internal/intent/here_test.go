package intent_test

import (
	"fmt"
	"testing"

	"github.com/homeplane/homeplane/central/internal/intent"
)

func TestPlaceHere(t *testing.T) {
	lights := map[string]any{"domain": "light"}
	for _, c := range []struct {
		text, area string
		name       intent.Name
		slots      map[string]any
		wantHere   bool
		wantArea   any
	}{
		{"turn on the lights in here", "", "HassTurnOn", lights, true, nil},
		{"Lights off in HERE, please.", "", "HassTurnOff", lights, true, nil},
		{"make this room warmer", "", "HassClimateSetTemperature", map[string]any{"temperature": 22}, true, nil},
		{"turn off everything in my room", "", "HassTurnOff", map[string]any{"name": intent.NameAll}, true, nil},
		{"switch off the lights in the room", "", "HassTurnOff", lights, true, nil},
		{"is it warm here", "", "HassGetState", map[string]any{"device_class": "temperature"}, true, nil},
		// The device's room says where.
		{"turn on the lights in here", "Study", "HassTurnOn", lights, false, "Study"},
		{"what's the temperature in this room", "Study", "HassGetState", map[string]any{"device_class": "temperature"}, false, "Study"},
		// A place or one entity in the slots says where.
		{"turn on the lights in here", "", "HassTurnOn", map[string]any{"domain": "light", "area": "Kitchen"}, false, "Kitchen"},
		{"turn on the lights in here", "Study", "HassTurnOn", map[string]any{"domain": "light", "floor": "Upstairs"}, false, nil},
		{"turn on the lamp in here", "", "HassTurnOn", map[string]any{"name": "Desk Lamp"}, false, nil},
		// No word for the speaker's room, or an intent with no target.
		{"turn on the lights", "", "HassTurnOn", lights, false, nil},
		{"turn on the lights in ollie's room", "", "HassTurnOn", lights, false, nil},
		{"turn on the lights there", "", "HassTurnOn", lights, false, nil},
		{"the light in the hereford room", "", "HassTurnOn", lights, false, nil},
		{"set a timer for five minutes in here", "", "HassStartTimer", map[string]any{"minutes": 5}, false, nil},
	} {
		before := fmt.Sprint(c.slots)
		got := intent.PlaceHere(c.text, intent.Intent{Name: c.name, Slots: c.slots}, intent.Context{Area: c.area})
		if got.Here != c.wantHere || got.Slots["area"] != c.wantArea {
			t.Errorf("PlaceHere(%q) in %q: Here %v, area %v; want %v, %v", c.text, c.area, got.Here, got.Slots["area"], c.wantHere, c.wantArea)
		}
		if fmt.Sprint(c.slots) != before {
			t.Errorf("PlaceHere(%q) changed the caller's slots: %s → %v", c.text, before, c.slots)
		}
	}
}
