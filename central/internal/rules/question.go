package rules

import (
	"strings"

	"github.com/homeplane/homeplane/central/internal/intent"
)

var questionStarts = map[string]bool{
	"is": true, "are": true, "what": true, "whats": true, "which": true, "how": true, "when": true,
	"do": true, "does": true, "has": true, "have": true, "tell": true, "was": true, "were": true,
	"who": true, "whos": true, "where": true, "wheres": true, "hows": true, "whens": true, "check": true,
}

// stateOf finds the state word of a question.
func (s *sentence) stateOf() (stateWord, bool) {
	var found stateWord
	ok := false
	for _, c := range s.chunks {
		if c.kind != cWord {
			continue
		}
		if sw, is := stateWords[s.toks[c.start]]; is {
			if !ok || (found.deviceClass == "" && found.domain == "" && (sw.deviceClass != "" || sw.domain != "")) {
				found, ok = sw, true
			}
		}
	}
	return found, ok
}

func (s *sentence) question() (intent.Intent, bool) {
	if !questionStarts[s.first()] {
		return intent.Intent{}, false
	}
	t := s.target()
	sw, hasState := s.stateOf()
	// "what's the thermostat at": a thermostat's value is its temperature.
	temp := s.has("temperature", "temp") || s.first() == "how" && s.has("hot", "warm", "cold", "cool") ||
		s.hasSeq("set", "to") && s.namesClimate() || !hasState && s.namesClimate() && (s.first() == "what" || s.first() == "whats")
	if temp {
		i, isEnt := t.entity(s.reg, "climate")
		if !isEnt || s.reg.Entity(i).GetDomain() == "climate" {
			slots := map[string]any{}
			if isEnt {
				slots["name"] = t.name
			} else {
				s.place(t, slots, true)
			}
			return intent.Intent{Name: "HassClimateGetTemperature", Slots: slots}, true
		}
	}
	slots := map[string]any{}
	if t.name != "" {
		wantClass := sw.deviceClass
		if t.cls != nil && t.cls.deviceClass != "" {
			wantClass = t.cls.deviceClass
		}
		ref := t.refs[0]
		best := -1
		for _, r := range t.refs {
			e := s.reg.Entity(r.Index)
			if wantClass != "" && e.GetDeviceClass() == wantClass || sw.domain != "" && e.GetDomain() == sw.domain {
				ref = r
				break
			}
			// "rainfall intensity" picks precipitation_intensity over precipitation.
			if score := s.classOverlap(e.GetDeviceClass()); score > best {
				ref, best = r, score
			}
		}
		e := s.reg.Entity(ref.Index)
		slots["name"] = ref.Name
		switch d := e.GetDomain(); {
		case d == "lock":
			slots["domain"] = d
		case d == "binary_sensor" || d == "sensor" && e.GetDeviceClass() != "":
			slots["domain"] = d
			if e.GetDeviceClass() != "" {
				slots["device_class"] = e.GetDeviceClass()
			}
		}
		if hasState {
			slots["state"] = stateValue(sw, e.GetDomain())
		}
		if t.area != "" {
			slots["area"] = t.area
		} else if t.floor != "" {
			slots["floor"] = t.floor
		}
		return intent.Intent{Name: "HassGetState", Slots: slots}, true
	}
	domain, dc, implied := "", "", ""
	if t.cls != nil {
		domain, dc, implied = t.cls.domain, t.cls.deviceClass, t.cls.state
		switch {
		case t.cls.door && (sw.domain == "lock" || !hasState):
			domain = "lock"
		case t.cls.door:
			domain, dc = "binary_sensor", "door"
		case t.cls.window:
			domain, dc = "binary_sensor", "window"
		case t.cls.generic:
			domain, dc = "binary_sensor", sw.deviceClass
		}
	}
	if domain == "" && (s.first() == "who" || s.first() == "whos") {
		domain = "person" // "who's home"
	}
	if domain == "" && hasState {
		switch {
		case sw.domain != "":
			domain = sw.domain
		case sw.deviceClass != "":
			domain, dc = "binary_sensor", sw.deviceClass
		}
	}
	// "is there smoke in the kitchen", "any motion in the hall": a
	// detector's own noun asks whether it is triggered.
	if !hasState && implied == "" && domain == "binary_sensor" && dc != "" && s.has("there", "any", "detected") {
		implied = "on"
	}
	if domain == "" || (!hasState && implied == "" && domain != "person") {
		return intent.Intent{}, false
	}
	slots["domain"] = domain
	if dc != "" {
		slots["device_class"] = dc
	}
	switch {
	case domain == "person":
		slots["state"] = "home"
		if hasState && sw.value != "" && sw.value != "on" {
			slots["state"] = sw.value
		}
	case hasState:
		slots["state"] = stateValue(sw, domain)
	case implied != "":
		slots["state"] = implied
	}
	s.place(t, slots, false)
	return intent.Intent{Name: "HassGetState", Slots: slots}, true
}

func stateValue(sw stateWord, domain string) string {
	switch domain {
	case "binary_sensor", "light", "switch", "fan", "input_boolean", "":
		if sw.binary != "" {
			return sw.binary
		}
	}
	if sw.value != "" {
		return sw.value
	}
	return sw.binary
}

// classOverlap counts the words of a device class ("precipitation_intensity")
// spoken in the sentence.
func (s *sentence) classOverlap(dc string) int {
	n := 0
	for _, part := range strings.Split(dc, "_") {
		if part != "" && s.has(part) {
			n++
		}
	}
	return n
}
