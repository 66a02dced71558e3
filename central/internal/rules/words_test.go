package rules

import (
	"context"
	"errors"
	"testing"

	"github.com/homeplane/homeplane/central/internal/intent"
)

// TestNamesThatAreWords reads the duplex home's names that are also words
// of the grammar: a room called Up, a sign that holds "on", a plug that
// holds "timer", thermostats called AC.
func TestNamesThatAreWords(t *testing.T) {
	reg := loadHome(t, "duplex_home.json")
	p := New(Options{})
	for _, tt := range []struct {
		text, area string
		want       intent.Name
		slots      map[string]any
	}{
		{"turn on the on air sign", "", intent.TurnOn, map[string]any{"name": "On Air Sign"}},
		{"is the on air sign on", "", intent.GetState, map[string]any{"name": "On Air Sign", "state": "on"}},
		{"turn on the timer plug", "", intent.TurnOn, map[string]any{"name": "Timer Plug"}},
		{"switch off the timer plug", "", intent.TurnOff, map[string]any{"name": "Timer Plug"}},
		{"set a timer for five minutes", "", intent.StartTimer, map[string]any{"minutes": 5}},
		{"lock up the studio", "", intent.TurnOn, map[string]any{"area": "Studio", "domain": "lock"}},
		{"lock up the flat", "", intent.TurnOn, map[string]any{"domain": "lock"}},
		{"turn on the lights in up", "", intent.TurnOn, map[string]any{"area": "Up", "domain": "light"}},
		{"set the air con to 20", "Office", intent.ClimateSetTemperature, map[string]any{"area": "Office", "temperature": 20}},
		{"is anyone in the booth", "", intent.GetState, map[string]any{"area": "Booth", "domain": "binary_sensor", "device_class": "occupancy", "state": "on"}},
		{"is there anybody in the hall", "", intent.GetState, map[string]any{"area": "Hall", "domain": "binary_sensor", "device_class": "motion", "state": "on"}},
		{"what's the co2 in the booth", "", intent.GetState, map[string]any{"area": "Booth", "domain": "sensor", "device_class": "carbon_dioxide"}},
		{"how much power is the studio using", "", intent.GetState, map[string]any{"area": "Studio", "domain": "sensor", "device_class": "power"}},
		{"open the skylight a quarter of the way", "", intent.SetPosition, map[string]any{"name": "Skylight", "position": 25}},
		{"open the office blind three quarters of the way", "", intent.SetPosition, map[string]any{"name": "Office Blind", "position": 75}},
		{"i'd like the lounge blinds closed", "", intent.TurnOff, map[string]any{"name": "Lounge Blinds"}},
		{"i want the lights off in here", "Office", intent.TurnOff, map[string]any{"area": "Office", "domain": "light"}},
		{"turn off the flat's lights", "", intent.TurnOff, map[string]any{"domain": "light"}},
		{"turn off all the lights in the duplex", "", intent.TurnOff, map[string]any{"domain": "light"}},
	} {
		got, err := p.Parse(context.Background(), tt.text, reg, intent.Context{Area: tt.area})
		if err != nil || got.Name != tt.want || !slotsMatch(tt.slots, got.Slots, false) {
			t.Errorf("Parse(%q) = %s %v, %v; want %s %v", tt.text, got.Name, got.Slots, err, tt.want, tt.slots)
		}
	}
}

// TestWordsThatAreNoCommand are sentences of the duplex home that must do
// nothing: a lock said with a verb that does not lock or unlock it, a wish
// that opens, a step up, a condition on a flatmate.
func TestWordsThatAreNoCommand(t *testing.T) {
	reg := loadHome(t, "duplex_home.json")
	loft := loadHome(t, "loft_home.json")
	p := New(Options{})
	for _, tt := range []struct {
		reg  *intent.Index
		text string
	}{
		{reg, "open the front door"},
		{reg, "turn off the front door"},
		{reg, "close the studio door"},
		{reg, "toggle the studio door"},
		{reg, "i want the front door unlocked"},
		{reg, "i want the studio door open"},
		{reg, "turn the lights up"},
		{reg, "turn the studio lights up"},
		{reg, "when kit gets home unlock the front door"},
		{reg, "turn off the lights in the flats"},
		{reg, "volume up on the tv"},
		{reg, "turn the volume up on the office speaker"},
		{reg, "turn it up on the tv"},
		{reg, "lock the back door"}, // the duplex has none; it locked every lock
		{loft, "what is the heat pump co2"},
		{loft, "set the air conditioner to 18"}, // the loft's thermostats only heat
	} {
		got, err := p.Parse(context.Background(), tt.text, tt.reg, intent.Context{})
		var unknown *intent.UnknownError
		if !errors.Is(err, intent.ErrNoIntent) && !errors.As(err, &unknown) {
			t.Errorf("Parse(%q) = %s %v, %v; want no intent", tt.text, got.Name, got.Slots, err)
		}
	}
}

// TestTemperatureOutside: a temperature asked of outdoors is answered by
// the home's outdoor sensor, or its weather, never by the device's room.
func TestTemperatureOutside(t *testing.T) {
	duplex, barn, family := loadHome(t, "duplex_home.json"), loadHome(t, "barn_home.json"), loadHome(t, "family_home.json")
	p := New(Options{})
	for _, tt := range []struct {
		reg   *intent.Index
		text  string
		want  intent.Name
		slots map[string]any
	}{
		{duplex, "how cold is it outside", intent.GetWeather, map[string]any{}},
		{duplex, "what's the temperature outside", intent.GetWeather, map[string]any{}},
		{duplex, "what is the temperature outdoors", intent.GetWeather, map[string]any{}},
		{duplex, "how hot is it outdoors", intent.GetWeather, map[string]any{}},
		{duplex, "is it cold outside", intent.GetWeather, map[string]any{}},
		{barn, "what's the temperature outside", intent.GetState, map[string]any{"name": "Outside Temperature"}},
		{barn, "how cold is it outside", intent.GetState, map[string]any{"name": "Outside Temperature"}},
		{family, "how warm is it outdoors", intent.GetState, map[string]any{"name": "Outdoor Temperature"}},
		{family, "what's the temperature outside", intent.GetState, map[string]any{"name": "Outdoor Temperature"}},
	} {
		got, err := p.Parse(context.Background(), tt.text, tt.reg, intent.Context{Area: "Office"})
		if err != nil || got.Name != tt.want || !slotsMatch(tt.slots, got.Slots, true) {
			t.Errorf("Parse(%q) = %s %v, %v; want %s %v", tt.text, got.Name, got.Slots, err, tt.want, tt.slots)
		}
	}
}
