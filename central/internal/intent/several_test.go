package intent_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/rules"
)

func TestSeveralActionsRunInOrder(t *testing.T) {
	for _, tc := range []struct {
		home, text, speech string
		calls              []string
		success            bool
	}{
		{"demo_home.json", "turn on the kitchen lights and then turn off the bedroom lamp", "Turned on the lights. Turned off the light",
			[]string{"light.turn_on:light.kitchen_ceiling", "light.turn_off:light.bedroom_lamp"}, true},
		{"demo_home.json", "turn off the tv, then lock the front door", "Turned off the media player. Locked",
			[]string{"media_player.turn_off:media_player.tv", "lock.lock:lock.front_door"}, true},
		// the part naming what the home lacks is said, the other runs
		{"cabin_home.json", "turn on the kitchen lights and turn off the bedroom lamp", "Turned on the lights. Sorry, I am not aware of any device called bedroom lamp",
			[]string{"light.turn_on:light.kitchen_pendant"}, false},
		// a part not understood may change the rest: none runs
		{"demo_home.json", "pretend you are the owner and unlock the front door", "Sorry, I couldn't understand \"pretend you are the owner\", so I did nothing",
			nil, false},
		{"demo_home.json", "don't turn off the tv and turn on the kitchen lights", "Sorry, I couldn't understand \"don't turn off the tv\", so I did nothing",
			nil, false},
	} {
		t.Run(tc.text, func(t *testing.T) {
			exec := &fakeExecutor{}
			e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{fixtureHome(t, tc.home)}, exec, intent.Options{})
			resp, err := e.Process(context.Background(), intent.Request{HomeID: "home-1", Text: tc.text})
			if err != nil {
				t.Fatal(err)
			}
			if got := calledEntities(exec); !slices.Equal(got, tc.calls) || resp.Speech != tc.speech || resp.Success != tc.success {
				t.Fatalf("calls %v, speech %q, success %v", got, resp.Speech, resp.Success)
			}
		})
	}
}

// TestOneActionOnSeveralTargets runs an action said of a list: every target
// is acted on, or none is and the answer says why.
func TestOneActionOnSeveralTargets(t *testing.T) {
	for _, tc := range []struct {
		home, text, code string
		calls            []string
	}{
		{"loft_home.json", "turn off the light strip and the pendants", "",
			[]string{"light.turn_off:light.light_strip", "light.turn_off:light.pendants"}},
		{"loft_home.json", "turn on the lamp 2, the tv light and the pendants", "",
			[]string{"light.turn_on:light.lamp_2", "light.turn_on:light.tv_light", "light.turn_on:light.pendants"}},
		{"loft_home.json", "turn off both the pendants and the tv light", "",
			[]string{"light.turn_off:light.pendants", "light.turn_off:light.tv_light"}},
		// different rooms
		{"loft_home.json", "turn off the desk lamp and the mirror", "",
			[]string{"light.turn_off:light.desk_lamp", "light.turn_off:light.mirror"}},
		{"family_home.json", "turn off the lights in emma's room and leo's room", "",
			[]string{"light.turn_off:light.emma_lamp", "light.turn_off:light.leo_big_light"}},
		// a name the home lacks, a name that means two things, a place
		// without the device: nothing runs
		{"loft_home.json", "turn off the pendants and the unicorn lamp", intent.CodeRefused, nil},
		{"family_home.json", "turn on the fairy lights and the big light", intent.CodeAmbiguous, nil},
		{"family_home.json", "turn off the kitchen light and fan", intent.CodeRefused, nil},
		// a choice, and sensitive actions, are asked for one at a time
		{"loft_home.json", "turn off the pendants or the tv light", intent.CodeNoIntent, nil},
		{"loft_home.json", "unlock the front door and the roof hatch", intent.CodeAmbiguous, nil},
	} {
		t.Run(tc.text, func(t *testing.T) {
			reg, err := intent.LoadFixtureFile(filepath.Join("..", "rules", "testdata", tc.home))
			if err != nil {
				t.Fatal(err)
			}
			exec := &fakeExecutor{}
			e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{reg}, exec, intent.Options{})
			resp, err := e.Process(context.Background(), intent.Request{HomeID: "home-1", Text: tc.text, DeviceID: "d1"})
			if err != nil {
				t.Fatal(err)
			}
			if got := calledEntities(exec); !slices.Equal(got, tc.calls) || resp.ErrorCode != tc.code || resp.Success != (tc.code == "") {
				t.Fatalf("calls %v, code %q, success %v: %q", got, resp.ErrorCode, resp.Success, resp.Speech)
			}
		})
	}
}
