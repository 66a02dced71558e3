package rules

import (
	"strings"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"

	"github.com/homeplane/homeplane/central/internal/intent"
)

var questionStarts = map[string]bool{
	"is": true, "are": true, "what": true, "whats": true, "which": true, "how": true, "when": true,
	"do": true, "does": true, "has": true, "have": true, "tell": true, "was": true, "were": true,
	"who": true, "whos": true, "where": true, "wheres": true, "hows": true, "whens": true, "check": true,
	"did": true, "any": true,
}

// doneStates reads "did I lock the front door" as asking whether it is locked.
var doneStates = map[string]string{"lock": "locked", "unlock": "unlocked", "close": "closed", "open": "open"}

// goingOff holds the words before "off" that make it mean set off, not
// switched off: "is the smoke alarm going off".
var goingOff = map[string]bool{"going": true, "gone": true, "went": true, "goes": true}

// stateOf finds the state word of a question.
func (s *sentence) stateOf() (stateWord, bool) {
	var found stateWord
	ok := false
	for _, c := range s.chunks {
		if c.kind != cWord {
			continue
		}
		w := s.toks[c.start]
		if d, is := doneStates[w]; is && s.first() == "did" {
			w = d
		}
		if !measuredNotStated(s.toks, c.start) {
			continue
		}
		sw, is := stateWords[w]
		if w == "out" && saidLast(s.toks[c.start+1:]) && s.target().name != "" && s.target().cls == nil {
			// "is Grace out (right now)": said last of someone, out is
			// away; of a device ("the light out in the garden") a place
			if i, _ := s.target().entity(s.reg, "person"); s.reg.Entity(i).GetDomain() == "person" {
				sw, is = stateWords["away"], true
			}
		}
		if w == "off" && c.start > 0 && goingOff[s.toks[c.start-1]] {
			sw = stateWord{binary: "on"} // an alarm "going off" is triggered
		}
		if is {
			if !ok || (found.deviceClass == "" && found.domain == "" && (sw.deviceClass != "" || sw.domain != "")) {
				found, ok = sw, true
			}
		}
	}
	return found, ok
}

// saidLast reports whether only words of time follow: "out right now".
func saidLast(rest []string) bool {
	for _, t := range rest {
		switch t {
		case "right", "now", "yet", "today", "tonight", "still", "currently", "again":
		default:
			return false
		}
	}
	return true
}

// measuredNotStated reports whether the word at i may state a condition:
// "how cold is the fridge" asks for a reading, and the "on" of "the
// temperature on the loft sensor" is a preposition.
func measuredNotStated(toks []string, i int) bool {
	if i == 1 && toks[0] == "how" {
		return false
	}
	if toks[i] == "on" && i+1 < len(toks) {
		switch toks[i+1] {
		case "the", "my", "our", "a", "your":
			return false
		}
	}
	return true
}

// outdoorTemperature answers a temperature asked of outdoors: the home's
// one temperature sensor whose name says outside or outdoor, or else its
// weather; with neither, or two such sensors, it is not understood.
func (s *sentence) outdoorTemperature() (intent.Intent, bool) {
	sensor, weather := "", false
	for _, e := range s.reg.Entities() {
		switch {
		case e.GetDomain() == "weather":
			weather = true
		case e.GetDomain() == "sensor" && e.GetDeviceClass() == "temperature" && namesOutdoors(e.GetName()):
			if sensor != "" && sensor != e.GetName() {
				return intent.Intent{}, false
			}
			sensor = e.GetName()
		}
	}
	switch {
	case sensor != "":
		return intent.Intent{Name: intent.GetState, Slots: map[string]any{"name": sensor}}, true
	case weather:
		return intent.Intent{Name: intent.GetWeather, Slots: map[string]any{}}, true
	}
	return intent.Intent{}, false
}

// onlyOutdoorsUnaccounted reports whether the only words the sentence does
// not account for are "outside" or "outdoors": "is it cold outside" asks a
// temperature as "is it cold" does.
func (s *sentence) onlyOutdoorsUnaccounted() bool {
	for _, run := range s.unaccounted() {
		for _, w := range s.toks[run[0]:run[1]] {
			if w != "outside" && w != "outdoors" {
				return false
			}
		}
	}
	return true
}

// namesOutdoors reports whether a name holds the word outside, outdoor or
// outdoors.
func namesOutdoors(name string) bool {
	for _, w := range strings.Fields(strings.ToLower(name)) {
		switch w {
		case "outside", "outdoor", "outdoors":
			return true
		}
	}
	return false
}

// asksValue reports whether a question asks for a sensor's value rather
// than a detector's yes or no: "the doorbell battery level", "how much
// battery is left", unlike "is the doorbell battery low".
func (s *sentence) asksValue() bool {
	return s.has("level", "levels", "percentage", "percent") || s.hasSeq("how", "much")
}

func (s *sentence) question() (intent.Intent, bool) {
	if !questionStarts[s.first()] {
		return intent.Intent{}, false
	}
	t := s.target()
	sw, hasState := s.stateOf()
	// "what's the thermostat at": a thermostat's value is its temperature.
	// "how cold is it" asks a temperature; "how many things are cold" counts detectors.
	// "is it warm in the office", "is the bedroom too hot" ask it of a place.
	// "the heat pump's co2": another measure said of a thermostat is no
	// temperature, and no state of the thermostat answers it.
	otherMeasure := t.cls != nil && t.cls.domain == "sensor" && t.cls.deviceClass != "" && t.cls.deviceClass != "temperature"
	if otherMeasure && s.namesClimate() {
		if name, ok := s.sensorOf(t, t.cls.deviceClass); ok {
			return intent.Intent{Name: intent.GetState, Slots: map[string]any{"name": name}}, true
		}
		return intent.Intent{}, false
	}
	if otherMeasure && t.name != "" {
		// "how much power is the ev charger using": the charger's own
		// sensor of that measure (EV Charger Power) answers.
		if name, ok := s.sensorOf(t, t.cls.deviceClass); ok {
			return intent.Intent{Name: intent.GetState, Slots: map[string]any{"name": name}}, true
		}
	}
	if otherMeasure && t.name == "" && t.everywhere && t.area == "" && t.floor == "" {
		// "how much power is the house using": a sensor named after the
		// home and the measure (House Power) measures all of it.
		if name, ok := s.homeMeasure(t.cls.deviceClass); ok {
			return intent.Intent{Name: intent.GetState, Slots: map[string]any{"name": name}}, true
		}
	}
	if s.first() == "how" && t.name == "" {
		// "how wet is the soil" reads the Soil Moisture; "how much rain
		// have we had" the home's one rain gauge.
		if s.has("wet", "dry", "damp", "moist") {
			if name, ok := s.measureNamed("moisture"); ok {
				return intent.Intent{Name: intent.GetState, Slots: map[string]any{"name": name}}, true
			}
		}
		if s.hasSeq("much", "rain") || s.hasSeq("much", "rainfall") {
			if name, ok := s.onlySensor("precipitation"); ok {
				return intent.Intent{Name: intent.GetState, Slots: map[string]any{"name": name}}, true
			}
		}
	}
	temp := s.has("temperature", "temp") || s.first() == "how" && s.has("hot", "warm", "cold", "cool") && !s.has("many") ||
		s.first() == "is" && t.name == "" && t.cls == nil && (t.area != "" || t.floor != "" || t.here || len(s.toks) > 1 && s.toks[1] == "it") &&
			s.has("hot", "warm", "cold", "cool", "chilly", "freezing") && s.onlyOutdoorsUnaccounted() ||
		s.hasSeq("set", "to") && s.namesClimate() || !hasState && s.namesClimate() && (s.first() == "what" || s.first() == "whats")
	if temp && t.name == "" && t.area == "" && t.floor == "" && !t.here && s.has("outside", "outdoors") {
		// "how cold is it outside": not the device's room, whose thermostat
		// would otherwise answer.
		return s.outdoorTemperature()
	}
	if temp && t.name == "" && t.area == "" && t.floor == "" && !t.here && t.cls == nil {
		// "how hot is the engine": no device, but a sensor named after
		// the words ("Engine Temperature") answers.
		if name, ok := s.measureNamed("temperature"); ok {
			return intent.Intent{Name: intent.GetState, Slots: map[string]any{"name": name}}, true
		}
	}
	if temp {
		i, isEnt := t.entity(s.reg, "climate")
		if isEnt && s.reg.Entity(i).GetDomain() != "climate" && s.reg.Entity(i).GetDomain() != "sensor" {
			// "how hot is the hot tub": the device's own sensor answers, or
			// nothing does; its on/off state is not its temperature.
			if name, ok := s.sensorOf(t, "temperature"); ok {
				return intent.Intent{Name: intent.GetState, Slots: map[string]any{"name": name}}, true
			}
			return intent.Intent{}, false
		}
		if !isEnt || s.reg.Entity(i).GetDomain() == "climate" {
			slots := map[string]any{}
			if isEnt {
				slots["name"] = t.name
			} else {
				s.place(t, slots, true)
			}
			return intent.Intent{Name: intent.ClimateGetTemperature, Slots: slots}, true
		}
	}
	if t.name != "" {
		slots := map[string]any{}
		wantClass := sw.deviceClass
		if t.cls != nil && t.cls.deviceClass != "" && !refines(sw.deviceClass, t.cls.deviceClass) {
			wantClass = t.cls.deviceClass
		}
		if wantClass != "" {
			t.refs = s.refsOfClass(t, wantClass)
		}
		ref := t.refs[0]
		best := -1
		value := s.asksValue()
		for _, r := range t.refs {
			e := s.reg.Entity(r.Index)
			if value && e.GetDomain() == "binary_sensor" && len(t.refs) > 1 {
				continue // a value is read from the sensor of that name
			}
			// a binary sensor of the lock class answers "is the pet door locked" too.
			if wantClass != "" && e.GetDeviceClass() == wantClass || sw.domain != "" && (e.GetDomain() == sw.domain || e.GetDeviceClass() == sw.domain) {
				ref = r
				break
			}
			// "rainfall intensity" picks precipitation_intensity over precipitation.
			if score := s.classOverlap(e.GetDeviceClass()); score > best {
				ref, best = r, score
			}
		}
		e := s.reg.Entity(ref.Index)
		if e.GetDomain() == "lock" && hasState && sw.domain == "" && sw.value != "" && sw.value != "on" && sw.value != "off" {
			// "is the back door open" of a lock: whether the door stands
			// open is its contact sensor's to say, not the lock's.
			if name, ok := s.doorContactOf(e); ok {
				return intent.Intent{Name: intent.GetState, Slots: map[string]any{"name": name, "state": sw.binary}}, true
			}
		}
		slots["name"] = ref.Name
		// Words that only a lock, a person or a detector answers carry its
		// domain; a sensor's only when a measure is said beside its name.
		switch d := e.GetDomain(); {
		case d == "lock" || d == "person":
			slots["domain"] = d
		case d == "binary_sensor" || d == "sensor" && e.GetDeviceClass() != "" && s.saysMeasure(t.nameChunk):
			slots["domain"] = d
			if e.GetDeviceClass() != "" {
				slots["device_class"] = e.GetDeviceClass()
			}
		}
		switch {
		case hasState && e.GetDomain() == "alarm_control_panel" && (sw.value == "on" || sw.value == "off"):
			// an alarm is armed one way or another, never on: its state
			// is asked, and answered as it is
		case hasState:
			slots["state"] = stateValue(sw, e.GetDomain())
		case e.GetDomain() == "person" && t.everywhere && s.first() != "where":
			slots["state"] = "home" // "is Rowan on the boat", "is Tess in the house"
		case e.GetDomain() == "person" && s.first() == "is" && s.toks[len(s.toks)-1] == "in":
			slots["state"] = "home" // "is Tom in"
		case e.GetDomain() == "person" && s.first() == "is" && t.nameChunk.end < len(s.toks) &&
			(s.toks[t.nameChunk.end] == "back" || s.toks[t.nameChunk.end] == "here") && saidLast(s.toks[t.nameChunk.end+1:]):
			slots["state"] = "home" // "is Ben back yet", "is Jean here"
		case e.GetDomain() == "binary_sensor" && e.GetDeviceClass() != "" && t.nameChunk.end > 0 &&
			stateWords[s.toks[t.nameChunk.end-1]].deviceClass == e.GetDeviceClass():
			// "is the washing machine running" of the Washing Machine
			// Running: the name ends on the state it reports.
			slots["state"] = stateWords[s.toks[t.nameChunk.end-1]].binary
		case t.cls != nil && t.cls.state != "" && e.GetDeviceClass() == t.cls.deviceClass:
			slots["state"] = t.cls.state // "is the pet feeder having a problem"
		case t.cls != nil && t.cls.domain == "binary_sensor" && e.GetDomain() == "binary_sensor" &&
			e.GetDeviceClass() == t.cls.deviceClass && s.has("have", "has", "there", "any", "available"):
			slots["state"] = "on" // "does the phone have an update available"
		}
		s.namePlace(t, slots)
		return intent.Intent{Name: intent.GetState, Slots: slots}, true
	}
	domain, dc, implied := "", "", ""
	if t.cls != nil {
		domain, dc, implied = t.cls.domain, t.cls.deviceClass, t.cls.state
		if refines(sw.deviceClass, dc) {
			dc = sw.deviceClass // "is the battery charging"
		}
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
	if domain == "light" && !hasState && s.lightAsSeen() {
		// "is there light in the garden": light as what a detector sees.
		domain, dc, implied = "binary_sensor", "light", "on"
	}
	if domain == "" && (s.first() == "who" || s.first() == "whos") {
		domain = "person" // "who's home"
	}
	if domain == "person" && t.area != "" && !hasState {
		// "is anyone in the booth": a person is in no room; the room's
		// own detector answers, or nothing does.
		if c := s.presenceClass(t.area); c != "" {
			domain, dc, implied = "binary_sensor", c, "on"
		}
	}
	if domain == "" && hasState {
		switch {
		case sw.domain != "":
			domain = sw.domain
		case sw.deviceClass != "":
			domain, dc = "binary_sensor", sw.deviceClass
		case (sw.value == "open" || sw.value == "closed") && t.area != "" && t.floor == "" && s.areaStands():
			domain = "cover" // "is the garage open": what opens in it
		}
	}
	// "is there smoke in the kitchen", "any motion in the hall": a
	// detector's own noun asks whether it is triggered.
	if !hasState && implied == "" && domain == "binary_sensor" && dc != "" && s.has("there", "any", "detected") {
		implied = "on"
	}
	if domain == "" && hasState && sw.value == "on" && (t.area != "" || t.floor != "") && s.has("anything", "something") {
		// "is anything on in the garage": every device of the room is asked
		slots := map[string]any{"state": "on"}
		s.place(t, slots, false)
		return intent.Intent{Name: intent.GetState, Slots: slots}, true
	}
	if domain == "" || (!hasState && implied == "" && domain != "person" && domain != "sensor") {
		return intent.Intent{}, false
	}
	slots := map[string]any{"domain": domain}
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
	return intent.Intent{Name: intent.GetState, Slots: slots}, true
}

// lightAsSeen reports whether the sentence's first device noun is light
// said as a mass noun ("is there light", "any light in the garage"), not a
// lamp ("is there a light on"), in a home that has a light detector to
// answer it.
func (s *sentence) lightAsSeen() bool {
	for _, c := range s.chunks {
		if c.kind != cNoun {
			continue
		}
		if c.end-c.start != 1 || s.toks[c.start] != "light" || c.start == 0 {
			return false
		}
		switch s.toks[c.start-1] {
		case "there", "any", "some", "enough", "no":
		default:
			return false
		}
		for _, e := range s.reg.Entities() {
			if e.GetDomain() == "binary_sensor" && e.GetDeviceClass() == "light" {
				return true
			}
		}
		return false
	}
	return false
}

// askWords frame a question about a reading without naming what is
// measured: "what's the value of the input voltage right now".
var askWords = map[string]bool{
	"value": true, "reading": true, "read": true, "reads": true, "say": true, "says": true, "current": true,
	"currently": true, "right": true, "now": true, "today": true, "at": true, "moment": true, "me": true, "much": true,
	"full": true, // "how full is the home battery" asks its level
}

// saysMeasure reports whether the question names what is measured apart
// from the sensor's name ("the furnace temperature", "the log file's
// size"). A question that only says the name ("what's the bathroom
// humidity") asks for that entity alone.
func (s *sentence) saysMeasure(name chunk) bool {
	for i, t := range s.toks {
		if i >= name.start && i < name.end {
			continue
		}
		if !questionStarts[t] && !skipWords[t] && !askWords[t] {
			return true
		}
	}
	return false
}

// refsOfClass returns the name's entities, or, when none has the device
// class the question asks about and the name begins with a determiner ("is
// my phone connected" with a sensor called "My Phone"), the entities named
// by the words after it.
func (s *sentence) refsOfClass(t target, dc string) []intent.Ref {
	for _, r := range t.refs {
		if s.reg.Entity(r.Index).GetDeviceClass() == dc {
			return t.refs
		}
	}
	c := t.nameChunk
	if c.end-c.start < 2 || !skipWords[s.toks[c.start]] {
		return t.refs
	}
	n, refs := s.reg.Match(s.toks, c.start+1)
	if n != c.end-c.start-1 {
		return t.refs
	}
	var out []intent.Ref
	for _, r := range refs {
		if r.Kind == intent.RefEntity && s.reg.Entity(r.Index).GetDeviceClass() == dc {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return t.refs
	}
	return out
}

// refines tells that a state word's device class narrows a noun's: the
// battery that is "charging" is a battery_charging sensor.
func refines(stateClass, nounClass string) bool {
	return nounClass != "" && strings.HasPrefix(stateClass, nounClass+"_")
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

// sensorOf returns the name of the sensor that measures dc for the device
// t names, called after it: "Hot Tub Temperature" for the Hot Tub.
func (s *sentence) sensorOf(t target, dc string) (string, bool) {
	for _, r := range t.refs {
		for _, k := range s.reg.EntitiesNamed(s.reg.Entity(r.Index).GetName() + " " + dc) {
			if e := s.reg.Entity(k); e.GetDomain() == "sensor" && e.GetDeviceClass() == dc {
				return e.GetName(), true
			}
		}
	}
	return "", false
}

// measureNamed returns the sensor of class dc named after the words a
// question asks it of ("is the engine" → Engine Temperature), when those
// words name nothing else of the home.
func (s *sentence) measureNamed(dc string) (string, bool) {
	from := -1
	for i := 1; i+1 < len(s.toks); i++ {
		if (s.toks[i-1] == "is" || s.toks[i-1] == "are") && (s.toks[i] == "the" || s.toks[i] == "our" || s.toks[i] == "my") {
			from = i + 1
			break
		}
	}
	if from < 0 {
		return "", false
	}
	for _, c := range s.chunks {
		if c.end > from && c.kind != cWord {
			return "", false
		}
	}
	found := ""
	for _, k := range s.reg.EntitiesNamed(s.text(from, len(s.toks)) + " " + dc) {
		if e := s.reg.Entity(k); e.GetDomain() == "sensor" && e.GetDeviceClass() == dc {
			if found != "" {
				return "", false
			}
			found = e.GetName()
		}
	}
	return found, found != ""
}

// onlySensor returns the name of the home's one sensor of the class.
func (s *sentence) onlySensor(dc string) (string, bool) {
	found := ""
	for _, e := range s.reg.Entities() {
		if e.GetDomain() == "sensor" && e.GetDeviceClass() == dc {
			if found != "" {
				return "", false
			}
			found = e.GetName()
		}
	}
	return found, found != ""
}

// presenceClasses are the detectors that tell someone is in a room, the
// most telling first.
var presenceClasses = []string{"occupancy", "presence", "motion"}

// presenceClass returns the device class of the area's detector that tells
// whether someone is there, or "".
func (s *sentence) presenceClass(area string) string {
	a, ok := s.reg.AreaByName(area)
	if !ok {
		return ""
	}
	for _, dc := range presenceClasses {
		for _, e := range s.reg.Entities() {
			if e.GetDomain() == "binary_sensor" && e.GetDeviceClass() == dc && e.GetAreaId() == a.GetId() {
				return dc
			}
		}
	}
	return ""
}

// doorContactOf returns the name of the one door or opening sensor named
// after a lock with a word more ("Back Door Sensor" of the Back Door),
// preferring one in the lock's room.
func (s *sentence) doorContactOf(lock *homeplanev1.Entity) (string, bool) {
	prefix := intent.Normalize(lock.GetName()) + " "
	found, inRoom, n, nRoom := "", "", 0, 0
	for _, e := range s.reg.Entities() {
		if e.GetDomain() != "binary_sensor" || e.GetDeviceClass() != "door" && e.GetDeviceClass() != "opening" ||
			!strings.HasPrefix(intent.Normalize(e.GetName()), prefix) {
			continue
		}
		found, n = e.GetName(), n+1
		if e.GetAreaId() == lock.GetAreaId() {
			inRoom, nRoom = e.GetName(), nRoom+1
		}
	}
	switch {
	case nRoom == 1:
		return inRoom, true
	case n == 1:
		return found, true
	}
	return "", false
}

// homeMeasure returns the one sensor of class dc named after a word the
// question names the whole home by and the measure: House Power.
func (s *sentence) homeMeasure(dc string) (string, bool) {
	found := ""
	for _, w := range s.toks {
		if !everywhereWords[w] {
			continue
		}
		for _, k := range s.reg.EntitiesNamed(w + " " + dc) {
			if e := s.reg.Entity(k); e.GetDomain() == "sensor" && e.GetDeviceClass() == dc {
				if found != "" && found != e.GetName() {
					return "", false
				}
				found = e.GetName()
			}
		}
	}
	return found, found != ""
}

// terseWords may stand beside a sensor's name said alone as a question.
var terseWords = map[string]bool{"the": true, "level": true, "reading": true, "now": true, "please": true, "current": true}

// terseReading reads a sensor's name said alone, with at most a word of
// reading ("home battery level", "pool temperature please"), as asking
// its value: a sensor can do nothing else.
func (s *sentence) terseReading() (intent.Intent, bool) {
	if questionStarts[s.first()] {
		return intent.Intent{}, false
	}
	t := s.target()
	if t.name == "" || t.area != "" || t.floor != "" || t.here {
		return intent.Intent{}, false
	}
	for _, r := range t.refs {
		if d := s.reg.Entity(r.Index).GetDomain(); d != "sensor" {
			return intent.Intent{}, false
		}
	}
	for i, w := range s.toks {
		if (i < t.nameChunk.start || i >= t.nameChunk.end) && !terseWords[w] {
			return intent.Intent{}, false
		}
	}
	return intent.Intent{Name: intent.GetState, Slots: map[string]any{"name": t.name}}, true
}

// areaStands reports whether the question asks how a room stands: "is
// the garage open", "are the garage and the shed shut now", not "are you
// able to open the garage".
func (s *sentence) areaStands() bool {
	if s.first() != "is" && s.first() != "are" || len(s.toks) < 3 || s.toks[1] != "the" {
		return false
	}
	for i := len(s.toks) - 1; i > 1; i-- {
		if sw, ok := stateWords[s.toks[i]]; ok {
			return (sw.value == "open" || sw.value == "closed") && saidLast(s.toks[i+1:])
		}
	}
	return false
}
