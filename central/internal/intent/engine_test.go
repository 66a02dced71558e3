package intent_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/rules"
	"github.com/homeplane/homeplane/central/internal/timer"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

type fakeRegistries struct{ reg *intent.Index }

func (f fakeRegistries) Index(_ context.Context, homeID string) (*intent.Index, error) {
	if homeID != "home-1" {
		return nil, fmt.Errorf("home %s: not found", homeID)
	}
	return f.reg, nil
}

type fakeExecutor struct {
	mu   sync.Mutex
	err  error
	cmds []*homeplanev1.Command
}

// serviceCalls returns every service call executed so far, in order.
func (f *fakeExecutor) serviceCalls() []*homeplanev1.ServiceCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*homeplanev1.ServiceCall
	for _, c := range f.cmds {
		out = append(out, c.GetCalls()...)
	}
	return out
}

func (f *fakeExecutor) Execute(_ context.Context, _ string, cmd *homeplanev1.Command) (*homeplanev1.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cmds = append(f.cmds, cmd)
	if f.err != nil {
		return nil, f.err
	}
	return &homeplanev1.Result{CommandId: cmd.GetId(), RequestId: cmd.GetRequestId(), Ok: true}, nil
}

func testHome(tb testing.TB) *intent.Index {
	tb.Helper()
	return intent.NewIndex([]*homeplanev1.Entity{
		{EntityId: "light.kitchen_ceiling", Name: "Kitchen ceiling", Domain: "light", AreaId: "kitchen", State: "off"},
		{EntityId: "light.kitchen_counter", Name: "Kitchen counter", Domain: "light", AreaId: "kitchen", State: "on"},
		{EntityId: "light.lamp_bed", Name: "Lamp", Domain: "light", AreaId: "bedroom", State: "off"},
		{EntityId: "light.lamp_living", Name: "Lamp", Domain: "light", AreaId: "living", State: "off"},
		{EntityId: "light.living_spot", Name: "Spot", Domain: "light", AreaId: "living", State: "off"},
		{EntityId: "lock.front_door", Name: "Front Door", Domain: "lock", AreaId: "hall", State: "unlocked"},
		{EntityId: "climate.hall", Name: "Thermostat", Domain: "climate", AreaId: "hall", State: "heat"},
	}, []*homeplanev1.Area{
		{Id: "kitchen", Name: "Kitchen"}, {Id: "bedroom", Name: "Bedroom"},
		{Id: "living", Name: "Living Room"}, {Id: "hall", Name: "Hall"},
	}, nil)
}

func TestEngineProcess(t *testing.T) {
	tests := []struct {
		name, text, area string
		execErr          error
		wantCode         string
		wantSpeech       string
		wantCalls        []*homeplanev1.ServiceCall
	}{
		{name: "area lights", text: "turn on the kitchen lights", wantSpeech: "Turned on the lights",
			wantCalls: []*homeplanev1.ServiceCall{{Domain: "light", Service: "turn_on", EntityIds: []string{"light.kitchen_ceiling", "light.kitchen_counter"}}}},
		{name: "lock", text: "lock the front door", wantSpeech: "Locked",
			wantCalls: []*homeplanev1.ServiceCall{{Domain: "lock", Service: "lock", EntityIds: []string{"lock.front_door"}}}},
		{name: "unknown device", text: "turn on the disco ball", wantCode: intent.CodeNoIntent},
		{name: "unknown area", text: "turn off the lights in the garage", wantCode: intent.CodeRefused},
		{name: "ambiguous name", text: "turn on the lamp", wantCode: intent.CodeAmbiguous},
		{name: "offline", text: "turn off the kitchen lights", execErr: fmt.Errorf("publish: %w", intent.ErrHomeOffline),
			wantCode: intent.CodeHomeOffline, wantSpeech: "Your home is offline right now"},
		{name: "timeout", text: "turn off the kitchen lights", execErr: intent.ErrTimeout, wantCode: intent.CodeTimeout},
		{name: "in here", text: "turn off the lights in here", area: "Living Room", wantSpeech: "Turned off the lights",
			wantCalls: []*homeplanev1.ServiceCall{{Domain: "light", Service: "turn_off", EntityIds: []string{"light.lamp_living", "light.living_spot"}}}},
		{name: "state question", text: "is the front door locked", wantSpeech: "No, unlocked"},
		{name: "no lights there", text: "turn on the lights in the hall", wantCode: intent.CodeRefused},
		{name: "nonsense", text: "purple monkey dishwasher", wantCode: intent.CodeNoIntent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exec := &fakeExecutor{err: tt.execErr}
			e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{testHome(t)}, exec, intent.Options{})
			resp, err := e.Process(context.Background(), intent.Request{RequestID: "r1", HomeID: "home-1", Text: tt.text, Context: intent.Context{Area: tt.area}})
			if err != nil {
				t.Fatalf("Process: %v", err)
			}
			if resp.ErrorCode != tt.wantCode {
				t.Fatalf("ErrorCode = %q (speech %q), want %q", resp.ErrorCode, resp.Speech, tt.wantCode)
			}
			if resp.Success != (tt.wantCode == "") {
				t.Errorf("Success = %v with code %q", resp.Success, resp.ErrorCode)
			}
			if tt.wantSpeech != "" && resp.Speech != tt.wantSpeech {
				t.Errorf("Speech = %q, want %q", resp.Speech, tt.wantSpeech)
			}
			if resp.Speech == "" {
				t.Errorf("empty speech")
			}
			switch {
			case tt.wantCalls != nil:
				if len(exec.cmds) != 1 {
					t.Fatalf("%d commands executed, want 1", len(exec.cmds))
				}
				cmd := exec.cmds[0]
				if cmd.GetRequestId() != "r1" || cmd.GetId() == "" || cmd.GetDeadline() == nil {
					t.Errorf("command ids/deadline not set: %v", cmd)
				}
				if len(cmd.GetCalls()) != len(tt.wantCalls) {
					t.Fatalf("calls = %v, want %v", cmd.GetCalls(), tt.wantCalls)
				}
				for i, c := range cmd.GetCalls() {
					w := tt.wantCalls[i]
					got := slices.Sorted(slices.Values(c.GetEntityIds()))
					if c.GetDomain() != w.GetDomain() || c.GetService() != w.GetService() || !slices.Equal(got, w.GetEntityIds()) {
						t.Errorf("call %d = %s.%s %v, want %s.%s %v", i, c.GetDomain(), c.GetService(), got, w.GetDomain(), w.GetService(), w.GetEntityIds())
					}
				}
			case tt.execErr == nil:
				if len(exec.cmds) != 0 {
					t.Errorf("executed %v, want nothing", exec.cmds)
				}
			}
		})
	}
}

func TestEngineLightSetData(t *testing.T) {
	exec := &fakeExecutor{}
	e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{testHome(t)}, exec, intent.Options{})
	resp, err := e.Process(context.Background(), intent.Request{HomeID: "home-1", Text: "set the kitchen lights to 40%"})
	if err != nil || !resp.Success {
		t.Fatalf("Process: %v %+v", err, resp)
	}
	if resp.Speech != "Brightness set" {
		t.Errorf("Speech = %q", resp.Speech)
	}
	c := exec.cmds[0].GetCalls()[0]
	if c.GetService() != "turn_on" || c.GetData().GetFields()["brightness_pct"].GetNumberValue() != 40 {
		t.Errorf("call = %v", c)
	}
}

func TestEngineUnknownHome(t *testing.T) {
	e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{testHome(t)}, &fakeExecutor{}, intent.Options{})
	if _, err := e.Process(context.Background(), intent.Request{HomeID: "other", Text: "turn on the kitchen lights"}); err == nil {
		t.Fatal("Process on an unknown home: no error")
	}
}

func TestEngineTimers(t *testing.T) {
	tests := []struct {
		name, device, user, text string
		wantCode, wantSpeech     string
	}{
		{name: "device sets", device: "d1", text: "set a timer for 5 minutes", wantSpeech: "Timer set for 5 minutes"},
		{name: "user sets", user: "u1", text: "start a 45 second timer named tea", wantSpeech: "Timer set for 45 seconds named tea"},
		{name: "nothing to cancel", device: "d1", text: "cancel my timer", wantCode: intent.CodeNoMatch, wantSpeech: "Sorry, I couldn't find that timer"},
		{name: "no owner", text: "set a timer for 5 minutes", wantCode: intent.CodeFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exec := &fakeExecutor{}
			e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{testHome(t)}, exec,
				intent.Options{Timers: timer.NewManager(timer.Options{})})
			resp, err := e.Process(context.Background(), intent.Request{HomeID: "home-1", Text: tt.text, DeviceID: tt.device, UserID: tt.user})
			if err != nil {
				t.Fatal(err)
			}
			if resp.ErrorCode != tt.wantCode || tt.wantSpeech != "" && resp.Speech != tt.wantSpeech {
				t.Errorf("answer %q (%q), want %q (%q)", resp.Speech, resp.ErrorCode, tt.wantSpeech, tt.wantCode)
			}
			if len(exec.cmds) != 0 {
				t.Errorf("a timer intent reached the home: %v", exec.cmds)
			}
		})
	}
}
