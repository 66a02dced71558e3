package hasim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

type wsClient struct {
	tb   testing.TB
	conn *websocket.Conn
	ctx  context.Context
}

func wsDial(tb testing.TB, ts *httptest.Server) *wsClient {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	tb.Cleanup(cancel)
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/api/websocket", nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.CloseNow() })
	return &wsClient{tb: tb, conn: conn, ctx: ctx}
}

func (c *wsClient) send(v any) {
	c.tb.Helper()
	b, _ := json.Marshal(v)
	if err := c.conn.Write(c.ctx, websocket.MessageText, b); err != nil {
		c.tb.Fatal(err)
	}
}

func (c *wsClient) recv() map[string]any {
	c.tb.Helper()
	_, b, err := c.conn.Read(c.ctx)
	if err != nil {
		c.tb.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		c.tb.Fatalf("decode %s: %v", b, err)
	}
	return m
}

// authed dials and completes the auth phase.
func authed(tb testing.TB, ts *httptest.Server) *wsClient {
	tb.Helper()
	c := wsDial(tb, ts)
	if m := c.recv(); m["type"] != "auth_required" {
		tb.Fatalf("first message %v", m)
	}
	c.send(map[string]any{"type": "auth", "access_token": testToken})
	if m := c.recv(); m["type"] != "auth_ok" {
		tb.Fatalf("auth answer %v", m)
	}
	return c
}

func TestWebSocketAuth(t *testing.T) {
	_, ts := startServer(t, nil, Options{Version: "2025.12.3"})
	tests := []struct {
		name     string
		msg      any
		wantType string
		wantMsg  string
	}{
		{"valid", map[string]any{"type": "auth", "access_token": testToken}, "auth_ok", ""},
		{"wrong token", map[string]any{"type": "auth", "access_token": "nope"}, "auth_invalid", "Invalid access token or password"},
		{"no token", map[string]any{"type": "auth"}, "auth_invalid", "Auth message incorrectly formatted: "},
		{"wrong type", map[string]any{"type": "hello", "access_token": testToken}, "auth_invalid", "Auth message incorrectly formatted: "},
		{"not json", nil, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := wsDial(t, ts)
			first := c.recv()
			if first["type"] != "auth_required" || first["ha_version"] != "2025.12.3" {
				t.Fatalf("first message %v", first)
			}
			if tc.msg == nil {
				_ = c.conn.Write(c.ctx, websocket.MessageText, []byte("{nope"))
			} else {
				c.send(tc.msg)
			}
			if tc.wantType == "" {
				if _, _, err := c.conn.Read(c.ctx); err == nil {
					t.Fatal("connection still open after invalid JSON")
				}
				return
			}
			m := c.recv()
			if m["type"] != tc.wantType || !strings.HasPrefix(stringOf(m["message"]), tc.wantMsg) {
				t.Fatalf("answer %v, want %s %q", m, tc.wantType, tc.wantMsg)
			}
			if tc.wantType == "auth_ok" {
				if m["ha_version"] != "2025.12.3" {
					t.Fatalf("auth_ok without version: %v", m)
				}
				return
			}
			var ce websocket.CloseError
			if _, _, err := c.conn.Read(c.ctx); !errors.As(err, &ce) {
				t.Fatalf("connection not closed after auth_invalid: %v", err)
			}
		})
	}
}

func stringOf(v any) string { s, _ := v.(string); return s }

func TestWebSocketCommands(t *testing.T) {
	tests := []struct {
		name    string
		msg     map[string]any
		check   func(t *testing.T, m map[string]any)
		errCode string
	}{
		{name: "ping", msg: map[string]any{"id": 1, "type": "ping"}, check: func(t *testing.T, m map[string]any) {
			if m["type"] != "pong" || m["id"] != 1.0 {
				t.Fatalf("%v", m)
			}
		}},
		{name: "supported_features", msg: map[string]any{"id": 1, "type": "supported_features", "features": map[string]any{"coalesce_messages": 1}},
			check: func(t *testing.T, m map[string]any) {
				if m["success"] != true || m["result"] != nil {
					t.Fatalf("%v", m)
				}
			}},
		{name: "get_states", msg: map[string]any{"id": 1, "type": "get_states"}, check: func(t *testing.T, m map[string]any) {
			states, _ := m["result"].([]any)
			if len(states) < 10 {
				t.Fatalf("%d states", len(states))
			}
			first := states[0].(map[string]any)
			for _, k := range []string{"entity_id", "state", "attributes", "last_changed", "last_reported", "last_updated", "context"} {
				if _, ok := first[k]; !ok {
					t.Fatalf("state without %s: %v", k, first)
				}
			}
		}},
		{name: "get_config", msg: map[string]any{"id": 1, "type": "get_config"}, check: func(t *testing.T, m map[string]any) {
			cfg := m["result"].(map[string]any)
			if cfg["location_name"] != "Demo Home" || cfg["time_zone"] != "Europe/Berlin" || cfg["version"] != DefaultVersion {
				t.Fatalf("%v", cfg)
			}
		}},
		{name: "get_services", msg: map[string]any{"id": 1, "type": "get_services"}, check: func(t *testing.T, m map[string]any) {
			svcs := m["result"].(map[string]any)
			if _, ok := svcs["light"].(map[string]any)["turn_on"]; !ok {
				t.Fatalf("no light.turn_on in %v", svcs["light"])
			}
		}},
		{name: "area registry", msg: map[string]any{"id": 1, "type": "config/area_registry/list"}, check: func(t *testing.T, m map[string]any) {
			areas := m["result"].([]any)
			lr := areas[1].(map[string]any)
			if len(areas) != 5 || lr["area_id"] != "living_room" || lr["floor_id"] != "ground_floor" || lr["aliases"].([]any)[0] != "lounge" {
				t.Fatalf("%v", areas)
			}
		}},
		{name: "floor registry", msg: map[string]any{"id": 1, "type": "config/floor_registry/list"}, check: func(t *testing.T, m map[string]any) {
			floors := m["result"].([]any)
			f := floors[1].(map[string]any)
			if len(floors) != 2 || f["floor_id"] != "first_floor" || f["level"] != 1.0 {
				t.Fatalf("%v", floors)
			}
		}},
		{name: "device registry", msg: map[string]any{"id": 1, "type": "config/device_registry/list"}, check: func(t *testing.T, m map[string]any) {
			devs := m["result"].([]any)
			if len(devs) != 1 || devs[0].(map[string]any)["area_id"] != "living_room" {
				t.Fatalf("%v", devs)
			}
		}},
		{name: "entity registry list is partial", msg: map[string]any{"id": 1, "type": "config/entity_registry/list"}, check: func(t *testing.T, m map[string]any) {
			for _, e := range m["result"].([]any) {
				entry := e.(map[string]any)
				if _, ok := entry["aliases"]; ok {
					t.Fatalf("list entry carries aliases, core's does not: %v", entry)
				}
				if entry["entity_id"] == "climate.thermostat" && (entry["area_id"] != nil || entry["device_id"] != "thermostat_device") {
					t.Fatalf("thermostat entry %v", entry)
				}
				if entry["entity_id"] == "light.kitchen_ceiling" && (entry["original_name"] != "Kitchen Ceiling" || entry["name"] != nil || entry["platform"] != "hasim") {
					t.Fatalf("kitchen ceiling entry %v", entry)
				}
			}
		}},
		{name: "entity registry get_entries", msg: map[string]any{"id": 1, "type": "config/entity_registry/get_entries",
			"entity_ids": []string{"light.living_room_lamp", "cover.garage_door", "light.none"}}, check: func(t *testing.T, m map[string]any) {
			res := m["result"].(map[string]any)
			lamp := res["light.living_room_lamp"].(map[string]any)
			door := res["cover.garage_door"].(map[string]any)
			if lamp["aliases"].([]any)[0] != "reading lamp" || door["original_device_class"] != "garage" || door["device_class"] != nil {
				t.Fatalf("%v", res)
			}
			if v, ok := res["light.none"]; !ok || v != nil {
				t.Fatalf("unknown id not null: %v", res)
			}
		}},
		{name: "unknown command", msg: map[string]any{"id": 1, "type": "frobnicate"}, errCode: "unknown_command"},
		{name: "missing id", msg: map[string]any{"type": "ping"}, errCode: "invalid_format"},
		{name: "string id", msg: map[string]any{"id": "1", "type": "ping"}, errCode: "invalid_format"},
		{name: "extra key", msg: map[string]any{"id": 1, "type": "get_states", "x": 1}, errCode: "invalid_format"},
		{name: "unknown service", msg: map[string]any{"id": 1, "type": "call_service", "domain": "light", "service": "explode"}, errCode: "not_found",
			check: func(t *testing.T, m map[string]any) {
				e := m["error"].(map[string]any)
				if e["message"] != "Service light.explode not found." || e["translation_key"] != "service_not_found" {
					t.Fatalf("%v", e)
				}
			}},
		{name: "service schema failure", msg: map[string]any{"id": 1, "type": "call_service", "domain": "light", "service": "turn_on",
			"target": map[string]any{"entity_id": "light.kitchen_ceiling"}, "service_data": map[string]any{"brightness_pct": 300}}, errCode: "invalid_format"},
		{name: "service validation error", msg: map[string]any{"id": 1, "type": "call_service", "domain": "climate", "service": "set_temperature",
			"target": map[string]any{"entity_id": "climate.thermostat"}, "service_data": map[string]any{"temperature": 99}}, errCode: "service_validation_error",
			check: func(t *testing.T, m map[string]any) {
				e := m["error"].(map[string]any)
				if !strings.HasPrefix(stringOf(e["message"]), "Validation error: ") || e["translation_key"] != "temp_out_of_range" {
					t.Fatalf("%v", e)
				}
			}},
		{name: "return_response unsupported", msg: map[string]any{"id": 1, "type": "call_service", "domain": "switch", "service": "turn_on",
			"target": map[string]any{"entity_id": "switch.coffee_maker"}, "return_response": true}, errCode: "service_validation_error"},
		{name: "call_service", msg: map[string]any{"id": 1, "type": "call_service", "domain": "light", "service": "turn_on",
			"target": map[string]any{"entity_id": "light.kitchen_ceiling"}, "service_data": map[string]any{"brightness": 10}},
			check: func(t *testing.T, m map[string]any) {
				res := m["result"].(map[string]any)
				ctx := res["context"].(map[string]any)
				if len(stringOf(ctx["id"])) != 26 {
					t.Fatalf("%v", res)
				}
				if _, ok := res["response"]; ok {
					t.Fatalf("response present without return_response: %v", res)
				}
			}},
		{name: "unsubscribe unknown", msg: map[string]any{"id": 1, "type": "unsubscribe_events", "subscription": 77}, errCode: "not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ts := startServer(t, nil, Options{})
			c := authed(t, ts)
			c.send(tc.msg)
			m := c.recv()
			if tc.errCode != "" {
				e, _ := m["error"].(map[string]any)
				if m["type"] != "result" || m["success"] != false || e["code"] != tc.errCode || stringOf(e["message"]) == "" {
					t.Fatalf("answer %v, want error %s", m, tc.errCode)
				}
			} else if m["type"] == "result" && m["success"] != true {
				t.Fatalf("answer %v", m)
			}
			if tc.check != nil {
				tc.check(t, m)
			}
		})
	}
}

func TestWebSocketIDsMustIncrease(t *testing.T) {
	_, ts := startServer(t, nil, Options{})
	c := authed(t, ts)
	c.send(map[string]any{"id": 5, "type": "ping"})
	c.recv()
	for _, id := range []int{5, 3} {
		c.send(map[string]any{"id": id, "type": "ping"})
		m := c.recv()
		if m["error"].(map[string]any)["code"] != "id_reuse" || m["id"] != float64(id) {
			t.Fatalf("id %d: %v", id, m)
		}
	}
	c.send(map[string]any{"id": 6, "type": "ping"})
	if m := c.recv(); m["type"] != "pong" {
		t.Fatalf("id 6 after rejected ones: %v", m)
	}
}

func TestWebSocketEvents(t *testing.T) {
	s, ts := startServer(t, nil, Options{})
	c := authed(t, ts)
	c.send(map[string]any{"id": 1, "type": "subscribe_events", "event_type": "state_changed"})
	if m := c.recv(); m["success"] != true {
		t.Fatalf("%v", m)
	}
	c.send(map[string]any{"id": 2, "type": "call_service", "domain": "switch", "service": "turn_on",
		"service_data": map[string]any{"entity_id": "switch.coffee_maker"}})
	ev := c.recv()
	if ev["type"] != "event" || ev["id"] != 1.0 {
		t.Fatalf("expected the event before the result, got %v", ev)
	}
	payload := ev["event"].(map[string]any)
	data := payload["data"].(map[string]any)
	if payload["event_type"] != "state_changed" || data["entity_id"] != "switch.coffee_maker" ||
		data["old_state"].(map[string]any)["state"] != "off" || data["new_state"].(map[string]any)["state"] != "on" || payload["origin"] != "LOCAL" {
		t.Fatalf("event %v", payload)
	}
	res := c.recv()
	if res["id"] != 2.0 || res["success"] != true {
		t.Fatalf("result %v", res)
	}
	callCtx := res["result"].(map[string]any)["context"].(map[string]any)["id"]
	if payload["context"].(map[string]any)["id"] != callCtx {
		t.Fatal("event context differs from the call's")
	}

	// A removed entity: new_state null.
	s.RemoveState("binary_sensor.back_door")
	ev = c.recv()
	data = ev["event"].(map[string]any)["data"].(map[string]any)
	if data["entity_id"] != "binary_sensor.back_door" || data["new_state"] != nil {
		t.Fatalf("removal event %v", data)
	}

	c.send(map[string]any{"id": 3, "type": "unsubscribe_events", "subscription": 1})
	if m := c.recv(); m["success"] != true {
		t.Fatalf("%v", m)
	}
	if _, err := s.SetState("switch.coffee_maker", "off", nil); err != nil {
		t.Fatal(err)
	}
	c.send(map[string]any{"id": 4, "type": "ping"})
	if m := c.recv(); m["type"] != "pong" {
		t.Fatalf("event after unsubscribe: %v", m)
	}
}

func TestWebSocketAllEvents(t *testing.T) {
	s, ts := startServer(t, nil, Options{})
	c := authed(t, ts)
	c.send(map[string]any{"id": 1, "type": "subscribe_events"})
	c.recv()
	api(t, ts, "POST", "/api/services/lock/unlock", `{"entity_id":"lock.front_door"}`)
	var types []string
	for range 2 {
		types = append(types, stringOf(c.recv()["event"].(map[string]any)["event_type"]))
	}
	if strings.Join(types, ",") != "call_service,state_changed" {
		t.Fatalf("events %v", types)
	}
	if err := s.SetEntityArea("lock.front_door", "garage"); err != nil {
		t.Fatal(err)
	}
	ev := c.recv()["event"].(map[string]any)
	if ev["event_type"] != "entity_registry_updated" || ev["data"].(map[string]any)["entity_id"] != "lock.front_door" {
		t.Fatalf("%v", ev)
	}
	s.PutArea(Area{ID: "attic", Name: "Attic"})
	ev = c.recv()["event"].(map[string]any)
	if ev["event_type"] != "area_registry_updated" || ev["data"].(map[string]any)["action"] != "create" {
		t.Fatalf("%v", ev)
	}
}

func TestWebSocketCoalescedRequests(t *testing.T) {
	_, ts := startServer(t, nil, Options{})
	c := authed(t, ts)
	c.send([]map[string]any{{"id": 1, "type": "ping"}, {"id": 2, "type": "ping"}})
	for want := 1.0; want <= 2; want++ {
		if m := c.recv(); m["type"] != "pong" || m["id"] != want {
			t.Fatalf("%v", m)
		}
	}
}

func TestWebSocketFailingServices(t *testing.T) {
	_, ts := startServer(t, nil, Options{FailServices: true})
	c := authed(t, ts)
	c.send(map[string]any{"id": 1, "type": "call_service", "domain": "switch", "service": "turn_on", "target": map[string]any{"entity_id": "switch.coffee_maker"}})
	m := c.recv()
	if e, _ := m["error"].(map[string]any); m["success"] != false || e["code"] != "home_assistant_error" {
		t.Fatalf("%v", m)
	}
}

func TestWebSocketDelay(t *testing.T) {
	_, ts := startServer(t, nil, Options{Delay: 200 * time.Millisecond})
	c := authed(t, ts)
	start := time.Now()
	c.send(map[string]any{"id": 1, "type": "ping"})
	c.recv()
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Fatalf("answered after %v, before the configured delay", took)
	}
}
