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
