package hasim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func stateOf(t *testing.T, s *Server, id string) State {
	t.Helper()
	st, ok := s.State(id)
	if !ok {
		t.Fatalf("%s missing", id)
	}
	return st
}

func TestTodoLists(t *testing.T) {
	s, ts := startServer(t, nil, Options{})
	call := func(path, body string) answer { return api(t, ts, "POST", "/api/services/"+path, body) }
	if a := call("todo/add_item", `{"entity_id":"todo.personal_tasks","item":"call the plumber"}`); a.status != 200 {
		t.Fatalf("add_item = %d %s", a.status, a.body)
	}
	call("todo/add_item", `{"entity_id":"todo.personal_tasks","item":"water the plants","due_date":"2026-08-02","description":"balcony too"}`)
	if st := stateOf(t, s, "todo.personal_tasks"); st.State != "2" {
		t.Fatalf("state after two adds = %q, want the open count 2", st.State)
	}
	if a := call("todo/update_item", `{"entity_id":"todo.personal_tasks","item":"call the plumber","status":"completed"}`); a.status != 200 {
		t.Fatalf("update_item = %d %s", a.status, a.body)
	}
	if st := stateOf(t, s, "todo.personal_tasks"); st.State != "1" {
		t.Fatalf("state after completing one = %q, want 1", st.State)
	}
	a := call("todo/get_items?return_response", `{"entity_id":"todo.personal_tasks","status":["needs_action"]}`)
	var got struct {
		Response map[string]struct {
			Items []todoItem `json:"items"`
		} `json:"service_response"`
	}
	if err := json.Unmarshal(a.body, &got); err != nil || a.status != 200 {
		t.Fatalf("get_items = %d %s", a.status, a.body)
	}
	items := got.Response["todo.personal_tasks"].Items
	if len(items) != 1 || items[0].Summary != "water the plants" || items[0].Due != "2026-08-02" || items[0].UID == "" {
		t.Fatalf("open items = %+v", items)
	}

	tests := []struct {
		name, path, body string
		status           int
	}{
		{"get_items needs return_response", "todo/get_items", `{"entity_id":"todo.personal_tasks"}`, 400},
		{"item is required", "todo/add_item", `{"entity_id":"todo.personal_tasks"}`, 400},
		{"update needs a change", "todo/update_item", `{"entity_id":"todo.personal_tasks","item":"water the plants"}`, 400},
		{"unknown item", "todo/remove_item", `{"entity_id":"todo.personal_tasks","item":["nothing"]}`, 500},
		{"due date on a list without dates", "todo/add_item", `{"entity_id":"todo.shopping_list","item":"milk","due_date":"2026-08-02"}`, 500},
		{"bad status", "todo/update_item", `{"entity_id":"todo.personal_tasks","item":"water the plants","status":"done"}`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if a := call(tt.path, tt.body); a.status != tt.status {
				t.Fatalf("= %d %s, want %d", a.status, a.body, tt.status)
			}
		})
	}
	if a := call("todo/remove_item", `{"entity_id":"todo.personal_tasks","item":"water the plants"}`); a.status != 200 {
		t.Fatalf("remove_item = %d %s", a.status, a.body)
	}
	call("todo/remove_completed_items", `{"entity_id":"todo.personal_tasks"}`)
	if st := stateOf(t, s, "todo.personal_tasks"); st.State != "0" || len(s.todo["todo.personal_tasks"]) != 0 {
		t.Fatalf("after removing all: state %q, items %v", st.State, s.todo["todo.personal_tasks"])
	}
}

func TestTodoItemsSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	open := func() (*Server, *httptest.Server) {
		s, err := Open(nil, Options{Token: testToken, ConfigDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(s.Handler())
		t.Cleanup(ts.Close)
		return s, ts
	}
	_, ts := open()
	api(t, ts, "POST", "/api/services/todo/add_item", `{"entity_id":"todo.shopping_list","item":"milk"}`)
	ts.Close()
	s, _ := open()
	if items := s.todo["todo.shopping_list"]; len(items) != 1 || items[0].Summary != "milk" || stateOf(t, s, "todo.shopping_list").State != "1" {
		t.Fatalf("after a restart: items %v", items)
	}
}

func TestAlarmPanelCodes(t *testing.T) {
	s, ts := startServer(t, nil, Options{})
	if _, shown := stateOf(t, s, "alarm_control_panel.home_alarm").Attributes[alarmCodeAttr]; shown {
		t.Fatal("the panel's code shows in its state")
	}
	tests := []struct {
		name, path, body string
		status           int
		state            string
	}{
		{"arming needs a code", "alarm_arm_away", `{"entity_id":"alarm_control_panel.home_alarm"}`, 500, "disarmed"},
		{"wrong code", "alarm_arm_away", `{"entity_id":"alarm_control_panel.home_alarm","code":"9999"}`, 500, "disarmed"},
		{"code not a number", "alarm_arm_away", `{"entity_id":"alarm_control_panel.home_alarm","code":"abcd"}`, 500, "disarmed"},
		{"arm away", "alarm_arm_away", `{"entity_id":"alarm_control_panel.home_alarm","code":"1234"}`, 200, "armed_away"},
		{"disarm without a code", "alarm_disarm", `{"entity_id":"alarm_control_panel.home_alarm"}`, 500, "armed_away"},
		{"disarm", "alarm_disarm", `{"entity_id":"alarm_control_panel.home_alarm","code":"1234"}`, 200, "disarmed"},
		{"unsupported mode", "alarm_arm_vacation", `{"entity_id":"alarm_control_panel.home_alarm","code":"1234"}`, 500, "disarmed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := api(t, ts, "POST", "/api/services/alarm_control_panel/"+tt.path, tt.body)
			if a.status != tt.status || stateOf(t, s, "alarm_control_panel.home_alarm").State != tt.state {
				t.Fatalf("= %d %s, state %q; want %d, %q", a.status, a.body, stateOf(t, s, "alarm_control_panel.home_alarm").State, tt.status, tt.state)
			}
		})
	}
}

func TestHumidifier(t *testing.T) {
	s, ts := startServer(t, nil, Options{})
	id := "humidifier.bedroom_humidifier"
	for _, c := range []struct {
		path, body string
		status     int
	}{
		{"turn_on", `{"entity_id":"` + id + `"}`, 200},
		{"set_humidity", `{"entity_id":"` + id + `","humidity":55}`, 200},
		{"set_humidity", `{"entity_id":"` + id + `","humidity":90}`, 500}, // above max_humidity
		{"set_mode", `{"entity_id":"` + id + `","mode":"eco"}`, 200},
		{"set_mode", `{"entity_id":"` + id + `","mode":"turbo"}`, 500},
	} {
		if a := api(t, ts, "POST", "/api/services/humidifier/"+c.path, c.body); a.status != c.status {
			t.Errorf("%s %s = %d %s, want %d", c.path, c.body, a.status, a.body, c.status)
		}
	}
	st := stateOf(t, s, id)
	if st.State != "on" || st.Attributes["humidity"] != 55.0 || st.Attributes["mode"] != "eco" {
		t.Fatalf("humidifier = %v %v", st.State, st.Attributes)
	}
}

// TestFansWithoutTurnOnOffFlags: a fan recorded before the TURN_ON/TURN_OFF
// flags existed turns on and off; one that declares one of them keeps to it.
func TestFansWithoutTurnOnOffFlags(t *testing.T) {
	home := &Home{Entities: []Entity{
		{ID: "fan.old", Name: "Old Fan", State: "off", Attributes: map[string]any{"supported_features": 1}},
		{ID: "fan.none", Name: "Plain Fan", State: "off", Attributes: map[string]any{"supported_features": 0}},
		{ID: "fan.only_off", Name: "Off Only", State: "on", Attributes: map[string]any{"supported_features": 16}},
	}}
	s, ts := startServer(t, home, Options{})
	for _, id := range []string{"fan.old", "fan.none"} {
		if a := api(t, ts, "POST", "/api/services/fan/turn_on", `{"entity_id":"`+id+`"}`); a.status != http.StatusOK || stateOf(t, s, id).State != "on" {
			t.Errorf("turn_on %s = %d %s", id, a.status, a.body)
		}
		if a := api(t, ts, "POST", "/api/services/homeassistant/turn_off", `{"entity_id":"`+id+`"}`); a.status != http.StatusOK || stateOf(t, s, id).State != "off" {
			t.Errorf("homeassistant.turn_off %s = %d %s", id, a.status, a.body)
		}
	}
	if a := api(t, ts, "POST", "/api/services/fan/turn_on", `{"entity_id":"fan.only_off"}`); a.status != http.StatusInternalServerError {
		t.Errorf("turn_on of a fan declaring only TURN_OFF = %d, want 500 (service_not_supported)", a.status)
	}
	if st := stateOf(t, s, "fan.old"); st.Attributes["percentage"] != 0.0 {
		t.Errorf("old fan percentage after off = %v", st.Attributes["percentage"])
	}
}

// BenchmarkServiceCall measures a REST service call in memory and with the
// states written to a configuration directory after it.
func BenchmarkServiceCall(b *testing.B) {
	for _, bc := range []struct {
		name string
		dir  bool
	}{{"memory", false}, {"config-dir", true}} {
		b.Run(bc.name, func(b *testing.B) {
			opts := Options{Token: testToken}
			if bc.dir {
				opts.ConfigDir = b.TempDir()
			}
			s, err := Open(nil, opts)
			if err != nil {
				b.Fatal(err)
			}
			ts := httptest.NewServer(s.Handler())
			defer ts.Close()
			b.ResetTimer()
			for i := range b.N {
				svc := []string{"turn_on", "turn_off"}[i%2]
				if a := api(b, ts, "POST", "/api/services/switch/"+svc, `{"entity_id":"switch.coffee_maker"}`); a.status != http.StatusOK {
					b.Fatalf("= %d", a.status)
				}
			}
		})
	}
}
