package intent_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/rules"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

func TestEngineFollowUps(t *testing.T) {
	type step struct {
		text, area   string
		conversation string
		wantCode     string
		wantIntent   intent.Name
		wantService  string
		wantIDs      []string
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "pronoun", steps: []step{
			{text: "turn on the kitchen lights", conversation: "c1", wantIntent: "HassTurnOn", wantService: "light.turn_on",
				wantIDs: []string{"light.kitchen_ceiling", "light.kitchen_counter"}},
			{text: "turn them off", conversation: "c1", wantIntent: "HassTurnOff", wantService: "light.turn_off",
				wantIDs: []string{"light.kitchen_ceiling", "light.kitchen_counter"}},
		}},
		{name: "other area", steps: []step{
			{text: "turn off the kitchen lights", conversation: "c1", wantIntent: "HassTurnOff", wantService: "light.turn_off",
				wantIDs: []string{"light.kitchen_ceiling", "light.kitchen_counter"}},
			{text: "and in the living room", conversation: "c1", wantIntent: "HassTurnOff", wantService: "light.turn_off",
				wantIDs: []string{"light.lamp_living", "light.living_spot"}},
			{text: "what about the bedroom?", conversation: "c1", wantIntent: "HassTurnOff", wantService: "light.turn_off",
				wantIDs: []string{"light.lamp_bed"}},
		}},
		{name: "which one, answered with a place", steps: []step{
			{text: "turn on the lamp", conversation: "c1", wantCode: intent.CodeAmbiguous},
			{text: "in the bedroom", conversation: "c1", wantIntent: "HassTurnOn", wantService: "light.turn_on", wantIDs: []string{"light.lamp_bed"}},
		}},
		{name: "a named device's name is not dropped for a place", steps: []step{
			{text: "turn on the spot", conversation: "c1", wantIntent: "HassTurnOn", wantService: "light.turn_on", wantIDs: []string{"light.living_spot"}},
			// not everything in the kitchen
			{text: "and in the kitchen", conversation: "c1", wantCode: intent.CodeNoIntent},
		}},
		{name: "named device then set", steps: []step{
			{text: "turn on the spot", conversation: "c1", wantIntent: "HassTurnOn", wantService: "light.turn_on", wantIDs: []string{"light.living_spot"}},
			{text: "set it to 30%", area: "Kitchen", conversation: "c1", wantIntent: "HassLightSet", wantService: "light.turn_on", wantIDs: []string{"light.living_spot"}},
		}},
		{name: "question then other device", steps: []step{
			{text: "is the front door locked", conversation: "c1", wantIntent: "HassGetState", wantIDs: []string{"lock.front_door"}},
			{text: "lock it", conversation: "c1", wantIntent: "HassTurnOn", wantService: "lock.lock", wantIDs: []string{"lock.front_door"}},
		}},
		{name: "other conversation knows nothing", steps: []step{
			{text: "turn on the kitchen lights", conversation: "c1", wantIntent: "HassTurnOn", wantService: "light.turn_on",
				wantIDs: []string{"light.kitchen_ceiling", "light.kitchen_counter"}},
			{text: "turn them off", conversation: "c2", wantCode: intent.CodeNoIntent},
		}},
		{name: "no conversation", steps: []step{
			{text: "turn on the kitchen lights", wantIntent: "HassTurnOn", wantService: "light.turn_on",
				wantIDs: []string{"light.kitchen_ceiling", "light.kitchen_counter"}},
			{text: "turn them off", wantCode: intent.CodeNoIntent},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exec := &fakeExecutor{}
			e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{testHome(t)}, exec, intent.Options{})
			for i, st := range tt.steps {
				before := len(exec.cmds)
				resp, err := e.Process(context.Background(), intent.Request{HomeID: "home-1", Text: st.text, ConversationID: st.conversation, Context: intent.Context{Area: st.area}})
				if err != nil {
					t.Fatalf("step %d %q: %v", i, st.text, err)
				}
				if resp.ConversationID == "" || st.conversation != "" && resp.ConversationID != st.conversation {
					t.Errorf("step %d: conversation id %q, want %q", i, resp.ConversationID, st.conversation)
				}
				if resp.ErrorCode != st.wantCode {
					t.Fatalf("step %d %q: code %q (%s), want %q", i, st.text, resp.ErrorCode, resp.Speech, st.wantCode)
				}
				if st.wantCode != "" {
					continue
				}
				if resp.Intent.Name != st.wantIntent {
					t.Errorf("step %d %q: intent %s %v, want %s", i, st.text, resp.Intent.Name, resp.Intent.Slots, st.wantIntent)
				}
				var ids []string
				for _, tg := range resp.Targets {
					ids = append(ids, tg.EntityID)
				}
				slices.Sort(ids)
				if !slices.Equal(ids, st.wantIDs) {
					t.Errorf("step %d %q: targets %v, want %v", i, st.text, ids, st.wantIDs)
				}
				if st.wantService != "" {
					if len(exec.cmds) != before+1 {
						t.Fatalf("step %d: nothing executed", i)
					}
					c := exec.cmds[before].GetCalls()[0]
					if got := c.GetDomain() + "." + c.GetService(); got != st.wantService {
						t.Errorf("step %d: service %s, want %s", i, got, st.wantService)
					}
				}
			}
		})
	}
}

func TestEngineFollowUpExpires(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{testHome(t)}, &fakeExecutor{},
		intent.Options{Now: clock, ContextTTL: time.Minute})
	ctx := context.Background()
	if _, err := e.Process(ctx, intent.Request{HomeID: "home-1", Text: "turn on the kitchen lights", ConversationID: "c"}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute)
	resp, err := e.Process(ctx, intent.Request{HomeID: "home-1", Text: "turn them off", ConversationID: "c"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != intent.CodeNoIntent {
		t.Errorf("stale follow-up understood: %+v", resp)
	}
}

func TestMemoryConversationsWindow(t *testing.T) {
	m := intent.NewMemoryConversations(2)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	for i := range 5 {
		turn := intent.Turn{Intent: intent.Intent{Name: "HassTurnOn", Slots: map[string]any{"n": i}}, At: t0.Add(time.Duration(i) * time.Second)}
		if err := m.AddTurn(ctx, "h", "c", turn, 3); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := m.Turns(ctx, "h", "c", 10, time.Time{})
	if len(got) != 3 || got[0].Intent.Slots["n"] != 4 || got[2].Intent.Slots["n"] != 2 {
		t.Errorf("turns = %+v, want the newest 3, newest first", got)
	}
	if other, _ := m.Turns(ctx, "other-home", "c", 10, time.Time{}); len(other) != 0 {
		t.Errorf("another home sees the conversation: %v", other)
	}
	_ = m.AddTurn(ctx, "h", "c2", intent.Turn{At: t0.Add(time.Minute)}, 3)
	_ = m.AddTurn(ctx, "h", "c3", intent.Turn{At: t0.Add(2 * time.Minute)}, 3)
	if old, _ := m.Turns(ctx, "h", "c", 10, time.Time{}); len(old) != 0 {
		t.Errorf("stalest conversation kept beyond the bound: %v", old)
	}
}

// TestAnswersThatReferBack checks the answers a question invites and the
// follow-ups that refer back: each acts on what it picked or referred to,
// or on nothing.
func TestAnswersThatReferBack(t *testing.T) {
	const (
		living = "light.turn_on:light.living_big_light"
		leosOn = "light.turn_on:light.leo_big_light"
		leoOff = "light.turn_off:light.leo_big_light"
		open   = "cover.open_cover:cover.garage_door"
	)
	big := convStep{text: "turn on the big light", code: intent.CodeAmbiguous}
	garage := intent.NewIndex([]*homeplanev1.Entity{
		{EntityId: "cover.garage_door", Name: "Garage Door", Domain: "cover", DeviceClass: "garage", AreaId: "garage", State: "closed"},
		{EntityId: "light.garage", Name: "Strip Light", Domain: "light", AreaId: "garage", State: "off"},
	}, []*homeplanev1.Area{{Id: "garage", Name: "Garage"}}, nil)
	doYouMean := convStep{text: "open the garage", code: intent.CodeAmbiguous, speech: "Sorry, I only do that when you name it. Do you mean the Garage Door?"}
	for _, tc := range []struct {
		name  string
		home  *intent.Index
		steps []convStep
	}{
		// a whole sentence answers "which one?" by order, with its own verb
		{"turn off the second one", nil, []convStep{big, {text: "turn off the second one", calls: []string{leoOff}},
			{text: "turn it on", calls: []string{leosOn}}}},
		{"turn on the first one please", nil, []convStep{big, {text: "turn on the first one please", calls: []string{living}}}},
		{"switch the last one on", nil, []convStep{big, {text: "switch the last one on", calls: []string{leosOn}}}},
		{"an order with no question", nil, []convStep{{text: "turn on the lava lamp", calls: []string{"light.turn_on:light.lava_lamp"}},
			{text: "turn off the second one", code: intent.CodeNoIntent}}},
		{"an order past the options", nil, []convStep{big, {text: "turn off the third one", code: intent.CodeNoIntent}}},
		// "the first floor" is a floor, not an option
		{"the first floor", nil, []convStep{big, {text: "is the first floor light on", speech: "Yes, Night Light and Landing Light"}}},
		// "Do you mean the X?" keeps its one option for "yes"
		{"yes", garage, []convStep{doYouMean, {text: "yes", calls: []string{open}}}},
		{"yes please", garage, []convStep{doYouMean, {text: "yes please", calls: []string{open}}}},
		{"no", garage, []convStep{doYouMean, {text: "no", speech: "OK, I left it"}, {text: "yes", code: intent.CodeNoIntent}}},
		// "close the shed" closes what closes there: its lock is not
		// unlocked, nor offered to "yes"
		{"close the shed", nil, []convStep{{text: "close the shed", code: intent.CodeRefused}, {text: "yes", code: intent.CodeNoIntent}}},
		{"yes to which one", nil, []convStep{big, {text: "yes", code: intent.CodeNoIntent}}},
		{"no to which one", nil, []convStep{big, {text: "no", code: intent.CodeNoIntent}}},
		// a follow-up the chosen device cannot do is refused, not done elsewhere
		{"a sensor chosen, then turn it off", nil, []convStep{{text: "how humid is the bathroom"},
			{text: "turn it off", code: intent.CodeNoMatch, speech: "Sorry, the Bathroom Humidity can't do that"}}},
		{"a detector asked of a place, then turn it off", nil, []convStep{{text: "is there any motion in the nursery"},
			{text: "turn it off", code: intent.CodeNoMatch, speech: "Sorry, the Nursery Motion can't do that"}}},
		{"a sensor named, then switch that off", nil, []convStep{{text: "what's the pool temperature"},
			{text: "switch that off", code: intent.CodeNoMatch}}},
		{"a question then what it can do", nil, []convStep{{text: "is the pool pump on"},
			{text: "turn it off", calls: []string{"switch.turn_off:switch.pool_pump"}}}},
		// "the one in ..." with nothing asked picks from nothing
		{"the one in a room, nothing asked", nil, []convStep{{text: "turn on the kitchen lights",
			calls: []string{"light.turn_on:light.downlights", "light.turn_on:light.island"}},
			{text: "the one in the playroom", code: intent.CodeNoIntent},
			{text: "and in the playroom", calls: []string{"light.turn_on:light.fairy_lights"}}}},
		{"the one in a room, asked", nil, []convStep{big, {text: "the one in the living room", calls: []string{living}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := tc.home
			if home == nil {
				home = familyHome(t)
			}
			exec := &fakeExecutor{}
			e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{home}, exec, intent.Options{})
			converse(t, e, exec, tc.steps)
		})
	}
}

// TestBarnConversations runs several actions said at once and follow-ups
// in the barn home, which no rule of the parser was written from.
func TestBarnConversations(t *testing.T) {
	reg, err := intent.LoadFixtureFile(filepath.Join("..", "rules", "testdata", "barn_home.json"))
	if err != nil {
		t.Fatal(err)
	}
	bedside := convStep{text: "turn on the bedside lamp", code: intent.CodeAmbiguous}
	for _, tc := range []struct {
		name  string
		steps []convStep
	}{
		{"two actions", []convStep{{text: "turn off the hot tub and lock the barn doors", calls: []string{"switch.turn_off:switch.hot_tub", "lock.lock:lock.barn_doors"}}}},
		{"then", []convStep{{text: "switch off the festoon then close the yard gate", calls: []string{"light.turn_off:light.festoon", "cover.close_cover:cover.yard_gate"}}}},
		{"and the other", []convStep{{text: "turn off the hot tub", calls: []string{"switch.turn_off:switch.hot_tub"}},
			{text: "and the festoon", calls: []string{"light.turn_off:light.festoon"}}}},
		{"which bedside lamp, by place", []convStep{bedside, {text: "the one in the granary", calls: []string{"light.turn_on:light.granary_bedside"}}}},
		{"which bedside lamp, by order", []convStep{bedside, {text: "turn off the first one", calls: []string{"light.turn_off:light.hayloft_bedside"}}}},
		{"the gate offered", []convStep{{text: "open the yard", code: intent.CodeAmbiguous, speech: "Sorry, I only do that when you name it. Do you mean the Yard Gate?"},
			{text: "yes", calls: []string{"cover.open_cover:cover.yard_gate"}}}},
		{"a door sensor is not a door", []convStep{{text: "is the paddock gate open"},
			{text: "close it", code: intent.CodeNoMatch, speech: "Sorry, the Paddock Gate can't do that"}}},
		{"the tub's temperature is not the tub", []convStep{{text: "how hot is the hot tub"},
			{text: "turn it off", code: intent.CodeNoMatch, speech: "Sorry, the Hot Tub Temperature can't do that"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exec := &fakeExecutor{}
			e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{reg}, exec, intent.Options{})
			converse(t, e, exec, tc.steps)
		})
	}
}

// TestYesIsBoundLikeAConfirmation: the "yes" that takes the one option of
// "Do you mean the Garage Door?" opens it only from the device that was
// asked and within ConfirmWindow, as a pending confirmation is bound.
func TestYesIsBoundLikeAConfirmation(t *testing.T) {
	garage := intent.NewIndex([]*homeplanev1.Entity{
		{EntityId: "cover.garage_door", Name: "Garage Door", Domain: "cover", DeviceClass: "garage", AreaId: "garage", State: "closed"},
		{EntityId: "light.garage", Name: "Strip Light", Domain: "light", AreaId: "garage", State: "off"},
	}, []*homeplanev1.Area{{Id: "garage", Name: "Garage"}}, nil)
	for _, tc := range []struct {
		name   string
		device string
		after  time.Duration
		opens  bool
	}{
		{"the asked device, at once", "d1", time.Second, true},
		{"the asked device, at the window's end", "d1", intent.ConfirmWindow, true},
		{"the asked device, too late", "d1", intent.ConfirmWindow + time.Second, false},
		{"another device of the home", "d2", time.Second, false},
		{"no device (an app)", "", time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
			exec := &fakeExecutor{}
			e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{garage}, exec,
				intent.Options{Now: func() time.Time { return now }})
			ctx := context.Background()
			asked, err := e.Process(ctx, intent.Request{HomeID: "home-1", DeviceID: "d1", Text: "open the garage"})
			if err != nil || asked.ErrorCode != intent.CodeAmbiguous {
				t.Fatalf("open the garage = %+v, %v; want Do you mean", asked, err)
			}
			now = now.Add(tc.after)
			resp, err := e.Process(ctx, intent.Request{HomeID: "home-1", DeviceID: tc.device, Text: "yes", ConversationID: asked.ConversationID})
			if err != nil {
				t.Fatal(err)
			}
			if opened := len(exec.cmds) == 1; opened != tc.opens {
				t.Fatalf("yes ran %d commands (answer %+v), want the door opened: %v", len(exec.cmds), resp, tc.opens)
			}
			if !tc.opens && resp.Success {
				t.Errorf("a yes that ran nothing was answered as done: %+v", resp)
			}
		})
	}
}
