package intent_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/rules"
)

func fixtureHome(tb testing.TB, file string) *intent.Index {
	tb.Helper()
	reg, err := intent.LoadFixtureFile(filepath.Join("testdata", file))
	if err != nil {
		tb.Fatal(err)
	}
	return reg
}

// TestIssueTableRefuses runs the sentences that once acted on the wrong
// things: nothing may execute, and the answer names what is missing.
func TestIssueTableRefuses(t *testing.T) {
	for _, home := range []string{"demo_home.json", "cabin_home.json"} {
		reg := fixtureHome(t, home)
		cases := []struct{ text, speech string }{
			{"unlock the side door", "Sorry, I am not aware of any device called side door"},
			{"turn on the garden lights", "Sorry, I am not aware of any area called garden"},
			{"turn off the nursery lights", "Sorry, I am not aware of any area called nursery"},
			{"turn on the bathroom lights", "Sorry, I am not aware of any area called bathroom"},
			{"turn off the attic fan", "Sorry, I am not aware of any device called attic fan"},
			{"set the bathroom lights to 50 percent", "Sorry, I am not aware of any area called bathroom"},
			{"turn on the lights in the garden", "Sorry, I am not aware of any area called garden"},
			{"turn on the lights on the third floor", "Sorry, I am not aware of any floor called third floor"},
			{"turn on the big lamp", "Sorry, I am not aware of any device called big lamp"},
			// questions are refused too rather than answered about the wrong things
			{"is the garden light on", "Sorry, I am not aware of any device called garden light"},
			{"what is the temperature in the attic", "Sorry, I am not aware of any area called attic"},
		}
		if home == "cabin_home.json" { // the demo home has a living room
			cases = append(cases, struct{ text, speech string }{"turn on the living room lights", "Sorry, I am not aware of any area called living room"})
		}
		for _, tc := range cases {
			t.Run(home+"/"+tc.text, func(t *testing.T) {
				exec := &fakeExecutor{}
				e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{reg}, exec, intent.Options{})
				resp, err := e.Process(context.Background(), intent.Request{HomeID: "home-1", Text: tc.text})
				if err != nil {
					t.Fatal(err)
				}
				if len(exec.cmds) != 0 || len(resp.Executed) != 0 || resp.Success {
					t.Fatalf("executed %v (success %v, speech %q)", exec.cmds, resp.Success, resp.Speech)
				}
				if resp.ErrorCode != intent.CodeRefused || resp.Speech != tc.speech || resp.Unknown == "" {
					t.Fatalf("answer %q (%s, unknown %q), want %q", resp.Speech, resp.ErrorCode, resp.Unknown, tc.speech)
				}
			})
		}
	}
}

// TestNameSaidInAnotherRoom: a device with no area is in no room, so a
// sentence that places it is refused; a script or scene with no area still runs
// wherever it is said.
func TestNameSaidInAnotherRoom(t *testing.T) {
	reg := fixtureHome(t, "demo_home.json")
	for _, tc := range []struct {
		text, speech string
		calls        []string
	}{
		{"unlock the front door in the garage", "Sorry, I am not aware of any device called Front Door in the Garage", nil},
		{"run good night in the bedroom", "Started", []string{"script.turn_on:script.good_night"}},
	} {
		t.Run(tc.text, func(t *testing.T) {
			exec := &fakeExecutor{}
			e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{reg}, exec, intent.Options{})
			resp, err := e.Process(context.Background(), intent.Request{HomeID: "home-1", Text: tc.text})
			if err != nil {
				t.Fatal(err)
			}
			if got := calledEntities(exec); !slices.Equal(got, tc.calls) || resp.Speech != tc.speech {
				t.Fatalf("calls %v, speech %q", got, resp.Speech)
			}
		})
	}
}
