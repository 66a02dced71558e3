package rules

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/homeplane/homeplane/central/internal/intent"
)

// minDevAccuracy is the exact (intent + slots) accuracy the parser must keep
// on the development set.
const minDevAccuracy = 1.0

// minSetAccuracy is the floor on each set written apart from the
// development set (testdata/).
const minSetAccuracy = 0.99

type evalLine struct {
	Text        string         `json:"text"`
	Intent      string         `json:"intent"`
	Slots       map[string]any `json:"slots"`
	Context     map[string]any `json:"context"`
	ContextArea bool           `json:"context_area"`
}

func evalDir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("HOMEPLANE_INTENT_EVAL_DIR")
	if dir == "" {
		dir = filepath.Join("testdata", "ha-dev") // the copy kept in the repository
	}
	if _, err := os.Stat(filepath.Join(dir, "dev.jsonl")); err != nil {
		if os.Getenv("HOMEPLANE_REQUIRE_SERVICES") == "1" {
			tb.Fatalf("intent evaluation set not found in %s (set HOMEPLANE_INTENT_EVAL_DIR): %v", dir, err)
		}
		tb.Skipf("intent evaluation set not found in %s (set HOMEPLANE_INTENT_EVAL_DIR); skipping", dir)
	}
	return dir
}

func loadEval(tb testing.TB, dir string) (*intent.Index, []evalLine) {
	tb.Helper()
	reg, err := intent.LoadFixtureFile(filepath.Join(dir, "fixtures.json"))
	if err != nil {
		tb.Fatal(err)
	}
	return reg, readLines(tb, filepath.Join(dir, "dev.jsonl"))
}

func readLines(tb testing.TB, path string) []evalLine {
	tb.Helper()
	g, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer g.Close()
	var lines []evalLine
	sc := bufio.NewScanner(g)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var l evalLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return lines
}

func TestDevSet(t *testing.T) {
	dir := evalDir(t)
	reg, lines := loadEval(t, dir)
	runEval(t, reg, lines, minDevAccuracy)
}

// sentenceSets are the sets written apart from the development set. An
// empty home means the development home.
var sentenceSets = []struct {
	name, file, home, what string
}{
	{"paraphrase", "paraphrase.jsonl", "", "other phrasings, word orders and number forms"},
	{"cottage", "cottage.jsonl", "cottage_home.json", "a second home with other names, aliases and floors"},
	{"phrasing", "phrasing.jsonl", "", "request frames, word orders, number words, \"in here\""},
	{"townhouse", "townhouse.jsonl", "townhouse_home.json", "names that hold digits, repeat across rooms or overlap areas"},
	{"coverage", "coverage.jsonl", "", "every kind of request the development home's categories hold"},
	{"farmhouse", "farmhouse.jsonl", "farmhouse_home.json", "floor aliases, every sensor, cover and valve class, several players"},
	{"robustness", "robustness.jsonl", "", "speech as recognised: fillers, false starts, units, British words"},
	{"flat", "flat.jsonl", "flat_home.json", "names that collide with words and areas, or hold apostrophes"},
	{"condo", "condo.jsonl", "condo_home.json", "an American condo: floor and area aliases, people, sensors that name their measure"},
	{"mixed", "mixed.jsonl", "", "what people say to the development home beyond its lines"},
	{"semi", "semi.jsonl", "semi_home.json", "a British semi: three floors with aliases, radiators, people, number words"},
	{"everyday", "everyday.jsonl", "", "indirect questions and recogniser-style speech to the development home"},
	{"loft", "loft.jsonl", "loft_home.json", "a shared city loft: fans, players, valves, a humidifier, names that are words or rooms"},
	{"family", "family.jsonl", "family_home.json", "a family house: kids' rooms by name, a name in two rooms, garage doors, pool, sprinklers, thermostats"},
	{"barn", "barn.jsonl", "barn_home.json", "a holiday barn with an annex and workshop: farm room names, a lamp named after another room, a key safe, a stopcock"},
	{"duplex", "duplex.jsonl", "duplex_home.json", "a two-level city duplex of flatmates with an office and a recording studio: rooms named with common words (Booth, Landing, Loft, Nook, Up), names holding intent words, dwelling words for the whole home"},
	{"narrowboat", "narrowboat.jsonl", "narrowboat_home.json", "a live-aboard canal narrowboat: areas that are nouns (Roof, Bow, Stern, a Cabin that is the bedroom, the head), sides and parts of a boat as names (Port Light, Fore, Aft, Head Light beside the Headlight), tanks, batteries, shore power, a gas valve"},
	{"villa", "villa.jsonl", "villa_home.json", "a two-storey villa with a pool and garden: a Bedroom, a Bathroom and a Hall on each floor with devices of the same names, floors said as upstairs and downstairs, a pool heater beside thermostats, irrigation valves, a driveway gate, a garage door, two locks"},
	{"guesthouse", "guesthouse.jsonl", "guesthouse_home.json", "a family-run guesthouse: guest rooms by number (Room 1 .. Room 6) with devices that carry or hold numbers (Room 2 Lamp, Light 2 in Room 4), family rooms by name with and without the possessive, a reception lock and sign, guest room door locks, a dryer, fans, blinds, heaters per room"},
	{"followup-narrowboat", "followup_narrowboat.jsonl", "narrowboat_home.json", "follow-ups after the narrowboat: a heater or radiator set by kind, the battery level, how much diesel or water is left"},
	{"followup-semi", "followup_semi.jsonl", "semi_home.json", "follow-ups after the narrowboat: radiators and heaters by kind, a battery's charge"},
	{"followup-family", "followup_family.jsonl", "family_home.json", "follow-ups after the narrowboat: heaters and radiators by kind over thermostats, the battery level"},
	{"followup-loft", "followup_loft.jsonl", "loft_home.json", "follow-ups after the narrowboat: a radiator or heater by kind beside a heat pump"},
	{"followup-barn", "followup_barn.jsonl", "barn_home.json", "follow-ups after the narrowboat: how much oil is left"},
	{"followup-farmhouse", "followup_farmhouse.jsonl", "farmhouse_home.json", "follow-ups after the narrowboat: how much water is left"},
}

// TestSentenceSets scores each set against its home: language the parser
// was not written from, in homes it was not written for.
func TestSentenceSets(t *testing.T) {
	for _, set := range sentenceSets {
		t.Run(set.name, func(t *testing.T) {
			var reg *intent.Index
			if set.home == "" {
				reg, _ = loadEval(t, evalDir(t))
			} else {
				reg = loadHome(t, set.home)
			}
			t.Logf("%s: %s", set.file, set.what)
			runEval(t, reg, readLines(t, filepath.Join("testdata", set.file)), minSetAccuracy)
		})
	}
}

// minHeldOutAccuracy is the floor on the held-out sets written apart from
// the parser and scored before their fixes: the bungalow of issue 13 (0.681
// then), the shared house of ADR 0058 (0.890 then) and the house with a
// pool of ADR 0060 (0.832 then).
const minHeldOutAccuracy = 0.95

// heldOutSets are the sets held out at minHeldOutAccuracy.
var heldOutSets = []struct{ file, home, what string }{
	{"bungalow.jsonl", "bungalow_home.json", "issue 13's bungalow"},
	{"sharehouse.jsonl", "sharehouse_home.json", "a student shared house: five tenants' bedroom doors as locks named after them (Priya's Door, Tom's Lock), their lights and radiator valves, a shared kitchen, lounge and bathroom with an extractor fan, a heated towel rail, a washing machine plug, a smart meter, a doorbell camera, a hallway motion light, a games console"},
	{"pool.jsonl", "pool_home.json", "a detached family house with a pool and a garden: a driveway gate and two garage doors with aliases (car door, van door), a house alarm, three door locks beside a back door contact sensor, lawn and greenhouse irrigation valves, a pool pump and a pool heater as a water heater, a pool temperature sensor, a sauna, an EV charger with its power sensor, solar and a home battery, a greenhouse fan and humidity, garden lights, a driveway camera"},
	{"terrace.jsonl", "terrace_home.json", "a terraced family house on three floors: a nursery (night light, white noise machine, temperature, humidity, baby monitor, radiator), a loft office (desk lamp, monitor and printer plugs, a heater), a conservatory ceiling fan with its light and roof blinds, a utility room (tumble dryer and its power, freezer temperature, a dehumidifier), an aquarium (heater, filter pump, light), a cat flap lock and a pet feeder button, a robot lawn mower, a fireplace, a doorbell camera, a front door lock, radiators per room, a speaker group"},
}

func TestHeldOutSet(t *testing.T) {
	for _, set := range heldOutSets {
		t.Run(strings.TrimSuffix(set.file, ".jsonl"), func(t *testing.T) {
			t.Logf("%s: %s", set.file, set.what)
			runEval(t, loadHome(t, set.home), readLines(t, filepath.Join("testdata", set.file)), minHeldOutAccuracy)
		})
	}
}

func loadHome(tb testing.TB, file string) *intent.Index {
	tb.Helper()
	reg, err := intent.LoadFixtureFile(filepath.Join("testdata", file))
	if err != nil {
		tb.Fatal(err)
	}
	return reg
}

func runEval(t *testing.T, reg *intent.Index, lines []evalLine, minAccuracy float64) {
	t.Helper()
	p := New(Options{})
	type stat struct{ n, intent, exact int }
	stats := map[string]*stat{}
	total := stat{}
	var wrong []string
	for _, l := range lines {
		pc := intent.Context{}
		if a, ok := l.Context["area"].(string); ok {
			pc.Area = a
		}
		got, err := p.Parse(context.Background(), l.Text, reg, pc)
		var unknown *intent.UnknownError
		var several *intent.SeveralTargets
		switch {
		case errors.As(err, &unknown):
			// A refusal of what the home has is a miss.
			got = intent.Intent{Name: "refused", Slots: map[string]any{"unknown": unknown.Words}}
		case errors.As(err, &several):
			got = intent.Intent{Name: "several", Slots: map[string]any{"parts": several.Parts}}
		case err != nil && !errors.Is(err, intent.ErrNoIntent):
			t.Fatalf("%q: %v", l.Text, err)
		}
		s := stats[l.Intent]
		if s == nil {
			s = &stat{}
			stats[l.Intent] = s
		}
		s.n++
		total.n++
		intentOK := strings.EqualFold(string(got.Name), l.Intent)
		exact := intentOK && slotsMatch(l.Slots, got.Slots, l.ContextArea)
		if intentOK {
			s.intent++
			total.intent++
		}
		if exact {
			s.exact++
			total.exact++
		} else {
			gs, _ := json.Marshal(l.Slots)
			ps, _ := json.Marshal(got.Slots)
			wrong = append(wrong, fmt.Sprintf("%q\n    gold: %s %s ctx=%v\n    pred: %s %s", l.Text, l.Intent, gs, l.Context, got.Name, ps))
		}
	}
	names := make([]string, 0, len(stats))
	for k := range stats {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		if stats[names[i]].n != stats[names[j]].n {
			return stats[names[i]].n > stats[names[j]].n
		}
		return names[i] < names[j]
	})
	var b strings.Builder
	fmt.Fprintf(&b, "%-30s %5s %10s %9s\n", "intent", "n", "intent_acc", "exact_acc")
	for _, k := range names {
		s := stats[k]
		fmt.Fprintf(&b, "%-30s %5d %10.3f %9.3f\n", k, s.n, float64(s.intent)/float64(s.n), float64(s.exact)/float64(s.n))
	}
	acc := float64(total.exact) / float64(total.n)
	fmt.Fprintf(&b, "%-30s %5d %10.3f %9.3f\n", "OVERALL", total.n, float64(total.intent)/float64(total.n), acc)
	t.Log("\n" + b.String())
	if testing.Verbose() || acc < minAccuracy {
		for _, w := range wrong {
			t.Log(w)
		}
	}
	if acc < minAccuracy {
		t.Fatalf("exact accuracy %.3f below %.3f", acc, minAccuracy)
	}
}

// slotsMatch compares slots the way the evaluation set's scorer does.
func slotsMatch(gold, pred map[string]any, contextArea bool) bool {
	g := map[string]any{}
	for k, v := range gold {
		g[strings.ToLower(strings.TrimSpace(k))] = v
	}
	p := map[string]any{}
	for k, v := range pred {
		if isEmpty(v) {
			continue
		}
		p[strings.ToLower(strings.TrimSpace(k))] = v
	}
	if _, ok := g["area"]; contextArea && !ok {
		delete(p, "area")
	}
	if len(g) != len(p) {
		return false
	}
	for k, gv := range g {
		pv, ok := p[k]
		if !ok {
			return false
		}
		okSet := map[string]bool{}
		if list, isList := gv.([]any); isList {
			for _, x := range list {
				okSet[normValue(x)] = true
			}
		} else {
			okSet[normValue(gv)] = true
		}
		if !okSet[normValue(pv)] {
			return false
		}
	}
	return true
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(x) == ""
	}
	return false
}

func normValue(v any) string {
	var f float64
	switch x := v.(type) {
	case bool:
		return strconv.FormatBool(x)
	case int:
		f = float64(x)
	case float64:
		f = x
	default:
		s := strings.Join(strings.Fields(strings.ToLower(fmt.Sprint(x))), " ")
		for _, a := range []string{"'", "\u2019", "\u2018", "`"} {
			s = strings.ReplaceAll(s, a, "")
		}
		pf, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(pf) || math.IsInf(pf, 0) {
			return s
		}
		f = pf
	}
	if f == math.Trunc(f) {
		return strconv.FormatFloat(f, 'f', 0, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
