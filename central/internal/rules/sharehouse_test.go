package rules

import (
	"context"
	"testing"

	"github.com/homeplane/homeplane/central/internal/intent"
)

// TestSharehouseQuestions holds the question rules of ADR 0058 in the
// shared house: someone "in", a sensor whose name ends on the state it
// reports, the energy used, and "in here" marked when the device has no room.
func TestSharehouseQuestions(t *testing.T) {
	reg := loadHome(t, "sharehouse_home.json")
	p := New(Options{})
	for _, tt := range []struct {
		text, area string
		want       intent.Name
		slots      map[string]any
		here       bool
	}{
		{"is tom in", "", intent.GetState, map[string]any{"domain": "person", "name": "Tom", "state": "home"}, false},
		{"is the washing machine running", "", intent.GetState, map[string]any{"name": "Washing Machine Running", "domain": "binary_sensor", "device_class": "running", "state": "on"}, false},
		{"how much energy have we used today", "", intent.GetState, map[string]any{"domain": "sensor", "device_class": "energy"}, false},
		{"all lights on in here", "", intent.TurnOn, map[string]any{"domain": "light"}, true},
		{"all lights on in here", "Kitchen", intent.TurnOn, map[string]any{"domain": "light", "area": "Kitchen"}, false},
		{"turn on the kitchen lights", "", intent.TurnOn, map[string]any{"name": "Kitchen Lights"}, false},
	} {
		got, err := p.Parse(context.Background(), tt.text, reg, intent.Context{Area: tt.area})
		if err != nil || got.Name != tt.want || !slotsMatch(tt.slots, got.Slots, false) || got.Here != tt.here {
			t.Errorf("Parse(%q) = %s %v here=%v, %v; want %s %v here=%v", tt.text, got.Name, got.Slots, got.Here, err, tt.want, tt.slots, tt.here)
		}
	}
}
