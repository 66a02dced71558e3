package rules

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/homeplane/homeplane/central/internal/intent"
)

// TestLightAsSeen checks light said as what a detector sees ("is there
// light in the garden", "is it dark out the back") against lamps said the
// same way, in a home with a light detector and in one without.
func TestLightAsSeen(t *testing.T) {
	detector := loadHome(t, "bungalow_home.json") // binary_sensor "Light" in the Back Garden
	lamps := smallHome(t)                         // lamps, no light detector
	p := New(Options{})
	seen := map[string]any{"domain": "binary_sensor", "device_class": "light", "state": "on"}
	inGarden := map[string]any{"domain": "binary_sensor", "device_class": "light", "state": "on", "area": "Back Garden"}
	tests := []struct {
		reg   *intent.Index
		text  string
		want  intent.Name
		slots map[string]any
	}{
		{detector, "is there any light in the garden", intent.GetState, inGarden},
		{detector, "is there enough light in the back garden", intent.GetState, inGarden},
		{detector, "is there some light out in the garden right now", intent.GetState, inGarden},
		{detector, "is there light", intent.GetState, seen},
		{detector, "is any light detected in the garden", intent.GetState, inGarden},
		{detector, "is the light sensor sensing light", intent.GetState, seen},
		{detector, "are the light sensors detecting anything", intent.GetState, seen},
		{detector, "is it dark in the garden", intent.GetState,
			map[string]any{"domain": "binary_sensor", "device_class": "light", "state": "off", "area": "Back Garden"}},
		// lamps stay lamps
		{detector, "is there a light on in the kitchen", intent.GetState, map[string]any{"domain": "light", "state": "on", "area": "Kitchen"}},
		{detector, "are there any lights on in the garden", intent.GetState, map[string]any{"domain": "light", "state": "on", "area": "Back Garden"}},
		{lamps, "are any lights on in the kitchen", intent.GetState, map[string]any{"domain": "light", "state": "on", "area": "Kitchen"}},
		// a home without a light detector has nothing that sees light
		{lamps, "is there light in the kitchen", "", nil},
	}
	for _, tt := range tests {
		got, err := p.Parse(context.Background(), tt.text, tt.reg, intent.Context{})
		if tt.want == "" {
			if err == nil {
				t.Errorf("%q: got %s %v, want no intent", tt.text, got.Name, got.Slots)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.text, err)
			continue
		}
		if got.Name != tt.want || !slotsMatch(tt.slots, got.Slots, false) {
			g, _ := json.Marshal(got.Slots)
			t.Errorf("%q: got %s %s, want %s %v", tt.text, got.Name, g, tt.want, tt.slots)
		}
	}
}
