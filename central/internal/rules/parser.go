// Package rules is the default intent parser: a small grammar of English
// for the home (verbs, determiners, prepositions, quantifiers, common nouns
// for devices, numbers and durations) combined with the home's own names for
// entities, areas and floors. It runs offline, needs no model and is fast.
package rules

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/homeplane/homeplane/central/internal/intent"
)

// Options are the parser's optional settings.
type Options struct {
	// MaxInputBytes bounds the sentence length; longer input is not
	// understood. Default 1024.
	MaxInputBytes int
}

// Parser is the rule-based intent.Parser.
type Parser struct {
	maxBytes int
}

var _ intent.Parser = (*Parser)(nil)

// maxTokens bounds the work on one sentence; nobody says 64 words to a lamp.
const maxTokens = 64

// New returns a rule-based parser.
func New(opts Options) *Parser {
	if opts.MaxInputBytes <= 0 {
		opts.MaxInputBytes = 1024
	}
	return &Parser{maxBytes: opts.MaxInputBytes}
}

// Parse turns a sentence into an intent, or returns intent.ErrNoIntent.
func (p *Parser) Parse(_ context.Context, text string, reg *intent.Index, pc intent.Context) (intent.Intent, error) {
	if len(text) > p.maxBytes || reg == nil {
		return intent.Intent{}, intent.ErrNoIntent
	}
	norm := text
	if strings.IndexByte(text, '/') >= 0 {
		norm = fractions.Replace(text)
	}
	if strings.Contains(norm, "- ") {
		norm = dropCutWords(norm)
	}
	s := sentences.Get().(*sentence)
	defer s.release()
	toks, ok := fields(s.tokBuf[:0], intent.Normalize(norm))
	s.tokBuf = toks
	if !ok {
		return intent.Intent{}, intent.ErrNoIntent
	}
	toks, wished := wish(reframe(dropFiller(canonical(toks))))
	if len(toks) == 0 {
		return intent.Intent{}, intent.ErrNoIntent
	}
	toks = shortNames(homeWords(toks, reg), reg)
	if opposed(toks) {
		return intent.Intent{}, intent.ErrNoIntent
	}
	if i := secondCommand(toks); i > 0 {
		first := strings.Join(toks[:i], " ")
		in, err := p.Parse(context.Background(), first, reg, pc)
		if err != nil {
			return intent.Intent{}, intent.ErrNoIntent
		}
		second := toks[i+1:]
		if second[0] == "then" {
			second = second[1:]
		}
		return in, &intent.SeveralTargets{Intent: in, Parts: []string{first, strings.Join(second, " ")}}
	}
	s.init(toks, reg, pc)
	s.raw = text
	if in, ok := s.parse(); ok {
		if actsNow(in) && s.later() {
			return intent.Intent{}, intent.ErrLater
		}
		if actsNow(in) && s.corrected() || !mediaIntent(in.Name) && actsNow(in) && s.saysMediaVerb() {
			return intent.Intent{}, intent.ErrNoIntent
		}
		in.Here = s.unknownHere(in)
		if wished && s.wishOpens(in) || s.heaterShared(in) || s.bareRoom() {
			return intent.Intent{}, intent.ErrNoIntent
		}
		if s.stray != nil {
			s.stray.Intent = in
			return in, s.stray
		}
		if !guardedIntent(in.Name) || s.level {
			// a level question's every word named its sensor
			return in, nil
		}
		if s.asksNoCommand() {
			return intent.Intent{}, intent.ErrNoIntent
		}
		u := s.refusal(in)
		if u == nil {
			if parts, unclear := s.several(in.Name == intent.GetState || in.Name == intent.ClimateGetTemperature); unclear {
				return intent.Intent{}, intent.ErrNoIntent // a choice names nothing to act on
			} else if parts != nil {
				return in, &intent.SeveralTargets{Intent: in, Parts: parts}
			}
		}
		if t := s.tgt; s.tgtDone && t.conflicts {
			// Two places, neither in the other: nothing is both.
			return in, &intent.UnknownError{Kind: intent.UnknownDevice, Words: s.text(t.placeChunk.start, t.conflict.end), Intent: in}
		}
		if u != nil {
			return in, u
		}
		if s.unplaced(in) {
			return intent.Intent{}, intent.ErrNoIntent
		}
		return in, nil
	}
	return intent.Intent{}, intent.ErrNoIntent
}

// commandVerbs start a command: two said with "and" between them ("close
// the garage door and lock the front door") are two commands, each acted
// on only if both are understood.
var commandVerbs = map[string]bool{"turn": true, "switch": true, "lock": true, "unlock": true, "close": true,
	"open": true, "shut": true, "set": true, "start": true, "stop": true, "dim": true, "play": true,
	"pause": true, "activate": true}

// secondCommand returns the index of the "and" that starts a second command
// in a sentence that starts with one, or 0.
func secondCommand(toks []string) int {
	if len(toks) < 4 || !commandVerbs[toks[0]] {
		return 0
	}
	for i := 2; i+2 < len(toks); i++ {
		if toks[i] != "and" {
			continue
		}
		next := toks[i+1]
		if next == "then" {
			next = toks[i+2]
		}
		if commandVerbs[next] {
			return i
		}
	}
	return 0
}

// respelt are the recogniser's spellings of words the homes' names use.
var respelt = map[string]string{"drier": "dryer", "nite": "night", "lite": "light"}

// heardAs reports whether word in place of the word at i completes a name
// of the home that holds it.
func heardAs(toks []string, i int, reg *intent.Index, word string) bool {
	alt := slices.Clone(toks)
	alt[i] = word
	for start := max(0, i-3); start <= i; start++ {
		if n, _ := reg.Match(alt, start); n > 0 && start+n > i {
			return true
		}
	}
	return false
}

// homeWords rewrites, in place, what people call a device in a word of
// their own into the word the home's names use: "the telly" is the TV,
// unless a name of the home starts with "telly". A switch, not a map:
// every word of every sentence passes here.
func homeWords(toks []string, reg *intent.Index) []string {
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch t {
		case "telly", "television":
			if n, _ := reg.Match(toks, i); n == 0 {
				toks[i] = "tv"
			}
		case "drier", "nite", "lite":
			if n, _ := reg.Match(toks, i); n == 0 && heardAs(toks, i, reg, respelt[t]) {
				// the recogniser's spelling of a word of the home's
				// names: "drier" of the Dryer, "nite light" of the
				// Night Light
				toks[i] = respelt[t]
			}
		case "mode":
			if sceneEndsAt(toks, i, reg) {
				// "pool party mode" of the scene Pool Party: the mode is
				// the scene.
				toks = slices.Delete(toks, i, i+1)
				i--
				continue
			}
		case "temp":
			// "the pool temp" of the Pool Temperature
			if tempName(toks, i, reg) {
				toks[i] = "temperature"
			}
		case "to", "too", "for", "fore", "won":
			if heardDigit(toks, i, reg) {
				toks[i] = heardDigits[t]
			}
		case "navigation", "nav", "running":
			if i+1 < len(toks) && (toks[i+1] == "lights" || toks[i+1] == "light") && sideLights(toks, i, reg) {
				// A boat's navigation lights are its port and starboard
				// lights, as a home that has both names them.
				return slices.Concat(toks[:i], []string{"port", "and", "starboard", "lights"}, toks[i+2:])
			}
		}
		if j, _ := reg.MatchJoined(toks, i); j > 0 && letters(toks[i]) && letters(toks[i+1]) {
			if n, _ := reg.Match(toks, i); j > n {
				// "the green house fan": the home's Greenhouse Fan, heard
				// as two words; a name that holds both keeps them apart.
				toks[i] = toks[i] + toks[i+1]
				toks = slices.Delete(toks, i+1, i+2)
			}
		}
	}
	return toks
}

// sceneEndsAt reports whether the name of a scene or script ends just
// before toks[i], and no name of the home goes on with toks[i].
func sceneEndsAt(toks []string, i int, reg *intent.Index) bool {
	for j := range i {
		n, refs := reg.Match(toks, j)
		if j+n > i {
			return false // "Party Mode" is a name of its own
		}
		if j+n != i {
			continue
		}
		for _, r := range refs {
			if r.Kind != intent.RefEntity {
				continue
			}
			if d := reg.Entity(r.Index).GetDomain(); d == "scene" || d == "script" {
				return true
			}
		}
	}
	return false
}

// tempName reports whether "temp" at i ends a name said whole ("pool
// temp" for the Pool Temperature).
func tempName(toks []string, i int, reg *intent.Index) bool {
	for j := max(0, i-3); j < i; j++ {
		alt := slices.Concat(toks[j:i], []string{"temperature"})
		if n, refs := reg.Match(alt, 0); n == len(alt) && refs[0].Kind == intent.RefEntity {
			return true
		}
	}
	return false
}

// letters reports whether a word is letters only: digits are never joined.
func letters(w string) bool {
	for i := 0; i < len(w); i++ {
		if w[i] < 'a' || w[i] > 'z' {
			return false
		}
	}
	return w != ""
}

// heardDigits are the digits a recogniser writes as words that sound alike.
var heardDigits = map[string]string{"to": "2", "too": "2", "for": "4", "fore": "4", "won": "1"}

// heardDigit reports whether the word at i is a digit misheard after the
// first word of an area's numbered name: "the lights in room to" is Room 2
// where the home has one and no name ends at "room". A number after it
// ("room 3 to 21", "room to 40 percent") keeps "to" a preposition.
func heardDigit(toks []string, i int, reg *intent.Index) bool {
	if i == 0 || i+1 < len(toks) && isNumberWord(toks, i+1) || i > 1 && roomDeterminers[toks[i-2]] {
		return false // "the heating in this room too" is no Room 2
	}
	if n, _ := reg.Match(toks, i-1); n > 0 {
		return false
	}
	alt := []string{toks[i-1], heardDigits[toks[i]]}
	n, refs := reg.Match(alt, 0)
	if n != 2 {
		return false
	}
	for _, r := range refs {
		if r.Kind == intent.RefArea {
			return true
		}
	}
	return false
}

// roomDeterminers say which room without a number: "this room", "the room".
var roomDeterminers = map[string]bool{"this": true, "the": true, "that": true, "my": true, "our": true, "your": true,
	"same": true, "each": true, "every": true, "any": true, "which": true}

// bareRoom reports "in room" said with no number or name after it: the
// place was lost, and the sentence is not one about every room.
func (s *sentence) bareRoom() bool {
	for ci := 1; ci < len(s.chunks); ci++ {
		c := s.chunks[ci]
		if c.kind != cWord || s.toks[c.start] != "room" {
			continue
		}
		switch s.word(s.chunks[ci-1]) {
		case "in", "into", "at", "for":
			return true
		}
	}
	return false
}

// isNumberWord reports whether a number starts at toks[i].
func isNumberWord(toks []string, i int) bool {
	_, n := parseNumber(toks, i)
	return n > 0
}

// opposites are verbs that undo each other.
var opposites = map[string]string{"lock": "unlock", "unlock": "lock", "open": "close", "close": "open", "on": "off", "off": "on"}

// opposed reports a sentence that asks for a thing and its undoing at once
// ("lock and unlock the front door", "turn it on and off"): nothing is done
// of a wish that cannot be told.
func opposed(toks []string) bool {
	for i := 0; i+2 < len(toks); i++ {
		if o, ok := opposites[toks[i]]; ok && toks[i+1] == "and" && toks[i+2] == o {
			return true
		}
	}
	return false
}

// sideLights reports whether the home names no device by the words at i
// but has a Port Light and a Starboard Light.
func sideLights(toks []string, i int, reg *intent.Index) bool {
	if n, _ := reg.Match(toks, i); n > 0 {
		return false
	}
	return len(reg.EntitiesNamed("port light")) > 0 && len(reg.EntitiesNamed("starboard light")) > 0
}

// sentences are reused between calls: cutting a sentence into words and
// chunks then costs no allocation. Nothing a parse returns refers to them.
var sentences = sync.Pool{New: func() any { return new(sentence) }}

// release returns s to the pool, dropping what it refers to.
func (s *sentence) release() {
	clear(s.tokBuf[:cap(s.tokBuf)])
	clear(s.chunks[:cap(s.chunks)])
	*s = sentence{tokBuf: s.tokBuf[:0], chunks: s.chunks[:0]}
	sentences.Put(s)
}

// fields appends the words of normalized text to toks; ok is false when
// there are more than maxTokens.
func fields(toks []string, text string) (_ []string, ok bool) {
	for i := 0; i < len(text); {
		if text[i] == ' ' {
			i++
			continue
		}
		j := i + 1
		for j < len(text) && text[j] != ' ' {
			j++
		}
		if len(toks) == maxTokens {
			return toks, false
		}
		toks = append(toks, text[i:j])
		i = j
	}
	return toks, true
}

// dropCutWords drops the words a speaker broke off, as a recogniser writes
// them: "turn on the pen- the pendants".
func dropCutWords(text string) string {
	words := strings.Fields(text)
	out := words[:0]
	for _, w := range words {
		if len(w) > 2 && w[len(w)-1] == '-' && w[len(w)-2] != '-' {
			continue
		}
		out = append(out, w)
	}
	return strings.Join(out, " ")
}

// fractions are said as words: "1 and a 1/2 hours", "1/2 an hour".
var fractions = strings.NewReplacer("1/2", " half ", "1/4", " a quarter ", "3/4", " three quarters ")

// leading politeness and request frames, longest first.
var leadFillers = [][]string{
	{"i", "would", "like", "you", "to"}, {"i", "want", "you", "to"}, {"i", "need", "you", "to"},
	{"id", "like", "you", "to"}, {"could", "you", "please"}, {"can", "you", "please"},
	{"would", "you", "please"}, {"will", "you", "please"},
	{"could", "you"}, {"can", "you"}, {"would", "you"}, {"will", "you"},
	{"do", "me", "a", "favor", "and"}, {"do", "me", "a", "favour", "and"}, {"go", "ahead", "and"},
	{"do", "you", "mind"}, {"would", "you", "mind"}, {"mind"},
	{"hey"}, {"ok"}, {"okay"}, {"please"}, {"kindly"}, {"just"}, {"now"},
	{"so"}, {"right"}, {"well"}, {"alright"}, {"oh"}, {"oops"}, {"maybe"}, {"yeah"},
}

// hesitations are what a recogniser writes for a speaker's pauses; they
// carry nothing wherever they fall.
var hesitations = map[string]bool{"um": true, "umm": true, "uh": true, "uhh": true, "uhm": true, "er": true, "erm": true, "hmm": true, "mm": true}

// embeddedQuestions frame a yes/no question as a request ("let me know
// whether the door is locked"); each is read as "check if".
var embeddedQuestions = [][]string{
	{"let", "me", "know"}, {"i", "want", "to", "know"}, {"id", "like", "to", "know"},
	{"i", "would", "like", "to", "know"}, {"find", "out"}, {"i", "wonder"}, {"see"},
	{"do", "you", "know"}, {"tell", "me"}, {"check"},
}

// canonical rewrites spoken variants into the form the grammar reads:
// hesitations go, "per cent" is "percent" and "lamp number 2" is "lamp 2".
func canonical(toks []string) []string {
	out := toks[:0] // in place: a word is written no later than it is read
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case hesitations[t] && len(toks) > 1:
			continue
		case t == "per" && i+1 < len(toks) && toks[i+1] == "cent":
			out = append(out, "percent")
			i++
			continue
		case t == "of" && len(out) > 0 && (out[len(out)-1] == "turn" || out[len(out)-1] == "switch"):
			out = append(out, "off") // "turn of the light": a recogniser's "off"
			continue
		case t == "number" && i > 0 && i+1 < len(toks):
			if _, n := parseNumber(toks, i+1); n > 0 {
				continue // "lamp number 2" is "lamp 2"
			}
		}
		out = append(out, t)
	}
	return out
}

// reframe reads a question put as a request as the question: "tell me
// whether" is "check if", and "did someone leave" asks what "did I leave"
// does.
func reframe(out []string) []string {
	for _, f := range embeddedQuestions {
		if n := len(f); hasPrefix(out, f) && n < len(out) && (out[n] == "if" || out[n] == "whether") {
			out = append([]string{"check", "if"}, out[n+1:]...)
			break
		}
	}
	if len(out) > 2 && out[0] == "did" && out[2] == "leave" {
		switch out[1] {
		case "someone", "somebody", "anyone", "anybody", "we", "you":
			out[1] = "i"
		}
	}
	return out
}

// wishFrames say a state wanted rather than a verb: "I'd like the blinds
// closed", "I want the fan off".
var wishFrames = [][]string{{"id", "like"}, {"i", "would", "like"}, {"i", "want"}, {"i", "need"}}

// wish reads a state wanted as the command that makes it: "I'd like the
// lounge blinds closed" is "close the lounge blinds", "I want the lights off
// in here" is "turn the lights off in here". Only switching and closing are
// read so; wished is true when the sentence was rewritten.
func wish(toks []string) (_ []string, wished bool) {
	if out, ok := makeSure(toks); ok {
		// only "locked" is read without the wish's guard, as it can
		// only lock
		return out, out[0] != "lock"
	}
	for _, f := range wishFrames {
		n := len(f)
		if !hasPrefix(toks, f) || len(toks) < n+3 {
			continue
		}
		switch toks[n] {
		case "the", "my", "our", "all", "every":
		default:
			return toks, false
		}
		for i := n + 2; i < len(toks); i++ {
			switch toks[i] {
			case "on", "off":
				return append([]string{"turn"}, toks[n:]...), true
			case "closed", "shut":
				out := append([]string{"close"}, toks[n:i]...)
				return append(out, toks[i+1:]...), true
			}
		}
		return toks, false
	}
	return toks, false
}

// makeSure reads "make sure the back door is locked", "make sure the
// lights are off" as the command that makes it so: locking, switching or
// closing. A state that opens ("open", "unlocked") is not read.
func makeSure(toks []string) ([]string, bool) {
	n := 0
	switch {
	case hasPrefix(toks, []string{"make", "sure"}):
		n = 2
	case hasPrefix(toks, []string{"ensure"}):
		n = 1
	default:
		return toks, false
	}
	if n < len(toks) && toks[n] == "that" {
		n++
	}
	last := len(toks) - 1
	if last-n < 3 || toks[last-1] != "is" && toks[last-1] != "are" {
		return toks, false
	}
	what := toks[n : last-1]
	switch toks[last] {
	case "locked":
		return slices.Concat([]string{"lock"}, what), true
	case "on", "off":
		return slices.Concat([]string{"turn"}, what, toks[last:]), true
	case "closed", "shut":
		return slices.Concat([]string{"close"}, what), true
	}
	return toks, false
}

// wishOpens reports whether a wish was read as a command that opens or
// unlocks: a state wanted is read only for what switching and closing do.
func (s *sentence) wishOpens(in intent.Intent) bool {
	if in.Name != intent.TurnOn && in.Name != intent.Toggle {
		return false
	}
	if d, _ := in.Slots["domain"].(string); d == "cover" || d == "valve" || d == "lock" {
		return true
	}
	t := s.target()
	if i, ok := t.entity(s.reg, switchableOrder...); ok {
		switch s.reg.Entity(i).GetDomain() {
		case "cover", "valve", "lock":
			return true
		}
	}
	return false
}

func dropFiller(toks []string) []string {
	for changed := true; changed && len(toks) > 0; {
		changed = false
		for _, f := range leadFillers {
			if hasPrefix(toks, f) && len(toks) > len(f) {
				toks = toks[len(f):]
				changed = true
				if f[len(f)-1] == "mind" {
					// "would you mind closing the blinds" asks to close them
					if v, ok := gerunds[toks[0]]; ok {
						toks[0] = v
					}
				}
				break
			}
		}
	}
	// "please", "for me", "thanks" anywhere else carry nothing; what is
	// said to be announced is kept whole.
	spoken := len(toks) > 0 && (toks[0] == "announce" || toks[0] == "broadcast" || toks[0] == "tell")
	out := toks[:0] // in place, as in canonical
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t == "please" || t == "kindly":
			continue
		case t == "for" && !spoken && (forWhom(toks[i+1:]) || forWhile(toks[i+1:])):
			i = len(toks)
			continue
		case (t == "thanks" || t == "thank") && i > 0 && i >= len(toks)-2:
			i = len(toks)
			continue
		}
		out = append(out, t)
	}
	if spoken {
		return out
	}
	return dropReason(dropAsleep(out))
}

// gerunds are the verbs a request framed "would you mind …" is said with.
var gerunds = map[string]string{
	"turning": "turn", "switching": "switch", "putting": "put", "closing": "close", "opening": "open",
	"shutting": "shut", "locking": "lock", "unlocking": "unlock", "starting": "start", "stopping": "stop",
	"pausing": "pause", "playing": "play", "dimming": "dim", "setting": "set", "raising": "raise",
	"lowering": "lower", "running": "run", "muting": "mute", "skipping": "skip", "adding": "add",
}

// forWhile reports whether the words after a "for" that ends a sentence say
// for how long, in words no timer takes: "for the night", "for now".
func forWhile(rest []string) bool {
	switch len(rest) {
	case 1:
		return rest[0] == "now" || rest[0] == "tonight" || rest[0] == "today"
	case 2:
		return rest[0] == "the" && (rest[1] == "night" || rest[1] == "evening" || rest[1] == "day")
	}
	return false
}

// speakers are a subject said with its verb after a request, which begin a
// reason for it: "turn the tunnel light off we're out of the tunnel".
var speakers = map[string]bool{"were": true, "im": true, "shes": true, "hes": true, "theyre": true, "weve": true, "ive": true,
	"its": true, "thats": true}

// subjects begin a reason when their verb follows: "we are out of the
// tunnel".
var subjects = map[string]bool{"we": true, "i": true, "she": true, "he": true, "they": true, "it": true}

// dropReason drops a reason said after a request that ends in its
// particle: "turn the tunnel light off we're out of the tunnel", "turn the
// bilge pump on it's raining".
func dropReason(toks []string) []string {
	if len(toks) == 0 || !particleVerbs[toks[0]] {
		return toks
	}
	for i := 3; i+1 < len(toks); i++ {
		if toks[i-1] != "on" && toks[i-1] != "off" {
			continue
		}
		if speakers[toks[i]] || subjects[toks[i]] && (toks[i+1] == "are" || toks[i+1] == "am" || toks[i+1] == "is" || toks[i+1] == "have") {
			return toks[:i]
		}
	}
	return toks
}

// beneficiaries are who a request ending "for the kids" is done for.
var beneficiaries = map[string]bool{"me": true, "us": true, "him": true, "her": true, "them": true,
	"kids": true, "children": true, "baby": true, "boys": true, "girls": true, "everyone": true, "guests": true}

// forWhom reports whether the words after a "for" that ends a sentence say
// who it is for: "for me", "for the kids".
func forWhom(rest []string) bool {
	if len(rest) == 2 && (rest[0] == "the" || rest[0] == "my" || rest[0] == "our") {
		rest = rest[1:]
	}
	return len(rest) == 1 && beneficiaries[rest[0]]
}

// sleepers say who is asleep in a reason given after a request: "turn off
// the lights she's asleep".
var sleepers = map[string]bool{"shes": true, "hes": true, "theyre": true, "babys": true, "everyones": true}

// dropAsleep drops a trailing reason that someone is asleep ("she's
// asleep", "the baby's still sleeping").
func dropAsleep(toks []string) []string {
	n := len(toks)
	if n < 4 || toks[n-1] != "asleep" && toks[n-1] != "sleeping" {
		return toks
	}
	i := n - 2
	if toks[i] == "still" || toks[i] == "fast" {
		i--
	}
	if !sleepers[toks[i]] {
		return toks
	}
	if toks[i] == "babys" && toks[i-1] == "the" {
		i--
	}
	if i < 2 {
		return toks
	}
	return toks[:i]
}

func hasPrefix(toks, p []string) bool {
	if len(toks) < len(p) {
		return false
	}
	for i := range p {
		if toks[i] != p[i] {
			return false
		}
	}
	return true
}

func (s *sentence) parse() (intent.Intent, bool) {
	for _, m := range wholeReadings {
		if in, ok := m(s); ok {
			return in, true
		}
	}
	if s.unmeant() {
		return intent.Intent{}, false
	}
	if in, asked := s.levelQuestion(); asked {
		s.level = in.Name != ""
		return in, s.level
	}
	for _, m := range readings {
		if in, ok := m(s); ok {
			return in, true
		}
	}
	return intent.Intent{}, false
}

// wholeReadings take a sentence whole, whatever its mood: a broadcast's
// message may say "don't", a withdrawal is "never mind".
var wholeReadings = []func(*sentence) (intent.Intent, bool){
	(*sentence).broadcast,
	(*sentence).nevermind,
}

// readings are the grammar's readings of a sentence, tried in order.
var readings []func(*sentence) (intent.Intent, bool)

func init() {
	readings = []func(*sentence) (intent.Intent, bool){
		(*sentence).respond,
		(*sentence).timer,
		(*sentence).list,
		(*sentence).clock,
		(*sentence).weather,
		(*sentence).vacuum,
		(*sentence).mower,
		(*sentence).media,
		(*sentence).question,
		(*sentence).terseReading,
		(*sentence).climateSet,
		(*sentence).fanSpeed,
		(*sentence).position,
		(*sentence).lightSet,
		(*sentence).water,
		(*sentence).turn,
	}
}

// interjections open a sentence without changing what it asks.
var interjections = map[string]bool{
	"no": true, "oh": true, "ah": true, "actually": true, "um": true, "uh": true, "hmm": true,
	"sorry": true, "wait": true, "nah": true, "nope": true, "okay": true, "ok": true, "oops": true,
}

// trailingFillers close a withdrawal without adding to it.
var trailingFillers = map[string]bool{
	"then": true, "sorry": true, "anyway": true, "anyways": true, "though": true, "actually": true,
	"thanks": true, "mate": true, "love": true, "ok": true, "okay": true, "now": true, "please": true,
}

func (s *sentence) nevermind() (intent.Intent, bool) {
	toks := s.toks
	for len(toks) > 1 && interjections[toks[0]] {
		toks = toks[1:]
	}
	for n := len(toks); n > 1 && trailingFillers[toks[n-1]]; n-- {
		toks = toks[:n-1] // "never mind then", "never mind, sorry"
	}
	if isPhrase(withdrawals, toks) {
		return intent.Intent{Name: intent.Nevermind, Slots: map[string]any{}}, true
	}
	return intent.Intent{}, false
}

var withdrawals = newPhraseSet(map[string]bool{
	"never mind": true, "nevermind": true, "forget it": true, "forget about it": true, "forget that": true,
	"cancel": true, "cancel that": true, "nothing": true, "ignore that": true, "ignore me": true,
	"never mind that": true, "scratch that": true, "disregard that": true, "no thanks": true,
	"no thank you": true, "stop": true, "abort": true,
})

// phraseSet is a set of whole sentences.
type phraseSet struct {
	m        map[string]bool
	maxWords int
}

func newPhraseSet(m map[string]bool) phraseSet {
	ps := phraseSet{m: m}
	for p := range m {
		ps.maxWords = max(ps.maxWords, len(strings.Fields(p)))
	}
	return ps
}

// isPhrase reports whether toks, said one after the other, are one of the
// phrases of set, without building the sentence as a string.
func isPhrase(set phraseSet, toks []string) bool {
	if len(toks) > set.maxWords {
		return false
	}
	var buf [64]byte
	b := buf[:0]
	for i, t := range toks {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, t...)
	}
	return set.m[string(b)]
}

// greetings are whole sentences of small talk ("hey" is dropped as a
// filler before them).
var greetings = newPhraseSet(map[string]bool{
	"hi": true, "hello": true, "hey": true, "hiya": true, "howdy": true, "there": true, "hi there": true,
	"hello there": true, "good morning": true, "good afternoon": true, "good evening": true, "morning": true,
	"how are you": true, "how are you doing": true, "whats up": true, "yo": true,
})

// aboutAssistant are words anywhere in a sentence that make it small talk
// or a question about the assistant and privacy.
var aboutAssistant = phrases("what can i say", "what can you do", "who made you", "who created you",
	"who built you", "what can i ask", "who are you", "what are you", "hello", "hi there",
	"you always listening", "you listening", "you recording", "recording me", "my data",
	"my voice", "my recordings", "spying on", "my privacy", "you store", "you keep")

// phrases indexes word sequences by their first word.
func phrases(ps ...string) map[string][][]string {
	out := map[string][][]string{}
	for _, p := range ps {
		f := strings.Fields(p)
		out[f[0]] = append(out[f[0]], f)
	}
	return out
}

// hasPhrase reports whether one of the phrases is said somewhere in toks.
func hasPhrase(toks []string, ps map[string][][]string) bool {
	for i, t := range toks {
		for _, p := range ps[t] {
			if hasPrefix(toks[i:], p) {
				return true
			}
		}
	}
	return false
}

func (s *sentence) respond() (intent.Intent, bool) {
	if isPhrase(greetings, s.toks) || hasPhrase(s.toks, aboutAssistant) {
		return intent.Intent{Name: intent.Respond, Slots: map[string]any{}}, true
	}
	return intent.Intent{}, false
}

func (s *sentence) clock() (intent.Intent, bool) {
	if s.has("timer", "timers", "alarm", "left", "remaining") {
		return intent.Intent{}, false
	}
	// "do you have the time", "have you got the time"
	asks := s.has("what", "whats", "tell", "which", "know", "current") ||
		len(s.toks) > 2 && s.has("have", "got") && hasPrefix(s.toks[len(s.toks)-2:], []string{"the", "time"})
	if !asks && !s.onlyWords("time", "date", "the", "current", "todays", "today") {
		return intent.Intent{}, false
	}
	if s.has("date", "day") && !s.has("time") {
		return intent.Intent{Name: intent.GetCurrentDate, Slots: map[string]any{}}, true
	}
	if s.has("time") && !s.hasNounOrEntity() {
		return intent.Intent{Name: intent.GetCurrentTime, Slots: map[string]any{}}, true
	}
	return intent.Intent{}, false
}

// onlyWords reports whether every token is one of words: "time please"
// asks the time as surely as "what time is it".
func (s *sentence) onlyWords(words ...string) bool {
	for _, t := range s.toks {
		found := false
		for _, w := range words {
			if t == w {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// broadcast reads "broadcast <message>", "announce (that) <message>" and
// "tell everyone (that) <message>".
func (s *sentence) broadcast() (intent.Intent, bool) {
	i := 0
	switch {
	case s.toks[0] == "broadcast" || s.toks[0] == "announce":
		i = 1
	case hasPrefix(s.toks, []string{"tell", "everyone"}) || hasPrefix(s.toks, []string{"tell", "everybody"}):
		i = 2
	default:
		return intent.Intent{}, false
	}
	if i < len(s.toks) && s.toks[i] == "that" {
		i++
	}
	if i >= len(s.toks) {
		return intent.Intent{}, false
	}
	return intent.Intent{Name: intent.Broadcast, Slots: map[string]any{"message": s.text(i, len(s.toks))}}, true
}
