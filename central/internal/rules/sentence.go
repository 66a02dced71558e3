package rules

import (
	"strings"

	"github.com/homeplane/homeplane/central/internal/intent"
)

type chunkKind uint8

const (
	cWord   chunkKind = iota // a plain word
	cRef                     // a name from the registry: entity, area or floor
	cNoun                    // a common noun for devices ("lights", "blinds")
	cNumber                  // a number, in digits or words
)

// chunk is a span of tokens read as one unit.
type chunk struct {
	kind       chunkKind
	start, end int
	refs       []intent.Ref
	cls        *class
	num        float64
	// otherNumber: the name was said with its last word in the other
	// number ("the back door" for Back Doors).
	otherNumber bool
}

// sentence is a normalized sentence cut into chunks.
type sentence struct {
	raw    string // the sentence as given, for free text said as spoken
	toks   []string
	chunks []chunk
	reg    *intent.Index
	pc     intent.Context
	// tgt is what target found, once tgtDone.
	tgt     target
	tgtDone bool
	// stray is what a reading of free text found named that the home
	// lacks ("play jazz on the garage speaker").
	stray *intent.UnknownError
	// level tells that levelQuestion read the sentence.
	level bool
	// tokBuf holds the words between uses of a pooled sentence.
	tokBuf []string
}

// verbAfterName follows a plural noun rather than a possessive name:
// "bedroom curtains are closed", not "bedroom curtain's".
var verbAfterName = map[string]bool{"are": true, "is": true, "were": true, "was": true, "in": true, "on": true, "at": true, "off": true}

// isStateWord tells that a plural ends before it: "are the bedroom curtains
// closed" names curtains, not the "Bedroom Curtain"'s closed.
func isStateWord(t string) bool {
	_, ok := stateWords[t]
	return ok
}

// notPossessed are words that cannot be what a name's possessive owns:
// "turn the garage lights down to 30" holds the lights of the garage, not
// the "Garage Light"'s down.
var notPossessed = map[string]bool{"up": true, "down": true, "to": true, "and": true, "with": true, "for": true, "from": true, "by": true}

// possessedAt reports whether toks[i] may follow a possessive name.
func possessedAt(toks []string, i int) bool {
	t := toks[i]
	if verbAfterName[t] || notPossessed[t] || isStateWord(t) {
		return false
	}
	_, n := parseNumber(toks, i)
	return n == 0
}

// isContracted reports whether a yes/no question has lost its verb to a
// contraction: "check if the front door's locked" arrives as "check if the
// front doors locked", where "doors" is "door is".
func isContracted(toks []string) bool {
	if len(toks) < 3 || toks[0] != "check" || toks[1] != "if" {
		return false
	}
	for _, t := range toks[2:] {
		switch t {
		case "is", "are", "was", "were", "has", "have":
			return false
		}
	}
	return true
}

// homeCools reports whether a thermostat of the home cools: one set to
// cool, or called an air conditioner ("Lounge AC", "Air Con").
func homeCools(reg *intent.Index) bool {
	for _, e := range reg.Entities() {
		if e.GetDomain() != "climate" {
			continue
		}
		switch e.GetState() {
		case "cool", "heat_cool", "dry":
			return true
		}
		for _, n := range append([]string{e.GetName()}, e.GetAliases()...) {
			if n := " " + strings.ToLower(n) + " "; strings.Contains(n, " ac ") || strings.Contains(n, " air con") ||
				strings.Contains(n, " aircon") || strings.Contains(n, " a/c ") {
				return true
			}
		}
	}
	return false
}

// particleName reports whether a one-word name that is also a particle
// ("Up", a room) is said as the particle: "lock up the studio", "turn the
// heating up". Only after a preposition or determiner is it the name:
// "the lights in up".
func particleName(toks []string, i int) bool {
	switch toks[i] {
	case "up", "down", "on", "off", "out", "over", "in":
	default:
		return false
	}
	if i == 0 {
		return true
	}
	switch toks[i-1] {
	case "in", "into", "at", "to", "from", "the", "of":
		return false
	}
	return true
}

var quantifiers = map[string]bool{"any": true, "all": true, "every": true, "each": true, "some": true, "no": true}

func newSentence(toks []string, reg *intent.Index, pc intent.Context) *sentence {
	s := &sentence{}
	s.init(toks, reg, pc)
	return s
}

// init cuts toks into chunks, reusing s's chunk storage.
func (s *sentence) init(toks []string, reg *intent.Index, pc intent.Context) {
	s.toks, s.reg, s.pc, s.chunks = toks, reg, pc, s.chunks[:0]
	contracted := isContracted(toks)
	for i := 0; i < len(toks); {
		rn, refs := reg.Match(toks, i)
		ln, cls := matchNoun(toks, i)
		if pn, prefs := reg.MatchPossessive(toks, i); pn > rn && pn > ln && i+pn < len(toks) &&
			(possessedAt(toks, i+pn) || contracted && isStateWord(toks[i+pn])) {
			rn, refs = pn, prefs
		}
		if isVerbHere(toks, i) || rn == 1 && particleName(toks, i) {
			ln, rn = 0, 0
		}
		if ln > 0 && cls.cools && !homeCools(reg) {
			ln = 0 // "the air con" of a home that only heats names nothing it has
		}
		useRef := rn > 0 && rn >= ln
		if useRef && rn == ln && (!s.refFitsNoun(refs, cls, i) || s.placedElsewhere(refs, i+rn)) {
			useRef = false
		}
		if rn == 0 && ln == 0 {
			if n, nrefs := s.numberedName(i); n > 0 {
				s.chunks = append(s.chunks, chunk{kind: cRef, start: i, end: i + n, refs: nrefs, otherNumber: true})
				i += n
				continue
			}
		}
		switch {
		case useRef:
			s.chunks = append(s.chunks, chunk{kind: cRef, start: i, end: i + rn, refs: refs})
			i += rn
			continue
		case ln > 0:
			s.chunks = append(s.chunks, chunk{kind: cNoun, start: i, end: i + ln, cls: cls})
			i += ln
			continue
		}
		if v, n := parseNumber(toks, i); n > 0 {
			s.chunks = append(s.chunks, chunk{kind: cNumber, start: i, end: i + n, num: v})
			i += n
			continue
		}
		s.chunks = append(s.chunks, chunk{kind: cWord, start: i, end: i + 1})
		i++
	}
}

// numberedName finds a device's name said from word i with its last word,
// a device noun, in the other number: "lock the back door" of a boat with
// Back Doors, "the port lights" for the Port Light. Nothing else starts a
// name there.
func (s *sentence) numberedName(i int) (int, []intent.Ref) {
	if i+1 >= len(s.toks) || isVerbHere(s.toks, i) {
		return 0, nil
	}
	n, refs := s.reg.MatchNumber(s.toks, i)
	if n == 0 {
		return 0, nil
	}
	if ln, _ := matchNoun(s.toks, i+n-1); ln != 1 {
		return 0, nil
	}
	for _, r := range refs {
		if r.Kind != intent.RefEntity {
			return 0, nil
		}
	}
	return n, refs
}

// refFitsNoun decides a tie between a registered name and a common noun of
// the same length: the name wins when it names something of that kind and
// no quantifier ("any gas") makes the word a common noun.
func (s *sentence) refFitsNoun(refs []intent.Ref, cls *class, i int) bool {
	if i > 0 && (quantifiers[s.toks[i-1]] || s.toks[i-1] == "there") {
		return false
	}
	for _, r := range refs {
		if r.Kind != intent.RefEntity {
			return true
		}
		e := s.reg.Entity(r.Index)
		switch {
		case cls.generic, cls.door, cls.window:
			return true
		case cls.domain == e.GetDomain() && (cls.deviceClass == "" || cls.deviceClass == e.GetDeviceClass()):
			return true
		}
	}
	// "the gas" of a home with a valve called so and no gas detector is
	// the valve: the noun names nothing else there.
	return !s.homeHas(cls)
}

// homeHas reports whether the home has a device of the noun's kind.
func (s *sentence) homeHas(cls *class) bool {
	for _, e := range s.reg.Entities() {
		if e.GetDomain() == cls.domain && (cls.deviceClass == "" || e.GetDeviceClass() == cls.deviceClass) {
			return true
		}
	}
	return false
}

// placedElsewhere reports whether the sentence goes on to name an area or
// floor that none of the entities is in: "the light in the office" is the
// office's lights, not a lamp called "Light" in the hall.
func (s *sentence) placedElsewhere(refs []intent.Ref, from int) bool {
	for _, r := range refs {
		if r.Kind != intent.RefEntity {
			return false
		}
	}
	for j := from; j < len(s.toks); j++ {
		n, places := s.reg.Match(s.toks, j)
		if n == 0 {
			continue
		}
		for _, p := range places {
			var in func(area string) bool
			switch p.Kind {
			case intent.RefArea:
				id := s.reg.Area(p.Index).GetId()
				in = func(area string) bool { return area == id }
			case intent.RefFloor:
				id := s.reg.Floor(p.Index).GetId()
				in = func(area string) bool { return s.reg.FloorIDOfArea(area) == id }
			default:
				continue
			}
			for _, r := range refs {
				if in(s.reg.Entity(r.Index).GetAreaId()) {
					return false
				}
			}
			return true
		}
		j += n - 1
	}
	return false
}

func (s *sentence) word(c chunk) string {
	if c.kind != cWord {
		return ""
	}
	return s.toks[c.start]
}

// has reports whether any of the words occurs as a plain word.
func (s *sentence) has(words ...string) bool {
	for _, c := range s.chunks {
		if c.kind != cWord {
			continue
		}
		t := s.toks[c.start]
		for _, w := range words {
			if t == w {
				return true
			}
		}
	}
	return false
}

// index returns the token index of the first plain word among words, or -1.
func (s *sentence) index(words ...string) int {
	for _, c := range s.chunks {
		if c.kind != cWord {
			continue
		}
		t := s.toks[c.start]
		for _, w := range words {
			if t == w {
				return c.start
			}
		}
	}
	return -1
}

// hasSeq reports whether the plain words occur in a row.
func (s *sentence) hasSeq(words ...string) bool {
	for i := 0; i+len(words) <= len(s.toks); i++ {
		if hasPrefix(s.toks[i:], words) {
			return true
		}
	}
	return false
}

func (s *sentence) first() string { return s.toks[0] }

func (s *sentence) hasNounOrEntity() bool {
	for _, c := range s.chunks {
		if c.kind == cNoun {
			return true
		}
		if c.kind == cRef {
			for _, r := range c.refs {
				if r.Kind == intent.RefEntity {
					return true
				}
			}
		}
	}
	return false
}

func (s *sentence) text(from, to int) string {
	return strings.Join(s.toks[from:to], " ")
}

// target is what a sentence points at: a named entity, an area or floor, a
// kind of device, here, or the whole home.
type target struct {
	name       string
	refs       []intent.Ref // every entity the spoken name may mean
	nameChunk  chunk        // where the name was said
	area       string
	floor      string
	cls        *class
	here       bool
	everywhere bool
	quantified bool // "all", "any", "every"
	// placeChunk is where the area was said; conflict that a second place
	// was said that the first is not in ("the office lamp in the kitchen").
	placeChunk, conflict chunk
	conflicts            bool
}

// entity returns the first entity the name may mean, preferring ones in
// the domains given.
func (t target) entity(reg *intent.Index, domains ...string) (int, bool) {
	if len(t.refs) == 0 {
		return 0, false
	}
	for _, d := range domains {
		for _, r := range t.refs {
			if reg.Entity(r.Index).GetDomain() == d {
				return r.Index, true
			}
		}
	}
	return t.refs[0].Index, true
}

// everywhereWords name the whole home. A home with an area or floor of that
// name ("Cottage") has it read as that place, since names are matched first.
var everywhereWords = map[string]bool{
	"everywhere": true, "house": true, "home": true, "apartment": true, "flat": true, "place": true,
	"condo": true, "condominium": true, "townhouse": true, "cottage": true, "bungalow": true, "farmhouse": true,
	"duplex": true, "maisonette": true, "penthouse": true, "villa": true, "guesthouse": true, "bnb": true,
	"hotel": true, "inn": true,
}

// boatWords name the whole home when it is a boat, one with a bow or a
// stern: said in a house, "the boat" is another place than the home.
var boatWords = map[string]bool{"boat": true, "narrowboat": true, "houseboat": true}

// dwelling reports whether w names the whole home.
func (s *sentence) dwelling(w string) bool {
	return everywhereWords[w] || boatWords[w] && s.afloat()
}

// afloat reports whether the home is a boat: it has a bow or a stern.
func (s *sentence) afloat() bool {
	_, bow := s.reg.AreaByName("bow")
	_, stern := s.reg.AreaByName("stern")
	return bow || stern
}

// dwellingOwns reports whether word i is the home said as owning a kind of
// device: "the flat's lights" arrives as "the flats lights".
func (s *sentence) dwellingOwns(i int) bool {
	w := s.toks[i]
	if len(w) < 2 || w[len(w)-1] != 's' || !s.dwelling(w[:len(w)-1]) {
		return false
	}
	for _, c := range s.chunks {
		if c.start == i+1 {
			return c.kind == cNoun
		}
	}
	return false
}

// target returns what the sentence points at; the grammar's readings ask
// for it in turn, so it is found once.
func (s *sentence) target() target {
	if !s.tgtDone {
		s.tgt, s.tgtDone = s.findTarget(), true
	}
	return s.tgt
}

func (s *sentence) findTarget() target {
	var t target
	// "everything in the garage" means the room even when a device is
	// also called "Garage".
	hasNoun := s.has("everything")
	for _, c := range s.chunks {
		if c.kind == cNoun {
			hasNoun = true
		}
	}
	for ci, c := range s.chunks {
		switch c.kind {
		case cNoun:
			if t.cls == nil {
				t.cls = c.cls
			}
		case cRef:
			var ent, area, floor *intent.Ref
			nEnts := 0
			for k := range c.refs {
				r := &c.refs[k]
				switch r.Kind {
				case intent.RefEntity:
					if ent == nil {
						ent = r
					}
					nEnts++
				case intent.RefArea:
					if area == nil {
						area = r
					}
				case intent.RefFloor:
					if floor == nil {
						floor = r
					}
				}
			}
			place := area != nil || floor != nil
			ents := c.refs // shared with the index: never modified
			if nEnts != len(c.refs) {
				ents = make([]intent.Ref, 0, nEnts)
				for _, r := range c.refs {
					if r.Kind == intent.RefEntity {
						ents = append(ents, r)
					}
				}
			}
			// "in the office" is a place even where a lamp is called "Office".
			if ent != nil && (!place || !hasNoun) && t.name == "" && !(place && s.locative(c.start)) {
				t.name, t.refs, t.nameChunk = ent.Name, ents, c
				continue
			}
			if area != nil && t.area == "" {
				t.area, t.placeChunk = s.areaName(area), c
			} else if area != nil && !sharesArea(t.placeChunk.refs, c.refs) {
				s.secondPlace(&t, c)
			} else if floor != nil && t.floor == "" {
				t.floor = s.reg.Floor(floor.Index).GetName()
			} else if ent != nil && t.name == "" {
				t.name, t.refs, t.nameChunk = ent.Name, ents, c
			}
		case cWord:
			w := s.toks[c.start]
			switch {
			case w == "here":
				t.here = true
			case (w == "room" || w == "area" || w == "space") && ci > 0:
				switch s.word(s.chunks[ci-1]) {
				case "this", "my", "our", "the", "same", "current":
					t.here = true
				case "every", "each", "all":
					t.everywhere = true
				}
			case (w == "rooms" || w == "areas") && ci > 0:
				t.everywhere = true
			case s.dwelling(w) || s.dwellingOwns(c.start):
				t.everywhere = true
			case w == "over" && ci > 0 && s.word(s.chunks[ci-1]) == "all":
				t.everywhere = true
			case w == "across" || w == "throughout" || w == "entire" || w == "whole":
				t.everywhere = true
			case quantifiers[w]:
				t.quantified = true
			}
		}
	}
	return t
}

// locative reports whether a place preposition comes before token i: "in
// the office", "inside our bedroom".
func (s *sentence) locative(i int) bool {
	for i--; i >= 0 && (s.toks[i] == "the" || s.toks[i] == "my" || s.toks[i] == "our"); i-- {
	}
	return i >= 0 && (s.toks[i] == "in" || s.toks[i] == "inside" || s.toks[i] == "throughout")
}

// sharesArea reports whether two place chunks name a common area.
func sharesArea(a, b []intent.Ref) bool {
	for _, x := range a {
		for _, y := range b {
			if x.Kind == intent.RefArea && y.Kind == intent.RefArea && x.Index == y.Index {
				return true
			}
		}
	}
	return false
}

// secondPlace reads an area said after another: the first was the name of
// a device in it ("the office light in the bedroom" is the lamp called
// Office), or the sentence asks for something nowhere.
func (s *sentence) secondPlace(t *target, c chunk) {
	if t.name == "" {
		for _, r := range t.placeChunk.refs {
			if r.Kind != intent.RefEntity {
				continue
			}
			for _, a := range c.refs {
				if a.Kind == intent.RefArea && s.reg.Entity(r.Index).GetAreaId() == s.reg.Area(a.Index).GetId() {
					t.name, t.refs, t.nameChunk = r.Name, []intent.Ref{r}, t.placeChunk
					t.area, t.placeChunk = s.areaName(&a), c
					return
				}
			}
		}
	}
	t.conflicts, t.conflict = true, c
}

// place fills area or floor slots: what was said, else the device's own area
// when the sentence names no place, no entity and not the whole home.
// fromContext tells whether the area came from the device.
func (s *sentence) place(t target, slots map[string]any, implicit bool) (fromContext bool) {
	switch {
	case t.area != "" || t.floor != "":
		s.namePlace(t, slots)
	case t.here && s.pc.Area != "":
		slots["area"] = s.pc.Area
		return true
	case implicit && !t.everywhere && t.name == "" && s.pc.Area != "":
		slots["area"] = s.pc.Area
		return true
	}
	return false
}

// namePlace fills the area slot said, else the floor: an area names its
// floor. Where rooms of one name sit on several floors ("the bedroom
// upstairs") the floor said with it is kept, since it picks the room.
func (s *sentence) namePlace(t target, slots map[string]any) {
	switch {
	case t.area != "":
		slots["area"] = t.area
		if t.floor != "" && s.reg.AreaShared(t.area) {
			slots["floor"] = t.floor
		}
	case t.floor != "":
		slots["floor"] = t.floor
	}
}

// areaName is the name an area is said by in slots: its own, or the alias
// spoken where its own name is shared by rooms on other floors and the
// alias is not ("the master bedroom" is one Bedroom of two).
func (s *sentence) areaName(r *intent.Ref) string {
	name := s.reg.Area(r.Index).GetName()
	if s.reg.AreaShared(name) && !s.reg.AreaShared(r.Name) {
		return r.Name
	}
	return name
}

// isVerbHere tells a verb from the noun it is spelled like: "switch off the
// fan", "lock the door", "light up the room".
func isVerbHere(toks []string, i int) bool {
	next := ""
	if i+1 < len(toks) {
		next = toks[i+1]
	}
	switch toks[i] {
	case "switch":
		return i == 0 || next == "on" || next == "off"
	case "lock":
		// "I'm leaving, lock the front door"; "is the lock on" is a noun.
		return i == 0 || next == "the" || next == "my" || next == "our" || next == "all" || next == "every" || next == "up"
	case "light":
		// "light the lantern": said first, before its object, a verb
		return next == "up" || i == 0 && (next == "the" || next == "my" || next == "our" || next == "all" || next == "every")
	case "fire", "power", "boot":
		// "fire up the heater" holds no fire, unlike "is there a fire up there".
		return (next == "up" || next == "down") && (i == 0 || !skipWords[toks[i-1]])
	}
	return false
}
