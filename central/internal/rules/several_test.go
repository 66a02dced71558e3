package rules

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/homeplane/homeplane/central/internal/intent"
)

// TestSeveralTargetsAreSaidOncePerTarget checks that one action said of a
// list is never read as an action on its first target alone.
func TestSeveralTargetsAreSaidOncePerTarget(t *testing.T) {
	p := New(Options{})
	for _, tc := range []struct {
		home, text string
		parts      []string
	}{
		{"loft_home.json", "turn off the light strip and the pendants", []string{"turn off the light strip", "turn off the pendants"}},
		{"loft_home.json", "turn on the lamp 2, the tv light and the pendants", []string{"turn on the lamp 2", "turn on the tv light", "turn on the pendants"}},
		{"loft_home.json", "turn off both the pendants and the tv light", []string{"turn off the pendants", "turn off the tv light"}},
		{"loft_home.json", "turn off the lights in the kitchen and the office", []string{"turn off the lights in the kitchen", "turn off the lights in the office"}},
		// a noun said once is shared: by both places, or by a bare second noun
		{"loft_home.json", "turn off the kitchen and office lights", []string{"turn off the kitchen lights", "turn off the office lights"}},
		{"family_home.json", "turn off the kitchen light and fan", []string{"turn off the kitchen light", "turn off the kitchen fan"}},
		{"family_home.json", "turn off the lava lamp, the desk fan and the big light in leo's room",
			[]string{"turn off the lava lamp in leos room", "turn off the desk fan in leos room", "turn off the big light in leos room"}},
		{"family_home.json", "are the pool pump and the ev charger on", []string{"are the pool pump on", "are the ev charger on"}},
		{"family_home.json", "make the fairy lights and the lava lamp red", []string{"make the fairy lights red", "make the lava lamp red"}},
		{"loft_home.json", "turn off the light strip as well as the pendants", []string{"turn off the light strip", "turn off the pendants"}},
		{"loft_home.json", "turn off the light strip with the pendants", []string{"turn off the light strip", "turn off the pendants"}},
		{"loft_home.json", "turn on lamp 2 tv light and pendants", []string{"turn on lamp 2", "turn on tv light", "turn on pendants"}},
	} {
		t.Run(tc.text, func(t *testing.T) {
			_, err := p.Parse(context.Background(), tc.text, loadHome(t, tc.home), intent.Context{})
			var st *intent.SeveralTargets
			if !errors.As(err, &st) || !slices.Equal(st.Parts, tc.parts) {
				t.Fatalf("err %v, want parts %q", err, tc.parts)
			}
		})
	}
	// a choice, names with nothing joining them and what is left out name
	// nothing to act on; an "and" inside a name is no list
	reg := loadHome(t, "family_home.json")
	for _, text := range []string{
		"turn off the pool pump or the ev charger",
		"turn on the lava lamp the desk fan",
		"turn on emma's lamp night light",
		"turn off all the lights but the night light",
	} {
		if in, err := p.Parse(context.Background(), text, reg, intent.Context{}); !errors.Is(err, intent.ErrNoIntent) {
			t.Errorf("%q read as %s %v (err %v)", text, in.Name, in.Slots, err)
		}
	}
	in, err := p.Parse(context.Background(), "turn on the lights in mum and dad's room", reg, intent.Context{})
	if err != nil || in.Slots["area"] != "Master Bedroom" {
		t.Errorf("an area with \"and\" in its name: %s %v (err %v)", in.Name, in.Slots, err)
	}
}

// TestTemperatureOfAPlace holds yes-or-no questions about how warm a place
// is: they ask for its temperature, not for a heat detector.
func TestTemperatureOfAPlace(t *testing.T) {
	reg := loadHome(t, "loft_home.json")
	p := New(Options{})
	for _, tc := range []struct {
		text, slot, value string
	}{
		{"is it warm in the office", "area", "Office"},
		{"is it cold upstairs", "floor", "Mezzanine"},
		{"is the bedroom too hot", "area", "Sleeping Loft"},
		{"is the studio chilly", "area", "Studio"},
	} {
		t.Run(tc.text, func(t *testing.T) {
			in, err := p.Parse(context.Background(), tc.text, reg, intent.Context{})
			if err != nil || in.Name != intent.ClimateGetTemperature || in.Slots[tc.slot] != tc.value {
				t.Fatalf("%s %v (err %v)", in.Name, in.Slots, err)
			}
		})
	}
	// a thing, not a place, is still asked of its detector
	in, err := p.Parse(context.Background(), "is anything too hot", reg, intent.Context{})
	if err != nil || in.Name != intent.GetState || in.Slots["device_class"] != "heat" {
		t.Errorf("is anything too hot: %s %v (err %v)", in.Name, in.Slots, err)
	}
}
