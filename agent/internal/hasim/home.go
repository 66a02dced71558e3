// Package hasim simulates Home Assistant's REST and WebSocket API for a
// configurable home, so the agent can be tested without a real instance.
package hasim

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/homeplane/homeplane/protocol/fixture"
)

// Home is the configuration a simulator starts from.
type Home struct {
	LocationName string
	TimeZone     string
	Floors       []Floor
	Areas        []Area
	Devices      []Device
	Entities     []Entity
}

// Floor is a floor registry entry. Level nil is reported as null.
type Floor struct {
	ID      string
	Name    string
	Aliases []string
	Level   *int
}

// Area is an area registry entry.
type Area struct {
	ID      string
	Name    string
	Aliases []string
	FloorID string
}

// Device is a device registry entry; entities without an area of their own
// take the area of their device.
type Device struct {
	ID           string
	Name         string
	AreaID       string
	Manufacturer string
	Model        string
}

// Entity is an entity with its registry entry and initial state.
type Entity struct {
	ID string
	// Name is the integration's name for the entity (original_name).
	Name string
	// RegistryName is a name the user gave it (registry "name"); empty: none.
	RegistryName string
	Aliases      []string
	AreaID       string
	DeviceID     string
	DeviceClass  string
	Platform     string
	State        string
	Attributes   map[string]any
	// NoRegistry leaves the entity out of the entity registry, like states
	// written through the REST API or by integrations without unique ids.
	NoRegistry bool
}

func intp(i int) *int { return &i }

// DemoHome returns the built-in demo home.
func DemoHome() *Home {
	return &Home{
		LocationName: "Demo Home",
		TimeZone:     "Europe/Berlin",
		Floors: []Floor{
			{ID: "ground_floor", Name: "Ground Floor", Aliases: []string{"downstairs"}, Level: intp(0)},
			{ID: "first_floor", Name: "First Floor", Aliases: []string{"upstairs"}, Level: intp(1)},
		},
		Areas: []Area{
			{ID: "kitchen", Name: "Kitchen", FloorID: "ground_floor"},
			{ID: "living_room", Name: "Living Room", Aliases: []string{"lounge"}, FloorID: "ground_floor"},
			{ID: "bedroom", Name: "Bedroom", FloorID: "first_floor"},
			{ID: "office", Name: "Office", Aliases: []string{"study"}, FloorID: "first_floor"},
			{ID: "garage", Name: "Garage", FloorID: "ground_floor"},
		},
		Devices: []Device{
			{ID: "thermostat_device", Name: "Thermostat", AreaID: "living_room", Manufacturer: "Homeplane", Model: "Sim Thermostat"},
		},
		Entities: []Entity{
			{ID: "light.kitchen_ceiling", Name: "Kitchen Ceiling", AreaID: "kitchen", State: "off",
				Attributes: map[string]any{"supported_color_modes": []any{"color_temp", "hs"}, "min_color_temp_kelvin": 2000, "max_color_temp_kelvin": 6535, "supported_features": 32}},
			{ID: "light.kitchen_counter", Name: "Kitchen Counter", AreaID: "kitchen", State: "off",
				Attributes: map[string]any{"supported_color_modes": []any{"brightness"}, "supported_features": 0}},
			{ID: "switch.coffee_maker", Name: "Coffee Maker", AreaID: "kitchen", DeviceClass: "outlet", State: "off"},
			{ID: "light.living_room_lamp", Name: "Living Room Lamp", Aliases: []string{"reading lamp"}, AreaID: "living_room", State: "off",
				Attributes: map[string]any{"supported_color_modes": []any{"hs"}, "supported_features": 0}},
			{ID: "media_player.tv", Name: "TV", Aliases: []string{"television"}, AreaID: "living_room", DeviceClass: "tv", State: "off",
				Attributes: map[string]any{"supported_features": 1 | 4 | 8 | 16 | 32 | 128 | 256 | 1024 | 4096 | 16384}},
			{ID: "light.bedroom_lamp", Name: "Bedroom Lamp", AreaID: "bedroom", State: "off",
				Attributes: map[string]any{"supported_color_modes": []any{"brightness"}, "supported_features": 32}},
			{ID: "fan.bedroom_fan", Name: "Bedroom Fan", AreaID: "bedroom", State: "off",
				Attributes: map[string]any{"supported_features": 1 | 16 | 32, "percentage_step": 33.333333333333336, "preset_modes": nil}},
			{ID: "lock.front_door", Name: "Front Door", State: "locked", Attributes: map[string]any{"supported_features": 0}},
			{ID: "cover.garage_door", Name: "Garage Door", AreaID: "garage", DeviceClass: "garage", State: "closed",
				Attributes: map[string]any{"supported_features": 1 | 2 | 4 | 8, "current_position": 0}},
			{ID: "climate.thermostat", Name: "Thermostat", DeviceID: "thermostat_device", State: "heat",
				Attributes: map[string]any{"hvac_modes": []any{"off", "heat", "cool", "auto"}, "min_temp": 7, "max_temp": 35, "target_temp_step": 0.5,
					"current_temperature": 21.5, "temperature": 21.0, "hvac_action": "idle", "supported_features": 1 | 128 | 256}},
			{ID: "sensor.kitchen_temperature", Name: "Kitchen Temperature", AreaID: "kitchen", DeviceClass: "temperature", State: "20.8",
				Attributes: map[string]any{"unit_of_measurement": "°C", "state_class": "measurement"}},
			{ID: "binary_sensor.back_door", Name: "Back Door", DeviceClass: "door", State: "off"},
			{ID: "scene.movie_night", Name: "Movie Night", AreaID: "living_room", State: "unknown"},
			{ID: "script.good_night", Name: "Good Night", State: "off"},
			{ID: "vacuum.robot", Name: "Robot Vacuum", AreaID: "living_room", State: "docked",
				Attributes: map[string]any{"supported_features": 8192 | 16 | 4 | 8 | 512}},
			{ID: "valve.garden_water", Name: "Garden Water", AreaID: "garage", DeviceClass: "water", State: "closed",
				Attributes: map[string]any{"supported_features": 1 | 2}},
			{ID: "input_boolean.guest_mode", Name: "Guest Mode", State: "off"},
			{ID: "todo.shopping_list", Name: "Shopping List", State: "0", Attributes: map[string]any{"supported_features": 1 | 2 | 4 | 8}},
			{ID: "todo.personal_tasks", Name: "Personal Tasks", State: "0", Attributes: map[string]any{"supported_features": 1 | 2 | 4 | 8 | 16 | 64}},
			{ID: "alarm_control_panel.home_alarm", Name: "Home Alarm", State: "disarmed",
				Attributes: map[string]any{"supported_features": 1 | 2 | 4 | 8, "code_format": "number", "code_arm_required": true, "changed_by": nil, alarmCodeAttr: "1234"}},
			{ID: "humidifier.bedroom_humidifier", Name: "Bedroom Humidifier", AreaID: "bedroom", DeviceClass: "humidifier", State: "off",
				Attributes: map[string]any{"supported_features": 1, "min_humidity": 30, "max_humidity": 80, "humidity": 45,
					"available_modes": []any{"normal", "eco", "sleep"}, "mode": "normal", "current_humidity": 41}},
		},
	}
}

// LoadHome reads a home in the format of the intents evaluation fixtures:
// floors, areas and entities. A missing state means "off"; entities without
// an id get one from their domain and name; ids are normalised to valid
// entity ids (lowercase, other characters replaced by "_").
func LoadHome(path string) (*Home, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load home: %w", err)
	}
	defer f.Close()
	h, err := ReadHome(f)
	if err != nil {
		return nil, fmt.Errorf("load home %s: %w", path, err)
	}
	return h, nil
}

// ReadHome is LoadHome for an already open file.
func ReadHome(r io.Reader) (*Home, error) {
	ff, err := fixture.Read(r)
	if err != nil {
		return nil, err
	}
	h := &Home{LocationName: "Home", TimeZone: "UTC"}
	var problems []error
	for _, fl := range ff.Floors {
		if fl.ID == "" {
			problems = append(problems, fmt.Errorf("floor %q: no id", fl.Name))
			continue
		}
		h.Floors = append(h.Floors, Floor{ID: fl.ID, Name: fl.Name, Aliases: fl.Aliases, Level: fl.Level})
	}
	for _, a := range ff.Areas {
		if a.ID == "" {
			problems = append(problems, fmt.Errorf("area %q: no id", a.Name))
			continue
		}
		h.Areas = append(h.Areas, Area{ID: a.ID, Name: a.Name, Aliases: a.Aliases, FloorID: a.FloorID})
	}
	seen := map[string]bool{}
	for i, e := range ff.Entities {
		id := normaliseEntityID(e.ID, e.Domain, e.Name)
		if !validEntityID(id) {
			problems = append(problems, fmt.Errorf("entity %d (%q): invalid entity id %q", i, e.Name, id))
			continue
		}
		base := id
		for n := 2; seen[id]; n++ {
			id = fmt.Sprintf("%s_%d", base, n)
		}
		seen[id] = true
		state := "off"
		if e.State != nil {
			state = *e.State
		}
		h.Entities = append(h.Entities, Entity{
			ID: id, Name: e.Name, Aliases: e.Aliases, AreaID: e.AreaID,
			DeviceClass: e.DeviceClass, State: state, Attributes: e.Attributes,
		})
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	return h, nil
}

func normaliseEntityID(id, domain, name string) string {
	if id == "" {
		return domain + "." + slugify(name)
	}
	d, obj, ok := strings.Cut(strings.ToLower(id), ".")
	if !ok {
		return strings.ToLower(id)
	}
	return d + "." + slugify(obj)
}
