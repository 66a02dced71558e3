package hasim

import "slices"

func aliasList(a []string) []string {
	if a == nil {
		return []string{}
	}
	return slices.Clone(a)
}

func (s *Server) stamp() float64 {
	return float64(s.started.UnixMicro()) / 1e6
}

// areaRegistry answers config/area_registry/list.
func (s *Server) areaRegistry() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]map[string]any, 0, len(s.areas))
	for _, a := range s.areas {
		out = append(out, map[string]any{
			"aliases": aliasList(a.Aliases), "area_id": a.ID, "created_at": s.stamp(), "floor_id": nullable(a.FloorID),
			"humidity_entity_id": nil, "icon": nil, "labels": []string{}, "modified_at": s.stamp(), "name": a.Name,
			"picture": nil, "temperature_entity_id": nil,
		})
	}
	return out
}

// floorRegistry answers config/floor_registry/list.
func (s *Server) floorRegistry() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]map[string]any, 0, len(s.floors))
	for _, f := range s.floors {
		var level any
		if f.Level != nil {
			level = *f.Level
		}
		out = append(out, map[string]any{
			"aliases": aliasList(f.Aliases), "created_at": s.stamp(), "floor_id": f.ID, "icon": nil,
			"level": level, "modified_at": s.stamp(), "name": f.Name,
		})
	}
	return out
}

// deviceRegistry answers config/device_registry/list.
func (s *Server) deviceRegistry() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]map[string]any, 0, len(s.devices))
	for _, d := range s.devices {
		out = append(out, map[string]any{
			"area_id": nullable(d.AreaID), "configuration_url": nil, "config_entries": []string{},
			"config_entries_subentries": map[string]any{}, "connections": []any{}, "created_at": s.stamp(),
			"disabled_by": nil, "entry_type": nil, "hw_version": nil, "id": d.ID,
			"identifiers": []any{[]string{"hasim", d.ID}}, "labels": []string{}, "manufacturer": nullable(d.Manufacturer),
			"model": nullable(d.Model), "model_id": nil, "modified_at": s.stamp(), "name_by_user": nil, "name": d.Name,
			"primary_config_entry": nil, "serial_number": nil, "sw_version": nil, "via_device_id": nil,
		})
	}
	return out
}

// partialEntry is core's RegistryEntry.as_partial_dict, one element of
// config/entity_registry/list. It carries neither aliases nor device classes.
func (s *Server) partialEntry(e *registryEntry) map[string]any {
	platform := e.Platform
	if platform == "" {
		platform = "hasim"
	}
	return map[string]any{
		"area_id": nullable(e.AreaID), "categories": map[string]any{}, "config_entry_id": nil,
		"config_subentry_id": nil, "created_at": float64(e.created.UnixMicro()) / 1e6, "device_id": nullable(e.DeviceID),
		"disabled_by": nil, "entity_category": nil, "entity_id": e.ID, "has_entity_name": false, "hidden_by": nil,
		"icon": nil, "id": e.regID, "labels": []string{}, "modified_at": float64(e.created.UnixMicro()) / 1e6,
		"name": nullable(e.RegistryName), "options": map[string]any{}, "original_name": nullable(e.Name),
		"platform": platform, "translation_key": nil, "unique_id": e.ID,
	}
}

// entityRegistry answers config/entity_registry/list.
func (s *Server) entityRegistry() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]map[string]any, 0, len(s.regOrder))
	for _, id := range s.regOrder {
		out = append(out, s.partialEntry(s.registry[id]))
	}
	return out
}

// entityEntries answers config/entity_registry/get_entries: the extended
// entries (with aliases and device classes), null for unknown ids.
func (s *Server) entityEntries(ids []string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]any, len(ids))
	for _, id := range ids {
		e, ok := s.registry[id]
		if !ok {
			out[id] = nil
			continue
		}
		m := s.partialEntry(e)
		m["aliases"] = aliasList(e.Aliases)
		m["capabilities"] = nil
		m["device_class"] = nil
		m["original_device_class"] = nullable(e.DeviceClass)
		m["original_icon"] = nil
		out[id] = m
	}
	return out
}
