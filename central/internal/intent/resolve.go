package intent

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// NameAll is the name slot value that means every entity the other slots
// select ("turn off all fans").
const NameAll = "all"

// failure is a resolution outcome the engine answers with instead of acting.
type failure struct {
	code, speech string
	// unknown are the words that named nothing in the home, for the audit
	// record of a refusal.
	unknown string
	// A question asks about matches, and lists options of them in order.
	matches []int
	options [][]int
}

// resolve finds the entities an intent's slots name. Intents that need no
// target return nil and no failure.
func resolve(reg *Index, in Intent) ([]int, *failure) {
	areaName := in.Slot("area")
	floorName := in.Slot("floor")
	var floor *homeplanev1.Floor
	if floorName != "" {
		f, ok := reg.FloorByName(floorName)
		if !ok {
			return nil, &failure{code: CodeRefused, speech: fmt.Sprintf("Sorry, I am not aware of any floor called %s", floorName), unknown: floorName}
		}
		floor = f
	}
	if areaName == "" {
		return resolveIn(reg, in, nil, floor)
	}
	areas := reg.AreasNamed(areaName)
	if len(areas) == 0 {
		return nil, &failure{code: CodeRefused, speech: fmt.Sprintf("Sorry, I am not aware of any area called %s", areaName), unknown: areaName}
	}
	if len(areas) == 1 {
		return resolveIn(reg, in, areas[0], floor)
	}
	return resolveShared(reg, in, areas, floor)
}

// resolveShared resolves an area name that several rooms carry, one on
// each floor: the floor said picks the room; else the one room that holds
// what was asked for; else it asks which, rather than act in every room of
// the name or in the first one found.
func resolveShared(reg *Index, in Intent, areas []*homeplanev1.Area, floor *homeplanev1.Floor) ([]int, *failure) {
	var found [][]int
	var where []string
	var first *failure
	for _, a := range areas {
		if floor != nil && a.GetFloorId() != floor.GetId() {
			continue
		}
		c, fail := resolveIn(reg, in, a, floor)
		if fail != nil {
			if first == nil {
				first = fail
			}
			continue
		}
		found = append(found, c)
		where = append(where, "one on the "+floorName(reg, a.GetFloorId()))
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) == 0 && first != nil:
		return nil, first
	case len(found) == 0:
		speech, what := noMatchSpeech(in, in.Slot("name"), false, areas[0], floor)
		return nil, &failure{code: CodeRefused, speech: speech, unknown: what}
	}
	var all []int
	for _, c := range found {
		all = append(all, c...)
	}
	speech := fmt.Sprintf("Sorry, which %s do you mean: the %s?", areas[0].GetName(), joinOr(where))
	return nil, &failure{code: CodeAmbiguous, speech: speech, matches: all, options: found}
}

// floorName names the floor with that id, or says there is none.
func floorName(reg *Index, id string) string {
	if i, ok := reg.floorByID[id]; ok {
		return reg.floors[i].GetName()
	}
	return "no floor"
}

// resolveIn resolves the intent's slots with its area and floor looked up.
func resolveIn(reg *Index, in Intent, area *homeplanev1.Area, floor *homeplanev1.Floor) ([]int, *failure) {
	name := in.Slot("name")
	domain := in.Slot("domain")
	class := in.Slot("device_class")
	row := entry(in.Name)
	allowed := row.Domains

	var cands []int
	byName := name != "" && !strings.EqualFold(name, NameAll)
	if byName {
		cands = slices.Clone(reg.EntitiesNamed(name))
		if len(cands) == 0 {
			return nil, &failure{code: CodeRefused, speech: fmt.Sprintf("Sorry, I am not aware of any device called %s", name), unknown: name}
		}
	} else {
		cands = reg.candidates(area, floor, domain)
	}
	keep := func(pred func(e *homeplanev1.Entity) bool) {
		cands = slices.DeleteFunc(cands, func(i int) bool { return !pred(reg.entities[i]) })
	}
	// A domain the intent allows makes the allowed domains' test redundant.
	if len(allowed) > 0 && (domain == "" || !slices.Contains(allowed, domain)) {
		keep(func(e *homeplanev1.Entity) bool { return slices.Contains(allowed, e.GetDomain()) })
	}
	// Candidates taken from the domain's own list need no domain test.
	if domain != "" && (byName || area != nil) {
		keep(func(e *homeplanev1.Entity) bool { return e.GetDomain() == domain })
	}
	if class != "" {
		keep(func(e *homeplanev1.Entity) bool { return e.GetDeviceClass() == class })
	}
	if area != nil || floor != nil {
		var before []int
		if byName {
			before = slices.Clone(cands)
		}
		cands = slices.DeleteFunc(cands, func(i int) bool {
			if area != nil && reg.entities[i].GetAreaId() != area.GetId() {
				return true
			}
			return floor != nil && reg.entityFloorID(i) != floor.GetId()
		})
		// A scene or script spoken "in the kitchen" usually has no area of
		// its own; the name alone then decides. A device without an area
		// is in no room: "unlock the front door in the garage" is not it.
		if len(cands) == 0 && byName {
			for _, i := range before {
				if e := reg.entities[i]; e.GetAreaId() == "" && (e.GetDomain() == "scene" || e.GetDomain() == "script") {
					cands = append(cands, i)
				}
			}
		}
	}
	if len(cands) == 0 {
		speech, what := noMatchSpeech(in, name, byName, area, floor)
		return nil, &failure{code: CodeRefused, speech: speech, unknown: what}
	}
	if byName && len(cands) > 1 && row.Kind != KindQuery {
		return nil, ambiguous(reg, name, cands)
	}
	if name == "" && area == nil && floor == nil && (in.Name == MediaSearchAndPlay || in.Name == MediaUnpause) {
		return onePlayer(reg, in, cands)
	}
	if name == "" && area == nil && floor == nil && in.Name == ClimateSetTemperature && len(cands) > 1 {
		return nil, oneOf(reg, "heater or thermostat", cands)
	}
	return cands, nil
}

// onePlayer picks the player "play …" means when the sentence names none
// and the device is in no room: the only player, or for "resume" the only
// paused one. Otherwise it asks rather than play everywhere.
func onePlayer(reg *Index, in Intent, cands []int) ([]int, *failure) {
	if len(cands) == 1 {
		return cands, nil
	}
	if in.Name == MediaUnpause {
		paused := slices.DeleteFunc(slices.Clone(cands), func(i int) bool { return reg.entities[i].GetState() != "paused" })
		if len(paused) == 1 {
			return paused, nil
		}
	}
	return nil, oneOf(reg, "player", cands)
}

// oneOf asks which one of the candidates is meant, naming up to four.
// A temperature said with no place and no name ("set the heating to 20")
// is not set on every heater of the home, the pool's among them: the
// device's own room decides (the parser fills it), else the only one,
// else this question.
func oneOf(reg *Index, kind string, cands []int) *failure {
	var names []string
	var options [][]int
	for _, i := range cands[:min(len(cands), 4)] {
		names = append(names, reg.entities[i].GetName())
		options = append(options, []int{i})
	}
	speech := fmt.Sprintf("Sorry, which %s do you mean: the %s?", kind, joinOr(names))
	return &failure{code: CodeAmbiguous, speech: speech, matches: cands, options: options}
}

// noMatchSpeech words a search that found nothing and returns what was
// not found ("fan in the Kitchen").
func noMatchSpeech(in Intent, name string, byName bool, area *homeplanev1.Area, floor *homeplanev1.Floor) (speech, what string) {
	where := ""
	switch {
	case area != nil:
		where = " in the " + area.GetName()
	case floor != nil:
		where = " on the " + floor.GetName()
	}
	if byName {
		return fmt.Sprintf("Sorry, I am not aware of any device called %s%s", name, where), name + where
	}
	what = "device"
	if c := in.Slot("device_class"); c != "" {
		what = strings.ReplaceAll(c, "_", " ")
	} else if d := in.Slot("domain"); d != "" {
		what = domainNoun(d, false)
	} else if ds := entry(in.Name).Domains; len(ds) > 0 && len(ds) < 3 {
		what = domainNoun(ds[0], false)
	}
	return fmt.Sprintf("Sorry, I am not aware of any %s%s", what, where), what + where
}

// ambiguous asks which of the devices a name means, listing up to four
// kinds and places as the options an answer can pick by place.
func ambiguous(reg *Index, name string, cands []int) *failure {
	opts, groups := options(cands, func(i int) string {
		e := reg.entities[i]
		d := domainNoun(e.GetDomain(), false)
		if a := reg.AreaName(e.GetAreaId()); a != "" {
			d += " in the " + a
		}
		return d
	})
	f := &failure{code: CodeAmbiguous, matches: cands}
	if len(opts) < 2 {
		f.speech = fmt.Sprintf("Sorry, there are several devices called %s. Which one do you mean?", name)
		return f
	}
	f.speech = fmt.Sprintf("Sorry, %s could mean the %s. Which one do you mean?", name, joinOr(opts))
	f.options = groups
	return f
}

// options are the first four labels of idx, in order, with the entities
// each stands for.
func options(idx []int, label func(i int) string) ([]string, [][]int) {
	var labels []string
	var groups [][]int
	for _, i := range idx {
		l := label(i)
		k := slices.Index(labels, l)
		if k < 0 && len(labels) == 4 {
			continue
		}
		if k < 0 {
			labels, groups, k = append(labels, l), append(groups, nil), len(labels)
		}
		groups[k] = append(groups[k], i)
	}
	return labels, groups
}

func joinOr(items []string) string {
	if len(items) <= 1 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", the ") + " or the " + items[len(items)-1]
}

// ErrUnresolved is wrapped by Resolve when the slots name nothing in the
// home, or several things where one was meant.
var ErrUnresolved = errors.New("not resolved")

// ResolveError says why an intent's slots could not be resolved, in the
// words the engine would answer with.
type ResolveError struct {
	Code   string // CodeRefused or CodeAmbiguous
	Speech string
}

func (e *ResolveError) Error() string { return e.Code + ": " + e.Speech }

// Unwrap lets errors.Is(err, ErrUnresolved) match.
func (e *ResolveError) Unwrap() error { return ErrUnresolved }

// Resolve finds the entities an intent's slots name in reg, the way the
// engine does before acting. Intents that need no target return no targets
// and no error.
func Resolve(reg *Index, in Intent) ([]Target, error) {
	if !NeedsTarget(in.Name) {
		return nil, nil
	}
	idx, fail := resolve(reg, in)
	if fail != nil {
		return nil, &ResolveError{Code: fail.code, Speech: fail.speech}
	}
	return targetList(reg, idx, nil), nil
}

// candidates returns a fresh list of the entities that can match an area,
// floor or domain, from the narrowest index at hand.
func (r *Index) candidates(area *homeplanev1.Area, floor *homeplanev1.Floor, domain string) []int {
	switch {
	case area != nil:
		return slices.Clone(r.byArea[area.GetId()])
	case domain != "":
		return slices.Clone(r.byDomain[domain])
	case floor != nil:
		var out []int
		for _, a := range r.areas {
			if a.GetFloorId() == floor.GetId() {
				out = append(out, r.byArea[a.GetId()]...)
			}
		}
		slices.Sort(out)
		return out
	}
	out := make([]int, len(r.entities))
	for i := range out {
		out[i] = i
	}
	return out
}
