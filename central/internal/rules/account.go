package rules

import (
	"strings"

	"github.com/homeplane/homeplane/central/internal/intent"
)

// The parser reads the words it knows and skips the rest, which is what lets
// it hear "could you maybe turn on the kitchen lights" as a request. For the
// target of a command that is dangerous: "turn on the garden lights" in a
// home without a garden would become "turn on the lights", every light of
// the house. So every word of a sentence that acts on or asks about the home
// must be accounted for: a name the home has, a common noun for a device, a
// number, or a word of the grammar. A word that is none of these names
// something the home does not have, and the sentence is refused.

// grammarWords are the words the grammar reads or may skip safely: verbs,
// particles, determiners, prepositions, adverbs, units and the words of its
// lexicons. A word missing here that people say makes the parser refuse
// where it could have acted; a word here that names things ("garden")
// would let it act on the wrong thing, so only function words belong.
var grammarWords = func() map[string]bool {
	m := map[string]bool{}
	add := func(words ...string) {
		for _, w := range words {
			for _, t := range strings.Fields(w) {
				m[t] = true
			}
		}
	}
	for _, set := range []map[string]bool{skipWords, colors, quantifiers, everywhereWords, interjections,
		trailingFillers, hesitations, onVerbs, offVerbs, powerVerbs, verbAfterName, notPossessed,
		questionStarts, goingOff, maxWords, minWords, askWords} {
		for w := range set {
			add(w)
		}
	}
	for w := range stateWords {
		add(w)
	}
	for w := range doneStates {
		add(w)
	}
	for _, f := range leadFillers {
		add(f...)
	}
	for _, f := range embeddedQuestions {
		add(f...)
	}
	add(
		// verbs and particles of commands
		"turn", "turned", "turning", "switch", "switched", "put", "set", "make", "change", "adjust", "bring",
		"flip", "toggle", "light", "up", "down", "out", "over", "back", "on", "off", "in", "into", "at", "to",
		"pull", "roll", "let", "draw", "apart", "keep", "leave", "get", "go", "going", "started", "running",
		"increase", "decrease", "raise", "lower", "dim", "dimmer", "brighten", "brighter", "bright", "brightness",
		"warm", "warmer", "cool", "cooler", "heat", "heating", "colder", "hotter", "chilly", "freezing", "move", "paint", "colour", "color",
		"percent", "percentage", "degrees", "degree", "celsius", "fahrenheit", "c", "f", "position", "level",
		"temperature", "temp", "volume", "speed", "louder", "quieter", "way", "fully", "halfway", "half", "quarter", "quarters",
		// determiners, pronouns, prepositions and conjunctions
		"it", "them", "they", "its", "their", "there", "here", "me", "i", "we", "us", "you", "im", "ive",
		"with", "by", "from", "for", "about", "of", "as", "than", "then", "too", "also", "both", "either",
		"or", "nor", "but", "if", "whether", "again", "still", "already", "yet", "currently", "right", "now",
		"only", "just", "really", "very", "much", "more", "less", "bit", "little", "lot", "few", "several",
		"other", "rest", "too", "same", "current", "whole", "entire", "across", "throughout", "around", "inside", "enough",
		"room", "rooms", "area", "areas", "floor", "floors", "everything", "anything", "nothing", "something",
		// questions
		"is", "are", "was", "were", "be", "been", "being", "do", "does", "did", "has", "have", "had", "can",
		"could", "would", "will", "should", "may", "might", "must", "shall", "not", "dont", "doesnt", "isnt",
		"arent", "wasnt", "werent", "didnt", "cant", "wont", "what", "whats", "which", "who", "whos", "how",
		"hows", "many", "where", "wheres", "when", "why", "state", "status", "still", "left", "know", "tell",
		"say", "show", "give", "report", "reading", "value", "currently", "presently", "someone", "anyone",
		"somebody", "anybody", "people", "everyone", "everybody", "need", "want", "like", "id", "would",
		"using", "drawing", "consuming", "pulling",
		"please", "thanks", "thank", "you",
		// media and vacuums
		"play", "playing", "pause", "resume", "unpause", "continue", "replay", "skip", "next", "previous", "last",
		"track", "song", "tune", "episode", "item", "chapter", "video", "playback", "music", "mute", "unmute",
		"send", "return", "dock", "docked", "base", "charger", "clean", "cleaning", "hoover", "hoovering",
		"vacuum", "vacuuming", "start", "his", "her", "mow", "mowing",
		// other ways to ask
		"stick", "pop", "bung", "switching", "turning", "possibly", "cheers", "leaving", "done", "kind", "so", "lets",
		"transition", "be", "anywhere", "somewhere", "got", "having", "showing", "reading", "reads",
	)
	return m
}()

// guardedIntents are the intents whose whole sentence is a target; free-text
// intents (media searches, list items, messages, timers) keep words the
// home does not know on purpose.
func guardedIntent(name intent.Name) bool {
	switch name {
	case intent.TurnOn, intent.TurnOff, intent.Toggle, intent.LightSet, intent.SetPosition, intent.StopMoving,
		intent.ClimateSetTemperature, intent.MediaPause, intent.MediaUnpause, intent.MediaNext,
		intent.MediaPrevious, intent.SetVolume, intent.MediaPlayerMute, intent.MediaPlayerUnmute,
		intent.VacuumStart, intent.VacuumReturnToBase, intent.GetState, intent.ClimateGetTemperature,
		intent.FanSetSpeed, intent.LawnMowerStartMowing, intent.LawnMowerDock:
		return true
	}
	return false
}

// unaccounted returns the runs of words the sentence does not account for,
// as token positions [from, to).
func (s *sentence) unaccounted() [][2]int {
	var runs [][2]int
	for ci, c := range s.chunks {
		known := c.kind != cWord || grammarWords[s.toks[c.start]] && !s.modifiesNoun(c.start) || s.dwellingOwns(c.start) ||
			boatWords[s.toks[c.start]] && s.dwelling(s.toks[c.start]) || s.headShared(ci) ||
			s.toks[c.start] == "space" && c.start > 0 && s.toks[c.start-1] == "this" || // "this space" is here
			s.waterValve(s.target()) != "" // "water the lawn": the words are of the valve's name
		switch {
		case known:
		case len(runs) > 0 && runs[len(runs)-1][1] == c.start:
			runs[len(runs)-1][1] = c.end
		default:
			runs = append(runs, [2]int{c.start, c.end})
		}
	}
	return runs
}

// refusal returns why a parsed sentence must not be acted on or answered,
// or nil. A command refuses any word it cannot account for; a question
// only a word that names a place or a device ("is the garden light on",
// "the temperature in the attic"), since questions also name measures
// ("what is the wind speed of the Mistral") that nothing acts on.
func (s *sentence) refusal(in intent.Intent) *intent.UnknownError {
	question := in.Name == intent.GetState || in.Name == intent.ClimateGetTemperature
	if u := s.strayNumber(in, question); u != nil {
		return u
	}
	for _, r := range s.unaccounted() {
		u := s.unknownTarget(r[0], r[1])
		if !question || u.Kind != intent.UnknownDevice || s.nounAt(r[1]) || s.measureOfUnknown(in, r[0]) || s.namePrefix(r[0], r[1]) {
			u.Intent = in
			return u
		}
	}
	return nil
}

// modifiesNoun reports whether a grammar word at i is said as a device's
// modifier: the "back" of "the back door" names a door, which a home
// without one lacks.
func (s *sentence) modifiesNoun(i int) bool {
	return s.toks[i] == "back" && i > 0 && skipWords[s.toks[i-1]] && s.nounAt(i+1)
}

// measureOfUnknown reports whether a sensor's measure asked of no place
// and no device is asked of the unknown words at from: "how humid is the
// garage", "how much power is the dishwasher using" in a home with neither
// ask what no sensor of the home answers.
func (s *sentence) measureOfUnknown(in intent.Intent, from int) bool {
	if in.Slot("domain") != "sensor" && in.Name != intent.ClimateGetTemperature || in.Slot("name") != "" || in.Slot("area") != "" || in.Slot("floor") != "" {
		return false
	}
	return from >= 2 && (s.toks[from-1] == "the" || s.toks[from-1] == "my" || s.toks[from-1] == "our") &&
		(s.toks[from-2] == "is" || s.toks[from-2] == "are")
}

// namePrefix reports whether unknown words stand between a determiner and
// a device's name: "the grey water tank" is a tank the home lacks, not its
// Water Tank.
func (s *sentence) namePrefix(from, to int) bool {
	if from == 0 || !determiner(s.toks[from-1]) {
		return false
	}
	c, ok := s.refChunkAt(to)
	return ok && c.refs[0].Kind == intent.RefEntity
}

// nounAt reports whether a device noun starts at token i.
func (s *sentence) nounAt(i int) bool {
	for _, c := range s.chunks {
		if c.start == i {
			return c.kind == cNoun
		}
	}
	return false
}

// unknownTarget says what the unaccounted words of a sentence name, in the
// words Home Assistant answers with: an area ("the garden lights", "in the
// attic"), a floor ("on the third floor") or a device ("the side door").
func (s *sentence) unknownTarget(from, to int) *intent.UnknownError {
	words := s.text(from, to)
	kind := intent.UnknownDevice
	// what follows the unknown words: a common noun makes them a modifier
	var next *chunk
	for k := range s.chunks {
		if s.chunks[k].start == to {
			next = &s.chunks[k]
		}
	}
	before := from - 1
	for before >= 0 && skipWords[s.toks[before]] {
		before--
	}
	placePrep := false
	if before >= 0 {
		switch s.toks[before] {
		case "in", "at", "inside", "outside", "from":
			placePrep = true
		case "on":
			// "on the porch", not the particle of "turn on the porch light"
			placePrep = before == 0 || !particleVerbs[s.toks[before-1]]
		}
	}
	switch {
	case strings.HasSuffix(words, " floor") || next != nil && next.kind == cWord && s.toks[next.start] == "floor":
		kind = intent.UnknownFloor
		if !strings.HasSuffix(words, " floor") {
			words += " floor"
		}
	case placePrep:
		kind = intent.UnknownArea
	case next != nil && next.kind == cNoun && plural(s.toks[next.end-1]):
		// "the garden lights": the lights of a place
		kind = intent.UnknownArea
	case next != nil && (next.kind == cNoun || next.kind == cRef):
		// "the side door", "the attic fan": a device of that kind
		words = s.text(from, next.end)
	case next != nil && next.kind == cWord && (s.toks[next.start] == "room" || s.toks[next.start] == "rooms"):
		kind = intent.UnknownArea
		words = s.text(from, next.end)
	}
	return &intent.UnknownError{Kind: kind, Words: words}
}

// particleVerbs take "on" as their particle: "turn on", "switch on".
var particleVerbs = map[string]bool{"turn": true, "switch": true, "put": true, "flip": true, "toggle": true, "power": true, "light": true, "lights": true}

func plural(w string) bool {
	return len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss")
}

// strayNumber returns the number an intent has no use for: "turn on lamp 3"
// in a home with "Lamp" and "Lamp 2" names a lamp it lacks, and "turn off
// the fan in 5 minutes" asks for what the intent cannot do. A question
// only refuses a number said as part of a name.
func (s *sentence) strayNumber(in intent.Intent, question bool) *intent.UnknownError {
	for k, c := range s.chunks {
		if c.kind != cNumber {
			continue
		}
		from := c.start
		if k > 0 && (s.chunks[k-1].kind == cRef || s.chunks[k-1].kind == cNoun) {
			from = s.chunks[k-1].start
		} else if question || s.toks[c.start] == "one" {
			continue // "skip this one" is a pronoun
		}
		if usesNumber(in) {
			return nil
		}
		return &intent.UnknownError{Kind: intent.UnknownDevice, Words: s.text(from, c.end), Intent: in}
	}
	return nil
}

// usesNumber reports whether one of the intent's slots holds a number.
func usesNumber(in intent.Intent) bool {
	for _, v := range in.Slots {
		switch v.(type) {
		case int, int64, float64:
			return true
		}
	}
	return false
}
