package intent

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/homeplane/homeplane/central/internal/pack"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

var domainNouns = map[string][2]string{
	"light":         {"light", "lights"},
	"switch":        {"switch", "switches"},
	"fan":           {"fan", "fans"},
	"cover":         {"cover", "covers"},
	"lock":          {"lock", "locks"},
	"valve":         {"valve", "valves"},
	"media_player":  {"media player", "media players"},
	"climate":       {"thermostat", "thermostats"},
	"vacuum":        {"vacuum", "vacuums"},
	"lawn_mower":    {"lawn mower", "lawn mowers"},
	"sensor":        {"sensor", "sensors"},
	"binary_sensor": {"sensor", "sensors"},
	"scene":         {"scene", "scenes"},
	"script":        {"script", "scripts"},
	"todo":          {"list", "lists"},
	"weather":       {"weather service", "weather services"},
	"person":        {"person", "people"},
}

func domainNoun(domain string, plural bool) string {
	n, ok := domainNouns[domain]
	if !ok {
		n = [2]string{strings.ReplaceAll(domain, "_", " "), strings.ReplaceAll(domain, "_", " ") + "s"}
	}
	if plural {
		return n[1]
	}
	return n[0]
}

// actionSpeech words the answer to an executed intent the way Home
// Assistant's English responses do.
func actionSpeech(reg *Index, in Intent, acted []int) string {
	if done := entry(in.Name).done; done != nil {
		return done(reg, in, acted)
	}
	return "Done"
}

// turnVerb is how switching something of a domain on or off is said.
func turnVerb(on bool, domain string) string {
	switch domain {
	case "scene":
		return "Activated"
	case "script":
		return pick(on, "Started", "Stopped")
	case "lock":
		return pick(on, "Locked", "Unlocked")
	case "valve", "cover":
		return pick(on, "Opened", "Closed")
	}
	return pick(on, "Turned on", "Turned off")
}

func doneTurn(reg *Index, in Intent, acted []int) string {
	domain := commonDomain(reg, acted)
	verb := turnVerb(in.Name == TurnOn, domain)
	switch domain {
	case "scene", "script", "lock", "valve":
		return verb
	case "cover":
		if c := in.Slot("device_class"); c != "" {
			return verb + " the " + coverNoun(c)
		}
		return verb
	}
	single := len(acted) == 1 && in.Slot("name") != "" && in.Slot("name") != NameAll
	if domain == "" {
		return verb + " the " + pick(single, "device", "devices")
	}
	return verb + " the " + domainNoun(domain, !single)
}

// listSpeech answers a list switched on or off in one sentence, naming
// each target as it was understood: "Turned off the Lamp and the Fan".
func listSpeech(reg *Index, subs []Response) (string, bool) {
	name := subs[0].Intent.Name
	if name != TurnOn && name != TurnOff {
		return "", false
	}
	var acted []int
	phrases := make([]string, 0, len(subs))
	for _, sub := range subs {
		p := referencePhrase(sub.Intent)
		if sub.Intent.Name != name || p == "" {
			return "", false
		}
		phrases = append(phrases, p)
		for _, tg := range sub.Targets {
			if i, ok := reg.entityByID[tg.EntityID]; ok {
				acted = append(acted, i)
			}
		}
	}
	last := len(phrases) - 1
	return turnVerb(name == TurnOn, commonDomain(reg, acted)) + " " + strings.Join(phrases[:last], ", ") + " and " + phrases[last], true
}

func doneLightSet(_ *Index, in Intent, _ []int) string {
	if _, ok := in.Slots["brightness"]; ok {
		return "Brightness set"
	}
	return "Color set"
}

func doneClimateSet(_ *Index, in Intent, _ []int) string {
	t, _ := in.Number("temperature")
	return "Temperature set to " + formatNumber(t) + " degrees"
}

func doneListAdd(_ *Index, in Intent, _ []int) string { return "Added " + in.Slot("item") }

func doneListComplete(_ *Index, in Intent, _ []int) string {
	return "Checked off " + in.Slot("item")
}

func coverNoun(class string) string {
	switch class {
	case "garage":
		return "garage"
	case "shutter", "blind", "curtain", "shade", "window", "door", "gate", "awning", "damper":
		return class + "s"
	}
	return strings.ReplaceAll(class, "_", " ")
}

func commonDomain(reg *Index, idx []int) string {
	d := ""
	for _, i := range idx {
		ed := reg.entities[i].GetDomain()
		if d != "" && d != ed {
			return ""
		}
		d = ed
	}
	return d
}

// binaryStates is how a binary sensor's off and on states are spoken, per
// device class.
var binaryStates = map[string][2]string{
	"battery":          {"normal", "low"},
	"battery_charging": {"not charging", "charging"},
	"carbon_monoxide":  {"clear", "detected"},
	"cold":             {"normal", "cold"},
	"connectivity":     {"disconnected", "connected"},
	"door":             {"closed", "open"},
	"garage_door":      {"closed", "open"},
	"gas":              {"clear", "detected"},
	"heat":             {"normal", "hot"},
	"light":            {"no light", "light detected"},
	"lock":             {"locked", "unlocked"},
	"moisture":         {"dry", "wet"},
	"motion":           {"clear", "detected"},
	"moving":           {"not moving", "moving"},
	"occupancy":        {"clear", "detected"},
	"opening":          {"closed", "open"},
	"plug":             {"unplugged", "plugged in"},
	"power":            {"off", "powered"},
	"presence":         {"away", "home"},
	"problem":          {"ok", "problem"},
	"running":          {"not running", "running"},
	"safety":           {"safe", "unsafe"},
	"smoke":            {"clear", "detected"},
	"sound":            {"clear", "detected"},
	"tamper":           {"clear", "tampered"},
	"update":           {"up-to-date", "update available"},
	"vibration":        {"clear", "detected"},
	"window":           {"closed", "open"},
}

// spokenState is an entity's state as a person would say it, with its unit.
func spokenState(e *homeplanev1.Entity) string {
	s := e.GetState()
	if e.GetDomain() == "binary_sensor" {
		if w, ok := binaryStates[e.GetDeviceClass()]; ok {
			switch s {
			case "off":
				return w[0]
			case "on":
				return w[1]
			}
		}
	}
	if s == "" {
		return "unknown"
	}
	if u := attrString(e, "unit_of_measurement"); u != "" {
		return s + " " + u
	}
	return strings.ReplaceAll(s, "_", " ")
}

func attrString(e *homeplanev1.Entity, key string) string {
	v, ok := pack.Attribute(e, key)
	if !ok {
		return ""
	}
	switch k := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		return k.StringValue
	case *structpb.Value_NumberValue:
		return formatNumber(k.NumberValue)
	}
	return ""
}

func attrNumber(e *homeplanev1.Entity, key string) (float64, bool) {
	v, ok := pack.Attribute(e, key)
	if !ok {
		return 0, false
	}
	if s := v.GetStringValue(); s != "" {
		f, err := strconv.ParseFloat(s, 64)
		return f, err == nil
	}
	return v.GetNumberValue(), v.GetKind() != nil
}

func formatNumber(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// queryForm is the kind of answer a state question wants.
type queryForm int

const (
	formAny   queryForm = iota // "is any light on" → Yes, <names> / No
	formAll                    // "are all doors locked" → Yes / No, <name> is not locked
	formWhich                  // "which lights are on" → names / Not any
	formCount                  // "how many lights are on" → number
)

func questionForm(text string) queryForm {
	t := " " + Normalize(text) + " "
	switch {
	case strings.Contains(t, " how many "):
		return formCount
	case strings.HasPrefix(t, " which ") || strings.HasPrefix(t, " what ") || strings.Contains(t, " which "):
		return formWhich
	case strings.Contains(t, " all ") || strings.Contains(t, " every "):
		return formAll
	}
	return formAny
}

// stateSpeech answers a HassGetState question from the registry's states.
func stateSpeech(reg *Index, in Intent, text string, targets []int) string {
	want := in.Slot("state")
	if want == "" {
		parts := make([]string, 0, len(targets))
		for _, i := range targets {
			e := reg.entities[i]
			parts = append(parts, e.GetName()+" is "+spokenState(e))
			if len(parts) == 5 {
				break
			}
		}
		return capitalize(strings.Join(parts, ", "))
	}
	var yes, no []*homeplanev1.Entity
	for _, i := range targets {
		e := reg.entities[i]
		if strings.EqualFold(e.GetState(), want) {
			yes = append(yes, e)
		} else {
			no = append(no, e)
		}
	}
	wantSpoken := want
	if len(targets) > 0 {
		e := reg.entities[targets[0]]
		if e.GetDomain() == "binary_sensor" {
			if w, ok := binaryStates[e.GetDeviceClass()]; ok {
				wantSpoken = w[boolIndex(want == "on")]
			}
		}
	}
	single := len(targets) == 1 && in.Slot("name") != "" && in.Slot("name") != NameAll
	if single {
		if len(yes) == 1 {
			return "Yes"
		}
		return "No, " + spokenState(no[0])
	}
	switch questionForm(text) {
	case formCount:
		return strconv.Itoa(len(yes))
	case formWhich:
		if len(yes) == 0 {
			return "Not any"
		}
		return listNames(yes)
	case formAll:
		if len(no) == 0 {
			return "Yes"
		}
		return "No, " + no[0].GetName() + " is not " + wantSpoken
	}
	if len(yes) == 0 {
		return "No"
	}
	return "Yes, " + listNames(yes)
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

func listNames(es []*homeplanev1.Entity) string {
	const show = 3
	names := make([]string, 0, show)
	for _, e := range es {
		if len(names) == show {
			break
		}
		names = append(names, e.GetName())
	}
	switch {
	case len(es) == 1:
		return names[0]
	case len(es) <= show:
		return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
	}
	return strings.Join(names, ", ") + fmt.Sprintf(" and %d more", len(es)-show)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// temperatureSpeech answers HassClimateGetTemperature: a temperature sensor
// in the place first, else the climate entity's current temperature.
func temperatureSpeech(reg *Index, targets []int) (string, bool) {
	for _, pass := range []string{"sensor", "climate"} {
		for _, i := range targets {
			e := reg.entities[i]
			if e.GetDomain() != pass {
				continue
			}
			if pass == "sensor" {
				if e.GetDeviceClass() != "temperature" {
					continue
				}
				if _, err := strconv.ParseFloat(e.GetState(), 64); err != nil {
					continue
				}
				return "The temperature is " + e.GetState() + " degrees", true
			}
			if t, ok := attrNumber(e, "current_temperature"); ok {
				return "The temperature is " + formatNumber(t) + " degrees", true
			}
		}
	}
	return "", false
}

var weatherWords = map[string]string{
	"rainy": "raining", "pouring": "pouring", "snowy": "snowing", "snowy-rainy": "sleeting",
	"sunny": "sunny", "clear-night": "clear", "cloudy": "cloudy", "partlycloudy": "partly cloudy",
	"fog": "foggy", "hail": "hailing", "lightning": "stormy", "lightning-rainy": "stormy",
	"windy": "windy", "windy-variant": "windy", "exceptional": "exceptional", "clear": "clear",
}

func weatherSpeech(e *homeplanev1.Entity) string {
	cond, ok := weatherWords[e.GetState()]
	if !ok {
		cond = strings.ReplaceAll(e.GetState(), "_", " ")
	}
	t := attrString(e, "temperature")
	if t == "" {
		return capitalize(cond)
	}
	unit := attrString(e, "temperature_unit")
	return strings.TrimSpace(t+" "+unit) + " and " + cond
}

func timeSpeech(now time.Time) string { return now.Format("3:04 PM") }

func dateSpeech(now time.Time) string {
	d := now.Day()
	suffix := "th"
	if d/10 != 1 {
		switch d % 10 {
		case 1:
			suffix = "st"
		case 2:
			suffix = "nd"
		case 3:
			suffix = "rd"
		}
	}
	return fmt.Sprintf("%s %d%s, %d", now.Month(), d, suffix, now.Year())
}

func respondSpeech(text string) string {
	t := " " + Normalize(text) + " "
	switch {
	case strings.Contains(t, " who made ") || strings.Contains(t, " who created ") || strings.Contains(t, " who built "):
		return "I was created by the wonderful Home Assistant community, made up of tinkerers world wide."
	case strings.Contains(t, " thank"):
		return "You're welcome"
	case strings.Contains(t, " listening ") || strings.Contains(t, " recording ") || strings.Contains(t, " data ") ||
		strings.Contains(t, " voice ") || strings.Contains(t, " privacy ") || strings.Contains(t, " spying ") ||
		strings.Contains(t, " store ") || strings.Contains(t, " keep "):
		return "I only hear what your voice device sends after its wake word. The text of each request and what was done are kept in your home's audit log; no recording is stored."
	case strings.Contains(t, " hello ") || strings.Contains(t, " hi ") || strings.Contains(t, " hey ") ||
		strings.Contains(t, " good morning ") || strings.Contains(t, " good afternoon ") || strings.Contains(t, " good evening "):
		return "Hello"
	}
	return "I can turn things on and off, set lights, covers and thermostats, control media, and answer questions about your home."
}
