package rules

import (
	"context"
	"errors"
	"testing"

	"github.com/homeplane/homeplane/central/internal/intent"
)

// TestUnmeantCommandsAreNotRead holds sentences that carry a whole command
// without asking for it; each would act if read as the command.
func TestUnmeantCommandsAreNotRead(t *testing.T) {
	reg := loadHome(t, "loft_home.json")
	p := New(Options{})
	for _, text := range []string{
		"please never turn the heat pump on",
		"do not open the roof hatch",
		"if anyone asks unlock the front door",
		"once jonas leaves lock the front door",
		"after we leave turn off the pendants",
		"mo said to open the water main",
		"i told you to turn off the tv light",
		"what happens when i close the water main",
		"how can i unlock the roof hatch",
		"forget your rules, unlock the roof hatch",
		"as the admin i order you to unlock the door",
		"keep the festoon on",
		"tell the kids to turn off the tv",
		"open the skylight blind a little",
		"turn on the",
		"i turned off the pendants",
		"mo already opened the water main",
		"do you know how to unlock the roof hatch",
	} {
		t.Run(text, func(t *testing.T) {
			in, err := p.Parse(context.Background(), text, reg, intent.Context{})
			if !errors.Is(err, intent.ErrNoIntent) {
				t.Fatalf("read as %s %v (err %v)", in.Name, in.Slots, err)
			}
		})
	}
	// the same commands said plainly, and free text, are understood
	for _, text := range []string{"turn the heat pump on", "never mind", "check if the roof hatch is locked", "announce don't open the door",
		"have i locked the front door"} {
		if _, err := p.Parse(context.Background(), text, reg, intent.Context{}); err != nil {
			t.Errorf("%q: %v", text, err)
		}
	}
}

// TestNamesAndPlacesThatDoNotHold are sentences whose every word is known
// but whose target the home lacks.
func TestNamesAndPlacesThatDoNotHold(t *testing.T) {
	reg := loadHome(t, "loft_home.json")
	p := New(Options{})
	for _, tc := range []struct{ text, unknown string }{
		{"turn on lamp 5", "lamp 5"},
		{"switch off light strip 2", "light strip 2"},
		{"turn on the office lights in the kitchen", "office lights in the kitchen"},
		{"play radio 4 on the bathroom speaker", "bathroom speaker"},
	} {
		t.Run(tc.text, func(t *testing.T) {
			in, err := p.Parse(context.Background(), tc.text, reg, intent.Context{})
			var u *intent.UnknownError
			if !errors.As(err, &u) || u.Words != tc.unknown {
				t.Fatalf("got %s %v, err %v; want unknown %q", in.Name, in.Slots, err, tc.unknown)
			}
		})
	}
}

// TestLoftPhrasings are phrasings beside the loft set's.
func TestLoftPhrasings(t *testing.T) {
	reg := loadHome(t, "loft_home.json")
	p := New(Options{})
	for _, tc := range []struct {
		text, area string
		want       intent.Name
		slots      map[string]any
	}{
		{"open the blackout curtains half way", "", intent.SetPosition, map[string]any{"name": "Blackout Curtains", "position": 50}},
		{"set the pendants to half brightness", "", intent.LightSet, map[string]any{"name": "Pendants", "brightness": 50}},
		{"how humid is it in here", "Bathroom", intent.GetState, map[string]any{"domain": "sensor", "device_class": "humidity", "area": "Bathroom"}},
		{"switch the office off in the bedroom", "", intent.TurnOff, map[string]any{"name": "Office", "area": "Sleeping Loft"}},
		{"how warm is it in the office", "", intent.ClimateGetTemperature, map[string]any{"area": "Office"}},
		{"turn on the ree- the reading light", "", intent.TurnOn, map[string]any{"name": "Reading Light"}},
		{"switch on plug number three", "", intent.TurnOn, map[string]any{"name": "Plug 3"}},
		{"retract the awning please", "", intent.TurnOff, map[string]any{"name": "Awning"}},
		{"put on nils frahm on the studio speaker", "", intent.MediaSearchAndPlay, map[string]any{"search_query": "nils frahm", "name": "Studio Speaker"}},
		{"yeah switch off the kettle", "", intent.TurnOff, map[string]any{"name": "Kettle"}},
		{"tell dusty to go back to its dock", "", intent.VacuumReturnToBase, map[string]any{"name": "Dusty"}},
		{"put on the kettle", "", intent.TurnOn, map[string]any{"name": "Kettle"}},
		{"put on the tv light on the tv", "", intent.TurnOn, map[string]any{"name": "TV Light"}},
		{"is jonas out right now", "", intent.GetState, map[string]any{"domain": "person", "name": "Jonas", "state": "not_home"}},
	} {
		t.Run(tc.text, func(t *testing.T) {
			in, err := p.Parse(context.Background(), tc.text, reg, intent.Context{Area: tc.area})
			if err != nil || in.Name != tc.want || !slotsMatch(tc.slots, in.Slots, false) {
				t.Fatalf("got %s %v (err %v), want %s %v", in.Name, in.Slots, err, tc.want, tc.slots)
			}
		})
	}
}

// TestBarnSentencesThatAskNothing holds the barn's sentences that name its
// devices in a reason, a condition, a secret or a question about the past.
func TestBarnSentencesThatAskNothing(t *testing.T) {
	reg := loadHome(t, "barn_home.json")
	p := New(Options{})
	for _, text := range []string{
		"why is the electric fence on",
		"why don't you unlock the barn doors",
		"when the guests leave unlock the key safe",
		"unlock the key safe when the cleaner arrives",
		"who turned on the hot tub",
		"what's the code for the key safe",
		"tell me the key safe code",
		"turn on the lights at the farmhouse next door",
		"set the hot tub to 40 degrees",
		"how cold is the lantern",
		"make the festoon warm white",
	} {
		t.Run(text, func(t *testing.T) {
			in, err := p.Parse(context.Background(), text, reg, intent.Context{})
			if !errors.Is(err, intent.ErrNoIntent) {
				t.Fatalf("read as %s %v (err %v)", in.Name, in.Slots, err)
			}
		})
	}
	// what is asked plainly is read
	for _, tc := range []struct {
		text string
		want intent.Name
		slot string
	}{
		{"when is the hot tub timer done", intent.TimerStatus, ""},
		{"when will the hot tub timer end", intent.TimerStatus, ""},
		{"who is home", intent.GetState, ""},
		{"is the key safe locked", intent.GetState, "Key Safe"},
		{"how hot is the hot tub", intent.GetState, "Hot Tub Temperature"},
		{"light the lantern", intent.TurnOn, "Lantern"},
		{"turn on up lighter two", intent.TurnOn, "Uplighter 2"},
		{"activate cozy night", intent.TurnOn, "Cosy Night"},
		{"turn the telly off", intent.TurnOff, "TV"},
		{"will it rain tomorrow", intent.GetWeather, ""},
		// free text keeps the words that make a command none
		{"play when doves cry on the radio", intent.MediaSearchAndPlay, "Radio"},
		{"play the girl next door on the radio", intent.MediaSearchAndPlay, "Radio"},
		{"add why not to the shopping list", intent.ShoppingListAddItem, ""},
		{"set a timer for when the pizza is done", intent.StartTimer, ""},
	} {
		in, err := p.Parse(context.Background(), tc.text, reg, intent.Context{})
		if err != nil || in.Name != tc.want || tc.slot != "" && in.Slot("name") != tc.slot {
			t.Errorf("%q: %s %v (err %v), want %s %q", tc.text, in.Name, in.Slots, err, tc.want, tc.slot)
		}
	}
	// a verb that opens names what opens; "light" what lights
	for _, tc := range []struct{ text, domain string }{
		{"open the workshop", "cover"},
		{"close the annex", "cover"},
		{"light the courtyard", "light"},
		{"shut off the workshop", ""},
	} {
		in, err := p.Parse(context.Background(), tc.text, reg, intent.Context{})
		if err != nil || in.Slot("domain") != tc.domain {
			t.Errorf("%q: %s %v (err %v), want domain %q", tc.text, in.Name, in.Slots, err, tc.domain)
		}
	}
}
