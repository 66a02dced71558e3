package intent_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/rules"
)

// allCalled returns every entity id the executor was asked to act on.
func allCalled(exec *fakeExecutor) []string {
	var ids []string
	for _, sc := range exec.serviceCalls() {
		ids = append(ids, sc.GetEntityIds()...)
	}
	slices.Sort(ids)
	return ids
}

// TestVillaPlaces holds the rules of ADR 0052: a room name on two floors
// is picked by the floor said or by what only one of the rooms holds, else
// asked about; a temperature with no place and no name is set on the
// device's room's heater or the only one, else asked about.
func TestVillaPlaces(t *testing.T) {
	reg, err := intent.LoadFixtureFile(filepath.Join("..", "rules", "testdata", "villa_home.json"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, text, area string
		want             []string // nil: nothing acts and the answer asks
	}{
		{"floor picks the room", "turn on the ceiling light in the bedroom upstairs", "", []string{"light.bedroom_up_ceiling"}},
		{"floor said first", "turn off the lights in the downstairs bathroom", "", []string{"light.bathroom_down_mirror"}},
		{"alias picks the room", "turn on the lights in the master bedroom", "", []string{"light.bedroom_up_ceiling", "light.bedside_lamp"}},
		{"only one room holds it", "turn on the ceiling fan in the bedroom", "", []string{"fan.bedroom_fan"}},
		{"two rooms hold it", "turn on the bedroom light", "", nil},
		{"two rooms, blinds", "open the blinds in the bedroom", "", nil},
		{"heater with no place", "set the heater to 20", "", nil},
		{"heating with no place", "set the heating to 20", "", nil},
		{"heating in the device's room", "set the heating to 20", "Study", []string{"climate.study_ac"}},
		{"heater by name", "set the pool heater to 29", "", []string{"climate.pool_heater"}},
		{"heating upstairs", "set the heating upstairs to 20", "", []string{"climate.study_ac", "climate.upstairs_thermostat"}},
		{"two commands", "close the garage door and lock the front door", "", []string{"cover.garage_door", "lock.front_door"}},
		{"every thermostat", "set all the thermostats to 20", "", []string{"climate.downstairs_thermostat", "climate.pool_heater", "climate.study_ac", "climate.upstairs_thermostat"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			exec := &fakeExecutor{}
			e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{reg}, exec, intent.Options{})
			resp, err := e.Process(context.Background(), intent.Request{HomeID: "home-1", Text: tc.text, DeviceID: "d1", Context: intent.Context{Area: tc.area}})
			if err != nil {
				t.Fatal(err)
			}
			got := allCalled(exec)
			if tc.want == nil {
				if len(got) > 0 || resp.Success || resp.ErrorCode != intent.CodeAmbiguous {
					t.Fatalf("%q acted on %v (%q, code %q), want a question", tc.text, got, resp.Speech, resp.ErrorCode)
				}
				return
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("%q acted on %v (%q), want %v", tc.text, got, resp.Speech, tc.want)
			}
		})
	}
}

// TestHeaterWithOnlyOne sets the home's only climate device when no place
// is said.
func TestHeaterWithOnlyOne(t *testing.T) {
	reg, err := intent.LoadFixtureFile(filepath.Join("..", "rules", "testdata", "narrowboat_home.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"set the heater to 20", "set the heating to 20"} {
		exec := &fakeExecutor{}
		e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{reg}, exec, intent.Options{})
		resp, err := e.Process(context.Background(), intent.Request{HomeID: "home-1", Text: text, DeviceID: "d1"})
		if err != nil {
			t.Fatal(err)
		}
		if got := allCalled(exec); !slices.Equal(got, []string{"climate.diesel_heater"}) || !resp.Success {
			t.Errorf("%q acted on %v (%q), want the diesel heater", text, got, resp.Speech)
		}
	}
}

// TestNavigationLights switches a boat's port and starboard lights.
func TestNavigationLights(t *testing.T) {
	reg, err := intent.LoadFixtureFile(filepath.Join("..", "rules", "testdata", "narrowboat_home.json"))
	if err != nil {
		t.Fatal(err)
	}
	exec := &fakeExecutor{}
	e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{reg}, exec, intent.Options{})
	resp, err := e.Process(context.Background(), intent.Request{HomeID: "home-1", Text: "turn on the navigation lights", DeviceID: "d1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := allCalled(exec); !slices.Equal(got, []string{"light.port_light", "light.starboard_light"}) {
		t.Errorf("acted on %v (%q), want the port and starboard lights", got, resp.Speech)
	}
}

// TestVillaNoAction holds what ADR 0052 says must not act: a lock verb said
// of a cover, a gate that could be the gate lock, a number the name lacks,
// and a question no reading answered.
func TestVillaNoAction(t *testing.T) {
	reg, err := intent.LoadFixtureFile(filepath.Join("..", "rules", "testdata", "villa_home.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{
		"unlock the garage door", "unlock the gate", "open the gate", "open garage door two",
		"is anything on in the garage", "are the lights on upstairs or not",
	} {
		exec := &fakeExecutor{}
		e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{reg}, exec, intent.Options{})
		resp, err := e.Process(context.Background(), intent.Request{HomeID: "home-1", Text: text, DeviceID: "d1"})
		if err != nil {
			t.Fatal(err)
		}
		if got := allCalled(exec); len(got) > 0 {
			t.Errorf("%q acted on %v (%q)", text, got, resp.Speech)
		}
	}
}

// TestVillaDeviceRoom: a name every room carries means the one in the voice
// device's own room, as Home Assistant prefers the satellite's area; a
// device in a room of a shared name, or in a room without that name, still
// asks which.
func TestVillaDeviceRoom(t *testing.T) {
	reg, err := intent.LoadFixtureFile(filepath.Join("..", "rules", "testdata", "villa_home.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		here, text string
		want       []string // nil: nothing acts
		speech     string   // the answer, when nothing acts
	}{
		{"master bedroom", "turn on the ceiling light", []string{"light.bedroom_up_ceiling"}, ""},
		{"Master Bedroom", "turn off the ceiling light", []string{"light.bedroom_up_ceiling"}, ""},
		{"guest room", "turn on the ceiling light", []string{"light.bedroom_down_ceiling"}, ""},
		{"master bedroom", "turn on the lights in the bedroom", []string{"light.bedroom_up_ceiling", "light.bedside_lamp"}, ""},
		{"guest room", "close the blinds in the bedroom", []string{"cover.bedroom_down_blinds"}, ""},
		{"Kitchen", "turn on the lights in the bedroom", nil,
			"Sorry, which Bedroom do you mean: the one on the Ground Floor or the one on the First Floor?"},
		{"Kitchen", "turn on the ceiling light", nil, ""},
		{"Bedroom", "turn on the ceiling light", nil, ""},
		{"", "turn on the ceiling light", nil, ""},
	} {
		exec := &fakeExecutor{}
		e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{reg}, exec, intent.Options{})
		resp, err := e.Process(context.Background(), intent.Request{HomeID: "home-1", Text: c.text, DeviceID: "d1",
			Context: intent.Context{Area: c.here}})
		if err != nil {
			t.Fatal(err)
		}
		got := allCalled(exec)
		if !slices.Equal(got, c.want) {
			t.Errorf("[%s] %q acted on %v, want %v (%q)", c.here, c.text, got, c.want, resp.Speech)
		}
		if c.want == nil && resp.ErrorCode != intent.CodeAmbiguous {
			t.Errorf("[%s] %q answered %s %q, want a question", c.here, c.text, resp.ErrorCode, resp.Speech)
		}
		if c.speech != "" && resp.Speech != c.speech {
			t.Errorf("[%s] %q said %q, want %q", c.here, c.text, resp.Speech, c.speech)
		}
	}
}

// TestVillaDeviceAreaID: a device paired to a room whose name two floors
// share is exact when its context carries the area's id, given as such or
// as the area the device was paired with.
func TestVillaDeviceAreaID(t *testing.T) {
	reg, err := intent.LoadFixtureFile(filepath.Join("..", "rules", "testdata", "villa_home.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		here intent.Context
		text string
		want []string // nil: nothing acts, the answer asks which
	}{
		{intent.Context{Area: "Bedroom", AreaID: "bedroom_up"}, "turn on the ceiling light", []string{"light.bedroom_up_ceiling"}},
		{intent.Context{Area: "Bedroom", AreaID: "bedroom_down"}, "turn on the ceiling light", []string{"light.bedroom_down_ceiling"}},
		{intent.Context{AreaID: "bedroom_up"}, "turn on the lights in the bedroom", []string{"light.bedroom_up_ceiling", "light.bedside_lamp"}},
		{intent.Context{Area: "bedroom_down"}, "close the blinds in the bedroom", []string{"cover.bedroom_down_blinds"}},
		{intent.Context{Area: "bedroom_down"}, "turn off the lights in here", []string{"light.bedroom_down_ceiling"}},
		{intent.Context{Area: "bedroom_up"}, "close the blinds", []string{"cover.bedroom_up_blinds"}},
		// The name alone, or an id the home does not have, still asks.
		{intent.Context{Area: "Bedroom"}, "turn on the ceiling light", nil},
		{intent.Context{Area: "Bedroom", AreaID: "attic"}, "turn on the ceiling light", nil},
	} {
		exec := &fakeExecutor{}
		e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{reg}, exec, intent.Options{})
		resp, err := e.Process(context.Background(), intent.Request{HomeID: "home-1", Text: c.text, DeviceID: "d1", Context: c.here})
		if err != nil {
			t.Fatal(err)
		}
		if got := allCalled(exec); !slices.Equal(got, c.want) {
			t.Errorf("%+v %q acted on %v, want %v (%q)", c.here, c.text, got, c.want, resp.Speech)
		}
		if c.want == nil && resp.ErrorCode != intent.CodeAmbiguous {
			t.Errorf("%+v %q answered %s %q, want a question", c.here, c.text, resp.ErrorCode, resp.Speech)
		}
	}
}
