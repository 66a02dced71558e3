package rules

import (
	"math"
	"strings"

	"github.com/homeplane/homeplane/central/internal/intent"
)

// duration is a spoken span of time ("1 hour and 15 minutes").
type duration struct {
	start, end int // token span
	h, m, s    float64
	hasH, hasM bool
	hasS       bool
	more       bool // "5 more minutes": time added to a timer
}

func unitOf(t string) byte {
	switch t {
	case "hour", "hours", "hr", "hrs", "h":
		return 'h'
	case "minute", "minutes", "min", "mins", "m":
		return 'm'
	case "second", "seconds", "sec", "secs", "s":
		return 's'
	}
	return 0
}

var andAHalf = []string{"and", "a", "half"}

// quarterAt reads "(a|three) quarter(s) (of) (an)" at k: the fraction of
// the unit that follows and the tokens it takes.
func quarterAt(toks []string, k int) (v float64, n int) {
	j, count := k, 1
	if j < len(toks) {
		switch toks[j] {
		case "a", "one":
			j++
		case "three":
			j, count = j+1, 3
		}
	}
	if j >= len(toks) || toks[j] != "quarter" && toks[j] != "quarters" {
		return 0, 0
	}
	j++
	if j < len(toks) && toks[j] == "of" {
		j++
	}
	if j < len(toks) && (toks[j] == "an" || toks[j] == "a") {
		j++
	}
	return float64(count) / 4, j - k
}

// parseDuration reads "<number> <unit> [and] <number> <unit> ..." at i.
func parseDuration(toks []string, i int) (d duration, ok bool) {
	d.start = i
	j := i
	for j < len(toks) {
		k := j
		if toks[k] == "and" && ok {
			k++
		}
		var v float64
		var n int
		qv, qn := quarterAt(toks, k)
		switch {
		case k+1 < len(toks) && toks[k] == "half" && (toks[k+1] == "an" || toks[k+1] == "a"):
			v, n = 0.5, 2 // "half an hour"
		case k < len(toks) && toks[k] == "half":
			v, n = 0.5, 1 // "half hour"
		case qn > 0:
			v, n = qv, qn // "a quarter of an hour"
		case k < len(toks) && (toks[k] == "a" || toks[k] == "an"):
			v, n = 1, 1
		default:
			v, n = parseNumber(toks, k)
		}
		if n > 0 && hasPrefix(toks[min(k+n, len(toks)):], andAHalf) {
			v, n = v+0.5, n+len(andAHalf) // "two and a half hours"
		}
		// "two more minutes", "5 extra minutes"
		for n > 0 && k+n < len(toks) && (toks[k+n] == "more" || toks[k+n] == "extra" || toks[k+n] == "additional") {
			n++
			d.more = true
		}
		if n == 0 || k+n >= len(toks) {
			break
		}
		u := unitOf(toks[k+n])
		if u == 0 {
			break
		}
		next := k + n + 1
		half := hasPrefix(toks[next:], andAHalf)
		if half {
			next += len(andAHalf)
		}
		// "an hour and a half" is said as an hour, then half of one; fill
		// makes both it and "one and a half hours" 1 hour 30 minutes.
		switch u {
		case 'h':
			d.h, d.hasH = v, true
			if half {
				d.m, d.hasM = d.m+30, true
			}
		case 'm':
			d.m, d.hasM = v, true
			if half {
				d.s, d.hasS = d.s+30, true
			}
		case 's':
			d.s, d.hasS = v, true
			if half {
				d.s += 0.5
			}
		}
		ok = true
		j = next
	}
	d.end = j
	return d, ok
}

func (d duration) fill(slots map[string]any, prefix string) {
	// Home Assistant fills whole units: "half an hour" is 30 minutes, "5
	// and a half minutes" 5 minutes 30 seconds.
	if whole := math.Trunc(d.h); d.hasH && d.h != whole {
		d.m, d.hasM = d.m+(d.h-whole)*60, true
		d.h, d.hasH = whole, whole > 0
	}
	if whole := math.Trunc(d.m); d.hasM && d.m != whole {
		d.s, d.hasS = d.s+(d.m-whole)*60, true
		d.m, d.hasM = whole, whole > 0
	}
	if d.hasH {
		slots[prefix+"hours"] = number(d.h)
	}
	if d.hasM {
		slots[prefix+"minutes"] = number(d.m)
	}
	if d.hasS {
		slots[prefix+"seconds"] = number(d.s)
	}
}

func (s *sentence) durations() []duration {
	var out []duration
	for i := 0; i < len(s.toks); {
		if d, ok := parseDuration(s.toks, i); ok {
			out = append(out, d)
			i = d.end
			continue
		}
		i++
	}
	return out
}

// timerStop are words that end a timer's spoken name.
var timerStop = map[string]bool{
	"the": true, "my": true, "a": true, "an": true, "this": true, "that": true, "our": true,
	"to": true, "from": true, "off": true, "on": true, "of": true, "for": true, "by": true, "in": true,
	"status": true, "left": true, "is": true, "start": true, "set": true, "create": true, "make": true,
	"cancel": true, "stop": true, "pause": true, "resume": true, "continue": true, "unpause": true,
	"add": true, "increase": true, "decrease": true, "remove": true, "take": true, "delete": true,
	"extend": true, "reduce": true, "subtract": true, "how": true, "long": true, "much": true, "time": true,
	"and": true, "all": true, "end": true, "restart": true, "hold": true, "freeze": true, "kill": true, "clear": true,
}

// inEntityName reports whether word i is said inside a device's name that
// goes on after it: the "Timer Plug" is a plug, not a timer; a name that
// ends in the word ("Kitchen Timer") still says a timer.
func (s *sentence) inEntityName(i int) bool {
	for _, c := range s.chunks {
		if c.kind != cRef || i < c.start || i >= c.end-1 {
			continue
		}
		for _, r := range c.refs {
			if r.Kind == intent.RefEntity {
				return true
			}
		}
	}
	return false
}

func (s *sentence) timer() (intent.Intent, bool) {
	ti := -1
	for i, t := range s.toks {
		if (t == "timer" || t == "timers") && !s.inEntityName(i) {
			ti = i
			break
		}
	}
	if ti < 0 {
		if s.asksTimeLeft() {
			return intent.Intent{Name: intent.TimerStatus, Slots: map[string]any{}}, true
		}
		return s.delayedCommand()
	}
	durs := s.durations()
	slots := map[string]any{}
	var name intent.Name
	has := func(ws ...string) bool { return s.has(ws...) }
	change := s.timerChange(durs)
	switch {
	case has("status", "left", "remaining", "longer") || s.hasSeq("how", "long") || s.hasSeq("how", "much", "time") ||
		s.first() == "when" || s.first() == "is" && has("done", "finished", "up"):
		// "when will the timer end" asks; it does not end it
		name = intent.TimerStatus
	case has("add", "increase", "extend", "plus", "lengthen"):
		name = intent.IncreaseTimer
	case has("decrease", "reduce", "subtract", "shorten", "minus", "take") ||
		has("remove") && len(durs) > 0 && has("from", "off"):
		name = intent.DecreaseTimer
	case change != "":
		name = change
	case has("pause", "hold", "freeze", "suspend"):
		name = intent.PauseTimer
	case has("resume", "continue", "unpause", "unfreeze", "restart"):
		name = intent.UnpauseTimer
	case has("cancel", "stop", "delete", "remove", "end", "kill", "clear", "dismiss", "off", "abort"):
		name = intent.CancelTimer
		if s.toks[ti] == "timers" || has("all", "every") {
			name = intent.CancelAllTimers
		}
	default:
		name = intent.StartTimer
	}

	// Which timer: a duration or words just before "timer", or "timer
	// for/named/called/in ..." after it.
	var ref *duration
	for k := range durs {
		if durs[k].end == ti {
			ref = &durs[k]
		}
	}
	durBefore := ref != nil
	after := ti + 1
	if after < len(s.toks) {
		switch s.toks[after] {
		case "for":
			if d, ok := parseDuration(s.toks, after+1); ok {
				if ref == nil {
					ref = &d
				}
			} else if words := s.nameUntil(skipDeterminers(s.toks, after+1), "by", "to", "in"); words != "" {
				slots["name"] = words
			}
		case "named", "called":
			slots["name"] = s.nameUntil(after+1, "for", "by", "in")
		case "in", "on", "at":
			if a := s.areaAt(after + 1); a != "" {
				slots["area"] = a
			}
		}
	}
	for i := after; i+1 < len(s.toks); i++ {
		if (s.toks[i] == "named" || s.toks[i] == "called") && slots["name"] == nil {
			slots["name"] = s.nameUntil(i+1, "for", "by", "in")
		}
	}
	if !durBefore {
		// "a 10 minute pasta timer": the name starts after the length.
		floor := 0
		for _, d := range durs {
			if d.end <= ti && d.end > floor {
				floor = d.end
			}
		}
		j := ti
		for j > floor && !timerStop[s.toks[j-1]] {
			if _, n := parseNumber(s.toks, j-1); n > 0 {
				break
			}
			j--
		}
		if j < ti {
			words := s.text(j, ti)
			if a, ok := s.reg.AreaByName(words); ok {
				slots["area"] = a.GetName()
			} else if slots["name"] == nil {
				slots["name"] = words
			}
		}
	}
	if name == intent.CancelAllTimers {
		delete(slots, "name")
		t := s.target()
		if t.area != "" {
			slots["area"] = t.area
		}
		return intent.Intent{Name: name, Slots: slots}, true
	}
	// The other duration is the change, or the new timer's length.
	var delta *duration
	for k := range durs {
		if ref == nil || durs[k].start != ref.start {
			delta = &durs[k]
			break
		}
	}
	switch name {
	case intent.StartTimer:
		if ref != nil {
			ref.fill(slots, "")
		} else if delta != nil {
			delta.fill(slots, "")
		}
	case intent.IncreaseTimer, intent.DecreaseTimer:
		if delta == nil {
			return intent.Intent{}, false
		}
		delta.fill(slots, "")
		if ref != nil {
			ref.fill(slots, "start_")
		}
	default:
		if ref != nil {
			ref.fill(slots, "start_")
		}
	}
	return intent.Intent{Name: name, Slots: slots}, true
}

// timerChange reads a change of length from where a duration points, whatever
// the verb: "put 10 more minutes on", "give it 5 extra minutes" add time,
// "knock 2 minutes off", "shave a minute from" take it away.
func (s *sentence) timerChange(durs []duration) intent.Name {
	if s.has("set", "start", "create", "make") {
		return "" // "set 10 minutes on the oven timer" is a new length
	}
	for _, d := range durs {
		if d.start > 0 && s.toks[d.start-1] == "for" {
			continue // "a timer for 10 minutes on the oven" is the timer's length
		}
		next := ""
		if d.end < len(s.toks) {
			next = s.toks[d.end]
		}
		switch {
		case next == "off" || next == "from":
			return intent.DecreaseTimer
		case d.more || next == "on" || next == "onto" || next == "to":
			return intent.IncreaseTimer
		}
	}
	return ""
}

// asksTimeLeft reads "how much time is left" and "how long is left", which
// only a timer answers.
func (s *sentence) asksTimeLeft() bool {
	if !s.has("left", "remaining", "remain") || s.hasNounOrEntity() {
		return false
	}
	return s.hasSeq("how", "much", "time") || s.hasSeq("how", "long") || s.hasSeq("how", "much", "longer")
}

func (s *sentence) nameUntil(i int, stops ...string) string {
	j := i
	for j < len(s.toks) {
		stop := false
		for _, w := range stops {
			if s.toks[j] == w {
				stop = true
			}
		}
		if stop {
			break
		}
		j++
	}
	if j == i {
		return ""
	}
	return s.text(i, j)
}

func (s *sentence) areaAt(i int) string {
	for i < len(s.toks) && (s.toks[i] == "the" || s.toks[i] == "my") {
		i++
	}
	n, refs := s.reg.Match(s.toks, i)
	if n == 0 {
		return ""
	}
	for _, r := range refs {
		if r.Kind == intent.RefArea {
			return s.reg.Area(r.Index).GetName()
		}
	}
	return ""
}

// delayedCommand reads "in 5 minutes, open the garage door" and "open the
// garage door in 5 minutes": a timer that runs a command.
func (s *sentence) delayedCommand() (intent.Intent, bool) {
	var d duration
	var cmd []string
	switch {
	case s.toks[0] == "in" || s.toks[0] == "after":
		dd, ok := parseDuration(s.toks, 1)
		if !ok || dd.end >= len(s.toks) {
			return intent.Intent{}, false
		}
		d, cmd = dd, s.toks[dd.end:]
	default:
		for i := len(s.toks) - 2; i > 0; i-- {
			if s.toks[i] != "in" && s.toks[i] != "after" {
				continue
			}
			dd, ok := parseDuration(s.toks, i+1)
			if ok && dd.end == len(s.toks) {
				d, cmd = dd, s.toks[:i]
			}
			break
		}
	}
	if len(cmd) == 0 {
		return intent.Intent{}, false
	}
	sub := newSentence(cmd, s.reg, s.pc)
	if _, ok := sub.parse(); !ok {
		return intent.Intent{}, false
	}
	slots := map[string]any{"conversation_command": strings.Join(cmd, " ")}
	d.fill(slots, "")
	return intent.Intent{Name: intent.StartTimer, Slots: slots}, true
}

// skipDeterminers returns the index of the first token at or after i that
// is not "the", "my", "a" or "an".
func skipDeterminers(toks []string, i int) int {
	for i < len(toks) && (toks[i] == "the" || toks[i] == "my" || toks[i] == "a" || toks[i] == "an" || toks[i] == "our") {
		i++
	}
	return i
}
