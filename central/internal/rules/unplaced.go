package rules

import "github.com/homeplane/homeplane/central/internal/intent"

// unplaced reports an action on a kind of device said with no name, no
// place and no "all", by a voice device in no room, in a home with more
// than one of that kind: "turn on the fan" in a guesthouse with a fan in
// three rooms is no wish to start every one; nothing is done. "The fans", "all the fans",
// "the fan in room 4" and the voice device's own room say which.
func (s *sentence) unplaced(in intent.Intent) bool {
	switch in.Name {
	case intent.TurnOn, intent.TurnOff, intent.Toggle, intent.LightSet, intent.SetPosition, intent.StopMoving, intent.FanSetSpeed:
	default:
		return false
	}
	if s.pc.Area != "" || in.Slots["area"] != nil || in.Slots["floor"] != nil {
		return false
	}
	t := s.target()
	if n := in.Slot("name"); n != "" && n != intent.NameAll {
		return false
	}
	if t.cls == nil || t.quantified || t.everywhere || t.here || s.saidPlural(t.cls) {
		return false
	}
	domain, class := in.Slot("domain"), in.Slot("device_class")
	if domain == "" || intent.Guarded(domain, class) {
		return false // the engine asks which door or valve itself
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

// unknownHere reports a sentence that names the voice device's own room
// ("all lights on in here", "the heating in this room") when the device is
// in no room: nothing in the slots says where, and the engine must not read
// it as the whole home.
func (s *sentence) unknownHere(in intent.Intent) bool {
	if s.pc.Area != "" || in.Slots["area"] != nil || in.Slots["floor"] != nil {
		return false
	}
	if n := in.Slot("name"); n != "" && n != intent.NameAll {
		return false // "turn on the lamp in here": the name says which
	}
	return s.target().here
}
