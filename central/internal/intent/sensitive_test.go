package intent_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/rules"
)

type fixedPolicy intent.SensitivePolicy

func (p fixedPolicy) SensitivePolicy(context.Context, string) (intent.SensitivePolicy, error) {
	return intent.SensitivePolicy(p), nil
}

// calledEntities lists the entity ids of every executed call.
func calledEntities(exec *fakeExecutor) []string {
	exec.mu.Lock()
	defer exec.mu.Unlock()
	var ids []string
	for _, c := range exec.cmds {
		for _, sc := range c.GetCalls() {
			ids = append(ids, sc.GetDomain()+"."+sc.GetService()+":"+sc.GetEntityIds()[0])
		}
	}
	return ids
}

func TestSensitiveActionsAreExact(t *testing.T) {
	for _, tc := range []struct {
		home, text string
		wantCode   string
		wantCalls  []string
	}{
		{"demo_home.json", "open the garage", intent.CodeAmbiguous, nil},
		{"demo_home.json", "open the garage door", "", []string{"cover.open_cover:cover.garage_door"}},
		{"demo_home.json", "unlock the front door", "", []string{"lock.unlock:lock.front_door"}},
		{"cabin_home.json", "unlock the doors", intent.CodeAmbiguous, nil},
		{"cabin_home.json", "unlock all the doors", "", []string{"lock.unlock:lock.front_door"}},
		{"cabin_home.json", "unlock the back door", "", []string{"lock.unlock:lock.back_door"}},
		{"cabin_home.json", "open the carport gate", "", []string{"cover.open_cover:cover.carport_gate"}},
		{"cabin_home.json", "lock the doors", "", []string{"lock.lock:lock.front_door"}},
		// "everything" names no kind: only the verb said locks
		{"cabin_home.json", "unlock everything", intent.CodeAmbiguous, nil},
		// a lock is unlocked by "unlock", not by closing, switching or toggling it
		{"cabin_home.json", "close the front door", intent.CodeNoIntent, nil},
		{"cabin_home.json", "turn off the back door", intent.CodeNoIntent, nil},
		{"cabin_home.json", "toggle the front door", intent.CodeNoIntent, nil},
		{"cabin_home.json", "open the front door", intent.CodeNoIntent, nil},
		{"cabin_home.json", "i want the front door unlocked", intent.CodeNoIntent, nil},
	} {
		t.Run(tc.home+"/"+tc.text, func(t *testing.T) {
			exec := &fakeExecutor{}
			e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{fixtureHome(t, tc.home)}, exec, intent.Options{})
			resp, err := e.Process(context.Background(), intent.Request{HomeID: "home-1", Text: tc.text})
			if err != nil {
				t.Fatal(err)
			}
			got := calledEntities(exec)
			if resp.ErrorCode != tc.wantCode || len(got) < len(tc.wantCalls) || !slices.Equal(got[:len(tc.wantCalls)], tc.wantCalls) || tc.wantCalls == nil && len(got) > 0 {
				t.Fatalf("%q: code %q speech %q calls %v; want code %q calls %v", tc.text, resp.ErrorCode, resp.Speech, got, tc.wantCode, tc.wantCalls)
			}
		})
	}
}

func TestSensitivePolicy(t *testing.T) {
	reg := fixtureHome(t, "cabin_home.json")
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	engine := func(p intent.SensitivePolicy) (*intent.Engine, *fakeExecutor) {
		exec := &fakeExecutor{}
		return intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{reg}, exec,
			intent.Options{Policies: fixedPolicy(p), Now: clock}), exec
	}
	say := func(t *testing.T, e *intent.Engine, device, conv, text string) intent.Response {
		t.Helper()
		resp, err := e.Process(context.Background(), intent.Request{HomeID: "home-1", DeviceID: device, ConversationID: conv, Text: text})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	t.Run("deny refuses voice devices, not the owner", func(t *testing.T) {
		e, exec := engine(intent.PolicyDeny)
		if r := say(t, e, "d1", "", "unlock the front door"); r.ErrorCode != intent.CodeRefused || r.Success || len(exec.cmds) != 0 {
			t.Fatalf("device: %+v, %d commands", r, len(exec.cmds))
		}
		if r := say(t, e, "d1", "", "lock the front door"); !r.Success {
			t.Fatalf("locking is not sensitive: %+v", r)
		}
		if r := say(t, e, "", "", "unlock the front door"); !r.Success {
			t.Fatalf("owner: %+v", r)
		}
	})
	t.Run("confirm runs on yes within the window", func(t *testing.T) {
		e, exec := engine(intent.PolicyConfirm)
		r := say(t, e, "d1", "c1", "open the carport gate")
		if r.ErrorCode != intent.CodeConfirm || len(exec.cmds) != 0 {
			t.Fatalf("asked: %+v, %d commands", r, len(exec.cmds))
		}
		// another device's yes is not this device's
		if r := say(t, e, "d2", "c1", "yes"); r.Success || len(exec.cmds) != 0 {
			t.Fatalf("other device confirmed: %+v", r)
		}
		now = now.Add(10 * time.Second)
		r = say(t, e, "d1", "c1", "yes")
		if !r.Success || !slices.Equal(calledEntities(exec), []string{"cover.open_cover:cover.carport_gate"}) {
			t.Fatalf("yes: %+v, calls %v", r, calledEntities(exec))
		}
		if r := say(t, e, "d1", "c1", "yes"); r.Success || len(exec.cmds) != 1 {
			t.Fatalf("a second yes ran it again: %+v", r)
		}
	})
	t.Run("confirm expires and a no drops it", func(t *testing.T) {
		e, exec := engine(intent.PolicyConfirm)
		say(t, e, "d1", "c2", "unlock the back door")
		now = now.Add(intent.ConfirmWindow + time.Second)
		if r := say(t, e, "d1", "c2", "yes"); r.Success || len(exec.cmds) != 0 {
			t.Fatalf("late yes ran it: %+v", r)
		}
		say(t, e, "d1", "c3", "unlock the back door")
		say(t, e, "d1", "c3", "no")
		if r := say(t, e, "d1", "c3", "yes"); r.Success || len(exec.cmds) != 0 {
			t.Fatalf("yes after no ran it: %+v", r)
		}
	})
}

// TestModelChosenSensitiveActionIsAskedBack: a model (or plugin) choosing a
// sensitive action, whatever the sentence said, gets it asked back; the
// device's "yes" runs it, nobody else's does (ADR 0047).
func TestModelChosenSensitiveActionIsAskedBack(t *testing.T) {
	unlock := &fakeLLM{in: intent.Intent{Name: "HassTurnOff", Slots: map[string]any{"name": "Front Door"}}}
	exec := &fakeExecutor{}
	e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{fixtureHome(t, "demo_home.json")}, exec, intent.Options{
		Pipelines: onePipeline(intent.PipelineLLM), Parsers: intent.Parsers{LLM: unlock},
		Conversations: intent.NewMemoryConversations(0),
	})
	ctx := context.Background()
	ask := func(text string) intent.Response {
		t.Helper()
		resp, err := e.Process(ctx, intent.Request{HomeID: "home-1", DeviceID: "dev-1", Text: text})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Success || resp.ErrorCode != intent.CodeAmbiguous || len(calledEntities(exec)) > 0 {
			t.Fatalf("%q: code %q speech %q calls %v; want it asked back", text, resp.ErrorCode, resp.Speech, calledEntities(exec))
		}
		return resp
	}
	for _, text := range []string{"make it cozy in here", "unlock the front door"} {
		resp := ask(text)
		other, err := e.Process(ctx, intent.Request{HomeID: "home-1", DeviceID: "dev-2", Text: "yes", ConversationID: resp.ConversationID})
		if err != nil || other.Success || len(calledEntities(exec)) > 0 {
			t.Fatalf("another device's yes: %+v %v, calls %v", other, err, calledEntities(exec))
		}
		resp = ask(text)
		yes, err := e.Process(ctx, intent.Request{HomeID: "home-1", DeviceID: "dev-1", Text: "yes", ConversationID: resp.ConversationID})
		if err != nil || !yes.Success || !slices.Equal(calledEntities(exec), []string{"lock.unlock:lock.front_door"}) {
			t.Fatalf("the device's yes: %+v %v, calls %v", yes, err, calledEntities(exec))
		}
		exec.mu.Lock()
		exec.cmds = nil
		exec.mu.Unlock()
	}
}
