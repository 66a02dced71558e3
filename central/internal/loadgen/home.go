package loadgen

import (
	"strconv"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// baseEntity is one entity every simulated home has. Homes share the table
// and keep only the states that differ from it, so 15,000 homes cost little.
type baseEntity struct {
	id, name, domain, deviceClass, area, state string
	aliases                                    []string
	attrs                                      map[string]any
}

var (
	baseFloors = []*homeplanev1.Floor{
		{Id: "ground_floor", Name: "Ground Floor", Aliases: []string{"downstairs"}, Level: 0},
		{Id: "first_floor", Name: "First Floor", Aliases: []string{"upstairs"}, Level: 1},
	}
	baseAreas = []*homeplanev1.Area{
		{Id: "kitchen", Name: "Kitchen", FloorId: "ground_floor"},
		{Id: "living_room", Name: "Living Room", Aliases: []string{"lounge"}, FloorId: "ground_floor"},
		{Id: "bedroom", Name: "Bedroom", FloorId: "first_floor"},
		{Id: "garage", Name: "Garage", FloorId: "ground_floor"},
	}
	baseEntities = []baseEntity{
		{id: "light.kitchen_ceiling", name: "Kitchen Ceiling", domain: "light", area: "kitchen", state: "off",
			attrs: map[string]any{"supported_color_modes": []any{"brightness"}}},
		{id: "light.kitchen_counter", name: "Kitchen Counter", domain: "light", area: "kitchen", state: "off",
			attrs: map[string]any{"supported_color_modes": []any{"brightness"}}},
		{id: "switch.coffee_maker", name: "Coffee Maker", domain: "switch", deviceClass: "outlet", area: "kitchen", state: "off"},
		{id: "light.living_room_lamp", name: "Living Room Lamp", aliases: []string{"reading lamp"}, domain: "light", area: "living_room", state: "off",
			attrs: map[string]any{"supported_color_modes": []any{"brightness"}}},
		{id: "light.bedroom_lamp", name: "Bedroom Lamp", domain: "light", area: "bedroom", state: "off",
			attrs: map[string]any{"supported_color_modes": []any{"brightness"}}},
		{id: "lock.front_door", name: "Front Door", domain: "lock", state: "locked"},
		{id: "cover.garage_door", name: "Garage Door", domain: "cover", deviceClass: "garage", area: "garage", state: "closed",
			attrs: map[string]any{"supported_features": 15, "current_position": 0}},
		{id: "climate.thermostat", name: "Thermostat", domain: "climate", area: "living_room", state: "heat",
			attrs: map[string]any{"hvac_modes": []any{"off", "heat"}, "min_temp": 7, "max_temp": 35, "current_temperature": 21.5, "temperature": 21.0}},
		{id: "sensor.kitchen_temperature", name: "Kitchen Temperature", domain: "sensor", deviceClass: "temperature", area: "kitchen", state: "20.8",
			attrs: map[string]any{"unit_of_measurement": "°C", "state_class": "measurement"}},
	}
	baseIndex = func() map[string]int {
		m := make(map[string]int, len(baseEntities))
		for i, e := range baseEntities {
			m[e.id] = i
		}
		return m
	}()
	// baseAttrs are the entities' attributes, converted once.
	baseAttrs = func() []*structpb.Struct {
		out := make([]*structpb.Struct, len(baseEntities))
		for i, e := range baseEntities {
			if e.attrs != nil {
				s, err := structpb.NewStruct(e.attrs)
				if err != nil {
					panic(err)
				}
				out[i] = s
			}
		}
		return out
	}()
)

// booted stands for when each simulated Home Assistant last changed its
// entities before the run; like a real one, it reports a stable
// last_changed for an entity until the entity changes.
var booted = time.Now()

// memoryHome is one simulated home's Home Assistant: the base entities with
// the states service calls have changed.
type memoryHome struct {
	mu      sync.Mutex
	changed map[string]string // entity id → state, only where it differs
}

func (h *memoryHome) state(i int) string {
	if s, ok := h.changed[baseEntities[i].id]; ok {
		return s
	}
	return baseEntities[i].state
}

func (h *memoryHome) entity(i int, now time.Time) *homeplanev1.Entity {
	e := baseEntities[i]
	if _, ok := h.changed[e.id]; !ok {
		now = booted
	}
	return &homeplanev1.Entity{
		EntityId: e.id, Name: e.name, Aliases: e.aliases, Domain: e.domain, DeviceClass: e.deviceClass,
		AreaId: e.area, State: h.state(i), Attributes: baseAttrs[i], LastChanged: timestamppb.New(now),
	}
}

// fullSync is the whole registry, as the agent sends it on every connect.
func (h *memoryHome) fullSync() *homeplanev1.EntitySync {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	s := &homeplanev1.EntitySync{Full: true, Floors: baseFloors, Areas: baseAreas, Time: timestamppb.New(now)}
	for i := range baseEntities {
		s.Entities = append(s.Entities, h.entity(i, now))
	}
	return s
}

// sensorDelta moves the kitchen temperature a little, the kind of state
// change a real home reports all day.
func (h *memoryHome) sensorDelta(tick int) *homeplanev1.EntitySync {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := baseIndex["sensor.kitchen_temperature"]
	h.set(i, strconv.FormatFloat(20+float64(tick%30)/10, 'f', 1, 64))
	now := time.Now()
	return &homeplanev1.EntitySync{Entities: []*homeplanev1.Entity{h.entity(i, now)}, Time: timestamppb.New(now)}
}

func (h *memoryHome) set(i int, state string) {
	if state == baseEntities[i].state {
		delete(h.changed, baseEntities[i].id)
		return
	}
	if h.changed == nil {
		h.changed = make(map[string]string, 2)
	}
	h.changed[baseEntities[i].id] = state
}

// run carries out a command's service calls the way Home Assistant would and
// returns the result the agent publishes.
func (h *memoryHome) run(cmd *homeplanev1.Command) *homeplanev1.Result {
	res := &homeplanev1.Result{CommandId: cmd.GetId(), RequestId: cmd.GetRequestId()}
	if d := cmd.GetDeadline(); d != nil && time.Now().After(d.AsTime()) {
		res.ErrorCode, res.Error = "expired", "command arrived after its deadline"
		return res
	}
	if cmd.GetInstance() != nil {
		res.ErrorCode, res.Error = "unavailable", "no supervisor in the simulated home"
		return res
	}
	start := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := map[int]bool{}
	var order []int
	for _, c := range cmd.GetCalls() {
		for _, id := range c.GetEntityIds() {
			i, ok := baseIndex[id]
			if !ok {
				res.ErrorCode, res.Error = "home_assistant", "entity not found: "+id
				return res
			}
			if next, ok := apply(c.GetService(), h.state(i)); ok {
				h.set(i, next)
			}
			if !seen[i] {
				seen[i] = true
				order = append(order, i)
			}
		}
	}
	now := time.Now()
	for _, i := range order {
		res.Changed = append(res.Changed, h.entity(i, now))
	}
	res.Ok = true
	res.HomeAssistantUs = time.Since(start).Microseconds()
	return res
}

// apply is the state a service leaves an entity in; false when the service
// does not change the state itself (a temperature, a brightness).
func apply(service, state string) (string, bool) {
	switch service {
	case "turn_on":
		return "on", true
	case "turn_off":
		return "off", true
	case "toggle":
		if state == "on" {
			return "off", true
		}
		return "on", true
	case "lock":
		return "locked", true
	case "unlock":
		return "unlocked", true
	case "open_cover":
		return "open", true
	case "close_cover":
		return "closed", true
	}
	return state, false
}
