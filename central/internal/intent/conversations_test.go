package intent_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/rules"
)

// A conversation of the multi-turn set: sentences said one after the
// other to one home, each with the calls it must make ("domain.service
// entity_id", [] when nothing may act) and, optionally, the answer code.
type setConversation struct {
	Home   string `json:"home"`
	Policy string `json:"policy"` // the home's sensitive-action policy; allow when empty
	Note   string `json:"note"`
	Turns  []struct {
		Text   string   `json:"text"`
		Calls  []string `json:"calls"`
		Code   string   `json:"code"`
		Device string   `json:"device"` // d1 when empty
		Conv   string   `json:"conv"`   // c1 when empty
		Area   string   `json:"area"`   // the voice device's area
		After  int      `json:"after"`  // seconds since the turn before, 3 when 0
	} `json:"turns"`
}

func readConversations(tb testing.TB) []setConversation {
	tb.Helper()
	f, err := os.Open(filepath.Join("testdata", "conversations.jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []setConversation
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		var c setConversation
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			tb.Fatalf("conversations.jsonl:%d: %v", n, err)
		}
		for i, t := range c.Turns {
			if t.Calls == nil {
				tb.Fatalf("conversations.jsonl:%d: turn %d %q says no calls (use [] for nothing acts)", n, i, t.Text)
			}
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// The multi-turn set's floor: a change may raise the score and must never
// lower it, and no turn may act on what the person did not mean.
const (
	conversationTurnsRightFloor = 170
	conversationActedWrongMax   = 0
)

// TestConversationSet runs each conversation of the multi-turn set through
// the engine with the rules parser, and scores turns right and turns that
// acted wrongly (a call the person did not ask for).
func TestConversationSet(t *testing.T) {
	convs := readConversations(t)
	if len(convs) < 60 {
		t.Fatalf("the set holds %d conversations, want at least 60", len(convs))
	}
	regs := map[string]*intent.Index{}
	turns, right, wrong := 0, 0, 0
	for _, c := range convs {
		reg := regs[c.Home]
		if reg == nil {
			path, ok := negativeHomes[c.Home]
			if !ok {
				t.Fatalf("%q: unknown home %q", c.Turns[0].Text, c.Home)
			}
			var err error
			if reg, err = intent.LoadFixtureFile(path); err != nil {
				t.Fatal(err)
			}
			regs[c.Home] = reg
		}
		now := time.Date(2026, 3, 4, 18, 0, 0, 0, time.UTC)
		opts := intent.Options{Now: func() time.Time { return now }}
		if c.Policy != "" {
			opts.Policies = fixedPolicy(intent.SensitivePolicy(c.Policy))
		}
		exec := &fakeExecutor{}
		e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{reg}, exec, opts)
		var said []string
		for _, st := range c.Turns {
			after := time.Duration(st.After) * time.Second
			if after == 0 {
				after = 3 * time.Second
			}
			now = now.Add(after)
			device, conv := cmp(st.Device, "d1"), cmp(st.Conv, "c1")
			exec.mu.Lock()
			exec.cmds = nil
			exec.mu.Unlock()
			resp, err := e.Process(context.Background(), intent.Request{
				HomeID: "home-1", DeviceID: device, ConversationID: conv, Text: st.Text,
				Context: intent.Context{Area: st.Area},
			})
			if err != nil {
				t.Fatalf("%s: %q: %v", c.Home, st.Text, err)
			}
			got := setCalls(exec)
			said = append(said, st.Text)
			turns++
			want := slices.Sorted(slices.Values(st.Calls))
			ok := slices.Equal(got, want) && (st.Code == "" || st.Code == resp.ErrorCode)
			if ok {
				right++
				continue
			}
			acted := false
			for _, g := range got {
				if !slices.Contains(want, g) {
					acted = true
				}
			}
			if acted {
				wrong++
				t.Logf("ACTED WRONGLY %s %q: %s → calls %v, want %v (%s)", c.Home, strings.Join(said, " / "), resp.Speech, got, want, c.Note)
			} else {
				t.Logf("miss %s %q: code %q %q calls %v, want code %q calls %v (%s)", c.Home, strings.Join(said, " / "), resp.ErrorCode, resp.Speech, got, st.Code, want, c.Note)
			}
		}
	}
	t.Logf("conversation set: %d conversations, %d/%d turns right (%.1f%%), %d acted wrongly",
		len(convs), right, turns, 100*float64(right)/float64(turns), wrong)
	if right < conversationTurnsRightFloor {
		t.Errorf("%d turns right, below the floor of %d", right, conversationTurnsRightFloor)
	}
	if wrong > conversationActedWrongMax {
		t.Errorf("%d turns acted wrongly, above %d", wrong, conversationActedWrongMax)
	}
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// setCalls lists the executed calls as "domain.service entity_id", one
// per entity, sorted.
func setCalls(exec *fakeExecutor) []string {
	exec.mu.Lock()
	defer exec.mu.Unlock()
	var out []string
	for _, c := range exec.cmds {
		for _, sc := range c.GetCalls() {
			for _, id := range sc.GetEntityIds() {
				out = append(out, sc.GetDomain()+"."+sc.GetService()+" "+id)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestFollowUpsNeverGuessASensitiveTarget: a follow-up that reads its
// device from the conversation, not from what was said, asks before it
// opens anything, and never carries an action from a light to a lock.
func TestFollowUpsNeverGuessASensitiveTarget(t *testing.T) {
	for _, tc := range []struct {
		home        string
		first, then string
		wantCode    string
		wantCalls   []string
	}{
		// the kitchen's one lock is the Back Door: asked, not unlocked
		{"pool", "unlock the front door", "and the kitchen", intent.CodeAmbiguous, nil},
		// "turn on" said of a lock locks it: not meant after the lights
		{"sharehouse", "turn on the kitchen lights", "same for the front door", intent.CodeNoIntent, nil},
		{"terrace", "turn on the hall light", "and the front door", intent.CodeNoIntent, nil},
		// a named lock is as named: locking it needs no question
		{"family", "lock the front door", "same for the back one", "", []string{"lock.lock lock.back_door"}},
		// "not the kitchen" says what is not meant
		{"pool", "turn on the hall light", "no, not the kitchen", intent.CodeNoIntent, nil},
		// opening "it" after a light opens nothing
		{"villa", "turn on the garage light", "open it", intent.CodeNoMatch, nil},
		{"pool", "turn on the hall light", "unlock it", intent.CodeNoMatch, nil},
	} {
		t.Run(tc.home+"/"+tc.first+"/"+tc.then, func(t *testing.T) {
			reg, err := intent.LoadFixtureFile(negativeHomes[tc.home])
			if err != nil {
				t.Fatal(err)
			}
			exec := &fakeExecutor{}
			e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{reg}, exec, intent.Options{})
			say := func(text string) intent.Response {
				t.Helper()
				resp, err := e.Process(context.Background(), intent.Request{HomeID: "home-1", DeviceID: "d1", ConversationID: "c1", Text: text})
				if err != nil {
					t.Fatal(err)
				}
				return resp
			}
			if r := say(tc.first); !r.Success {
				t.Fatalf("%q: %q %q", tc.first, r.ErrorCode, r.Speech)
			}
			exec.mu.Lock()
			exec.cmds = nil
			exec.mu.Unlock()
			r := say(tc.then)
			if got := setCalls(exec); r.ErrorCode != tc.wantCode || !slices.Equal(got, tc.wantCalls) {
				t.Errorf("%q: code %q %q calls %v, want code %q calls %v", tc.then, r.ErrorCode, r.Speech, got, tc.wantCode, tc.wantCalls)
			}
		})
	}
}

// TestFollowUpBelongsToItsDevice: two voice devices that share a
// conversation id do not share what "them" or "and the X" refer to.
func TestFollowUpBelongsToItsDevice(t *testing.T) {
	reg, err := intent.LoadFixtureFile(negativeHomes["pool"])
	if err != nil {
		t.Fatal(err)
	}
	exec := &fakeExecutor{}
	e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{reg}, exec, intent.Options{})
	say := func(device, text string) []string {
		t.Helper()
		exec.mu.Lock()
		exec.cmds = nil
		exec.mu.Unlock()
		if _, err := e.Process(context.Background(), intent.Request{HomeID: "home-1", DeviceID: device, ConversationID: "c1", Text: text}); err != nil {
			t.Fatal(err)
		}
		return setCalls(exec)
	}
	say("d1", "turn on the garden lights")
	for _, text := range []string{"turn them off", "and the pool lights", "no, the festoon lights"} {
		if got := say("d2", text); len(got) > 0 {
			t.Errorf("another device's %q ran %v", text, got)
		}
	}
	if got := say("d1", "turn them off"); !slices.Equal(got, []string{"light.turn_off light.garden_lights"}) {
		t.Errorf("the device's own follow-up ran %v", got)
	}
}
