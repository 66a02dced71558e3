package rules

import "github.com/homeplane/homeplane/central/internal/intent"

// fanSpeed reads a fan's speed said as a percentage: "set the room 4 fan
// to 50 percent", "turn the ceiling fan down to 25 percent", "set the fan
// speed in room 4 to 100 percent". Without "percent" or "speed" a number
// said of a fan is no speed ("set the fan to 3" may be a step the fan
// does not have).
func (s *sentence) fanSpeed() (intent.Intent, bool) {
	if !s.has("percent", "speed") {
		return intent.Intent{}, false
	}
	t := s.target()
	slots := map[string]any{}
	i, isEnt := t.entity(s.reg, "fan")
	if isEnt {
		if s.reg.Entity(i).GetDomain() != "fan" {
			return intent.Intent{}, false
		}
		slots["name"] = t.name
		s.namePlace(t, slots)
	} else if t.cls != nil && t.cls.domain == "fan" {
		slots["domain"] = "fan"
		s.place(t, slots, true)
	} else {
		return intent.Intent{}, false
	}
	v, ok := s.firstNumber()
	if !ok || isEnt && s.numberEndsName(t.nameChunk) {
		return intent.Intent{}, false
	}
	slots["percentage"] = number(v)
	return intent.Intent{Name: intent.FanSetSpeed, Slots: slots}, true
}

// unplaced reports an action on a kind of device said with no name, no
// place and no "all", by a voice device in no room, in a home with more
// than one of that kind: "turn on the fan" in a guesthouse with a fan in
// three rooms is no wish to start every one. "The fans", "all the fans",
// "the fan in room 4" and the voice device's own room say which.
func (s *sentence) unplaced(in intent.Intent) bool {
	switch in.Name {
	case intent.TurnOn, intent.TurnOff, intent.Toggle, intent.LightSet, intent.SetPosition, intent.FanSetSpeed:
	default:
		return false
	}
	if s.pc.Area != "" || in.Slots["area"] != nil || in.Slots["floor"] != nil {
		return false
	}
	if n := in.Slot("name"); n != "" && n != intent.NameAll {
		return false
	}
	t := s.target()
	if t.cls == nil || t.quantified || t.everywhere || t.here || s.saidPlural(t.cls) {
		return false
	}
	domain, class := in.Slot("domain"), in.Slot("device_class")
	if domain == "" {
		return false
	}
	n := 0
	for _, e := range s.reg.Entities() {
		if e.GetDomain() == domain && (class == "" || e.GetDeviceClass() == class) {
			n++
		}
	}
	return n > 1
}

// saidPlural reports whether the noun of that class was said in the plural.
func (s *sentence) saidPlural(cls *class) bool {
	for _, c := range s.chunks {
		if c.kind == cNoun && c.cls == cls {
			return plural(s.toks[c.end-1])
		}
	}
	return false
}
