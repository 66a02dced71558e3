package rules

import (
	"strings"

	"github.com/homeplane/homeplane/central/internal/intent"
)

// Commands the engine cannot do later. Only "in 10 minutes" is a delayed
// command (a timer that runs it, ADR 0012); a command said with any other
// time or schedule ("open the awning at ten", "set the thermostat to 21
// from 6", "unlock the side gate tonight") would otherwise be done now, or
// its time read as a position. It is refused with intent.ErrLater.

// timeWords are a time of day or a span said alone: "at noon", "after
// sunset", "until midnight".
var timeWords = map[string]bool{
	"noon": true, "midday": true, "midnight": true, "dawn": true, "dusk": true, "sunrise": true, "sunset": true,
	"night": true, "nightfall": true, "daybreak": true, "bedtime": true, "lunchtime": true, "dinnertime": true,
	"teatime": true, "dark": true, "oclock": true,
}

// laterWords are a day or a time said on their own: "tonight", "on friday".
var laterWords = map[string]bool{
	"tonight": true, "tomorrow": true, "tmrw": true, "overnight": true, "later": true, "weekdays": true,
	"weekends": true, "monday": true, "tuesday": true, "wednesday": true, "thursday": true, "friday": true,
	"saturday": true, "sunday": true, "mondays": true, "tuesdays": true, "wednesdays": true, "thursdays": true,
	"fridays": true, "saturdays": true, "sundays": true, "daily": true, "nightly": true, "weekly": true,
	"hourly": true,
}

// partsOfDay follow "in the", "this" or "every": "in the morning".
var partsOfDay = map[string]bool{
	"morning": true, "mornings": true, "evening": true, "evenings": true, "afternoon": true, "afternoons": true,
	"night": true, "nights": true, "weekend": true, "day": true, "week": true, "hour": true, "time": true,
}

// valueUnits end a number that is a value, not a time: "at 50 percent".
var valueUnits = map[string]bool{"percent": true, "percentage": true, "degrees": true, "degree": true, "c": true, "f": true}

// clockWord reports whether t is a time of day in digits with its half of
// the day: "8pm", "730am".
func clockWord(t string) bool {
	d, ok := strings.CutSuffix(t, "am")
	if !ok {
		d, ok = strings.CutSuffix(t, "pm")
	}
	if !ok || d == "" {
		return false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return false
		}
	}
	return true
}

// valueVerbs set a value that "at" may give: "set the thermostat at 21".
var valueVerbs = map[string]bool{"set": true, "put": true, "keep": true, "change": true, "adjust": true, "move": true, "bring": true}

// actsNow reports whether an intent changes the home now: a delayed
// command is a timer that runs one.
func actsNow(in intent.Intent) bool {
	if in.Name == intent.StartTimer {
		return in.Slot("conversation_command") != ""
	}
	return guardedIntent(in.Name) && in.Name != intent.GetState && in.Name != intent.ClimateGetTemperature
}

// later reports whether the sentence says a time or schedule for its
// command outside the names it says.
func (s *sentence) later() bool {
	toks := s.toks
	word := func(i int) bool { return i >= 0 && i < len(toks) && !s.inName(i) }
	numberBefore := false
	for i, t := range toks {
		if !word(i) {
			continue
		}
		next := ""
		if i+1 < len(toks) {
			next = toks[i+1]
		}
		switch {
		case laterWords[t], clockWord(t) && i > 0, (t == "am" || t == "pm") && i > 0 && isNumberWord(toks, i-1):
			return true
		case t == "every" || t == "each" || t == "this":
			if partsOfDay[next] || laterWords[next] || t == "every" && isNumberWord(toks, i+1) {
				return true
			}
		case t == "in" && next == "the" && i+2 < len(toks) && word(i+2) && partsOfDay[toks[i+2]] && toks[i+2] != "time":
			return true
		case (t == "when" || t == "whenever") && next == "you":
			// "when you can", "when you get a chance": now
		case (t == "when" || t == "whenever" || t == "once" || t == "until" || t == "till" || t == "til") && i > 0 && next != "":
			// "open the garage door when i get home", "until 7"
			return true
		case t == "at" || t == "by" || t == "from" || t == "before" || t == "after":
			if word(i+1) && s.timeAt(i, numberBefore) {
				return true
			}
		case t == "for" && word(i+1):
			if d, ok := parseDuration(toks, i+1); ok && d.end == len(toks) {
				return true // "for 10 minutes": switched back later
			}
		}
		if _, n := parseNumber(toks, i); n > 0 && i > 0 {
			numberBefore = true
		}
	}
	return false
}

// timeAt reports whether the words after the preposition at i say a time:
// "at six", "from 6", "after sunset", "by 7 am". A number after "at" is a
// value when a unit follows it or a verb that sets values said it first
// ("set the blinds at 50"); "after 10 minutes" is a delayed command.
func (s *sentence) timeAt(i int, numberBefore bool) bool {
	toks := s.toks
	p, next := toks[i], toks[i+1]
	if timeWords[next] || clockWord(next) {
		return true
	}
	if (next == "half" || next == "quarter") && i+2 < len(toks) && (toks[i+2] == "past" || toks[i+2] == "to" || toks[i+2] == "after") {
		return true // "at half past six"
	}
	if next == "the" && i+2 < len(toks) && (timeWords[toks[i+2]] || partsOfDay[toks[i+2]] && toks[i+2] != "time") {
		return p != "by" // "by the night light" names a place
	}
	_, n := parseNumber(toks, i+1)
	if n == 0 {
		return false
	}
	end := i + 1 + n
	if end < len(toks) && (valueUnits[toks[end]] || toks[end] == "to" && p == "from" && !numberBefore) {
		return false // "at 50 percent", "from 19 to 21"
	}
	if p == "after" || p == "before" {
		if _, ok := parseDuration(toks, i+1); ok {
			return false // "after 5 minutes": a delayed command
		}
		return true
	}
	if p == "at" && valueVerbs[toks[0]] && !numberBefore {
		return false
	}
	if p == "by" && s.has("up", "down", "increase", "decrease", "raise", "lower", "reduce", "brighten", "dim", "more", "less") {
		return false // "turn the volume up by 10": a step
	}
	return true
}

// inName reports whether token i is part of a name of the home.
func (s *sentence) inName(i int) bool {
	for _, c := range s.chunks {
		if c.kind == cRef && i >= c.start && i < c.end {
			return true
		}
	}
	return false
}

// correctionWords, said after a command, take it back or change it: "open
// the garage door no wait close it", "unlock the back door just kidding".
var correctionWords = map[string]bool{"wait": true, "kidding": true, "joking": true, "scratch": true,
	"cancel": true, "nevermind": true, "undo": true, "mean": true, "meant": true}

// corrected reports whether a command is taken back or changed in the
// sentence that says it: which part stands is not told.
func (s *sentence) corrected() bool {
	for i := 2; i < len(s.toks); i++ {
		t := s.toks[i]
		if s.inName(i) {
			continue
		}
		if correctionWords[t] || t == "never" && i+1 < len(s.toks) && s.toks[i+1] == "mind" ||
			t == "actually" && i+1 < len(s.toks) || t == "no" && i+1 < len(s.toks) && i > 0 && s.toks[i-1] != "to" {
			return true
		}
	}
	return false
}

// motions are a movement being made: "stop opening the gate" cancels one.
var motions = map[string]bool{"opening": true, "closing": true, "shutting": true, "locking": true,
	"unlocking": true, "raising": true, "lowering": true, "moving": true}

// saysMotion reports whether a word outside the home's names is a motion.
func (s *sentence) saysMotion() bool {
	for i, t := range s.toks {
		if motions[t] && !s.inName(i) {
			return true
		}
	}
	return false
}
