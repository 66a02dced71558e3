package intent_test

import (
	"context"
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
