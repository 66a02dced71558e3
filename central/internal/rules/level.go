package rules

import (
	"slices"
	"strings"

	"github.com/homeplane/homeplane/central/internal/intent"
)

// levelWords carry nothing of what a level question asks about: "how much
// diesel have we got left", "what's the battery at".
var levelWords = map[string]bool{
	"how": true, "much": true, "is": true, "are": true, "left": true, "remaining": true, "there": true,
	"theres": true, "have": true, "has": true, "we": true, "weve": true, "got": true, "the": true, "a": true,
	"in": true, "of": true, "on": true, "what": true, "whats": true, "s": true, "level": true, "levels": true,
	"percentage": true, "percent": true, "at": true, "charge": true, "our": true, "my": true, "do": true,
	"does": true, "i": true, "you": true, "still": true, "it": true, "its": true, "thats": true,
}

// isBatteryWord reports a word that names a battery.
func isBatteryWord(w string) bool { return w == "battery" || w == "batteries" }

// levelQuestion reads what is left of a tank or a battery: "how much diesel
// is left" reads the one sensor whose name or alias holds every word said
// (Diesel Level), "what's the battery level" the home's battery sensors. A
// question of what is left that names no single sensor is asked is true
// and answers nothing, so no other reading takes it: "how much gas is left"
// is not the gas valve's state.
func (s *sentence) levelQuestion() (in intent.Intent, asked bool) {
	left := s.hasSeq("how", "much") && s.has("left", "remaining") &&
		!s.has("time", "longer", "timer", "timers", "alarm", "alarms")
	battery := questionStarts[s.first()] && (slices.Contains(s.toks, "battery") || slices.Contains(s.toks, "batteries")) &&
		(s.asksValue() || s.toks[len(s.toks)-1] == "at")
	if !left && !battery {
		return intent.Intent{}, false
	}
	var words []string
	onlyBattery := true
	for _, w := range s.toks {
		if levelWords[w] {
			continue
		}
		words = append(words, w)
		if !isBatteryWord(w) {
			onlyBattery = false
		}
	}
	if len(words) == 0 {
		return intent.Intent{}, left
	}
	found, byClass := -1, false
	for i, e := range s.reg.Entities() {
		if e.GetDomain() != "sensor" || onlyBattery && e.GetDeviceClass() != "battery" {
			continue
		}
		if onlyBattery {
			found = i
			break
		}
		ok, viaClass := sensorHolds(e.GetName(), e.GetAliases(), e.GetDeviceClass(), words)
		if !ok || battery && !left && e.GetDeviceClass() != "battery" {
			continue
		}
		if found >= 0 {
			return intent.Intent{}, left // two sensors: which was meant is not said
		}
		found, byClass = i, viaClass
	}
	if found < 0 {
		return intent.Intent{}, left
	}
	if onlyBattery {
		return intent.Intent{Name: intent.GetState, Slots: map[string]any{"domain": "sensor", "device_class": "battery"}}, true
	}
	e := s.reg.Entity(found)
	slots := map[string]any{"name": e.GetName()}
	// "the car battery level" asks the battery's measure, as "the doorbell
	// battery" does of a sensor not named so.
	if byClass || e.GetDeviceClass() == "battery" && slices.ContainsFunc(s.toks, func(w string) bool {
		return w == "level" || w == "percentage" || w == "percent"
	}) {
		slots["domain"], slots["device_class"] = "sensor", e.GetDeviceClass()
	}
	return intent.Intent{Name: intent.GetState, Slots: slots}, true
}

// sensorHolds reports whether every word is a word of the name or of one
// alias; a battery word may also be said of a battery sensor not named
// so, and viaClass tells that it was.
func sensorHolds(name string, aliases []string, dc string, words []string) (ok, viaClass bool) {
	for _, n := range append([]string{name}, aliases...) {
		have := map[string]bool{}
		for _, w := range strings.Fields(strings.ToLower(n)) {
			have[w] = true
		}
		all, cls := true, false
		for _, w := range words {
			switch {
			case have[w] || have[strings.TrimSuffix(w, "s")]:
			case isBatteryWord(w) && (have["battery"] || have["batteries"]):
			case isBatteryWord(w) && dc == "battery":
				cls = true
			default:
				all = false
			}
		}
		if all {
			return true, cls
		}
	}
	return false, false
}

// heaterNouns name a climate device by kind, as "thermostat" does.
var heaterNouns = map[string]string{"heater": "heater", "heaters": "heater", "radiator": "radiator", "radiators": "radiator"}

// heaterShared reports a heater noun said for anything but a temperature
// where the home also has a device of another kind named with it: "turn on
// the heater" of a home with a Space Heater switch and a thermostat names
// neither surely. A temperature is set or read only of a climate device,
// so "set the heater to 20" is not held back.
func (s *sentence) heaterShared(in intent.Intent) bool {
	if in.Name == intent.ClimateSetTemperature || in.Name == intent.ClimateGetTemperature {
		return false
	}
	for _, c := range s.chunks {
		if c.kind != cNoun || c.end-c.start != 1 {
			continue
		}
		noun, ok := heaterNouns[s.toks[c.start]]
		if !ok {
			continue
		}
		for _, e := range s.reg.Entities() {
			if e.GetDomain() == "climate" {
				continue
			}
			for _, n := range append([]string{e.GetName()}, e.GetAliases()...) {
				for _, w := range strings.Fields(strings.ToLower(n)) {
					if heaterNouns[w] == noun {
						return true
					}
				}
			}
		}
	}
	return false
}
