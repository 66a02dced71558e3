package rules

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/homeplane/homeplane/central/internal/intent"
)

// TestBoatLanguage reads the narrowboat's language beyond its set's lines:
// the boat as the whole home, names said in the other number, a name the
// grammar also has as a noun ("the gas"), reasons and courtesy around a
// request, a measure named after a word.
func TestBoatLanguage(t *testing.T) {
	reg := loadHome(t, "narrowboat_home.json")
	p := New(Options{})
	for _, tt := range []struct {
		text, area string
		want       intent.Name
		slots      map[string]any
	}{
		{"turn off the lights on the boat", "", intent.TurnOff, map[string]any{"domain": "light"}},
		{"turn the lights on the boat off", "", intent.TurnOff, map[string]any{"domain": "light"}},
		{"close every blind on the houseboat", "", intent.TurnOff, map[string]any{"domain": "cover", "device_class": "blind"}},
		{"turn off the boat's lights", "", intent.TurnOff, map[string]any{"domain": "light"}},
		{"is tess on the boat", "", intent.GetState, map[string]any{"domain": "person", "name": "Tess", "state": "home"}},
		{"turn off the lights in the cabin", "", intent.TurnOff, map[string]any{"domain": "light", "area": "Cabin"}},
		{"lock the back door", "", intent.TurnOn, map[string]any{"name": "Back Doors"}},
		{"close the porthole blind", "", intent.TurnOff, map[string]any{"name": "Porthole Blinds"}},
		{"switch off the deck light", "", intent.TurnOff, map[string]any{"name": "Deck Lights"}},
		{"turn off the gas", "", intent.TurnOff, map[string]any{"domain": "valve", "name": "gas"}},
		{"close the gas", "", intent.TurnOff, map[string]any{"domain": "valve", "name": "gas"}},
		{"is the gas on", "", intent.GetState, map[string]any{"name": "gas", "state": "on"}},
		{"would you mind switching the inverter off", "", intent.TurnOff, map[string]any{"name": "Inverter"}},
		{"do you mind turning on the tiller light", "", intent.TurnOn, map[string]any{"name": "Tiller Light"}},
		{"turn the water pump off for now", "", intent.TurnOff, map[string]any{"name": "Water Pump"}},
		{"turn the headlight on we're going into a tunnel", "", intent.TurnOn, map[string]any{"name": "Headlight"}},
		{"switch the deck lights off i'm going to bed", "", intent.TurnOff, map[string]any{"name": "Deck Lights"}},
		{"switch the tunnel light off we are out of the tunnel", "", intent.TurnOff, map[string]any{"name": "Tunnel Light"}},
		{"turn the bilge pump on it's raining", "", intent.TurnOn, map[string]any{"name": "Bilge Pump"}},
		{"uplighter off", "", intent.TurnOff, map[string]any{"name": "Up Lighter"}},
		{"turn on the head light", "", intent.TurnOn, map[string]any{"name": "Head Light"}},
		{"turn on the headlight", "", intent.TurnOn, map[string]any{"name": "Headlight"}},
		{"put the saloon lamp on full", "", intent.LightSet, map[string]any{"name": "Saloon Lamp", "brightness": 100}},
		{"how warm is the engine", "", intent.GetState, map[string]any{"name": "Engine Temperature"}},
		{"what's the weather forecast", "", intent.GetWeather, map[string]any{}},
		{"cut the inverter", "", intent.TurnOff, map[string]any{"name": "Inverter"}},
	} {
		got, err := p.Parse(context.Background(), tt.text, reg, intent.Context{Area: tt.area})
		if err != nil || got.Name != tt.want || !slotsMatch(tt.slots, got.Slots, false) {
			t.Errorf("Parse(%q) = %s %v, %v; want %s %v", tt.text, got.Name, got.Slots, err, tt.want, tt.slots)
		}
	}
}

// TestBoatLists: a word that names a device only with the noun a list
// ends in is one of its items.
func TestBoatLists(t *testing.T) {
	reg := loadHome(t, "narrowboat_home.json")
	p := New(Options{})
	for text, want := range map[string][]string{
		"turn on the port and starboard lights": {"turn on the port lights", "turn on the starboard lights"},
		"switch off the tiller and rope lights": {"switch off the tiller lights", "switch off the rope lights"},
	} {
		_, err := p.Parse(context.Background(), text, reg, intent.Context{})
		var several *intent.SeveralTargets
		if !errors.As(err, &several) || !slices.Equal(several.Parts, want) {
			t.Errorf("Parse(%q) = %v; want the parts %q", text, err, want)
		}
	}
}

// TestBoatNoCommand are sentences that must do nothing: a valve or gate
// toggled, a valve opened by the noun it shares, a lock unlocked by a name
// in the other number, another boat, a device the boat lacks, and the boat
// said in a house.
func TestBoatNoCommand(t *testing.T) {
	boat := loadHome(t, "narrowboat_home.json")
	barn := loadHome(t, "barn_home.json")
	duplex := loadHome(t, "duplex_home.json")
	p := New(Options{})
	for _, tt := range []struct {
		reg  *intent.Index
		text string
	}{
		{boat, "toggle the gas valve"},
		{boat, "toggle the gas"},
		{boat, "flip the gas valve"},
		{boat, "turn on the gas"},
		{boat, "open the gas"},
		{boat, "switch the gas on"},
		{boat, "unlock the back door"},
		{boat, "unlock the front door"},
		{boat, "turn on the lights on the other boat"},
		{boat, "turn off the lights in the other house"},
		{boat, "what's the grey water tank level"},
		{boat, "how hot is the boiler"},
		{barn, "toggle the yard gate"},
		{barn, "toggle the stopcock"},
		{duplex, "turn off the lights on the boat"},
		{duplex, "is ana on the boat"},
	} {
		got, err := p.Parse(context.Background(), tt.text, tt.reg, intent.Context{})
		var unknown *intent.UnknownError
		if !errors.Is(err, intent.ErrNoIntent) && !errors.As(err, &unknown) {
			t.Errorf("Parse(%q) = %s %v, %v; want no intent", tt.text, got.Name, got.Slots, err)
		}
	}
}
