package homeassistant

import (
	"encoding/json"
	"testing"
)

const sampleState = `{"entity_id":"light.kitchen","state":"on","attributes":{"brightness":128,"friendly_name":"Kitchen"},` +
	`"last_changed":"2016-05-30T21:43:32.418320+00:00","last_reported":"2016-05-30T21:43:32+00:00",` +
	`"last_updated":"2016-05-30T21:43:32+00:00","context":{"id":"01J0000000000000000000000","parent_id":null,"user_id":null}}`

func FuzzDecodeState(f *testing.F) {
	f.Add([]byte(sampleState))
	f.Add([]byte(`{"entity_id":"a.b","state":"","attributes":null}`))
	f.Add([]byte(`{"entity_id":"a.b","state":"x","last_changed":"yesterday"}`))
	f.Add([]byte(`[` + sampleState + `]`))
	f.Add([]byte(`{"entity_id":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var st State
		if err := json.Unmarshal(b, &st); err != nil {
			return
		}
		if st.EntityID == "" || st.Attributes == nil {
			t.Fatalf("accepted state without entity id or attributes: %+v", st)
		}
		// A decoded state survives a round trip through its JSON form.
		out, err := json.Marshal(st)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		var again State
		if err := json.Unmarshal(out, &again); err != nil {
			t.Fatalf("round trip of %s: %v", out, err)
		}
		if again.EntityID != st.EntityID || again.State != st.State || !again.LastChanged.Equal(st.LastChanged) {
			t.Fatalf("round trip changed %+v into %+v", st, again)
		}
	})
}

func FuzzDecodeFrame(f *testing.F) {
	f.Add([]byte(`{"type":"auth_required","ha_version":"2026.8.1"}`))
	f.Add([]byte(`{"id":3,"type":"result","success":false,"error":{"code":"not_found","message":"Service light.x not found."}}`))
	f.Add([]byte(`{"id":2,"type":"event","event":{"event_type":"state_changed","data":{"entity_id":"light.kitchen","old_state":null,"new_state":` + sampleState + `}}}`))
	f.Add([]byte(`[{"id":1,"type":"pong"},{"id":2,"type":"event","event":{"event_type":"area_registry_updated","data":{"action":"create","area_id":"x"}}}]`))
	f.Add([]byte(`{"id":2,"type":"event","event":{"event_type":"state_changed","data":{"entity_id":"light.kitchen","new_state":null}}}`))
	f.Add([]byte(`{"id":1,"type":"result","success":true,"result":[` + sampleState + `]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, err := decodeFrame(b)
		if err != nil {
			return
		}
		for _, m := range msgs {
			if m.Error != nil {
				_ = m.Error.Error()
			}
			if m.Type == "result" && len(m.Result) > 0 {
				var states []State
				_ = json.Unmarshal(m.Result, &states)
			}
			if len(m.Event) == 0 {
				continue
			}
			ch, ok, err := decodeEvent(m.Event)
			if err != nil || !ok {
				continue
			}
			if !ch.RegistryChanged && ch.EntityID == "" {
				t.Fatalf("state change without entity id from %s", m.Event)
			}
			if ch.New != nil && ch.New.EntityID == "" {
				t.Fatalf("new state without entity id from %s", m.Event)
			}
		}
	})
}
