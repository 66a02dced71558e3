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

// everyCall lists service:entity for every entity of the calls executed
// since the first n commands.
func everyCall(exec *fakeExecutor, n int) []string {
	exec.mu.Lock()
	defer exec.mu.Unlock()
	var out []string
	for _, c := range exec.cmds[n:] {
		for _, sc := range c.GetCalls() {
			for _, id := range sc.GetEntityIds() {
				out = append(out, sc.GetDomain()+"."+sc.GetService()+":"+id)
			}
		}
	}
	return out
}

type convStep struct {
	text, code, speech string // speech checked when set
	calls              []string
}

// converse runs the steps in one conversation from one device and checks
// what each step ran and answered.
func converse(t *testing.T, e *intent.Engine, exec *fakeExecutor, steps []convStep) {
	t.Helper()
	conv := ""
	for i, st := range steps {
		before := len(exec.cmds)
		resp, err := e.Process(context.Background(), intent.Request{HomeID: "home-1", Text: st.text, DeviceID: "d1", ConversationID: conv})
		if err != nil {
			t.Fatalf("step %d %q: %v", i, st.text, err)
		}
		conv = resp.ConversationID
		got := everyCall(exec, before)
		if !slices.Equal(got, st.calls) || resp.ErrorCode != st.code || st.speech != "" && resp.Speech != st.speech {
			t.Fatalf("step %d %q: calls %v, code %q, speech %q; want %v, %q, %q", i, st.text, got, resp.ErrorCode, resp.Speech, st.calls, st.code, st.speech)
		}
	}
}

func familyHome(t *testing.T) *intent.Index {
	t.Helper()
	reg, err := intent.LoadFixtureFile(filepath.Join("..", "rules", "testdata", "family_home.json"))
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestFollowUpToAList checks that "them" after a list means every target
// of it, and "it" asks which one.
func TestFollowUpToAList(t *testing.T) {
	const (
		lampOff = "light.turn_off:light.lava_lamp"
		fanOff  = "fan.turn_off:fan.desk_fan"
		lampOn  = "light.turn_on:light.lava_lamp"
		fanOn   = "fan.turn_on:fan.desk_fan"
		which   = "Sorry, which one do you mean: the Lava Lamp or the Desk Fan?"
	)
	list := convStep{text: "turn off the lava lamp and the desk fan", speech: "Turned off the Lava Lamp and the Desk Fan", calls: []string{lampOff, fanOff}}
	for _, tc := range []struct {
		name  string
		steps []convStep
	}{
		{"them", []convStep{list, {text: "turn them back on", speech: "Turned on the Lava Lamp and the Desk Fan", calls: []string{lampOn, fanOn}},
			// the list is remembered again
			{text: "switch them off", calls: []string{lampOff, fanOff}}}},
		{"both", []convStep{list, {text: "turn both back on", calls: []string{lampOn, fanOn}}}},
		{"all of them", []convStep{list, {text: "turn all of them on", calls: []string{lampOn, fanOn}}}},
		{"them both", []convStep{list, {text: "turn them both on", calls: []string{lampOn, fanOn}}}},
		{"it asks", []convStep{list, {text: "turn it back on", code: intent.CodeAmbiguous, speech: which},
			{text: "the desk fan", calls: []string{fanOn}}}},
		{"it, the second one", []convStep{list, {text: "turn it on", code: intent.CodeAmbiguous, speech: which},
			{text: "the second one", calls: []string{fanOn}}}},
		{"it, the first", []convStep{list, {text: "turn that on", code: intent.CodeAmbiguous},
			{text: "the first", calls: []string{lampOn}}}},
		{"it, a question", []convStep{list, {text: "is it on", code: intent.CodeAmbiguous},
			{text: "the second one", speech: "No, off"}}},
		// "it" is one thing: both does not answer which one
		{"it, both", []convStep{list, {text: "turn it on", code: intent.CodeAmbiguous},
			{text: "both", code: intent.CodeNoIntent}}},
		{"it, a third", []convStep{list, {text: "turn it on", code: intent.CodeAmbiguous},
			{text: "the third one", code: intent.CodeNoIntent}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exec := &fakeExecutor{}
			e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{familyHome(t)}, exec, intent.Options{})
			converse(t, e, exec, tc.steps)
		})
	}
}

// TestWhichOneIsAnswered checks the answers to "which one?": by place, by
// its place in the list, and "both" only for several matches of one
// request.
func TestWhichOneIsAnswered(t *testing.T) {
	const (
		living = "light.turn_on:light.living_big_light"
		leos   = "light.turn_on:light.leo_big_light"
	)
	big := convStep{text: "turn on the big light", code: intent.CodeAmbiguous,
		speech: "Sorry, Big Light could mean the light in the Living Room or the light in the Leo's Room. Which one do you mean?"}
	jazz := convStep{text: "play some jazz", code: intent.CodeAmbiguous}
	for _, tc := range []struct {
		name  string
		steps []convStep
	}{
		{"the one in a room", []convStep{big, {text: "the one in leo's room", calls: []string{leos}},
			// the choice is what "it" now means
			{text: "turn it off", calls: []string{"light.turn_off:light.leo_big_light"}}}},
		{"the one in a room it is not in", []convStep{big, {text: "the one in the kitchen", code: intent.CodeNoIntent}}},
		{"the second one", []convStep{big, {text: "the second one", calls: []string{leos}}}},
		{"the first", []convStep{big, {text: "the first", calls: []string{living}}}},
		{"the last one", []convStep{big, {text: "the last one", calls: []string{leos}}}},
		{"both", []convStep{big, {text: "both", calls: []string{living, leos}}}},
		{"all of them", []convStep{big, {text: "all of them please", calls: []string{living, leos}}}},
		{"a player by place", []convStep{jazz, {text: "the one in the kitchen", calls: []string{"media_player.play_media:media_player.kitchen_speaker"}}}},
		{"a player by order", []convStep{jazz, {text: "the second one", calls: []string{"media_player.play_media:media_player.kitchen_speaker"}}}},
		{"every player", []convStep{jazz, {text: "all of them", calls: []string{
			"media_player.play_media:media_player.tv", "media_player.play_media:media_player.kitchen_speaker",
			"media_player.play_media:media_player.playroom_speaker", "media_player.play_media:media_player.emma_speaker"}}}},
		// the gate's question lists the locks it would open
		{"a lock by order", []convStep{{text: "unlock the doors", code: intent.CodeAmbiguous,
			speech: "Sorry, which one do you mean: the Front Door, the Back Door or the Shed Lock?"},
			{text: "the second one", calls: []string{"lock.unlock:lock.back_door"}}}},
		{"locks, all of them", []convStep{{text: "unlock the doors", code: intent.CodeAmbiguous}, {text: "all of them", code: intent.CodeNoIntent}}},
		// an answer with no question is not understood
		{"no question", []convStep{{text: "turn on the lava lamp", calls: []string{"light.turn_on:light.lava_lamp"}}, {text: "the second one", code: intent.CodeNoIntent}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exec := &fakeExecutor{}
			e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{familyHome(t)}, exec, intent.Options{})
			converse(t, e, exec, tc.steps)
		})
	}
}

// TestChoiceOfLocks checks that an answer picks one lock to open, and that
// "both" does not open two.
func TestChoiceOfLocks(t *testing.T) {
	reg := intent.NewIndex([]*homeplanev1.Entity{
		{EntityId: "lock.side_door", Name: "Side Door", Domain: "lock", AreaId: "kitchen", State: "locked"},
		{EntityId: "lock.side_door_2", Name: "Side Door", Domain: "lock", AreaId: "garage", State: "locked"},
	}, []*homeplanev1.Area{{Id: "kitchen", Name: "Kitchen"}, {Id: "garage", Name: "Garage"}}, nil)
	ask := convStep{text: "unlock the side door", code: intent.CodeAmbiguous}
	for _, tc := range []struct {
		name   string
		policy intent.SensitivePolicy
		steps  []convStep
	}{
		{"both", intent.PolicyAllow, []convStep{ask, {text: "both", code: intent.CodeAmbiguous},
			{text: "the second one", calls: []string{"lock.unlock:lock.side_door_2"}}}},
		{"the second one", intent.PolicyAllow, []convStep{ask, {text: "the second one", calls: []string{"lock.unlock:lock.side_door_2"}}}},
		// the confirmation asked for the choice is the newest turn
		{"confirmed", intent.PolicyConfirm, []convStep{ask, {text: "the first one", code: intent.CodeConfirm},
			{text: "yes", calls: []string{"lock.unlock:lock.side_door"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exec := &fakeExecutor{}
			e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{reg}, exec, intent.Options{Policies: fixedPolicy(tc.policy)})
			converse(t, e, exec, tc.steps)
		})
	}
}

// TestPendingStaysNewest checks that a confirmation asked by one action of
// a sentence can still be given after the actions said after it.
func TestPendingStaysNewest(t *testing.T) {
	exec := &fakeExecutor{}
	e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{familyHome(t)}, exec, intent.Options{Policies: fixedPolicy(intent.PolicyConfirm)})
	converse(t, e, exec, []convStep{
		{text: "unlock the front door and then turn off the lava lamp and the desk fan", code: intent.CodeConfirm,
			calls: []string{"light.turn_off:light.lava_lamp", "fan.turn_off:fan.desk_fan"}},
		{text: "yes", calls: []string{"lock.unlock:lock.front_door"}},
	})
}

// TestListAnsweredOnce checks that a list done is answered in one
// sentence naming each target, and a list not done in each part's words.
func TestListAnsweredOnce(t *testing.T) {
	for _, tc := range []struct {
		text, speech string
		err          error
	}{
		{"lock the front door and the back door", "Locked the Front Door and the Back Door", nil},
		{"turn on the kitchen lights, the lava lamp and the desk fan", "Turned on the Kitchen lights, the Lava Lamp and the Desk Fan", nil},
		{"turn off the lava lamp and the desk fan", "Your home is offline right now. Your home is offline right now", intent.ErrHomeOffline},
	} {
		t.Run(tc.text, func(t *testing.T) {
			exec := &fakeExecutor{err: tc.err}
			e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{familyHome(t)}, exec, intent.Options{})
			resp, err := e.Process(context.Background(), intent.Request{HomeID: "home-1", Text: tc.text})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Speech != tc.speech || resp.Success != (tc.err == nil) {
				t.Fatalf("speech %q, success %v; want %q", resp.Speech, resp.Success, tc.speech)
			}
		})
	}
}
