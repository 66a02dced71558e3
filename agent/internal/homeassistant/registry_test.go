package homeassistant

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/homeplane/homeplane/agent/internal/hasim"
)

func TestRegistryJoin(t *testing.T) {
	sim, ts := startSim(t, hasim.Options{})
	if _, err := sim.SetState("sensor.unregistered", "7", map[string]any{"friendly_name": "Loose Sensor", "device_class": "power"}); err != nil {
		t.Fatal(err)
	}
	reg, err := New(ts.URL, token, Options{}).Registry(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]Entity{}
	for _, e := range reg.Entities {
		byID[e.EntityID] = e
	}
	tests := []struct {
		id, name, domain, area, class, state string
		aliases                              []string
	}{
		{"light.kitchen_ceiling", "Kitchen Ceiling", "light", "kitchen", "", "off", []string{}},
		{"light.living_room_lamp", "Living Room Lamp", "light", "living_room", "", "off", []string{"reading lamp"}},
		{"climate.thermostat", "Thermostat", "climate", "living_room", "", "heat", []string{}}, // area from its device
		{"cover.garage_door", "Garage Door", "cover", "garage", "garage", "closed", []string{}},
		{"binary_sensor.back_door", "Back Door", "binary_sensor", "", "door", "off", []string{}},
		{"sensor.kitchen_temperature", "Kitchen Temperature", "sensor", "kitchen", "temperature", "20.8", []string{}},
		{"sensor.unregistered", "Loose Sensor", "sensor", "", "power", "7", []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			e, ok := byID[tc.id]
			if !ok {
				t.Fatal("missing")
			}
			if e.Name != tc.name || e.Domain != tc.domain || e.AreaID != tc.area || e.DeviceClass != tc.class ||
				e.State.State != tc.state || e.State.EntityID != tc.id || !slices.Equal(e.Aliases, tc.aliases) {
				t.Fatalf("got %+v", e)
			}
		})
	}
	if len(reg.Entities) != len(sim.States()) {
		t.Fatalf("%d entities, sim has %d states", len(reg.Entities), len(sim.States()))
	}
	if !slices.IsSortedFunc(reg.Entities, func(a, b Entity) int { return strings.Compare(a.EntityID, b.EntityID) }) {
		t.Fatal("entities not sorted")
	}
	if len(reg.Areas) != 5 || reg.Areas[1].ID != "living_room" || reg.Areas[1].FloorID != "ground_floor" || !slices.Equal(reg.Areas[1].Aliases, []string{"lounge"}) {
		t.Fatalf("areas %+v", reg.Areas)
	}
	if len(reg.Floors) != 2 || reg.Floors[1].Level != 1 || reg.Floors[1].Name != "First Floor" || !slices.Equal(reg.Floors[1].Aliases, []string{"upstairs"}) {
		t.Fatalf("floors %+v", reg.Floors)
	}
}

func TestJoinNames(t *testing.T) {
	s := func(v string) *string { return &v }
	st := State{EntityID: "light.x", Attributes: map[string]any{"friendly_name": "Desk Desk light", "device_class": "attr"}}
	tests := []struct {
		name  string
		entry entryWire
		want  string
		class string
	}{
		{"registry name wins", entryWire{EntityID: "light.x", Name: s("Mine"), OriginalName: s("Theirs")}, "Mine", "attr"},
		{"original name", entryWire{EntityID: "light.x", OriginalName: s("Theirs"), OriginalDeviceClass: s("orig")}, "Theirs", "orig"},
		{"has_entity_name uses the composed name", entryWire{EntityID: "light.x", OriginalName: s("light"), HasEntityName: true}, "Desk Desk light", "attr"},
		{"friendly name", entryWire{EntityID: "light.x"}, "Desk Desk light", "attr"},
		{"user device class", entryWire{EntityID: "light.x", DeviceClass: s("user"), OriginalDeviceClass: s("orig")}, "Desk Desk light", "user"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := join(nil, nil, nil, []entryWire{tc.entry}, map[string]*entryWire{}, map[string]State{"light.x": st})
			if len(reg.Entities) != 1 || reg.Entities[0].Name != tc.want || reg.Entities[0].DeviceClass != tc.class {
				t.Fatalf("got %+v", reg.Entities)
			}
		})
	}
	disabled := join(nil, nil, nil, []entryWire{{EntityID: "light.y", DisabledBy: s("user")}}, nil, map[string]State{})
	if len(disabled.Entities) != 0 {
		t.Fatalf("disabled entity listed: %+v", disabled.Entities)
	}
}

// recorder collects Watch changes for polling.
type recorder struct {
	mu      sync.Mutex
	changes []Change
}

func (r *recorder) add(c Change) {
	r.mu.Lock()
	r.changes = append(r.changes, c)
	r.mu.Unlock()
}

func (r *recorder) waitFor(tb testing.TB, what string, match func(Change) bool) Change {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		for _, c := range r.changes {
			if match(c) {
				r.mu.Unlock()
				return c
			}
		}
		r.mu.Unlock()
		time.Sleep(5 * time.Millisecond) // polling interval, not a wait for the event
	}
	tb.Fatalf("no change: %s", what)
	return Change{}
}

// waitWatching writes probe states until Watch reports one: its
// subscriptions are then in place.
func waitWatching(tb testing.TB, sim *hasim.Server, rec *recorder) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for n := 0; time.Now().Before(deadline); n++ {
		if _, err := sim.SetState("sensor.probe", strconv.Itoa(n), nil); err != nil {
			tb.Fatal(err)
		}
		rec.mu.Lock()
		seen := slices.ContainsFunc(rec.changes, func(c Change) bool { return c.EntityID == "sensor.probe" })
		rec.mu.Unlock()
		if seen {
			return
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
	tb.Fatal("Watch never reported the probe")
}

func TestWatch(t *testing.T) {
	sim, ts := startSim(t, hasim.Options{})
	c := New(ts.URL, token, Options{})
	ctx, cancel := context.WithCancel(testContext(t))
	rec := &recorder{}
	done := make(chan error, 1)
	go func() { done <- c.Watch(ctx, rec.add) }()

	waitWatching(t, sim, rec)

	if _, err := c.CallService(ctx, "light", "turn_on", map[string]any{"entity_id": "light.bedroom_lamp", "brightness": 77}); err != nil {
		t.Fatal(err)
	}
	got := rec.waitFor(t, "bedroom lamp on", func(ch Change) bool {
		return ch.EntityID == "light.bedroom_lamp" && ch.New != nil && ch.New.State == "on"
	})
	if got.New.Attributes["brightness"] != 77.0 || got.RegistryChanged {
		t.Fatalf("change %+v", got)
	}

	sim.RemoveState("binary_sensor.back_door")
	rec.waitFor(t, "removal", func(ch Change) bool { return ch.EntityID == "binary_sensor.back_door" && ch.New == nil })

	if err := sim.SetEntityArea("lock.front_door", "garage"); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "registry update", func(ch Change) bool { return ch.RegistryChanged && ch.EntityID == "lock.front_door" })
	sim.PutArea(hasim.Area{ID: "attic", Name: "Attic"})
	rec.waitFor(t, "area update", func(ch Change) bool { return ch.RegistryChanged && ch.EntityID == "" })

	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Watch returned %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
}

func TestWatchConnectionLoss(t *testing.T) {
	sim, ts := startSim(t, hasim.Options{})
	c := New(ts.URL, token, Options{})
	ctx := testContext(t)
	done := make(chan error, 1)
	rec := &recorder{}
	go func() { done <- c.Watch(ctx, rec.add) }()
	waitWatching(t, sim, rec)
	sim.CloseConnections()
	select {
	case err := <-done:
		if err == nil || errors.Is(err, context.Canceled) || ctx.Err() != nil {
			t.Fatalf("Watch returned %v, want a connection error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not notice the lost connection")
	}
}
