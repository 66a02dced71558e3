package intent

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// call is one service and its data for one entity, before grouping.
type call struct {
	domain, service string
	data            map[string]any
}

// planTurn carries HassTurnOn and HassTurnOff: the service for one entity,
// or ok false when the entity cannot do it.
func planTurn(in Intent, e *homeplanev1.Entity) (call, bool) {
	d := e.GetDomain()
	on := in.Name == TurnOn
	switch d {
	case "lock":
		return call{d, pick(on, "lock", "unlock"), nil}, true
	case "cover":
		return call{d, pick(on, "open_cover", "close_cover"), nil}, true
	case "valve":
		return call{d, pick(on, "open_valve", "close_valve"), nil}, true
	case "scene":
		return call{d, "turn_on", nil}, on
	case "button", "input_button":
		return call{d, "press", nil}, on
	case "vacuum":
		return call{d, pick(on, "start", "return_to_base"), nil}, true
	case "sensor", "binary_sensor", "person", "weather", "todo", "sun", "zone", "device_tracker":
		return call{}, false
	}
	return call{d, pick(on, "turn_on", "turn_off"), nil}, true
}

func planToggle(_ Intent, e *homeplanev1.Entity) (call, bool) {
	d := e.GetDomain()
	if d == "sensor" || d == "binary_sensor" {
		return call{}, false
	}
	return call{d, "toggle", nil}, true
}

func planLightSet(in Intent, e *homeplanev1.Entity) (call, bool) {
	data := map[string]any{}
	if b, ok := in.Number("brightness"); ok {
		data["brightness_pct"] = clamp(b, 0, 100)
	}
	if c := in.Slot("color"); c != "" {
		data["color_name"] = strings.ReplaceAll(c, " ", "")
	}
	if t, ok := in.Number("temperature"); ok {
		data["color_temp_kelvin"] = t
	}
	return call{"light", "turn_on", data}, e.GetDomain() == "light"
}

func planClimateSet(in Intent, e *homeplanev1.Entity) (call, bool) {
	t, ok := in.Number("temperature")
	return call{"climate", "set_temperature", map[string]any{"temperature": t}}, ok && e.GetDomain() == "climate"
}

func planSetPosition(in Intent, e *homeplanev1.Entity) (call, bool) {
	d := e.GetDomain()
	p, ok := in.Number("position")
	switch d {
	case "cover":
		return call{d, "set_cover_position", map[string]any{"position": clamp(p, 0, 100)}}, ok
	case "valve":
		return call{d, "set_valve_position", map[string]any{"position": clamp(p, 0, 100)}}, ok
	}
	return call{}, false
}

// planStopMoving stops a cover or valve where it is: Home Assistant's
// HassStopMoving.
func planStopMoving(_ Intent, e *homeplanev1.Entity) (call, bool) {
	switch d := e.GetDomain(); d {
	case "cover":
		return call{d, "stop_cover", nil}, true
	case "valve":
		return call{d, "stop_valve", nil}, true
	}
	return call{}, false
}

// planFanSpeed is fan.turn_on with the percentage, as Home Assistant's
// HassFanSetSpeed calls it: a fan without SET_SPEED still turns on (core
// refuses fan.set_percentage on it), and 0 turns the fan off.
func planFanSpeed(in Intent, e *homeplanev1.Entity) (call, bool) {
	p, ok := in.Number("percentage")
	return call{"fan", "turn_on", map[string]any{"percentage": clamp(p, 0, 100)}}, ok && e.GetDomain() == "fan"
}

// planMedia is a media player service without data.
func planMedia(service string) func(Intent, *homeplanev1.Entity) (call, bool) {
	return func(_ Intent, e *homeplanev1.Entity) (call, bool) {
		d := e.GetDomain()
		return call{d, service, nil}, d == "media_player"
	}
}

func planSetVolume(in Intent, e *homeplanev1.Entity) (call, bool) {
	d := e.GetDomain()
	v, ok := in.Number("volume_level")
	return call{d, "volume_set", map[string]any{"volume_level": clamp(v, 0, 100) / 100}}, ok && d == "media_player"
}

func planSearchAndPlay(in Intent, e *homeplanev1.Entity) (call, bool) {
	d := e.GetDomain()
	q := in.Slot("search_query")
	class := in.Slot("media_class")
	if class == "" {
		class = "music"
	}
	return call{d, "play_media", map[string]any{"media_content_id": q, "media_content_type": class}}, q != "" && d == "media_player"
}

// planVacuum is a vacuum service without data.
func planVacuum(service string) func(Intent, *homeplanev1.Entity) (call, bool) {
	return planOwn("vacuum", service)
}

// planMower is a lawn mower service without data (Home Assistant's
// lawn_mower.start_mowing and lawn_mower.dock).
// Home Assistant's mower intents require the service's feature
// (LawnMowerEntityFeature START_MOWING 1, DOCK 4): a mower reporting
// supported_features without it is not acted on, and with none acting the
// answer is that no device can do it. One reporting no features at all is
// taken as capable, as the simulator takes it.
func planMower(service string) func(Intent, *homeplanev1.Entity) (call, bool) {
	need := map[string]float64{"start_mowing": 1, "dock": 4}[service]
	own := planOwn("lawn_mower", service)
	return func(in Intent, e *homeplanev1.Entity) (call, bool) {
		c, ok := own(in, e)
		if f, has := attrNumber(e, "supported_features"); has && int(f)&int(need) == 0 {
			return call{}, false
		}
		return c, ok
	}
}

// planOwn is a service without data that only entities of its domain take.
func planOwn(domain, service string) func(Intent, *homeplanev1.Entity) (call, bool) {
	return func(_ Intent, e *homeplanev1.Entity) (call, bool) {
		d := e.GetDomain()
		return call{d, service, nil}, d == domain
	}
}

func planListAdd(in Intent, e *homeplanev1.Entity) (call, bool) {
	return call{"todo", "add_item", map[string]any{"item": in.Slot("item")}}, e.GetDomain() == "todo"
}

func planListComplete(in Intent, e *homeplanev1.Entity) (call, bool) {
	return call{"todo", "update_item", map[string]any{"item": in.Slot("item"), "status": "completed"}}, e.GetDomain() == "todo"
}

func pick(on bool, a, b string) string {
	if on {
		return a
	}
	return b
}

func clamp(v, lo, hi float64) float64 {
	return max(lo, min(hi, v))
}

// buildCalls groups the entities' calls by service and data, keeping the
// order in which each service first appeared.
func buildCalls(reg *Index, in Intent, targets []int) ([]*homeplanev1.ServiceCall, []int, error) {
	type group struct {
		call
		ids []string
	}
	var groups []*group
	index := map[string]*group{}
	var acted []int
	plan := entry(in.Name).plan
	if plan == nil {
		return nil, nil, nil
	}
	for _, i := range targets {
		e := reg.entities[i]
		c, ok := plan(in, e)
		if !ok {
			continue
		}
		key := c.domain + "." + c.service + fmt.Sprint(c.data)
		g := index[key]
		if g == nil {
			g = &group{call: c}
			index[key] = g
			groups = append(groups, g)
		}
		g.ids = append(g.ids, e.GetEntityId())
		acted = append(acted, i)
	}
	calls := make([]*homeplanev1.ServiceCall, 0, len(groups))
	for _, g := range groups {
		sc := &homeplanev1.ServiceCall{Domain: g.domain, Service: g.service, EntityIds: g.ids}
		if len(g.data) > 0 {
			data, err := structpb.NewStruct(g.data)
			if err != nil {
				return nil, nil, fmt.Errorf("service data: %w", err)
			}
			sc.Data = data
		}
		calls = append(calls, sc)
	}
	return calls, acted, nil
}
