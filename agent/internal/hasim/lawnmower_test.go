package hasim

import (
	"reflect"
	"testing"
)

// mowerHome has a mower with every feature, one that cannot pause, one
// reporting no features (a fixture home's), a cover and a valve moving
// nowhere, and fans with and without declared features.
func mowerHome() *Home {
	return &Home{Entities: []Entity{
		{ID: "lawn_mower.front", Name: "Front Mower", State: "docked",
			Attributes: map[string]any{"supported_features": lawnMowerStartMowing | lawnMowerPause | lawnMowerDock}},
		{ID: "lawn_mower.back", Name: "Back Mower", State: "docked",
			Attributes: map[string]any{"supported_features": lawnMowerStartMowing | lawnMowerDock}},
		{ID: "lawn_mower.plain", Name: "Plain Mower", State: "docked"},
		{ID: "cover.blind", Name: "Blind", State: "open",
			Attributes: map[string]any{"supported_features": 1 | 2 | 4 | 8, "current_position": 30}},
		{ID: "cover.awning", Name: "Awning", State: "open", Attributes: map[string]any{"supported_features": 1 | 2}},
		{ID: "valve.lawn", Name: "Lawn", DeviceClass: "water", State: "open",
			Attributes: map[string]any{"supported_features": 1 | 2 | 8}},
		{ID: "cover.gate", Name: "Gate", State: "closing",
			Attributes: map[string]any{"supported_features": 1 | 2 | 4 | 8, "current_position": 60}},
		{ID: "cover.shutter", Name: "Shutter", State: "closing",
			Attributes: map[string]any{"supported_features": 1 | 2 | 4 | 8, "current_position": 0}},
		{ID: "valve.main", Name: "Main", DeviceClass: "water", State: "opening", Attributes: map[string]any{"supported_features": 1 | 2 | 8}},
		{ID: "valve.drip", Name: "Drip", DeviceClass: "water", State: "closed", Attributes: map[string]any{"supported_features": 1 | 2}},
		{ID: "fan.plain", Name: "Plain Fan", State: "off", Attributes: map[string]any{"percentage": 0}},
		{ID: "fan.switched", Name: "Switched Fan", State: "off", Attributes: map[string]any{"supported_features": 16 | 32}},
		{ID: "fan.stepped", Name: "Stepped Fan", State: "off",
			Attributes: map[string]any{"supported_features": 1 | 16 | 32, "percentage": 0, "percentage_step": 25}},
	}}
}

func TestLawnMowerAndStopServices(t *testing.T) {
	tests := []struct {
		name       string
		setup      [][2]string
		path, body string
		status     int
		entity     string
		state      string
		attrs      map[string]any
	}{
		{name: "start mowing", path: "lawn_mower/start_mowing", body: `{"entity_id":"lawn_mower.front"}`, status: 200,
			entity: "lawn_mower.front", state: "mowing"},
		{name: "pause", setup: [][2]string{{"lawn_mower/start_mowing", `{"entity_id":"lawn_mower.front"}`}},
			path: "lawn_mower/pause", body: `{"entity_id":"lawn_mower.front"}`, status: 200, entity: "lawn_mower.front", state: "paused"},
		{name: "dock", setup: [][2]string{{"lawn_mower/start_mowing", `{"entity_id":"lawn_mower.back"}`}},
			path: "lawn_mower/dock", body: `{"entity_id":"lawn_mower.back"}`, status: 200, entity: "lawn_mower.back", state: "docked"},
		{name: "resume after pause", setup: [][2]string{{"lawn_mower/start_mowing", `{"entity_id":"lawn_mower.front"}`},
			{"lawn_mower/pause", `{"entity_id":"lawn_mower.front"}`}},
			path: "lawn_mower/start_mowing", body: `{"entity_id":"lawn_mower.front"}`, status: 200, entity: "lawn_mower.front", state: "mowing"},
		// ServiceNotSupported: HTTP 500 through REST, nothing changes.
		{name: "pause lacking the feature", setup: [][2]string{{"lawn_mower/start_mowing", `{"entity_id":"lawn_mower.back"}`}},
			path: "lawn_mower/pause", body: `{"entity_id":"lawn_mower.back"}`, status: 500, entity: "lawn_mower.back", state: "mowing"},
		{name: "no features reported is capable", path: "lawn_mower/start_mowing", body: `{"entity_id":"lawn_mower.plain"}`, status: 200,
			entity: "lawn_mower.plain", state: "mowing"},
		{name: "start mowing takes no data", path: "lawn_mower/start_mowing", body: `{"entity_id":"lawn_mower.front","speed":2}`, status: 400,
			entity: "lawn_mower.front", state: "docked"},
		{name: "unknown mower service", path: "lawn_mower/return_to_base", body: `{"entity_id":"lawn_mower.front"}`, status: 400,
			entity: "lawn_mower.front", state: "docked"},
		{name: "area of other domains untouched", path: "lawn_mower/start_mowing", body: `{"entity_id":"all"}`, status: 200,
			entity: "lawn_mower.back", state: "mowing"},

		{name: "stop cover stays where it is", path: "cover/stop_cover", body: `{"entity_id":"cover.blind"}`, status: 200,
			entity: "cover.blind", state: "open", attrs: map[string]any{"current_position": 30.0}},
		{name: "stop a closing cover halfway", path: "cover/stop_cover", body: `{"entity_id":"cover.gate"}`, status: 200,
			entity: "cover.gate", state: "open", attrs: map[string]any{"current_position": 60.0}},
		{name: "stop a closing cover at 0", path: "cover/stop_cover", body: `{"entity_id":"cover.shutter"}`, status: 200,
			entity: "cover.shutter", state: "closed", attrs: map[string]any{"current_position": 0.0}},
		{name: "stop an opening valve without position", path: "valve/stop_valve", body: `{"entity_id":"valve.main"}`, status: 200,
			entity: "valve.main", state: "open"},
		{name: "stop cover lacking the feature", path: "cover/stop_cover", body: `{"entity_id":"cover.awning"}`, status: 500,
			entity: "cover.awning", state: "open"},
		{name: "stop valve stays where it is", path: "valve/stop_valve", body: `{"entity_id":"valve.lawn"}`, status: 200,
			entity: "valve.lawn", state: "open"},
		{name: "stop valve lacking the feature", path: "valve/stop_valve", body: `{"entity_id":"valve.drip"}`, status: 500,
			entity: "valve.drip", state: "closed"},

		{name: "set_percentage on a fan reporting no features", path: "fan/set_percentage", body: `{"entity_id":"fan.plain","percentage":40}`, status: 200,
			entity: "fan.plain", state: "on", attrs: map[string]any{"percentage": 40.0}},
		{name: "set_percentage 0 turns off", setup: [][2]string{{"fan/set_percentage", `{"entity_id":"fan.stepped","percentage":75}`}},
			path: "fan/set_percentage", body: `{"entity_id":"fan.stepped","percentage":0}`, status: 200,
			entity: "fan.stepped", state: "off", attrs: map[string]any{"percentage": 0.0}},
		{name: "increase_speed by percentage_step", setup: [][2]string{{"fan/set_percentage", `{"entity_id":"fan.stepped","percentage":25}`}},
			path: "fan/increase_speed", body: `{"entity_id":"fan.stepped"}`, status: 200,
			entity: "fan.stepped", state: "on", attrs: map[string]any{"percentage": 50.0}},
		{name: "set_percentage lacking SET_SPEED", path: "fan/set_percentage", body: `{"entity_id":"fan.switched","percentage":40}`, status: 500,
			entity: "fan.switched", state: "off"},
		{name: "set_percentage out of range", path: "fan/set_percentage", body: `{"entity_id":"fan.stepped","percentage":101}`, status: 400,
			entity: "fan.stepped", state: "off"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, ts := startServer(t, mowerHome(), Options{})
			for _, step := range tc.setup {
				if a := api(t, ts, "POST", "/api/services/"+step[0], step[1]); a.status != 200 {
					t.Fatalf("setup %s: %d %s", step[0], a.status, a.body)
				}
			}
			if a := api(t, ts, "POST", "/api/services/"+tc.path, tc.body); a.status != tc.status {
				t.Fatalf("status %d, want %d: %s", a.status, tc.status, a.body)
			}
			st, ok := s.State(tc.entity)
			if !ok {
				t.Fatalf("%s missing", tc.entity)
			}
			if st.State != tc.state {
				t.Errorf("%s state %q, want %q", tc.entity, st.State, tc.state)
			}
			for k, v := range tc.attrs {
				if got := st.Attributes[k]; !reflect.DeepEqual(got, v) {
					t.Errorf("%s attribute %s = %#v, want %#v", tc.entity, k, got, v)
				}
			}
		})
	}
}

// TestLawnMowerServiceNotSupportedOverWebSocket checks the answer a
// WebSocket client gets calling a service the mower lacks: core's
// ServiceNotSupported, a service validation error keyed
// service_not_supported, and the mower left as it was.
func TestLawnMowerServiceNotSupportedOverWebSocket(t *testing.T) {
	s, ts := startServer(t, mowerHome(), Options{})
	c := authed(t, ts)
	c.send(map[string]any{"id": 1, "type": "call_service", "domain": "lawn_mower", "service": "pause",
		"target": map[string]any{"entity_id": "lawn_mower.back"}})
	m := c.recv()
	e, _ := m["error"].(map[string]any)
	if m["success"] != false || e["code"] != "service_validation_error" || e["translation_key"] != "service_not_supported" {
		t.Fatalf("pause on a mower without PAUSE answered %v", m)
	}
	if st, _ := s.State("lawn_mower.back"); st.State != "docked" {
		t.Fatalf("mower is %q after a refused pause, want docked", st.State)
	}
}
