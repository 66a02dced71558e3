package intent

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"
)

// Turn is one understood sentence of a conversation, kept so that the next
// sentence can say "turn it off" or "and in the bedroom".
type Turn struct {
	Intent  Intent    `json:"intent"`
	Targets []string  `json:"targets,omitempty"` // entity ids acted on or asked about
	At      time.Time `json:"at"`
	// Pending marks a sensitive action that waits for Device to say yes.
	// Device is the voice device that spoke the turn: only its next
	// sentence may refer back to it, and a yes/no question's "yes" is
	// bound to it too (see choice).
	Pending bool   `json:"pending,omitempty"`
	Device  string `json:"device,omitempty"`
	// Parts are the targets of a list ("turn off the lamp and the fan"),
	// each as its own request: "them" means all of them.
	Parts []Part `json:"parts,omitempty"`
	// Options are the entities of each choice a "which one?" listed, in
	// the order said, so "the second one" can answer it.
	Options [][]string `json:"options,omitempty"`
	// Matches marks a question about several matches of one request,
	// which "both" or "all of them" answers with every one of Targets.
	Matches bool `json:"matches,omitempty"`
}

// Part is one target of a list and the entities it meant.
type Part struct {
	Intent  Intent   `json:"intent"`
	Targets []string `json:"targets,omitempty"`
}

// ConversationStore keeps the recent turns of each conversation of a home.
// A conversation id is only meaningful within its home.
type ConversationStore interface {
	// Turns returns up to limit turns newer than since, newest first.
	Turns(ctx context.Context, homeID, conversationID string, limit int, since time.Time) ([]Turn, error)
	// AddTurn appends a turn and forgets all but the newest keep turns.
	AddTurn(ctx context.Context, homeID, conversationID string, t Turn, keep int) error
	// AddContextTurn is AddTurn for a turn that only gives a follow-up its
	// context ("turn it off"). It may return before the turn is durable:
	// losing the newest such turn in a database crash costs a question
	// back, never an action. Turns a confirmation relies on go through
	// AddTurn.
	AddContextTurn(ctx context.Context, homeID, conversationID string, t Turn, keep int) error
}

// MemoryConversations is a ConversationStore in process memory, for a single
// central and for tests; PostgreSQL serves a fleet of replicas.
type MemoryConversations struct {
	mu    sync.Mutex
	max   int
	convs map[string][]Turn
}

var _ ConversationStore = (*MemoryConversations)(nil)

// NewMemoryConversations keeps at most maxConversations conversations
// (default 10,000), dropping the stalest first.
func NewMemoryConversations(maxConversations int) *MemoryConversations {
	if maxConversations <= 0 {
		maxConversations = 10000
	}
	return &MemoryConversations{max: maxConversations, convs: map[string][]Turn{}}
}

// Turns implements ConversationStore.
func (m *MemoryConversations) Turns(_ context.Context, homeID, conversationID string, limit int, since time.Time) ([]Turn, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ts := m.convs[homeID+"\x00"+conversationID]
	var out []Turn
	for i := len(ts) - 1; i >= 0 && len(out) < limit; i-- {
		if ts[i].At.After(since) {
			out = append(out, ts[i])
		}
	}
	return out, nil
}

// AddContextTurn implements ConversationStore; in memory it is AddTurn.
func (m *MemoryConversations) AddContextTurn(ctx context.Context, homeID, conversationID string, t Turn, keep int) error {
	return m.AddTurn(ctx, homeID, conversationID, t, keep)
}

// AddTurn implements ConversationStore.
func (m *MemoryConversations) AddTurn(_ context.Context, homeID, conversationID string, t Turn, keep int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := homeID + "\x00" + conversationID
	ts, ok := m.convs[key]
	if !ok && len(m.convs) >= m.max {
		m.evictLocked()
	}
	ts = append(ts, t)
	if len(ts) > keep {
		ts = slices.Clone(ts[len(ts)-keep:])
	}
	m.convs[key] = ts
	return nil
}

func (m *MemoryConversations) evictLocked() {
	var oldest string
	var at time.Time
	for k, ts := range m.convs {
		if last := ts[len(ts)-1].At; oldest == "" || last.Before(at) {
			oldest, at = k, last
		}
	}
	delete(m.convs, oldest)
}

// lastTurn returns the conversation's newest turn within ContextTTL, or
// none when another voice device spoke it: two devices that share a
// conversation id (a client reusing it, a guess) do not share what "it"
// or "yes" means, as each person hears only their own device's answers.
func (e *Engine) lastTurn(ctx context.Context, req Request) ([]Turn, error) {
	turns, err := e.opts.Conversations.Turns(ctx, req.HomeID, req.ConversationID, 1, e.opts.Now().Add(-e.opts.ContextTTL))
	if err != nil || len(turns) == 0 || turns[0].Device != req.DeviceID {
		return nil, err
	}
	return turns, nil
}

// errCannot is parse's answer to a sentence whose verb cannot be done to
// what it refers to.
var errCannot = errors.New("what the sentence refers to cannot do that")

// openVerbs open, close or lock what has a door, lid or bolt; said of a
// light or a fan they are no wish to switch it.
var openVerbs = map[string]bool{
	"open": true, "close": true, "shut": true, "lock": true, "unlock": true,
	"opened": true, "closed": true, "locked": true, "unlocked": true,
}

// opensWhat reports whether a sentence that refers back asks something the
// things it refers to can do: a verb of opening or locking needs a cover,
// lock or valve.
func opensWhat(toks []string, reg *Index, ids []string) bool {
	if !slices.ContainsFunc(toks, func(t string) bool { return openVerbs[t] }) {
		return true
	}
	for _, id := range ids {
		i, ok := reg.entityByID[id]
		if !ok {
			continue
		}
		switch reg.entities[i].GetDomain() {
		case "cover", "lock", "valve":
		default:
			return false
		}
	}
	return true
}

// pronouns stand for what the previous turn was about; "it" and "that"
// for one thing.
var pronouns = map[string]bool{"it": true, "them": true, "they": true, "those": true, "that": true, "these": true}

var singular = map[string]bool{"it": true, "that": true}

// afterBoth are the words "both" or "all" can stand before as a pronoun:
// "turn both back on", "switch all off".
var afterBoth = map[string]bool{"": true, "on": true, "off": true, "back": true, "up": true, "down": true, "again": true, "please": true, "now": true, "too": true}

// plainPronouns says "all of them", "both of them", "them both" and a
// bare "both" as "them", and reports whether the sentence refers to one
// thing ("it", "that") and to several.
func plainPronouns(toks []string) (out []string, one, several bool) {
	out = make([]string, 0, len(toks))
	for i := 0; i < len(toks); i++ {
		t, next := toks[i], ""
		if i+1 < len(toks) {
			next = toks[i+1]
		}
		switch {
		case (t == "all" || t == "both" || t == "each") && next == "of" && i+2 < len(toks) && toks[i+2] == "them":
			i += 2
			t = "them"
		case t == "them" && (next == "all" || next == "both"):
			i++
		case t == "both" && afterBoth[next] && i > 0:
			t = "them"
		}
		one = one || singular[t]
		several = several || pronouns[t] && !singular[t]
		out = append(out, t)
	}
	return out, one, several
}

// hasPronoun reports whether the normalized sentence refers back with a
// pronoun.
func hasPronoun(toks []string) bool {
	for _, t := range toks {
		if pronouns[t] {
			return true
		}
	}
	return false
}

// withReference replaces the sentence's pronouns with a phrase naming what
// the last intent was about: "turn it off" → "turn the Bedroom Lamp off".
func withReference(toks []string, last Intent) (string, bool) {
	phrase := referencePhrase(last)
	if place := last.Slot("area"); place != "" && last.Slot("name") == "" && phrase != "the "+place {
		// "the lights in the Kitchen": "the Kitchen lights" is the name
		// of one of them in many homes
		phrase = "the " + strings.TrimPrefix(phrase, "the "+place+" ") + " in the " + place
	}
	if phrase == "" {
		return "", false
	}
	out := make([]string, 0, len(toks)+4)
	replaced := false
	for _, t := range toks {
		if pronouns[t] {
			out = append(out, phrase)
			replaced = true
			continue
		}
		out = append(out, t)
	}
	return strings.Join(out, " "), replaced
}

// referencePhrase words what an intent's slots point at.
func referencePhrase(in Intent) string {
	if n := in.Slot("name"); n != "" && !strings.EqualFold(n, NameAll) {
		if a := in.Slot("area"); a != "" {
			return "the " + n + " in the " + a // a name in two rooms
		}
		return "the " + n
	}
	noun := domainNoun(in.Slot("domain"), true)
	if dc := in.Slot("device_class"); dc != "" && in.Slot("domain") == "cover" {
		noun = strings.ReplaceAll(dc, "_", " ") + "s"
		if dc == "garage" {
			noun = "garage doors"
		}
	}
	if in.Slot("domain") == "" {
		noun = ""
	}
	place := in.Slot("area")
	if place == "" {
		place = in.Slot("floor")
	}
	switch {
	case place != "" && noun != "":
		return "the " + place + " " + noun
	case place != "":
		return "the " + place
	case noun != "":
		return "the " + noun
	}
	return ""
}

// followFillers open or close a follow-up that only names a new place or
// device: "and in the bedroom", "what about the kitchen", "the hall too".
var followFillers = map[string]bool{
	"and": true, "what": true, "about": true, "how": true, "also": true, "same": true, "for": true,
	"now": true, "then": true, "too": true, "as": true, "well": true, "please": true, "do": true,
	"in": true, "on": true, "at": true, "the": true, "my": true, "our": true, "of": true, "with": true,
}

// placeWords say where "the one" is.
var placeWords = map[string]bool{"in": true, "on": true, "at": true, "upstairs": true, "downstairs": true}

// retarget reads a sentence that only names an area, floor or device and
// applies the last intent to it. "The one in the bedroom" answers a
// question (asked): said after anything else it picks from nothing, and
// acting on a guess at what it meant is worse than asking again.
//
// about are the entities the last turn was about. A correction ("no, the
// island lights", "not that one, the hallway") is read as the last intent
// said of what it names; "the other one" is the one other device of the
// same name; "the right one" and "Mei's" borrow the rest of the last
// device's name ("the Right Garage Door", "Mei's Door"); and a named
// device said of another place is that place's one device of the same
// kind, never everything in it. guessed reports a device the sentence
// did not name (the other one, the one of a place), which a sensitive
// action asks back.
func retarget(toks []string, reg *Index, pc Context, last Intent, about []string, asked bool) (_ Intent, guessed, ok bool) {
	in, guessed, ok := retargetPlain(toks, reg, pc, last, about, asked)
	if !ok || !opensFit(reg, in, about, last) {
		return Intent{}, false, false
	}
	return in, guessed, true
}

// opensFit reports whether a retargeted intent's device may take the last
// intent: a lock, cover or valve only after one of its own kind, as "turn
// on" said of a lock locks it, and "and the front door" after the lights
// wished no such thing.
func opensFit(reg *Index, in Intent, about []string, last Intent) bool {
	name := in.Slot("name")
	if name == "" || strings.EqualFold(name, NameAll) {
		return true
	}
	domains := map[string]bool{}
	for _, id := range about {
		if i, ok := reg.entityByID[id]; ok {
			domains[reg.entities[i].GetDomain()] = true
		}
	}
	if d := last.Slot("domain"); d != "" {
		domains[d] = true
	}
	for _, i := range reg.EntitiesNamed(name) {
		switch d := reg.entities[i].GetDomain(); d {
		case "lock", "cover", "valve", "alarm_control_panel":
			if !domains[d] || len(domains) > 1 {
				return false
			}
		}
	}
	return true
}

func retargetPlain(toks []string, reg *Index, pc Context, last Intent, about []string, asked bool) (_ Intent, guessed, ok bool) {
	toks, corrected := withoutCorrection(toks)
	if len(toks) == 0 {
		return Intent{}, false, false
	}
	rest := make([]string, 0, len(toks))
	for i, t := range toks {
		// "the one in Leo's room"; "one" elsewhere may be in a name
		one := (t == "one" || t == "ones") && i+1 < len(toks) && placeWords[toks[i+1]]
		if one && !asked {
			return Intent{}, false, false
		}
		if !followFillers[t] && !one {
			rest = append(rest, t)
		}
	}
	// A bare place or device answers a question ("which one?"
	// "upstairs"); said after anything else it must read as a follow-up.
	if len(rest) == 0 || len(rest) == len(toks) && toks[0] != "and" && !corrected && !asked {
		return Intent{}, false, false
	}
	slots := make(map[string]any, len(last.Slots)+1)
	for k, v := range last.Slots {
		slots[k] = v
	}
	if i, ok := otherOne(rest, reg, about); ok {
		return named(last, slots, reg, i), true, true
	}
	dropName := func() {
		if !strings.EqualFold(last.Slot("name"), NameAll) {
			delete(slots, "name")
		}
	}
	if len(rest) == 1 && rest[0] == "here" {
		if pc.Area == "" {
			return Intent{}, false, false
		}
		dropName()
		delete(slots, "floor")
		slots["area"] = pc.Area
		return Intent{Name: last.Name, Slots: slots}, false, true
	}
	n, refs := reg.Match(rest, 0)
	if n != len(rest) {
		i, ok := kinName(rest, reg, last, about)
		if !ok {
			return Intent{}, false, false
		}
		return named(last, slots, reg, i), false, true
	}
	var ent, area, floor *Ref
	for i := range refs {
		switch r := &refs[i]; r.Kind {
		case RefArea:
			area = r
		case RefFloor:
			floor = r
		case RefEntity:
			if ent == nil {
				ent = r
			}
		}
	}
	// A new place keeps a name it holds ("which Big Light?" "in the living
	// room"); a name it lacks gives way to the kind of device, and without
	// one the place alone would mean everything in it.
	placed := func(in func(i int) bool) bool {
		name := last.Slot("name")
		if name == "" || strings.EqualFold(name, NameAll) {
			return true
		}
		for _, i := range reg.EntitiesNamed(name) {
			if in(i) {
				return true
			}
		}
		if last.Slot("domain") == "" {
			i, ok := sameKindIn(reg, about, in)
			if ok {
				slots["name"] = reg.entities[i].GetName()
				guessed = true
			}
			return ok
		}
		dropName()
		return true
	}
	switch {
	case area != nil:
		id := reg.Area(area.Index).GetId()
		if !placed(func(i int) bool { return reg.entities[i].GetAreaId() == id }) {
			return Intent{}, false, false
		}
		delete(slots, "floor")
		slots["area"] = reg.Area(area.Index).GetName()
	case floor != nil:
		id := reg.Floor(floor.Index).GetId()
		if !placed(func(i int) bool { return reg.entityFloorID(i) == id }) {
			return Intent{}, false, false
		}
		delete(slots, "area")
		slots["floor"] = reg.Floor(floor.Index).GetName()
	case ent != nil:
		delete(slots, "area")
		delete(slots, "floor")
		slots["name"] = ent.Name
		e := reg.Entity(ent.Index)
		if d := last.Slot("domain"); d != "" && d != e.GetDomain() {
			delete(slots, "domain")
			delete(slots, "device_class")
		}
		if dc := last.Slot("device_class"); dc != "" && dc != e.GetDeviceClass() {
			delete(slots, "device_class")
		}
	default:
		return Intent{}, false, false
	}
	return Intent{Name: last.Name, Slots: slots}, guessed, true
}

// sameFor reports whether a sentence opens by repeating the last action
// for something else: "do the same for the hallway", "same with Ollie's".
func sameFor(toks []string) bool {
	for i := 0; i+1 < len(toks) && i < 3; i++ {
		if toks[i] == "same" && (toks[i+1] == "for" || toks[i+1] == "with") {
			return true
		}
	}
	return false
}

// corrections open a sentence that takes back the last one's target and
// names another: "no, the island lights", "not that one, the hallway".
var corrections = [][]string{
	{"no", "not", "that", "one"}, {"no", "not", "those"}, {"no", "not", "that"}, {"no", "i", "meant"},
	{"not", "that", "one"}, {"not", "those", "ones"}, {"not", "those"}, {"not", "that"}, {"not", "them"},
	{"sorry", "i", "meant"}, {"i", "meant"}, {"i", "mean"}, {"no", "sorry"}, {"no"},
}

// withoutCorrection strips a correction's opening words, and reports
// whether there were any. What is left must not say "not" again: "no,
// not the kitchen" names what is not meant.
func withoutCorrection(toks []string) ([]string, bool) {
	for _, c := range corrections {
		if len(toks) > len(c) && slices.Equal(toks[:len(c)], c) {
			rest := toks[len(c):]
			if slices.Contains(rest, "not") || slices.Contains(rest, "dont") {
				return nil, false
			}
			return rest, true
		}
	}
	return toks, false
}

// named is the last intent said of entity i by its name, in its area when
// the name is in several.
func named(last Intent, slots map[string]any, reg *Index, i int) Intent {
	delete(slots, "area")
	delete(slots, "floor")
	e := reg.entities[i]
	slots["name"] = e.GetName()
	if len(reg.EntitiesNamed(e.GetName())) > 1 {
		if a := reg.entityAreaName(i); a != "" {
			slots["area"] = a
		}
	}
	if d := last.Slot("domain"); d != "" && d != e.GetDomain() {
		delete(slots, "domain")
		delete(slots, "device_class")
	}
	if dc := last.Slot("device_class"); dc != "" && dc != e.GetDeviceClass() {
		delete(slots, "device_class")
	}
	return Intent{Name: last.Name, Slots: slots}
}

// otherOne reads "the other one" said of the one device the last turn was
// about: the one other device of its name.
func otherOne(rest []string, reg *Index, about []string) (int, bool) {
	if len(rest) == 0 || rest[0] != "other" || len(rest) > 2 || len(rest) == 2 && rest[1] != "one" || len(about) != 1 {
		return 0, false
	}
	i, ok := reg.entityByID[about[0]]
	if !ok {
		return 0, false
	}
	found := -1
	for _, j := range reg.EntitiesNamed(reg.entities[i].GetName()) {
		if j == i {
			continue
		}
		if found >= 0 {
			return 0, false // which other one?
		}
		found = j
	}
	return found, found >= 0
}

// kinName reads a device named by what sets it apart from the last one,
// the rest of the name left out: "the right one" after the Left Garage
// Door is the Right Garage Door, "Mei's" after Jake's Door is Mei's Door.
// The name it makes must be one device's whole name, not the last one.
func kinName(rest []string, reg *Index, last Intent, about []string) (int, bool) {
	name := last.Slot("name")
	if name == "" || strings.EqualFold(name, NameAll) {
		return 0, false
	}
	base := rest
	if k := len(base) - 1; base[k] == "one" || base[k] == "ones" {
		base = base[:k]
	}
	words := strings.Fields(Normalize(name))
	if len(base) == 0 || len(base) > 3 {
		return 0, false
	}
	for k := 1; k < len(words); k++ {
		cand := append(slices.Clone(base), words[k:]...)
		n, refs := reg.Match(cand, 0)
		if n != len(cand) {
			continue
		}
		found := -1
		for _, r := range refs {
			if r.Kind != RefEntity || slices.Contains(about, reg.entities[r.Index].GetEntityId()) {
				continue
			}
			if found >= 0 && found != r.Index {
				return 0, false
			}
			found = r.Index
		}
		if found >= 0 {
			return found, true
		}
	}
	return 0, false
}

// sameKindIn finds the one device of a place (in) of the kind the last
// turn's one device was: the domain and device class it had. Several of
// that kind in the place, or none, is no answer.
func sameKindIn(reg *Index, about []string, in func(i int) bool) (int, bool) {
	if len(about) != 1 {
		return 0, false
	}
	i, ok := reg.entityByID[about[0]]
	if !ok {
		return 0, false
	}
	kind := reg.entities[i]
	found := -1
	for j, e := range reg.entities {
		if j == i || !in(j) || e.GetDomain() != kind.GetDomain() || e.GetDeviceClass() != kind.GetDeviceClass() {
			continue
		}
		if found >= 0 {
			return 0, false
		}
		found = j
	}
	return found, found >= 0
}

// within reports whether every target is one of the entity ids.
func within(reg *Index, targets []int, ids []string) bool {
	for _, i := range targets {
		if !slices.Contains(ids, reg.entities[i].GetEntityId()) {
			return false
		}
	}
	return true
}

// cannotSpeech says that what a sentence referred to cannot do what it
// asked: "Sorry, the Bathroom Humidity can't do that".
func cannotSpeech(reg *Index, ids []string) string {
	var names []string
	for _, id := range ids[:min(len(ids), 4)] {
		if i, ok := reg.entityByID[id]; ok {
			if reg.entities[i].GetDomain() == "person" {
				names = append(names, reg.entities[i].GetName())
			} else {
				names = append(names, "the "+reg.entities[i].GetName())
			}
		}
	}
	if len(names) == 0 {
		return "Sorry, I can't do that"
	}
	if len(names) == 1 {
		return "Sorry, " + names[0] + " can't do that"
	}
	return "Sorry, " + strings.Join(names, " and ") + " can't do that"
}
