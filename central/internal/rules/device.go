package rules

import (
	"slices"
	"strings"

	"github.com/homeplane/homeplane/central/internal/intent"
)

var (
	// powerVerbs take "up" and "down" as a switch: "fire up the heater",
	// "power down the TV".
	powerVerbs = map[string]bool{"fire": true, "power": true, "boot": true}
	onVerbs    = map[string]bool{"activate": true, "enable": true, "start": true, "open": true, "illuminate": true, "light": true, "lock": true, "run": true, "trigger": true, "execute": true, "launch": true, "raise": true, "extend": true, "press": true}
	offVerbs   = map[string]bool{"deactivate": true, "disable": true, "close": true, "shut": true, "unlock": true, "kill": true, "cut": true, "stop": true, "lower": true, "retract": true}
)

// tints qualify a colour into one the light's colour slot cannot hold.
var tints = map[string]bool{"warm": true, "cool": true, "cold": true, "soft": true, "daylight": true, "natural": true}

// polarity finds whether the sentence switches something on (true) or off.
func (s *sentence) polarity() (on, ok bool) {
	for _, c := range s.chunks {
		if c.kind != cWord {
			continue
		}
		w := s.toks[c.start]
		switch {
		case onVerbs[w]:
			if w == "lock" && !isVerbHere(s.toks, c.start) {
				continue // "all locks" is a noun
			}
			return true, true
		case offVerbs[w]:
			return false, true
		case w == "on" && s.onPlace(c.start):
			continue // "switch every light on the boat off"
		case w == "on":
			return true, true
		case (w == "out" || w == "in") && c.start > 1 && s.has("roll", "wind", "bring"):
			// "roll the awning out" opens it, "wind it in" closes it
			return w == "out", true
		case w == "off" || w == "out" && (c.start == len(s.toks)-1 || c.start > 0 && (s.toks[c.start-1] == "turn" || s.toks[c.start-1] == "put")):
			return false, true
		case w == "up" && c.start > 0 && (s.toks[c.start-1] == "light" || s.toks[c.start-1] == "lights") && !s.has("turn"):
			// "lights up" lights them; "turn the lights up" asks for more
			// of them, a step no intent takes
			return true, true
		case (w == "up" || w == "down") && c.start > 0 && powerVerbs[s.toks[c.start-1]]:
			return w == "up", true
		case (w == "up" || w == "down") && c.start == len(s.toks)-1 && c.start > 0 && s.coverSaid():
			// "left garage door up", "put the blinds down": a cover goes
			// up open and down closed
			return w == "up", true
		case w == "up" && s.has("pull", "roll"):
			return true, true
		case w == "down" && s.has("pull", "roll", "let"):
			return false, true
		case w == "draw":
			// "draw the curtains" closes them; "draw them back" opens them.
			return s.has("back", "open", "apart"), true
		}
	}
	if s.getGoing() {
		return true, true
	}
	// "light up the kitchen": "light" was read as a noun.
	if s.hasSeq("light", "up") {
		return true, true
	}
	return false, false
}

// water reads valves by their purpose: "water the front yard", "turn off
// the water in the garden".
func (s *sentence) water() (intent.Intent, bool) {
	if !s.hasSeq("water") {
		return intent.Intent{}, false
	}
	t := s.target()
	if t.name != "" {
		return intent.Intent{}, false
	}
	if n := s.waterValve(t); n != "" {
		// "water the lawn" of the Lawn Sprinklers: the one water valve
		// whose name holds what is to be watered.
		return intent.Intent{Name: intent.TurnOn, Slots: map[string]any{"domain": "valve", "name": n}}, true
	}
	var name intent.Name
	switch on, ok := s.polarity(); {
	case s.first() == "water" && (t.area != "" || t.floor != ""):
		name = intent.TurnOn
	case ok && s.first() != "is" && s.first() != "are" && !questionStarts[s.first()]:
		name = intent.TurnOff
		if on {
			name = intent.TurnOn
		}
	default:
		return intent.Intent{}, false
	}
	slots := map[string]any{"domain": "valve"}
	s.place(t, slots, true)
	return intent.Intent{Name: name, Slots: slots}, true
}

// waterValve returns the name of the one water valve whose name holds every
// word said after "water" ("water the lawn"), or "".
func (s *sentence) waterValve(t target) string {
	if s.first() != "water" || t.area != "" || t.floor != "" || t.here {
		return ""
	}
	var said []string
	for _, w := range s.toks[1:] {
		if w != "the" && w != "my" && w != "our" && w != "please" {
			said = append(said, w)
		}
	}
	if len(said) == 0 {
		return ""
	}
	found := ""
	for _, e := range s.reg.Entities() {
		if e.GetDomain() != "valve" || e.GetDeviceClass() != "water" {
			continue
		}
		words := strings.Fields(intent.Normalize(e.GetName()))
		all := true
		for _, w := range said {
			all = all && slices.Contains(words, w)
		}
		if !all {
			continue
		}
		if found != "" {
			return ""
		}
		found = e.GetName()
	}
	return found
}

func (s *sentence) turn() (intent.Intent, bool) {
	if (s.first() == "is" || s.first() == "are") && len(s.toks) > 1 && s.toks[1] != "you" && s.toks[1] != "it" {
		// a question no reading answered switches nothing; "are you able
		// to …" and "is it possible to …" ask for an action
		return intent.Intent{}, false
	}
	t := s.target()
	name := intent.TurnOn
	on, ok := s.polarity()
	switch {
	case s.has("toggle", "flip") && !s.onOffParticle():
		name = intent.Toggle
	case ok && !on:
		name = intent.TurnOff
	case ok:
	default:
		// "transition to party mode", "party mode": scenes and scripts are
		// activated by naming them.
		if i, isEnt := t.entity(s.reg, "scene", "script"); isEnt {
			if d := s.reg.Entity(i).GetDomain(); d == "scene" || d == "script" {
				break
			}
		}
		if s.lockSaidLast(t) {
			break // "front door lock": the terse lock, never the unlock
		}
		return intent.Intent{}, false
	}
	stops := name == intent.TurnOff && s.has("stop")
	if stops && (s.has("open", "close", "shut", "lock", "unlock", "raise", "lower") || s.saysMotion()) {
		return intent.Intent{}, false // "stop opening the gate" cancels a motion
	}
	slots := map[string]any{}
	if t.name != "" {
		i, _ := t.entity(s.reg, switchableOrder...)
		slots["name"] = t.name
		d := s.reg.Entity(i).GetDomain()
		if s.has("press") && d != "button" && d != "input_button" {
			return intent.Intent{}, false // "press" is said of a button, not of what a button might open
		}
		if stops && d == "cover" {
			name = intent.StopMoving // "stop the garage door" stops it where it is; it does not close it
		}
		if d != "lock" && s.has("lock", "unlock") && !strings.Contains(strings.ToLower(t.name), "lock") {
			// "lock" and "unlock" are said of locks only: "unlock the
			// garage door" of a garage door that is a cover does not
			// close it.
			return intent.Intent{}, false
		}
		if d == "lock" && !s.has("lock", "unlock") && !s.lockSaidLast(t) {
			// Only "lock" and "unlock" say what a lock is to do: "open the
			// front door" does not lock it, nor "turn off" unlock it.
			return intent.Intent{}, false
		}
		if t.nameChunk.otherNumber && (d == "lock" && name != intent.TurnOn || name != intent.TurnOff && opensHome(d, s.reg.Entity(i).GetDeviceClass())) {
			// A name said in the other number is near enough to lock or
			// close it, not to open it: "unlock the back door" of a boat
			// whose lock is the Back Doors asks for the name as it is.
			return intent.Intent{}, false
		}
		if name != intent.TurnOff && opensHome(d, s.reg.Entity(i).GetDeviceClass()) &&
			(name == intent.Toggle || s.nounNamed(t.nameChunk, i)) {
			// A toggle opens what was closed: a valve, gate or door is
			// opened only by a verb that says so, and only by its name,
			// not by a common noun it is also called ("open the gas").
			return intent.Intent{}, false
		}
		if d == "scene" || d == "script" || d == "valve" {
			slots["domain"] = d
		}
		s.namePlace(t, slots)
		return intent.Intent{Name: name, Slots: slots}, true
	}
	if s.has("press") {
		return intent.Intent{}, false // a button is pressed by its name
	}
	domain, dc := "", ""
	if t.cls != nil {
		domain, dc = t.cls.domain, t.cls.deviceClass
		switch {
		case t.cls.door && (s.has("lock", "unlock") || !s.has("open", "close", "shut")):
			domain = "lock"
		case t.cls.door:
			domain, dc = "cover", "door"
		case t.cls.window:
			domain, dc = "cover", "window"
		case t.cls.generic:
			domain = ""
		}
	}
	if domain == "" {
		switch {
		case s.has("illuminate") || s.hasSeq("light", "up") || s.chunks[0].kind == cWord && s.toks[0] == "light":
			domain = "light" // "light the courtyard" lights it, and does nothing else there
		case s.has("lock", "unlock"):
			domain = "lock"
		case s.opensPlace():
			// "open the shed" opens what opens there; its light and its
			// lock are no covers.
			domain = "cover"
			if name == intent.TurnOn && t.area == "" && t.floor == "" && !t.here && s.saysWholeHome() {
				// "open everything", "open up the house": only the verb
				// says a kind, and no place bounds what opening lets in.
				return intent.Intent{}, false
			}
		}
	}
	if t.cls == nil && domain != "" && t.area != "" {
		if n := s.roomDevice(t, domain); n != "" {
			return intent.Intent{Name: name, Slots: map[string]any{"name": n}}, true
		}
	}
	// "everything in this room": the device's room, or, in none, a
	// sentence the engine answers that it does not know the room.
	if domain == "" && t.area == "" && t.floor == "" && !t.here || domain == "binary_sensor" || domain == "sensor" {
		return intent.Intent{}, false // sensors only report
	}
	if name != intent.TurnOff && opensHome(domain, dc) && dc != "" && !t.quantified && s.lockCalled(dc) && s.homeHas(&class{domain: domain, deviceClass: dc}) {
		// "open the gate" where the Side Gate is a lock beside a gate
		// that opens: which gate is not said, and neither is opened.
		return intent.Intent{}, false
	}
	if domain != "" && domain != "lock" && s.has("lock", "unlock") && s.homeHas(&class{domain: domain, deviceClass: dc}) {
		return intent.Intent{}, false // "unlock the gate" of a gate that is no lock
	}
	if name == intent.Toggle && (domain == "lock" || opensHome(domain, dc)) {
		return intent.Intent{}, false
	}
	switch {
	case stops && domain == "":
		return intent.Intent{}, false // "stop the garage" would close its doors
	case stops && domain == "cover":
		name = intent.StopMoving // "stop the blinds"
	}
	if domain != "" {
		slots["domain"] = domain
	}
	if dc != "" {
		slots["device_class"] = dc
	}
	if t.area == "" && t.floor == "" && !t.here && !t.everywhere {
		// "in the garage" when the home has no such area: say so rather
		// than act everywhere.
		if unknown := s.unknownPlace(); unknown != "" {
			t.area = unknown
		}
	}
	fromContext := s.place(t, slots, true)
	switch {
	case domain == "fan" && !fromContext:
		slots["name"] = intent.NameAll
	case domain == "lock" && name == intent.TurnOff && t.area != "":
		slots["name"] = intent.NameAll
	}
	return intent.Intent{Name: name, Slots: slots}, true
}

// roomDevice reads a room said as the object of a verb that alone says the
// kind of device ("lock the shed") as the device the home names after the
// room and that kind (Shed Lock), when it has exactly one, in that room or
// in none. "Lock the doors in the shed" is a place, not a name.
func (s *sentence) roomDevice(t target, domain string) string {
	i := t.placeChunk.start - 1
	for i >= 0 && (s.toks[i] == "the" || s.toks[i] == "my" || s.toks[i] == "our" || s.toks[i] == "up") {
		i--
	}
	if i < 0 || !onVerbs[s.toks[i]] && !offVerbs[s.toks[i]] || s.toks[i] == "light" {
		return "" // "light up the garage" lights the room, every light of it
	}
	found := ""
	for _, e := range s.reg.EntitiesNamed(t.area + " " + domain) {
		ent := s.reg.Entity(e)
		if ent.GetDomain() != domain {
			continue
		}
		if found != "" {
			return ""
		}
		if a := s.reg.AreaName(ent.GetAreaId()); a != "" && a != t.area {
			return ""
		}
		found = ent.GetName()
	}
	return found
}

// wholeHomeWords name no device and no room, only the whole home.
var wholeHomeWords = map[string]bool{
	"open": true, "up": true, "the": true, "everything": true, "all": true, "whole": true, "house": true,
	"home": true, "place": true, "please": true,
}

// saysWholeHome reports whether the sentence says nothing but a verb and the
// whole home: "open everything", "open up the house".
func (s *sentence) saysWholeHome() bool {
	for _, t := range s.toks {
		if !wholeHomeWords[t] {
			return false
		}
	}
	return true
}

// opensPlace reports whether the verb opens or closes ("open the shed",
// "lower the snug"); "shut off" and "shut down" switch off.
func (s *sentence) opensPlace() bool {
	for i, t := range s.toks {
		switch t {
		case "open", "close", "raise", "lower", "extend", "retract", "draw":
			return true
		case "shut":
			return i+1 >= len(s.toks) || s.toks[i+1] != "off" && s.toks[i+1] != "down"
		}
	}
	return false
}

// onOffParticle reports whether "on" or "off" is said as the verb's particle
// ("flip the switch on", "flip off the fan"), not as a preposition ("toggle
// the light on the porch"): it ends the sentence, follows the verb or comes
// before a place.
func (s *sentence) onOffParticle() bool {
	for i, t := range s.toks {
		if t != "on" && t != "off" {
			continue
		}
		if i == len(s.toks)-1 || i > 0 && (s.toks[i-1] == "flip" || s.toks[i-1] == "toggle") {
			return true
		}
		if next := s.toks[i+1]; next == "in" || next == "now" || next == "again" {
			return true
		}
	}
	return false
}

// onPlace reports whether the "on" at word i is a place ("on the roof")
// in a sentence whose last word switches off.
func (s *sentence) onPlace(i int) bool {
	n := len(s.toks)
	return i+2 < n && s.toks[n-1] == "off" && (s.toks[i+1] == "the" || s.toks[i+1] == "our" || s.toks[i+1] == "my")
}

var switchableOrder = []string{"light", "switch", "fan", "cover", "lock", "valve", "scene", "script", "media_player", "climate", "vacuum"}

var (
	maxWords = map[string]bool{"max": true, "maximum": true, "highest": true, "full": true, "brightest": true, "fully": true}
	minWords = map[string]bool{"min": true, "minimum": true, "lowest": true, "dimmest": true, "least": true}
)

// toNumber reports whether a number follows "to": "thermostat to 18.5"
// sets it as surely as with a verb.
func (s *sentence) toNumber() bool {
	for _, c := range s.chunks {
		if c.kind == cNumber && c.start > 0 && s.toks[c.start-1] == "to" {
			return true
		}
	}
	return false
}

func (s *sentence) firstNumber() (float64, bool) {
	for i, c := range s.chunks {
		if c.kind != cNumber {
			continue
		}
		if c.start > 0 && s.toks[c.start-1] == "from" {
			// "set the thermostat from 19 to 21": what it is now, then what
			// it is to be
			for _, d := range s.chunks[i+1:] {
				if d.kind == cNumber && s.toks[d.start-1] == "to" {
					return d.num, true
				}
			}
		}
		return c.num, true
	}
	return 0, false
}

// numberEndsName reports whether the sentence ends in a bare number said
// right after the name: a number of the name, not a level.
func (s *sentence) numberEndsName(name chunk) bool {
	for ci, c := range s.chunks {
		if c.kind == cNumber && c.start == name.end {
			return ci == len(s.chunks)-1
		}
	}
	return false
}

func (s *sentence) lightSet() (intent.Intent, bool) {
	t := s.target()
	if t.cls != nil && t.cls.domain != "light" && !t.cls.generic {
		return intent.Intent{}, false
	}
	if t.name != "" {
		if i, _ := t.entity(s.reg, "light"); s.reg.Entity(i).GetDomain() != "light" {
			return intent.Intent{}, false
		}
	}
	var slots map[string]any // made once the sentence sets something
	set := func(k string, v any) {
		if slots == nil {
			slots = map[string]any{}
		}
		slots[k] = v
	}
	brightWord := s.has("brightness", "bright", "brighter", "dim", "dimmer", "brightest", "dimmest")
	percent := s.has("percent", "percentage")
	v, hasNum := s.firstNumber()
	verb := brightWord || s.has("set", "turn", "change", "make", "put") // "put the spots on full"
	frac, hasFrac := s.fraction()
	switch {
	case hasFrac: // before the number: "three quarters brightness" is no 3
		set("brightness", number(frac*100))
	case hasNum && (brightWord || percent):
		set("brightness", number(v))
	case hasNum && v >= 0 && v <= 100 && s.endsToNumber() && (t.name != "" || t.cls != nil && t.cls.domain == "light"):
		// "kitchen lights to fifty": a light is set to a share of its
		// brightness, as it has no other number
		set("brightness", number(v))
	case s.hasAny(maxWords) && (verb || s.toExtreme(maxWords)) || s.hasSeq("all", "the", "way", "up"):
		set("brightness", 100)
	case s.hasAny(minWords) && (verb || s.toExtreme(minWords)) || s.hasSeq("all", "the", "way", "down"):
		set("brightness", 1)
	}
	for _, c := range s.chunks {
		if c.kind == cWord && colors[s.toks[c.start]] && s.has("set", "make", "change", "turn", "color", "colour", "paint", "switch") {
			if c.start > 0 && tints[s.toks[c.start-1]] {
				// "warm white" is a colour temperature, not the white
				// of a colour wheel; setting that is not what was asked.
				return intent.Intent{}, false
			}
			set("color", s.toks[c.start])
			break
		}
	}
	if len(slots) == 0 {
		return intent.Intent{}, false
	}
	if t.name != "" {
		// "the ceiling light in bedroom 2": several rooms may share the name.
		slots["name"] = t.name
		s.namePlace(t, slots)
	} else {
		s.place(t, slots, true)
	}
	return intent.Intent{Name: intent.LightSet, Slots: slots}, true
}

// toExtreme reports "to (the) lowest": the terse "night light to lowest"
// sets brightness with no verb.
func (s *sentence) toExtreme(set map[string]bool) bool {
	for i := 1; i < len(s.toks); i++ {
		if set[s.toks[i]] && (s.toks[i-1] == "to" || s.toks[i-1] == "the" && i > 1 && s.toks[i-2] == "to") {
			return true
		}
	}
	return false
}

// fraction reads a share of the whole said in words: "half brightness",
// "three quarters brightness", "open the curtains halfway", "dim the
// lights to half".
func (s *sentence) fraction() (float64, bool) {
	for i := 0; i < len(s.toks); i++ {
		v, n := 0.0, 0
		switch {
		case s.toks[i] == "halfway":
			return 0.5, true
		case s.toks[i] == "half":
			v, n = 0.5, 1
		default:
			if v, n = quarterAt(s.toks, i); n == 0 {
				continue
			}
		}
		if i > 0 && (s.toks[i-1] == "to" || s.toks[i-1] == "at") && i+n == len(s.toks) {
			return v, true
		}
		j := i + n
		if j+1 < len(s.toks) && s.toks[j] == "of" {
			j++ // "half of the way"
		}
		if j+1 < len(s.toks) && s.toks[j] == "the" {
			j++ // "a quarter of the way"
		}
		if j < len(s.toks) && shareOf[s.toks[j]] {
			return v, true
		}
	}
	return 0, false
}

// shareOf are the words a share is of: "half brightness", "half way".
var shareOf = map[string]bool{"brightness": true, "bright": true, "power": true, "way": true, "open": true}

func (s *sentence) hasAny(set map[string]bool) bool {
	for _, c := range s.chunks {
		if c.kind == cWord && set[s.toks[c.start]] {
			return true
		}
	}
	return false
}

// roomSetTo reports "set room 3 to 21": a room set to a number with no
// device, no unit and no percent, where the room has a heater and the
// number is a room's temperature. A light is set "to 40 percent".
func (s *sentence) roomSetTo() bool {
	if !s.has("set", "make", "put") || s.has("percent", "brightness", "volume", "position") {
		return false
	}
	t := s.target()
	if t.area == "" || t.name != "" || t.cls != nil {
		return false
	}
	v, ok := s.firstNumber()
	if !ok || v < 5 || v > 35 {
		return false
	}
	for _, a := range s.reg.AreasNamed(t.area) {
		for _, e := range s.reg.Entities() {
			if e.GetDomain() == "climate" && e.GetAreaId() == a.GetId() {
				return true
			}
		}
	}
	return false
}

func (s *sentence) climateSet() (intent.Intent, bool) {
	if !s.has("temperature", "temp", "thermostat", "heater", "radiator", "heating", "heat", "degrees", "degree") && !s.namesClimate() &&
		!s.roomSetTo() {
		return intent.Intent{}, false
	}
	if !s.has("set", "change", "make", "turn", "adjust", "put", "raise", "lower", "increase", "decrease",
		"want", "heat", "warm", "cool", "keep", "bring") && !s.toNumber() {
		return intent.Intent{}, false
	}
	v, ok := s.firstNumber()
	if !ok {
		return intent.Intent{}, false
	}
	t := s.target()
	slots := map[string]any{"temperature": number(v)}
	if i, isEnt := t.entity(s.reg, "climate"); isEnt && s.reg.Entity(i).GetDomain() == "climate" {
		slots["name"] = t.name
	} else if isEnt && s.reg.Entity(i).GetDomain() != "sensor" {
		// "set the hot tub to 40 degrees" names a device with no
		// temperature to set; the place it is in is not what was asked.
		return intent.Intent{}, false
	} else {
		s.place(t, slots, true)
		if t.quantified && t.name == "" {
			slots["name"] = intent.NameAll // "set all the thermostats to 20": every one, not a question
		}
	}
	return intent.Intent{Name: intent.ClimateSetTemperature, Slots: slots}, true
}

func (s *sentence) position() (intent.Intent, bool) {
	t := s.target()
	domain, dc := "", ""
	isEnt := false
	if i, ok := t.entity(s.reg, "cover", "valve"); ok {
		domain, isEnt = s.reg.Entity(i).GetDomain(), true
	} else if t.cls != nil {
		domain, dc = t.cls.domain, t.cls.deviceClass
		if t.cls.window || t.cls.door {
			domain, dc = "cover", "door"
			if t.cls.window {
				dc = "window"
			}
		}
	}
	if domain != "cover" && domain != "valve" {
		return intent.Intent{}, false
	}
	v, ok := s.firstNumber()
	if f, isFrac := s.fraction(); isFrac { // before the number: "three quarters of the way" is no 3
		v, ok = f*100, true
	}
	if !ok || !(s.has("position", "percent", "set", "open", "close", "raise", "lower", "move", "increase", "decrease", "to", "put")) {
		return intent.Intent{}, false
	}
	if isEnt && s.numberEndsName(t.nameChunk) {
		// "open garage door two" says a number the name lacks, not a
		// position: the home has no such door.
		return intent.Intent{}, false
	}
	slots := map[string]any{"position": number(v)}
	if isEnt {
		slots["name"] = t.name
		if domain == "valve" {
			slots["domain"] = domain
		}
		s.namePlace(t, slots) // "the bedroom blinds in the guest room": a name in two rooms
		return intent.Intent{Name: intent.SetPosition, Slots: slots}, true
	}
	slots["domain"] = domain
	if dc != "" {
		slots["device_class"] = dc
	}
	s.place(t, slots, true)
	return intent.Intent{Name: intent.SetPosition, Slots: slots}, true
}

// unknownPlace returns the words of a trailing "in the <words>" that name no
// area, floor or device.
func (s *sentence) unknownPlace() string {
	for i := len(s.chunks) - 1; i > 0; i-- {
		c := s.chunks[i]
		if c.kind != cWord {
			return ""
		}
		w := s.toks[c.start]
		if w == "in" || w == "on" {
			j := i + 1
			for j < len(s.chunks) && skipWords[s.toks[s.chunks[j].start]] {
				j++
			}
			if j >= len(s.chunks) {
				return ""
			}
			return s.text(s.chunks[j].start, len(s.toks))
		}
		if skipWords[w] {
			continue
		}
		if s.dwelling(w) || w == "here" || w == "room" || w == "rooms" || w == "on" || w == "off" || w == "now" {
			return ""
		}
	}
	return ""
}

// namesClimate reports whether the sentence names a thermostat, by noun or
// by the name of a climate entity.
func (s *sentence) namesClimate() bool {
	t := s.target()
	if t.cls != nil && t.cls.domain == "climate" {
		return true
	}
	i, ok := t.entity(s.reg, "climate")
	return ok && s.reg.Entity(i).GetDomain() == "climate"
}

// nounNamed reports whether entity i was named by a common noun of the
// grammar for another kind of device ("the gas", a detector's noun, said
// of a valve the home also calls so).
func (s *sentence) nounNamed(c chunk, i int) bool {
	n, cls := matchNoun(s.toks, c.start)
	if n == 0 || c.start+n != c.end || cls.generic || cls.door || cls.window {
		return false
	}
	e := s.reg.Entity(i)
	return cls.domain != e.GetDomain() || cls.deviceClass != "" && cls.deviceClass != e.GetDeviceClass()
}

// opensHome reports whether opening a device of this domain and class lets
// someone or something in: a valve, or a garage door, door or gate.
// lockCalled reports whether a lock of the home is called by the noun of a
// class of cover ("Side Gate" for gates).
func (s *sentence) lockCalled(noun string) bool {
	for _, e := range s.reg.Entities() {
		if e.GetDomain() != "lock" {
			continue
		}
		words := strings.Fields(strings.ToLower(e.GetName()))
		if n := len(words); n > 0 && strings.TrimSuffix(words[n-1], "s") == noun {
			return true
		}
	}
	return false
}

func opensHome(domain, deviceClass string) bool {
	return domain == "valve" || domain == "cover" && (deviceClass == "garage" || deviceClass == "door" || deviceClass == "gate")
}

// coverSaid reports whether what the sentence is about is a cover: a
// cover's noun, or a name every entity of which is a cover.
func (s *sentence) coverSaid() bool {
	t := s.target()
	if t.name == "" {
		return t.cls != nil && t.cls.domain == "cover"
	}
	for _, r := range t.refs {
		if s.reg.Entity(r.Index).GetDomain() != "cover" {
			return false
		}
	}
	return true
}

// endsToNumber reports whether the sentence ends on "to" and a number.
func (s *sentence) endsToNumber() bool {
	if len(s.chunks) == 0 {
		return false
	}
	c := s.chunks[len(s.chunks)-1]
	return c.kind == cNumber && c.start > 0 && s.toks[c.start-1] == "to" && c.end == len(s.toks)
}

// lockSaidLast reports whether a sentence is a lock's name and then
// "lock", as "kitchen lights on" is a light's name and then "on".
func (s *sentence) lockSaidLast(t target) bool {
	if t.name == "" || t.nameChunk.start > 1 || t.nameChunk.end != len(s.toks)-1 || s.toks[len(s.toks)-1] != "lock" {
		return false
	}
	if t.nameChunk.start == 1 && !shortDeterminers[s.toks[0]] {
		return false
	}
	for _, r := range t.refs {
		if s.reg.Entity(r.Index).GetDomain() != "lock" {
			return false
		}
	}
	return true
}
