package intent_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/rules"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// TestPlayWithoutAPlayerAsks checks that "play …" naming no player, from a
// device in no room, plays on the home's only player or asks which one.
func TestPlayWithoutAPlayerAsks(t *testing.T) {
	family, err := intent.LoadFixtureFile(filepath.Join("..", "rules", "testdata", "family_home.json"))
	if err != nil {
		t.Fatal(err)
	}
	one := intent.NewIndex([]*homeplanev1.Entity{
		{EntityId: "media_player.radio", Name: "Radio", Domain: "media_player", AreaId: "kitchen", State: "idle"},
		{EntityId: "light.lamp", Name: "Lamp", Domain: "light", AreaId: "kitchen", State: "off"},
	}, []*homeplanev1.Area{{Id: "kitchen", Name: "Kitchen"}}, nil)
	paused := intent.NewIndex([]*homeplanev1.Entity{
		{EntityId: "media_player.radio", Name: "Radio", Domain: "media_player", AreaId: "kitchen", State: "idle"},
		{EntityId: "media_player.tv", Name: "TV", Domain: "media_player", AreaId: "lounge", State: "paused"},
	}, []*homeplanev1.Area{{Id: "kitchen", Name: "Kitchen"}, {Id: "lounge", Name: "Lounge"}}, nil)
	for _, tc := range []struct {
		name, text, area, code string
		reg                    *intent.Index
		calls                  []string
	}{
		{"several players", "play some jazz", "", intent.CodeAmbiguous, family, nil},
		{"several players, resume", "play music", "", intent.CodeAmbiguous, family, nil},
		{"the device's room", "play some jazz", "Kitchen", "", family, []string{"media_player.play_media:media_player.kitchen_speaker"}},
		{"a player named", "play some jazz on the tv", "", "", family, []string{"media_player.play_media:media_player.tv"}},
		{"the only player", "play some jazz", "", "", one, []string{"media_player.play_media:media_player.radio"}},
		{"the only paused player", "resume", "", "", paused, []string{"media_player.media_play:media_player.tv"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exec := &fakeExecutor{}
			e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{tc.reg}, exec, intent.Options{})
			resp, err := e.Process(context.Background(), intent.Request{HomeID: "home-1", Text: tc.text, DeviceID: "d1", Context: intent.Context{Area: tc.area}})
			if err != nil {
				t.Fatal(err)
			}
			if got := calledEntities(exec); !slices.Equal(got, tc.calls) || resp.ErrorCode != tc.code {
				t.Fatalf("calls %v, code %q: %q", got, resp.ErrorCode, resp.Speech)
			}
		})
	}
}

// TestWhichPlayerIsAnswered checks that the answer to "which player?"
// plays what was asked there, and does not switch the player on.
func TestWhichPlayerIsAnswered(t *testing.T) {
	reg, err := intent.LoadFixtureFile(filepath.Join("..", "rules", "testdata", "family_home.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, answer := range []string{"on the kitchen speaker", "the kitchen speaker", "in the kitchen"} {
		t.Run(answer, func(t *testing.T) {
			exec := &fakeExecutor{}
			e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{reg}, exec, intent.Options{})
			first, err := e.Process(context.Background(), intent.Request{HomeID: "home-1", Text: "play some jazz", DeviceID: "d1"})
			if err != nil || first.ErrorCode != intent.CodeAmbiguous {
				t.Fatalf("play some jazz: code %q (%v)", first.ErrorCode, err)
			}
			resp, err := e.Process(context.Background(), intent.Request{HomeID: "home-1", Text: answer, DeviceID: "d1", ConversationID: first.ConversationID})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"media_player.play_media:media_player.kitchen_speaker"}
			if got := calledEntities(exec); !slices.Equal(got, want) || resp.Intent.Slot("search_query") != "jazz" {
				t.Fatalf("calls %v, intent %s %v: %q", got, resp.Intent.Name, resp.Intent.Slots, resp.Speech)
			}
		})
	}
}
