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
func retarget(toks []string, reg *Index, pc Context, last Intent, asked bool) (Intent, bool) {
	rest := make([]string, 0, len(toks))
	for i, t := range toks {
		// "the one in Leo's room"; "one" elsewhere may be in a name
		one := (t == "one" || t == "ones") && i+1 < len(toks) && placeWords[toks[i+1]]
		if one && !asked {
			return Intent{}, false
		}
		if !followFillers[t] && !one {
			rest = append(rest, t)
		}
	}
	if len(rest) == 0 || len(rest) == len(toks) && toks[0] != "and" {
		return Intent{}, false
	}
	slots := make(map[string]any, len(last.Slots)+1)
	for k, v := range last.Slots {
		slots[k] = v
	}
	dropName := func() {
		if !strings.EqualFold(last.Slot("name"), NameAll) {
			delete(slots, "name")
		}
	}
	if len(rest) == 1 && rest[0] == "here" {
		if pc.Area == "" {
			return Intent{}, false
		}
		dropName()
		delete(slots, "floor")
		slots["area"] = pc.Area
		return Intent{Name: last.Name, Slots: slots}, true
	}
	n, refs := reg.Match(rest, 0)
	if n != len(rest) {
		return Intent{}, false
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
			return false
		}
		dropName()
		return true
	}
	switch {
	case area != nil:
		id := reg.Area(area.Index).GetId()
		if !placed(func(i int) bool { return reg.entities[i].GetAreaId() == id }) {
			return Intent{}, false
		}
		delete(slots, "floor")
		slots["area"] = reg.Area(area.Index).GetName()
	case floor != nil:
		id := reg.Floor(floor.Index).GetId()
		if !placed(func(i int) bool { return reg.entityFloorID(i) == id }) {
			return Intent{}, false
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
		return Intent{}, false
	}
	return Intent{Name: last.Name, Slots: slots}, true
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
