package hasim

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Errors a service call ends with; REST and WebSocket map them to Home
// Assistant's answers.
var (
	errServiceNotFound  = errors.New("service not found")
	errServiceFailed    = errors.New("simulated integration failure")
	errNoResponse       = errors.New("service does not support responses")
	errResponseRequired = errors.New("service requires responses")
)

// invalidError is a schema failure (vol.Invalid in core).
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }

func invalid(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

// validationError is a ServiceValidationError raised by a service.
type validationError struct {
	key          string
	msg          string
	placeholders map[string]string
}

func (e *validationError) Error() string { return e.msg }

// write is one state write a handler asks for.
type write struct {
	state string
	attrs map[string]any
}

// handler applies a service to one entity. It gets a copy of the state and
// returns the writes to make (none: nothing to do).
type handler func(s *Server, st State, data map[string]any) ([]write, error)

type responseKind int

const (
	responseNone responseKind = iota
	responseOptional
	responseOnly
)

type serviceSpec struct {
	fields   []string // allowed keys besides the target keys
	required []string
	features int // all of these supported_features bits are needed
	anyOf    int // at least one of these bits is needed
	extra    bool
	response responseKind
	apply    handler
	// answer gives an entity's part of the service response, keyed by
	// entity id as core's entity services do.
	answer func(s *Server, st State, data map[string]any) any
	// custom services (not entity services) run here instead.
	custom func(s *Server, call *callState, data map[string]any) error
}

var targetKeys = []string{"entity_id", "device_id", "area_id", "floor_id", "label_id"}

// callState collects the outcome of one service call.
type callState struct {
	ctx      Context
	changed  []string
	response map[string]any
}

func (c *callState) note(id string) {
	if !slices.Contains(c.changed, id) {
		c.changed = append(c.changed, id)
	}
}

// services returns the service table for the current home.
func (s *Server) servicesLocked() map[string]map[string]serviceSpec {
	t := map[string]map[string]serviceSpec{}
	for d, svcs := range baseServices {
		t[d] = maps.Clone(svcs)
	}
	for _, id := range s.order {
		if domainOf(id) == "script" {
			_, obj, _ := strings.Cut(id, ".")
			if _, clash := t["script"][obj]; !clash {
				scriptID := id
				t["script"][obj] = serviceSpec{extra: true, response: responseOptional,
					custom: func(s *Server, c *callState, data map[string]any) error {
						return s.runScriptLocked(scriptID, c)
					}}
			}
		}
	}
	return t
}

// callServiceLocked runs a service call the way core's ServiceRegistry does.
// returnResponse: the caller asked for the service response.
func (s *Server) callServiceLocked(domain, service string, data map[string]any, returnResponse, websocket bool) (*callState, error) {
	spec, ok := s.servicesLocked()[domain][service]
	if !ok {
		return nil, errServiceNotFound
	}
	if returnResponse && spec.response == responseNone {
		return nil, errNoResponse
	}
	if !returnResponse && spec.response == responseOnly {
		return nil, errResponseRequired
	}
	if data == nil {
		data = map[string]any{}
	}
	s.calls = append(s.calls, ServiceCall{Domain: domain, Service: service, Data: cloneAttrs(data), Time: s.now(), WebSocket: websocket})
	call := &callState{ctx: s.newContext(s.now())}
	s.fireLocked("call_service", map[string]any{"domain": domain, "service": service, "service_data": data}, call.ctx)
	if s.opts.FailServices {
		return nil, errServiceFailed
	}
	if returnResponse {
		call.response = map[string]any{}
	}
	if err := s.runLocked(domain, service, spec, data, call); err != nil {
		return nil, err
	}
	return call, nil
}

func (s *Server) runLocked(domain, service string, spec serviceSpec, data map[string]any, call *callState) error {
	if !spec.extra {
		for k := range data {
			if !slices.Contains(targetKeys, k) && !slices.Contains(spec.fields, k) {
				return invalid("extra keys not allowed @ data['%s']", k)
			}
		}
	}
	for _, k := range spec.required {
		if _, ok := data[k]; !ok {
			return invalid("required key not provided @ data['%s']", k)
		}
	}
	if spec.custom != nil {
		return spec.custom(s, call, data)
	}
	explicit, indirect, err := s.targetsLocked(data)
	if err != nil {
		return err
	}
	if explicit == nil && indirect == nil {
		return invalid("must contain at least one of entity_id, device_id, area_id, floor_id, label_id.")
	}
	fields := map[string]any{}
	for k, v := range data {
		if !slices.Contains(targetKeys, k) {
			fields[k] = v
		}
	}
	var missing []string
	var ids []string
	for _, id := range explicit {
		if id == "all" {
			for _, x := range s.order {
				if domainOf(x) == domain {
					ids = append(ids, x)
				}
			}
			continue
		}
		if _, ok := s.states[id]; !ok {
			missing = append(missing, id)
			continue
		}
		if domainOf(id) != domain {
			continue
		}
		if !supports(s.states[id], spec) {
			return &validationError{key: "service_not_supported",
				msg:          fmt.Sprintf("Entity %s does not support action %s.%s", id, domain, service),
				placeholders: map[string]string{"domain": domain, "service": service, "entity_id": id}}
		}
		ids = append(ids, id)
	}
	for _, id := range indirect {
		if st, ok := s.states[id]; ok && domainOf(id) == domain && supports(st, spec) && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if len(missing) > 0 {
		s.log.Warn("Referenced entities are missing or not currently available", "entities", missing)
	}
	// Validate for every entity before writing any, so a bad call changes nothing.
	type planned struct {
		id     string
		writes []write
	}
	var plan []planned
	for _, id := range ids {
		w, err := spec.apply(s, s.states[id].clone(), fields)
		if err != nil {
			return err
		}
		plan = append(plan, planned{id, w})
	}
	for _, p := range plan {
		if spec.answer != nil && call.response != nil {
			call.response[p.id] = spec.answer(s, s.states[p.id].clone(), fields)
		}
		for _, w := range p.writes {
			if _, changed := s.setStateLocked(p.id, w.state, w.attrs, false, call.ctx); changed {
				call.note(p.id)
			}
		}
	}
	return nil
}

func supports(st State, spec serviceSpec) bool {
	if spec.features == 0 && spec.anyOf == 0 {
		return true
	}
	f, ok := number(st.Attributes["supported_features"])
	if !ok {
		return true // entities that do not report features are taken as capable
	}
	bits := turnOnOffCompat(domainOf(st.EntityID), int(f))
	if bits&spec.features != spec.features {
		return false
	}
	return spec.anyOf == 0 || bits&spec.anyOf != 0
}

// turnOnOffCompat adds the turn on/off bits to a fan or climate entity that
// declares neither. Their entity classes gained TURN_ON/TURN_OFF flags in
// 2024 (climate 2024.2, fan 2024.8); until 2025.1 core added both to every
// entity whose integration implements turn_on/turn_off without declaring
// them, and integrations have declared them since. A simulated entity is
// such an integration's, and homes recorded before the flags existed
// declare neither: they turn on and off as they did then.
func turnOnOffCompat(domain string, bits int) int {
	var on, off int
	switch domain {
	case "fan":
		on, off = 32, 16
	case "climate":
		on, off = 256, 128
	default:
		return bits
	}
	if bits&(on|off) == 0 {
		bits |= on | off
	}
	return bits
}

// targetsLocked resolves the target keys into explicitly named entity ids and
// entities reached through areas, devices and floors.
func (s *Server) targetsLocked(data map[string]any) (explicit, indirect []string, err error) {
	list := func(key string) ([]string, bool, error) {
		v, ok := data[key]
		if !ok {
			return nil, false, nil
		}
		var out []string
		switch x := v.(type) {
		case string:
			for _, p := range strings.Split(x, ",") {
				if p = strings.TrimSpace(p); p != "" {
					out = append(out, p)
				}
			}
		case []any:
			for _, p := range x {
				str, ok := p.(string)
				if !ok {
					return nil, true, invalid("not a valid value for dictionary value @ data['%s']", key)
				}
				out = append(out, str)
			}
		default:
			return nil, true, invalid("not a valid value for dictionary value @ data['%s']", key)
		}
		return out, true, nil
	}
	ents, hasEnts, err := list("entity_id")
	if err != nil {
		return nil, nil, err
	}
	if hasEnts {
		explicit = []string{}
		for _, id := range ents {
			id = strings.ToLower(id)
			if id == "none" {
				continue
			}
			if id != "all" && !validEntityID(id) {
				return nil, nil, invalid("Entity %s is neither a valid entity ID nor a valid UUID for dictionary value @ data['entity_id']", id)
			}
			explicit = append(explicit, id)
		}
	}
	areas := map[string]bool{}
	devices := map[string]bool{}
	targeted := false
	for _, key := range []string{"area_id", "device_id", "floor_id", "label_id"} {
		vals, has, err := list(key)
		if err != nil {
			return nil, nil, err
		}
		if !has {
			continue
		}
		targeted = true
		for _, v := range vals {
			switch key {
			case "area_id":
				areas[v] = true
			case "device_id":
				devices[v] = true
			case "floor_id":
				for _, a := range s.areas {
					if a.FloorID == v {
						areas[a.ID] = true
					}
				}
			}
		}
	}
	if !targeted {
		return explicit, nil, nil
	}
	// An area takes the entities assigned to it and the entities without an
	// area of their own whose device sits in it.
	areaDevices := map[string]bool{}
	for _, d := range s.devices {
		if areas[d.AreaID] {
			areaDevices[d.ID] = true
		}
	}
	indirect = []string{}
	for _, id := range s.regOrder {
		e := s.registry[id]
		if areas[e.AreaID] && e.AreaID != "" || devices[e.DeviceID] && e.DeviceID != "" ||
			e.AreaID == "" && areaDevices[e.DeviceID] {
			indirect = append(indirect, id)
		}
	}
	return explicit, indirect, nil
}

// homeassistantService forwards turn_on/turn_off/toggle to each domain's
// service of the same name, skipping domains that have none.
func homeassistantService(service string) func(s *Server, c *callState, data map[string]any) error {
	return func(s *Server, c *callState, data map[string]any) error {
		explicit, indirect, err := s.targetsLocked(data)
		if err != nil {
			return err
		}
		if explicit == nil && indirect == nil {
			return invalid("must contain at least one of entity_id, device_id, area_id, floor_id, label_id.")
		}
		byDomain := map[string][]string{}
		for _, id := range append(slices.Clone(explicit), indirect...) {
			if id == "all" {
				continue
			}
			d := domainOf(id)
			if !slices.Contains(byDomain[d], id) {
				byDomain[d] = append(byDomain[d], id)
			}
		}
		domains := slices.Collect(maps.Keys(byDomain))
		sort.Strings(domains)
		table := s.servicesLocked()
		for _, d := range domains {
			spec, ok := table[d][service]
			if !ok || d == "homeassistant" || spec.custom != nil {
				s.log.Warn("The service homeassistant."+service+" does not support entities", "entities", byDomain[d])
				continue
			}
			sub := map[string]any{}
			for k, v := range data {
				if !slices.Contains(targetKeys, k) {
					sub[k] = v
				}
			}
			ids := make([]any, 0, len(byDomain[d]))
			for _, id := range byDomain[d] {
				ids = append(ids, id)
			}
			sub["entity_id"] = ids
			if err := s.runLocked(d, service, spec, sub, c); err != nil {
				return err
			}
		}
		return nil
	}
}

// number reads a numeric attribute or field, accepting numeric strings.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	}
	return 0, false
}

// field reads a numeric service field, failing like voluptuous Coerce.
func field(data map[string]any, key string) (float64, bool, error) {
	v, ok := data[key]
	if !ok {
		return 0, false, nil
	}
	f, ok := number(v)
	if !ok {
		return 0, true, invalid("expected float for dictionary value @ data['%s']", key)
	}
	return f, true, nil
}

func fieldRange(data map[string]any, key string, lo, hi float64) (float64, bool, error) {
	f, ok, err := field(data, key)
	if err != nil || !ok {
		return f, ok, err
	}
	if f < lo || f > hi {
		return 0, true, invalid("value must be in range [%v, %v] for dictionary value @ data['%s']", lo, hi, key)
	}
	return f, true, nil
}

func clamp(v, lo, hi float64) float64 { return max(lo, min(hi, v)) }
