package hasim

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestServiceCalls(t *testing.T) {
	type want struct {
		entity string
		state  string
		attrs  map[string]any // JSON-typed values
	}
	tests := []struct {
		name       string
		setup      [][2]string // service path, body run first
		path, body string
		status     int
		changed    int // number of changed states returned, -1: don't check
		bodyIs     string
		want       []want
	}{
		{name: "light brightness_pct and color_name", path: "light/turn_on",
			body: `{"entity_id":"light.kitchen_ceiling","brightness_pct":50,"color_name":"red"}`, status: 200, changed: 1,
			want: []want{{"light.kitchen_ceiling", "on", map[string]any{"brightness": 128.0, "color_mode": "hs",
				"hs_color": []any{0.0, 100.0}, "rgb_color": []any{255.0, 0.0, 0.0}, "xy_color": []any{0.701, 0.299}, "color_temp_kelvin": nil}}}},
		{name: "light rgb_color", path: "light/turn_on",
			body: `{"entity_id":"light.living_room_lamp","rgb_color":[0,0,255]}`, status: 200, changed: 1,
			want: []want{{"light.living_room_lamp", "on", map[string]any{"brightness": 255.0, "hs_color": []any{240.0, 100.0}, "rgb_color": []any{0.0, 0.0, 255.0}}}}},
		{name: "light color_temp_kelvin", path: "light/turn_on",
			body: `{"entity_id":"light.kitchen_ceiling","color_temp_kelvin":3000}`, status: 200, changed: 1,
			want: []want{{"light.kitchen_ceiling", "on", map[string]any{"color_mode": "color_temp", "color_temp_kelvin": 3000.0, "color_temp": 333.0}}}},
		{name: "light color_temp mireds", path: "light/turn_on",
			body: `{"entity_id":"light.kitchen_ceiling","color_temp":250}`, status: 200, changed: 1,
			want: []want{{"light.kitchen_ceiling", "on", map[string]any{"color_mode": "color_temp", "color_temp_kelvin": 4000.0}}}},
		{name: "light brightness on a dimmable light", path: "light/turn_on",
			body: `{"entity_id":"light.bedroom_lamp","brightness":100}`, status: 200, changed: 1,
			want: []want{{"light.bedroom_lamp", "on", map[string]any{"brightness": 100.0, "color_mode": "brightness"}}}},
		{name: "light colour dropped on a brightness-only light", path: "light/turn_on",
			body: `{"entity_id":"light.bedroom_lamp","color_name":"blue"}`, status: 200, changed: 1,
			want: []want{{"light.bedroom_lamp", "on", map[string]any{"color_mode": "brightness"}}}},
		{name: "light brightness 0 turns off", setup: [][2]string{{"light/turn_on", `{"entity_id":"light.bedroom_lamp"}`}},
			path: "light/turn_on", body: `{"entity_id":"light.bedroom_lamp","brightness":0}`, status: 200, changed: 1,
			want: []want{{"light.bedroom_lamp", "off", map[string]any{"brightness": nil, "color_mode": nil}}}},
		{name: "light brightness restored after off", setup: [][2]string{
			{"light/turn_on", `{"entity_id":"light.bedroom_lamp","brightness":42}`}, {"light/turn_off", `{"entity_id":"light.bedroom_lamp"}`}},
			path: "light/turn_on", body: `{"entity_id":"light.bedroom_lamp"}`, status: 200, changed: 1,
			want: []want{{"light.bedroom_lamp", "on", map[string]any{"brightness": 42.0}}}},
		{name: "light brightness_step_pct", setup: [][2]string{{"light/turn_on", `{"entity_id":"light.bedroom_lamp","brightness":100}`}},
			path: "light/turn_on", body: `{"entity_id":"light.bedroom_lamp","brightness_step_pct":-10}`, status: 200, changed: 1,
			want: []want{{"light.bedroom_lamp", "on", map[string]any{"brightness": 74.0}}}},
		{name: "light brightness_pct out of range", path: "light/turn_on",
			body: `{"entity_id":"light.kitchen_ceiling","brightness_pct":150}`, status: 400, bodyIs: "400: Bad Request",
			want: []want{{"light.kitchen_ceiling", "off", nil}}},
		{name: "light two brightness forms", path: "light/turn_on",
			body: `{"entity_id":"light.kitchen_ceiling","brightness_pct":10,"brightness":3}`, status: 400, bodyIs: "400: Bad Request"},
		{name: "light turn_off rejects brightness", path: "light/turn_off",
			body: `{"entity_id":"light.kitchen_ceiling","brightness":3}`, status: 400, bodyIs: "400: Bad Request"},
		{name: "light toggle", path: "light/toggle", body: `{"entity_id":"light.kitchen_counter"}`, status: 200, changed: 1,
			want: []want{{"light.kitchen_counter", "on", map[string]any{"brightness": 255.0}}}},
		{name: "area target", path: "light/turn_on", body: `{"area_id":"kitchen"}`, status: 200, changed: 2,
			want: []want{{"light.kitchen_ceiling", "on", nil}, {"light.kitchen_counter", "on", nil}, {"switch.coffee_maker", "off", nil}}},
		{name: "floor target", path: "light/turn_on", body: `{"floor_id":"first_floor"}`, status: 200, changed: 1,
			want: []want{{"light.bedroom_lamp", "on", nil}, {"light.kitchen_ceiling", "off", nil}}},
		{name: "entity list and comma string", path: "switch/turn_on", body: `{"entity_id":"switch.coffee_maker, switch.none"}`, status: 200, changed: 1,
			want: []want{{"switch.coffee_maker", "on", nil}}},
		{name: "switch toggle", path: "switch/toggle", body: `{"entity_id":["switch.coffee_maker"]}`, status: 200, changed: 1,
			want: []want{{"switch.coffee_maker", "on", nil}}},
		{name: "input_boolean", path: "input_boolean/turn_on", body: `{"entity_id":"input_boolean.guest_mode"}`, status: 200, changed: 1,
			want: []want{{"input_boolean.guest_mode", "on", nil}}},
		{name: "fan percentage", path: "fan/turn_on", body: `{"entity_id":"fan.bedroom_fan","percentage":50}`, status: 200, changed: 1,
			want: []want{{"fan.bedroom_fan", "on", map[string]any{"percentage": 50.0}}}},
		{name: "fan set_percentage 0 turns off", setup: [][2]string{{"fan/turn_on", `{"entity_id":"fan.bedroom_fan"}`}},
			path: "fan/set_percentage", body: `{"entity_id":"fan.bedroom_fan","percentage":0}`, status: 200, changed: 1,
			want: []want{{"fan.bedroom_fan", "off", map[string]any{"percentage": 0.0}}}},
		{name: "fan oscillate unsupported", path: "fan/oscillate", body: `{"entity_id":"fan.bedroom_fan","oscillating":true}`, status: 500},
		{name: "lock unlock", path: "lock/unlock", body: `{"entity_id":"lock.front_door"}`, status: 200, changed: 1,
			want: []want{{"lock.front_door", "unlocked", nil}}},
		{name: "lock open unsupported", path: "lock/open", body: `{"entity_id":"lock.front_door"}`, status: 500,
			want: []want{{"lock.front_door", "locked", nil}}},
		{name: "cover open", path: "cover/open_cover", body: `{"entity_id":"cover.garage_door"}`, status: 200, changed: 1,
			want: []want{{"cover.garage_door", "open", map[string]any{"current_position": 100.0, "device_class": "garage"}}}},
		{name: "cover position", path: "cover/set_cover_position", body: `{"entity_id":"cover.garage_door","position":40}`, status: 200, changed: 1,
			want: []want{{"cover.garage_door", "open", map[string]any{"current_position": 40.0}}}},
		{name: "cover position out of range", path: "cover/set_cover_position", body: `{"entity_id":"cover.garage_door","position":140}`, status: 400},
		{name: "cover position missing", path: "cover/set_cover_position", body: `{"entity_id":"cover.garage_door"}`, status: 400},
		{name: "cover stop changes nothing", path: "cover/stop_cover", body: `{"entity_id":"cover.garage_door"}`, status: 200, changed: 0},
		{name: "cover close", setup: [][2]string{{"cover/open_cover", `{"entity_id":"cover.garage_door"}`}},
			path: "cover/close_cover", body: `{"entity_id":"cover.garage_door"}`, status: 200, changed: 1,
			want: []want{{"cover.garage_door", "closed", map[string]any{"current_position": 0.0}}}},
		{name: "valve open", path: "valve/open_valve", body: `{"entity_id":"valve.garden_water"}`, status: 200, changed: 1,
			want: []want{{"valve.garden_water", "open", nil}}},
		{name: "climate temperature", path: "climate/set_temperature", body: `{"entity_id":"climate.thermostat","temperature":22.54}`, status: 200, changed: 1,
			want: []want{{"climate.thermostat", "heat", map[string]any{"temperature": 22.5, "current_temperature": 21.5}}}},
		{name: "climate temperature out of range", path: "climate/set_temperature", body: `{"entity_id":"climate.thermostat","temperature":50}`, status: 500,
			want: []want{{"climate.thermostat", "heat", map[string]any{"temperature": 21.0}}}},
		{name: "climate temperature with mode", path: "climate/set_temperature", body: `{"entity_id":"climate.thermostat","temperature":19,"hvac_mode":"cool"}`, status: 200, changed: 1,
			want: []want{{"climate.thermostat", "cool", map[string]any{"temperature": 19.0}}}},
		{name: "climate hvac mode", path: "climate/set_hvac_mode", body: `{"entity_id":"climate.thermostat","hvac_mode":"off"}`, status: 200, changed: 1,
			want: []want{{"climate.thermostat", "off", nil}}},
		{name: "climate hvac mode not offered", path: "climate/set_hvac_mode", body: `{"entity_id":"climate.thermostat","hvac_mode":"dry"}`, status: 500},
		{name: "climate hvac mode invalid", path: "climate/set_hvac_mode", body: `{"entity_id":"climate.thermostat","hvac_mode":"warm"}`, status: 400},
		{name: "media play", path: "media_player/media_play", body: `{"entity_id":"media_player.tv"}`, status: 200, changed: 1,
			want: []want{{"media_player.tv", "playing", nil}}},
		{name: "media pause", setup: [][2]string{{"media_player/media_play", `{"entity_id":"media_player.tv"}`}},
			path: "media_player/media_pause", body: `{"entity_id":"media_player.tv"}`, status: 200, changed: 1,
			want: []want{{"media_player.tv", "paused", nil}}},
		{name: "media next track", path: "media_player/media_next_track", body: `{"entity_id":"media_player.tv"}`, status: 200, changed: 1,
			want: []want{{"media_player.tv", "off", map[string]any{"media_track": 2.0}}}},
		{name: "media previous track", path: "media_player/media_previous_track", body: `{"entity_id":"media_player.tv"}`, status: 200, changed: 1,
			want: []want{{"media_player.tv", "off", map[string]any{"media_track": 1.0}}}},
		{name: "media volume", path: "media_player/volume_set", body: `{"entity_id":"media_player.tv","volume_level":0.3}`, status: 200, changed: 1,
			want: []want{{"media_player.tv", "off", map[string]any{"volume_level": 0.3}}}},
		{name: "media volume out of range", path: "media_player/volume_set", body: `{"entity_id":"media_player.tv","volume_level":3}`, status: 400},
		{name: "vacuum start", path: "vacuum/start", body: `{"entity_id":"vacuum.robot"}`, status: 200, changed: 1,
			want: []want{{"vacuum.robot", "cleaning", nil}}},
		{name: "vacuum return", path: "vacuum/return_to_base", body: `{"entity_id":"vacuum.robot"}`, status: 200, changed: 1,
			want: []want{{"vacuum.robot", "returning", nil}}},
		{name: "script turn_on runs", path: "script/turn_on", body: `{"entity_id":"script.good_night"}`, status: 200, changed: 1,
			want: []want{{"script.good_night", "off", map[string]any{"current": 0.0}}}},
		{name: "homeassistant turn_on mixed", path: "homeassistant/turn_on",
			body: `{"entity_id":["switch.coffee_maker","lock.front_door","cover.garage_door","light.bedroom_lamp"]}`, status: 200, changed: 2,
			want: []want{{"switch.coffee_maker", "on", nil}, {"light.bedroom_lamp", "on", nil}, {"lock.front_door", "locked", nil}, {"cover.garage_door", "closed", nil}}},
		{name: "homeassistant toggle opens a cover", path: "homeassistant/toggle", body: `{"entity_id":"cover.garage_door"}`, status: 200, changed: 1,
			want: []want{{"cover.garage_door", "open", nil}}},
		{name: "homeassistant turn_off passes fields", setup: [][2]string{{"light/turn_on", `{"entity_id":"light.bedroom_lamp"}`}},
			path: "homeassistant/turn_off", body: `{"entity_id":"light.bedroom_lamp","transition":2}`, status: 200, changed: 1,
			want: []want{{"light.bedroom_lamp", "off", nil}}},
		{name: "unknown service", path: "light/explode", body: `{"entity_id":"light.kitchen_ceiling"}`, status: 400, bodyIs: "400: Bad Request"},
		{name: "unknown domain", path: "nothing/turn_on", body: `{}`, status: 400, bodyIs: "400: Bad Request"},
		{name: "extra key", path: "switch/turn_on", body: `{"entity_id":"switch.coffee_maker","speed":3}`, status: 400, bodyIs: "400: Bad Request"},
		{name: "no target", path: "switch/turn_on", body: `{}`, status: 400, bodyIs: "400: Bad Request"},
		{name: "target wrapper is an unknown key", path: "switch/turn_on", body: `{"target":{"entity_id":"switch.coffee_maker"}}`, status: 400},
		{name: "invalid entity id", path: "switch/turn_on", body: `{"entity_id":"switch.Bad Id"}`, status: 400},
		{name: "missing entity is not an error", path: "switch/turn_on", body: `{"entity_id":"switch.missing"}`, status: 200, changed: 0, bodyIs: "[]"},
		{name: "body not JSON", path: "switch/turn_on", body: `{`, status: 400, bodyIs: `{"message":"Data should be valid JSON."}`},
		{name: "return_response unsupported", path: "switch/turn_on?return_response", body: `{"entity_id":"switch.coffee_maker"}`, status: 400,
			bodyIs: `{"message":"Service does not support responses. Remove return_response from request."}`,
			want:   []want{{"switch.coffee_maker", "off", nil}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, ts := startServer(t, nil, Options{})
			for _, step := range tc.setup {
				if a := api(t, ts, "POST", "/api/services/"+step[0], step[1]); a.status != 200 {
					t.Fatalf("setup %s: %d %s", step[0], a.status, a.body)
				}
			}
			a := api(t, ts, "POST", "/api/services/"+tc.path, tc.body)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d: %s", a.status, tc.status, a.body)
			}
			if tc.bodyIs != "" && string(a.body) != tc.bodyIs {
				t.Fatalf("body %s, want %s", a.body, tc.bodyIs)
			}
			if tc.status == 200 && tc.changed >= 0 {
				var changed []map[string]any
				if err := json.Unmarshal(a.body, &changed); err != nil {
					t.Fatalf("decode %s: %v", a.body, err)
				}
				if len(changed) != tc.changed {
					t.Fatalf("%d changed states, want %d: %s", len(changed), tc.changed, a.body)
				}
			}
			for _, w := range tc.want {
				st, ok := s.State(w.entity)
				if !ok {
					t.Fatalf("%s missing", w.entity)
				}
				if st.State != w.state {
					t.Errorf("%s state %q, want %q", w.entity, st.State, w.state)
				}
				for k, v := range w.attrs {
					if got := st.Attributes[k]; !reflect.DeepEqual(got, v) {
						t.Errorf("%s attribute %s = %#v, want %#v", w.entity, k, got, v)
					}
				}
			}
		})
	}
}

func TestSceneRecordsActivation(t *testing.T) {
	clock := newClock()
	s, ts := startServer(t, nil, Options{Now: clock.Now})
	clock.Advance(90 * time.Second)
	a := api(t, ts, "POST", "/api/services/scene/turn_on", `{"entity_id":"scene.movie_night"}`)
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	st, _ := s.State("scene.movie_night")
	if st.State != isoTime(clock.Now()) {
		t.Fatalf("scene state %q, want the activation time %q", st.State, isoTime(clock.Now()))
	}
}

func TestScriptServiceWithResponse(t *testing.T) {
	s, ts := startServer(t, nil, Options{})
	a := api(t, ts, "POST", "/api/services/script/good_night?return_response", `{}`)
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	var out struct {
		Changed  []map[string]any `json:"changed_states"`
		Response map[string]any   `json:"service_response"`
	}
	if err := json.Unmarshal(a.body, &out); err != nil || out.Response == nil || len(out.Changed) != 1 {
		t.Fatalf("answer %s (%v)", a.body, err)
	}
	st, _ := s.State("script.good_night")
	if _, ok := st.Attributes["last_triggered"]; !ok {
		t.Fatalf("script did not run: %v", st.Attributes)
	}
}

func TestServiceCallRecording(t *testing.T) {
	s, ts := startServer(t, nil, Options{})
	for i := range 3 {
		api(t, ts, "POST", "/api/services/switch/toggle", fmt.Sprintf(`{"entity_id":"switch.coffee_maker","n":%d}`, i))
	}
	api(t, ts, "POST", "/api/services/light/turn_on", `{"entity_id":"light.bedroom_lamp"}`)
	calls := s.ServiceCalls()
	if len(calls) != 4 || s.CallCount() != 4 {
		t.Fatalf("%d calls recorded", len(calls))
	}
	if calls[3].Domain != "light" || calls[3].Service != "turn_on" || calls[3].Data["entity_id"] != "light.bedroom_lamp" {
		t.Fatalf("last call %+v", calls[3])
	}
}

func TestServicesListing(t *testing.T) {
	_, ts := startServer(t, nil, Options{})
	a := api(t, ts, "GET", "/api/services", "")
	var list []struct {
		Domain   string                    `json:"domain"`
		Services map[string]map[string]any `json:"services"`
	}
	if err := json.Unmarshal(a.body, &list); err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, d := range list {
		for name, desc := range d.Services {
			found[d.Domain+"."+name] = true
			if _, ok := desc["fields"]; !ok {
				t.Errorf("%s.%s has no fields", d.Domain, name)
			}
		}
	}
	for _, svc := range []string{"light.turn_on", "cover.set_cover_position", "climate.set_temperature", "homeassistant.toggle", "script.good_night", "media_player.volume_set"} {
		if !found[svc] {
			t.Errorf("%s not listed", svc)
		}
	}
}

func TestLoadHomeFixtures(t *testing.T) {
	// The development home, kept in the repository beside its sentences.
	const path = "../../../central/internal/rules/testdata/ha-dev/fixtures.json"
	h, err := LoadHome(path)
	if err != nil {
		t.Fatal(err)
	}
	s := New(h, Options{Token: testToken})
	tests := []struct {
		name, entity, state string
	}{
		{"plain entity", "light.kitchen_ceiling", "on"},
		{"missing state means off", "scene.party_mode", "off"},
		{"id without one is derived from the name", "light.overhead_light", "off"},
		{"invalid id normalised", "sensor.traveling_speed", "67"},
		{"upper case lowered", "sensor.price_per_kw", "1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, ok := s.State(tc.entity)
			if !ok || st.State != tc.state {
				t.Fatalf("%s: %v %q, want %q", tc.entity, ok, st.State, tc.state)
			}
		})
	}
	if len(h.Floors) == 0 || len(h.Areas) == 0 {
		t.Fatal("no floors or areas")
	}
	entries := s.entityEntries([]string{"todo.trader_joes"})
	e, _ := entries["todo.trader_joes"].(map[string]any)
	if e == nil || !reflect.DeepEqual(e["aliases"], []string{"Trader Joes"}) {
		t.Fatalf("todo.trader_joes entry %v", entries["todo.trader_joes"])
	}
}

func TestReadHomeErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"not json", `{`, "decode"},
		{"floor without id", `{"floors":[{"name":"x"}]}`, "floor"},
		{"area without id", `{"areas":[{"name":"x"}]}`, "area"},
		{"bad entity id", `{"entities":[{"id":"nodot","name":"x"}]}`, "invalid entity id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadHome(strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestLoadHomeTestdata(t *testing.T) {
	h, err := LoadHome("testdata/home.json")
	if err != nil {
		t.Fatal(err)
	}
	s := New(h, Options{Token: testToken})
	tests := []struct{ entity, state string }{
		{"light.hall", "off"},
		{"cover.hall_blind", "open"},
		{"light.porch_lamp", "off"},
		{"sensor.odd_name", "3"},
	}
	for _, tc := range tests {
		t.Run(tc.entity, func(t *testing.T) {
			st, ok := s.State(tc.entity)
			if !ok || st.State != tc.state {
				t.Fatalf("%v %q, want %q", ok, st.State, tc.state)
			}
		})
	}
	hall, _ := s.State("light.hall")
	if hall.Attributes["friendly_name"] != "Hall Light" || hall.Attributes["supported_color_modes"] == nil {
		t.Fatalf("light attributes %v", hall.Attributes)
	}
	areas := s.areaRegistry()
	if len(areas) != 1 || areas[0]["floor_id"] != "ground" || !reflect.DeepEqual(areas[0]["aliases"], []string{"entrance"}) {
		t.Fatalf("areas %v", areas)
	}
}
