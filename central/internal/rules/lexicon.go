package rules

import "strings"

// class is what a common noun in a sentence denotes: a domain and maybe a
// device class ("blinds" → cover/blind).
type class struct {
	domain, deviceClass string
	// generic nouns ("devices", "sensors", "things") take their device
	// class from the state word ("connected" → connectivity).
	generic bool
	// door and window nouns mean a lock, cover or binary sensor depending
	// on the verb or state word.
	door, window bool
	// state a noun implies in a question ("is there any leak" → on).
	state string
	// cools: the noun names a thermostat that cools ("the air con"), which
	// a home whose thermostats only heat does not have.
	cools bool
}

type lexNode struct {
	next map[string]*lexNode
	cls  *class
}

var nouns = func() *lexNode {
	root := &lexNode{}
	add := func(c class, phrases ...string) {
		for _, p := range phrases {
			n := root
			for _, t := range strings.Fields(p) {
				if n.next == nil {
					n.next = map[string]*lexNode{}
				}
				c2 := n.next[t]
				if c2 == nil {
					c2 = &lexNode{}
					n.next[t] = c2
				}
				n = c2
			}
			cc := c
			n.cls = &cc
		}
	}
	add(class{domain: "light"}, "light", "lights", "lamp", "lamps", "lighting", "lightbulb", "lightbulbs",
		"light bulb", "light bulbs", "bulb", "bulbs")
	add(class{domain: "switch"}, "switch", "switches", "outlet", "outlets", "socket", "sockets", "plug switch")
	add(class{domain: "fan"}, "fan", "fans")
	add(class{domain: "lock"}, "lock", "locks", "door lock", "door locks")
	add(class{door: true}, "door", "doors")
	add(class{window: true}, "window", "windows")
	add(class{domain: "cover", deviceClass: "garage"}, "garage door", "garage doors", "garage gate")
	add(class{domain: "cover", deviceClass: "blind"}, "blind", "blinds")
	add(class{domain: "cover", deviceClass: "curtain"}, "curtain", "curtains", "drape", "drapes")
	add(class{domain: "cover", deviceClass: "shade"}, "shade", "shades")
	add(class{domain: "cover", deviceClass: "shutter"}, "shutter", "shutters", "roller shutter", "roller shutters")
	add(class{domain: "cover", deviceClass: "gate"}, "gate", "gates")
	add(class{domain: "cover", deviceClass: "awning"}, "awning", "awnings")
	add(class{domain: "cover"}, "cover", "covers")
	add(class{domain: "valve"}, "valve", "valves")
	add(class{domain: "media_player"}, "media player", "media players", "speaker", "speakers")
	add(class{domain: "climate"}, "thermostat", "thermostats", "heater", "heaters", "radiator", "radiators", "heating")
	add(class{domain: "climate", cools: true}, "air conditioning", "air conditioner", "air conditioners",
		"air con", "aircon", "ac")
	add(class{domain: "vacuum"}, "vacuum", "vacuums", "robot vacuum", "vacuum cleaner", "robot")
	add(class{domain: "lawn_mower"}, "mower", "mowers", "lawn mower", "lawn mowers", "lawnmower", "lawnmowers", "robot mower")
	add(class{domain: "scene"}, "scene", "scenes")
	add(class{domain: "script"}, "script", "scripts")
	add(class{domain: "person"}, "anyone", "anybody", "someone", "somebody", "people", "everyone", "everybody")
	// a measure said of a place asks its sensor: "how humid is the bathroom"
	add(class{domain: "sensor", deviceClass: "humidity"}, "humidity", "humid")
	add(class{domain: "sensor", deviceClass: "carbon_dioxide"}, "co2", "co2 level", "carbon dioxide", "carbon dioxide level")
	add(class{domain: "sensor", deviceClass: "sound_pressure"}, "noise level", "noisy", "sound level")
	add(class{domain: "sensor", deviceClass: "power"}, "power draw", "power usage", "power use", "power consumption", "wattage",
		"much power") // "how much power is the studio drawing"
	add(class{domain: "sensor", deviceClass: "energy"}, "energy usage", "energy use", "energy consumption",
		"much energy") // "how much energy have we used"
	add(class{generic: true}, "device", "devices", "thing", "things", "sensor", "sensors", "entity", "entities")
	bs := func(dc string, phrases ...string) {
		add(class{domain: "binary_sensor", deviceClass: dc}, phrases...)
	}
	bs("battery", "battery", "batteries")
	bs("carbon_monoxide", "carbon monoxide", "carbon monoxide sensor", "carbon monoxide sensors",
		"carbon monoxide detector", "carbon monoxide detectors", "co sensor", "co sensors", "co detector", "co detectors")
	bs("gas", "gas", "gas sensor", "gas sensors", "gas detector", "gas detectors")
	bs("smoke", "smoke", "smoke sensor", "smoke sensors", "smoke detector", "smoke detectors", "smoke alarm", "smoke alarms")
	bs("motion", "motion", "motion sensor", "motion sensors", "motion detector", "motion detectors")
	bs("occupancy", "occupancy", "occupancy sensor", "occupancy sensors", "presence sensor", "presence sensors")
	bs("sound", "sound sensor", "sound sensors", "sound detector", "sound detectors", "noise sensor", "noise sensors")
	bs("moisture", "water sensor", "water sensors", "leak sensor", "leak sensors", "moisture sensor", "moisture sensors",
		"water leak sensor", "water leak sensors", "flood sensor", "flood sensors")
	bs("opening", "opening", "openings", "opening sensor", "opening sensors")
	bs("door", "door sensor", "door sensors")
	bs("window", "window sensor", "window sensors")
	bs("vibration", "vibration sensor", "vibration sensors")
	bs("tamper", "tamper sensor", "tamper sensors")
	bs("heat", "heat sensor", "heat sensors")
	bs("cold", "cold sensor", "cold sensors")
	bs("light", "light sensor", "light sensors", "light detector", "light detectors")
	bs("update", "update", "updates")
	add(class{domain: "binary_sensor", deviceClass: "gas", state: "on"}, "gas leak", "gas leaks")
	add(class{domain: "binary_sensor", deviceClass: "problem", state: "on"}, "problem", "problems", "issue", "issues", "fault", "faults")
	add(class{domain: "binary_sensor", deviceClass: "smoke", state: "on"}, "fire")
	add(class{domain: "binary_sensor", deviceClass: "moisture", state: "on"}, "leak", "leaks", "water leak", "water leaks", "flood", "water", "moisture")
	// "is light detected": light said as what a detector sees
	add(class{domain: "binary_sensor", deviceClass: "light", state: "on"}, "light detected", "light detecting")
	return root
}()

// matchNoun finds the longest common noun phrase at toks[i].
func matchNoun(toks []string, i int) (n int, c *class) {
	node := nouns
	for j := i; j < len(toks); j++ {
		node = node.next[toks[j]]
		if node == nil {
			break
		}
		if node.cls != nil {
			n, c = j-i+1, node.cls
		}
	}
	return n, c
}

// stateWord is a word that states a condition in a question, with what it
// means for each kind of entity.
type stateWord struct {
	// value for generic on/off entities and binary sensors ("on"/"off").
	binary string
	// value for covers, locks, persons, ... when it differs ("open").
	value string
	// device class a generic noun takes from this word ("connected").
	deviceClass string
	// domain the word implies ("locked" → lock).
	domain string
}

var stateWords = map[string]stateWord{
	"on":           {binary: "on", value: "on"},
	"off":          {binary: "off", value: "off"},
	"open":         {binary: "on", value: "open"},
	"opened":       {binary: "on", value: "open"},
	"closed":       {binary: "off", value: "closed"},
	"shut":         {binary: "off", value: "closed"},
	"locked":       {binary: "off", value: "locked", domain: "lock"},
	"unlocked":     {binary: "on", value: "unlocked", domain: "lock"},
	"low":          {binary: "on", deviceClass: "battery"},
	"normal":       {binary: "off"},
	"ok":           {binary: "off"},
	"okay":         {binary: "off"},
	"fine":         {binary: "off"},
	"cold":         {binary: "on", deviceClass: "cold"},
	"overheating":  {binary: "on", deviceClass: "heat"},
	"overheated":   {binary: "on", deviceClass: "heat"},
	"charged":      {binary: "off", deviceClass: "battery"},
	"hot":          {binary: "on", deviceClass: "heat"},
	"wet":          {binary: "on", deviceClass: "moisture"},
	"dry":          {binary: "off", deviceClass: "moisture"},
	"leaking":      {binary: "on", deviceClass: "moisture"},
	"detected":     {binary: "on"},
	"detecting":    {binary: "on"}, // "is the motion sensor detecting anything"
	"sensing":      {binary: "on"},
	"dark":         {binary: "off", deviceClass: "light"}, // a light detector sees no light
	"triggered":    {binary: "on"},
	"active":       {binary: "on"},
	"clear":        {binary: "off"},
	"connected":    {binary: "on", deviceClass: "connectivity"},
	"online":       {binary: "on", deviceClass: "connectivity"},
	"disconnected": {binary: "off", deviceClass: "connectivity"},
	"offline":      {binary: "off", deviceClass: "connectivity"},
	"plugged":      {binary: "on", deviceClass: "plug"},
	"unplugged":    {binary: "off", deviceClass: "plug"},
	"powered":      {binary: "on", deviceClass: "power"},
	"home":         {binary: "on", value: "home", deviceClass: "presence"},
	"away":         {binary: "off", value: "not_home", deviceClass: "presence"},
	"occupied":     {binary: "on", deviceClass: "occupancy"},
	"unoccupied":   {binary: "off", deviceClass: "occupancy"},
	"empty":        {binary: "off", deviceClass: "occupancy"},
	"running":      {binary: "on", deviceClass: "running"},
	"charging":     {binary: "on", deviceClass: "battery_charging"},
	"tampered":     {binary: "on", deviceClass: "tamper"},
	"unsafe":       {binary: "on", deviceClass: "safety"},
	"safe":         {binary: "off", deviceClass: "safety"},
	"vibrating":    {binary: "on", deviceClass: "vibration"},
	"moving":       {binary: "on", deviceClass: "moving"},
	"playing":      {value: "playing"},
	"paused":       {value: "paused"},
	"idle":         {value: "idle"},
	"docked":       {value: "docked"},
}

var colors = map[string]bool{
	"red": true, "green": true, "blue": true, "yellow": true, "orange": true, "purple": true,
	"pink": true, "white": true, "cyan": true, "magenta": true, "violet": true, "brown": true,
	"gold": true, "teal": true, "turquoise": true, "lime": true, "indigo": true, "lavender": true,
	"crimson": true, "coral": true, "salmon": true, "aqua": true, "navy": true, "maroon": true,
	"olive": true, "beige": true, "black": true, "silver": true, "amber": true, "chartreuse": true,
	"fuchsia": true, "khaki": true, "plum": true, "tomato": true,
}

// determiners and other words that carry nothing for the slots.
var skipWords = map[string]bool{
	"the": true, "a": true, "an": true, "my": true, "our": true, "your": true, "all": true,
	"every": true, "each": true, "of": true, "please": true, "any": true, "some": true,
	"this": true, "that": true, "these": true, "those": true, "single": true, "and": true,
}
