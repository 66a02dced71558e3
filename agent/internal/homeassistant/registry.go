package homeassistant

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Area is an area registry entry.
type Area struct {
	ID      string
	Name    string
	Aliases []string
	FloorID string
}

// Floor is a floor registry entry; Level is 0 when Home Assistant has none.
type Floor struct {
	ID      string
	Name    string
	Aliases []string
	Level   int
}

// Entity is an entity registry entry joined with its state.
type Entity struct {
	EntityID    string
	Name        string
	Domain      string
	DeviceClass string
	AreaID      string
	Aliases     []string
	State       State
}

// Registry is the home's areas, floors and entities.
type Registry struct {
	Entities []Entity
	Areas    []Area
	Floors   []Floor
}

type areaWire struct {
	AreaID  string   `json:"area_id"`
	Name    string   `json:"name"`
	Aliases []string `json:"aliases"`
	FloorID *string  `json:"floor_id"`
}

type floorWire struct {
	FloorID string   `json:"floor_id"`
	Name    string   `json:"name"`
	Aliases []string `json:"aliases"`
	Level   *int     `json:"level"`
}

type deviceWire struct {
	ID     string  `json:"id"`
	AreaID *string `json:"area_id"`
}

// entryWire covers both the partial entries of config/entity_registry/list
// and the extended ones of config/entity_registry/get_entries.
type entryWire struct {
	EntityID            string   `json:"entity_id"`
	Name                *string  `json:"name"`
	OriginalName        *string  `json:"original_name"`
	HasEntityName       bool     `json:"has_entity_name"`
	AreaID              *string  `json:"area_id"`
	DeviceID            *string  `json:"device_id"`
	DisabledBy          *string  `json:"disabled_by"`
	Aliases             []string `json:"aliases"`
	DeviceClass         *string  `json:"device_class"`
	OriginalDeviceClass *string  `json:"original_device_class"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// maxRegistryEntries bounds each registry list and the states read: ten
// times what central keeps, and far past any real home.
const maxRegistryEntries = 200_000

// getEntriesBatch bounds the size of one get_entries request.
const getEntriesBatch = 500

// Registry reads the area, floor, device and entity registries and every
// state over one WebSocket session and joins them. Entities that only have a
// state (no registry entry) are included; disabled entities are not.
func (c *Client) Registry(ctx context.Context) (Registry, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	s, err := c.dial(ctx)
	if err != nil {
		return Registry{}, fmt.Errorf("registry: %w", err)
	}
	defer s.close()

	areas, err := decodeListOf[areaWire](ctx, s, "config/area_registry/list")
	if err != nil {
		return Registry{}, fmt.Errorf("registry: %w", err)
	}
	// Floors arrived in Home Assistant 2024.4; older versions have none.
	floors, err := decodeListOf[floorWire](ctx, s, "config/floor_registry/list")
	if err != nil && !isUnknownCommand(err) {
		return Registry{}, fmt.Errorf("registry: %w", err)
	}
	devices, err := decodeListOf[deviceWire](ctx, s, "config/device_registry/list")
	if err != nil {
		return Registry{}, fmt.Errorf("registry: %w", err)
	}
	entries, err := decodeListOf[entryWire](ctx, s, "config/entity_registry/list")
	if err != nil {
		return Registry{}, fmt.Errorf("registry: %w", err)
	}
	// The list carries no aliases or device classes; the extended entries do.
	extended := map[string]*entryWire{}
	ids := make([]string, 0, len(entries))
	for _, e := range entries {
		ids = append(ids, e.EntityID)
	}
	for start := 0; start < len(ids); start += getEntriesBatch {
		batch := ids[start:min(start+getEntriesBatch, len(ids))]
		part := map[string]*entryWire{}
		err := s.decode(ctx, "config/entity_registry/get_entries", map[string]any{"entity_ids": batch}, &part)
		if isUnknownCommand(err) {
			c.log.Warn("home assistant has no config/entity_registry/get_entries: entity aliases unavailable")
			break
		}
		if err != nil {
			return Registry{}, fmt.Errorf("registry: %w", err)
		}
		for k, v := range part {
			extended[k] = v
		}
	}
	rawStates, err := decodeListOf[json.RawMessage](ctx, s, "get_states")
	if err != nil {
		return Registry{}, fmt.Errorf("registry: %w", err)
	}
	states := make(map[string]State, len(rawStates))
	for _, raw := range rawStates {
		var st State
		if err := json.Unmarshal(raw, &st); err != nil {
			c.log.Warn("skipping malformed state object", "err", err)
			continue
		}
		states[st.EntityID] = st
	}
	return join(areas, floors, devices, entries, extended, states), nil
}

// decodeListOf runs a command answered by a list, within maxRegistryEntries.
func decodeListOf[T any](ctx context.Context, s *session, typ string) ([]T, error) {
	raw, err := s.command(ctx, typ, nil)
	if err != nil {
		return nil, err
	}
	out, err := decodeList[T](ctx, raw, maxRegistryEntries)
	if err != nil {
		return nil, fmt.Errorf("home assistant: %s: decode: %w", typ, err)
	}
	return out, nil
}

func (s *session) decode(ctx context.Context, typ string, fields map[string]any, out any) error {
	raw, err := s.command(ctx, typ, fields)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("home assistant: %s: decode: %w", typ, err)
	}
	return nil
}

func join(areas []areaWire, floors []floorWire, devices []deviceWire, entries []entryWire,
	extended map[string]*entryWire, states map[string]State) Registry {
	var reg Registry
	for _, a := range areas {
		reg.Areas = append(reg.Areas, Area{ID: a.AreaID, Name: a.Name, Aliases: nonNil(a.Aliases), FloorID: str(a.FloorID)})
	}
	for _, f := range floors {
		fl := Floor{ID: f.FloorID, Name: f.Name, Aliases: nonNil(f.Aliases)}
		if f.Level != nil {
			fl.Level = *f.Level
		}
		reg.Floors = append(reg.Floors, fl)
	}
	deviceArea := map[string]string{}
	for _, d := range devices {
		deviceArea[d.ID] = str(d.AreaID)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		if e.EntityID == "" || e.DisabledBy != nil || seen[e.EntityID] {
			continue
		}
		seen[e.EntityID] = true
		if x := extended[e.EntityID]; x != nil {
			e.Aliases, e.DeviceClass, e.OriginalDeviceClass = x.Aliases, x.DeviceClass, x.OriginalDeviceClass
		}
		st, ok := states[e.EntityID]
		if !ok {
			st = State{EntityID: e.EntityID, Attributes: map[string]any{}}
		}
		ent := Entity{
			EntityID:    e.EntityID,
			Domain:      domainOf(e.EntityID),
			Name:        entityName(e, st),
			DeviceClass: firstNonEmpty(str(e.DeviceClass), str(e.OriginalDeviceClass), attrString(st, "device_class")),
			AreaID:      firstNonEmpty(str(e.AreaID), deviceArea[str(e.DeviceID)]),
			Aliases:     nonNil(e.Aliases),
			State:       st,
		}
		reg.Entities = append(reg.Entities, ent)
	}
	for id, st := range states {
		if seen[id] {
			continue
		}
		reg.Entities = append(reg.Entities, Entity{
			EntityID:    id,
			Domain:      domainOf(id),
			Name:        firstNonEmpty(attrString(st, "friendly_name"), objectID(id)),
			DeviceClass: attrString(st, "device_class"),
			Aliases:     []string{},
			State:       st,
		})
	}
	sort.Slice(reg.Entities, func(i, j int) bool { return reg.Entities[i].EntityID < reg.Entities[j].EntityID })
	return reg
}

// entityName prefers the user's name, then the integration's. With
// has_entity_name the integration's name is only the part after the device
// name, so the composed friendly_name is the better whole name.
func entityName(e entryWire, st State) string {
	if n := str(e.Name); n != "" {
		return n
	}
	if e.HasEntityName {
		if n := attrString(st, "friendly_name"); n != "" {
			return n
		}
	}
	return firstNonEmpty(str(e.OriginalName), attrString(st, "friendly_name"), objectID(e.EntityID))
}

func attrString(st State, key string) string {
	s, _ := st.Attributes[key].(string)
	return s
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func domainOf(entityID string) string {
	d, _, _ := strings.Cut(entityID, ".")
	return d
}

func objectID(entityID string) string {
	_, o, _ := strings.Cut(entityID, ".")
	return o
}
