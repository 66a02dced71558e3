package intent_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/rules"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

var (
	fuzzAreas   = []string{"Kitchen", "Den", "Office", "Bedroom", "Hall", "Loft", "Study", "Lounge", "Dining Room", "Laundry", "Porch", "Landing"}
	fuzzUnknown = []string{"garden", "nursery", "attic", "basement", "bathroom", "patio", "pantry", "sunroom", "shed", "cellar",
		"library", "gym", "balcony", "side", "disco", "spare", "corner", "tiny", "secret", "barn", "pool", "sauna", "zorbix", "quellan", "vintner"}
	// fuzzKinds are device kinds: domain, device class, how a sentence names them and a command that acts on them.
	fuzzKinds = []struct{ domain, class, noun, plural, verb string }{
		{"light", "", "light", "lights", "turn on"},
		{"light", "", "lamp", "lamps", "turn off"},
		{"fan", "", "fan", "fans", "turn on"},
		{"switch", "", "switch", "switches", "turn off"},
		{"cover", "blind", "blind", "blinds", "open"},
		{"cover", "curtain", "curtain", "curtains", "close"},
		{"cover", "garage", "garage door", "garage doors", "open"},
		{"lock", "", "door", "doors", "unlock"},
		{"valve", "", "valve", "valves", "open"},
		{"media_player", "", "speaker", "speakers", "pause"},
	}
)

// fuzzHome builds a home of a few areas, each with devices named after the
// area and their kind.
func fuzzHome(r *rand.Rand) *intent.Index {
	var areas []*homeplanev1.Area
	var ents []*homeplanev1.Entity
	for _, ai := range r.Perm(len(fuzzAreas))[:2+r.IntN(4)] {
		a := fuzzAreas[ai]
		id := strings.ToLower(strings.ReplaceAll(a, " ", "_"))
		areas = append(areas, &homeplanev1.Area{Id: id, Name: a})
		for _, ki := range r.Perm(len(fuzzKinds))[:1+r.IntN(4)] {
			k := fuzzKinds[ki]
			name := a + " " + strings.ToUpper(k.noun[:1]) + k.noun[1:]
			ents = append(ents, &homeplanev1.Entity{EntityId: fmt.Sprintf("%s.%s_%d", k.domain, id, ki), Name: name,
				Domain: k.domain, DeviceClass: k.class, AreaId: id, State: "off"})
		}
	}
	return intent.NewIndex(ents, areas, nil)
}

// fuzzSentence says a command to a device of the home, with and without one
// word the home does not know.
func fuzzSentence(r *rand.Rand, reg *intent.Index) (plain, withUnknown string) {
	ents := reg.Entities()
	e := ents[r.IntN(len(ents))]
	var k = fuzzKinds[0]
	for _, c := range fuzzKinds {
		if c.domain == e.GetDomain() && c.class == e.GetDeviceClass() && strings.HasSuffix(strings.ToLower(e.GetName()), c.noun) {
			k = c
		}
	}
	area := reg.AreaName(e.GetAreaId())
	word := fuzzUnknown[r.IntN(len(fuzzUnknown))]
	switch r.IntN(4) {
	case 0: // by name, a word before it: "turn on the garden Kitchen Light"
		return fmt.Sprintf("%s the %s", k.verb, e.GetName()), fmt.Sprintf("%s the %s %s", k.verb, word, e.GetName())
	case 1: // an unknown place instead of the area: "turn on the garden lights"
		return fmt.Sprintf("%s the %s %s", k.verb, area, k.plural), fmt.Sprintf("%s the %s %s", k.verb, word, k.plural)
	case 2: // an unknown place after the kind: "turn on the lights in the garden"
		return fmt.Sprintf("%s the %s in the %s", k.verb, k.plural, area), fmt.Sprintf("%s the %s in the %s", k.verb, k.plural, word)
	default: // a modifier between area and kind: "unlock the Kitchen side door"
		return fmt.Sprintf("%s the %s %s", k.verb, area, k.noun), fmt.Sprintf("%s the %s %s %s", k.verb, area, word, k.noun)
	}
}

// checkUnknownNeverExecutes is the property: a command with one word the
// home does not know reaches no device. It reports whether the same
// command without the word did act, so a caller can see the property is
// not vacuous.
func checkUnknownNeverExecutes(t testing.TB, seed uint64) (plainActed bool) {
	r := rand.New(rand.NewPCG(seed, 13))
	reg := fuzzHome(r)
	plain, bad := fuzzSentence(r, reg)
	for _, w := range fuzzUnknown {
		if len(reg.EntitiesNamed(w)) > 0 {
			return false
		}
	}
	run := func(text string) (intent.Response, int) {
		exec := &fakeExecutor{}
		e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{reg}, exec, intent.Options{})
		resp, err := e.Process(context.Background(), intent.Request{HomeID: "home-1", Text: text})
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		return resp, len(exec.cmds)
	}
	if resp, n := run(bad); n > 0 || resp.Success {
		t.Fatalf("seed %d: %q executed (%q)", seed, bad, resp.Speech)
	}
	_, n := run(plain)
	return n > 0
}

func TestUnknownWordNeverExecutes(t *testing.T) {
	acted := 0
	const runs = 3000
	for seed := range uint64(runs) {
		if checkUnknownNeverExecutes(t, seed) {
			acted++
		}
	}
	// Without the unknown word most of the same commands do act.
	if acted < runs/2 {
		t.Fatalf("only %d of %d plain commands acted: the generator says little", acted, runs)
	}
	t.Logf("%d of %d plain commands acted; none with an unknown word", acted, runs)
}

func FuzzUnknownWordNeverExecutes(f *testing.F) {
	for _, s := range []uint64{0, 1, 42, 1 << 40} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, seed uint64) { checkUnknownNeverExecutes(t, seed) })
}
