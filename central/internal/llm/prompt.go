package llm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/homeplane/homeplane/central/internal/intent"
)

// offered are the catalogue's intents a model may answer, with what each
// is for.
var offered = func() []intent.Entry {
	var out []intent.Entry
	for _, e := range intent.Catalogue() {
		if e.Use != "" {
			out = append(out, e)
		}
	}
	return out
}()

var intentNames = func() []string {
	out := make([]string, 0, len(offered)+1)
	for _, e := range offered {
		out = append(out, string(e.Name))
	}
	return append(out, "none")
}()

func nullable(t string) map[string]any { return map[string]any{"type": []string{t, "null"}} }

// answerSchema is the JSON schema of the model's answer. Every property is
// required and nullable, as strict structured output demands.
var answerSchema = func() map[string]any {
	props := map[string]any{
		"intent":     map[string]any{"type": "string", "enum": intentNames},
		"entity_ids": map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
	}
	for _, s := range stringSlots {
		props[s] = nullable("string")
	}
	for _, s := range numberSlots {
		props[s.Name] = nullable("number")
	}
	req := make([]string, 0, len(props))
	for k := range props {
		req = append(req, k)
	}
	slices.Sort(req)
	return map[string]any{"type": "object", "properties": props, "required": req, "additionalProperties": false}
}()

var stringSlots = []string{"area", "floor", "domain", "device_class", "state", "color", "timer_name", "item", "search_query", "media_class", "message"}

var numberSlots = intent.NumberSlots

// AnswerJSON is a model's answer in the schema the model is given: the
// intent "none" and no entity ids unless fields say otherwise, every other
// field null. Test servers that stand in for a model answer with it, so the
// schema's fields are listed in one place.
func AnswerJSON(fields map[string]any) string {
	full := map[string]any{"intent": "none", "entity_ids": []string{}}
	for _, s := range stringSlots {
		full[s] = nil
	}
	for _, n := range numberSlots {
		full[n.Name] = nil
	}
	maps.Copy(full, fields)
	b, err := json.Marshal(full)
	if err != nil {
		panic(err) // fields of plain values always encode
	}
	return string(b)
}

// maxPromptBytes bounds the home's part of a prompt: a few hundred
// entities with their names and aliases fit; what is past it is not listed.
const maxPromptBytes = 128 << 10

// systemPrompt tells the model its task, the intents and the home.
func systemPrompt(reg *intent.Index, maxEntities int) string {
	var b strings.Builder
	b.WriteString("You turn what a person says to their smart home into one intent, as JSON following the given schema.\n")
	b.WriteString("Use only entity ids, areas and floors listed below; never invent one. Put the entity ids the sentence names in entity_ids; ")
	b.WriteString("for a kind of device in a place (\"the kitchen lights\") leave entity_ids empty and fill area or floor and domain. ")
	b.WriteString("States are Home Assistant values (on, off, open, closed, locked, unlocked, home). Unused fields are null. ")
	b.WriteString("If the sentence is not something for the home, answer intent \"none\".\nIntents:\n")
	for _, e := range offered {
		fmt.Fprintf(&b, "- %s: %s\n", e.Name, e.Use)
	}
	// The home is listed up to maxPromptBytes: names synced by an agent
	// must not make every sentence's prompt a mebibyte (ADR 0053).
	limit := b.Len() + maxPromptBytes
	b.WriteString("Floors: ")
	for i, f := range reg.Floors() {
		if b.Len() > limit {
			fmt.Fprintf(&b, "; (%d more not listed)", len(reg.Floors())-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.GetName())
	}
	b.WriteString("\nAreas: ")
	for i, a := range reg.Areas() {
		if b.Len() > limit {
			fmt.Fprintf(&b, "; (%d more not listed)", len(reg.Areas())-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(a.GetName())
		if len(a.GetAliases()) > 0 {
			fmt.Fprintf(&b, " (also %s)", strings.Join(a.GetAliases(), ", "))
		}
	}
	b.WriteString("\nEntities (id | name | area | state):\n")
	for i, e := range reg.Entities() {
		if i == maxEntities || b.Len() > limit {
			fmt.Fprintf(&b, "(%d more not listed)\n", len(reg.Entities())-i)
			break
		}
		name := e.GetName()
		if len(e.GetAliases()) > 0 {
			name += " (also " + strings.Join(e.GetAliases(), ", ") + ")"
		}
		fmt.Fprintf(&b, "%s | %s | %s | %s\n", e.GetEntityId(), name, reg.AreaName(e.GetAreaId()), e.GetState())
	}
	return b.String()
}

// maxFreeText bounds a free-text slot taken from the model.
const maxFreeText = 200

// decodeAnswer checks the model's JSON against the schema and the registry
// and turns it into an intent.
func decodeAnswer(content string, reg *intent.Index, pc intent.Context) (intent.Intent, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(strings.TrimSpace(content))))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return intent.Intent{}, fmt.Errorf("%w: not a JSON object: %v", ErrInvalidOutput, err)
	}
	name, _ := raw["intent"].(string)
	if name == "none" {
		return intent.Intent{}, intent.ErrNoIntent
	}
	if !slices.Contains(intentNames, name) {
		return intent.Intent{}, fmt.Errorf("%w: unknown intent %q", ErrInvalidOutput, name)
	}
	slots := map[string]any{}
	for k, v := range raw {
		switch {
		case k == "intent" || k == "entity_ids" || v == nil:
		case slices.Contains(stringSlots, k):
			s, ok := v.(string)
			if !ok || len(s) > maxFreeText {
				return intent.Intent{}, fmt.Errorf("%w: %s must be a short string", ErrInvalidOutput, k)
			}
			if s = strings.TrimSpace(s); s != "" {
				slots[k] = s
			}
		default:
			spec := slices.IndexFunc(numberSlots, func(n intent.NumberSlot) bool { return n.Name == k })
			num, ok := v.(json.Number)
			if spec < 0 || !ok {
				return intent.Intent{}, fmt.Errorf("%w: unexpected field %q", ErrInvalidOutput, k)
			}
			f, err := num.Float64()
			if err != nil || !intent.NumberInRange(k, f) {
				return intent.Intent{}, fmt.Errorf("%w: %s out of range", ErrInvalidOutput, k)
			}
			if f == math.Trunc(f) {
				slots[k] = int(f)
			} else {
				slots[k] = f
			}
		}
	}
	if n, ok := slots["timer_name"]; ok {
		slots["name"] = n
		delete(slots, "timer_name")
	}
	if a, ok := slots["area"].(string); ok {
		area, found := reg.AreaByName(a)
		if !found {
			return intent.Intent{}, fmt.Errorf("%w: no area %q in this home", ErrInvalidOutput, a)
		}
		slots["area"] = area.GetName()
	}
	if f, ok := slots["floor"].(string); ok {
		floor, found := reg.FloorByName(f)
		if !found {
			return intent.Intent{}, fmt.Errorf("%w: no floor %q in this home", ErrInvalidOutput, f)
		}
		slots["floor"] = floor.GetName()
	}
	ids, err := entityIDs(raw["entity_ids"])
	if err != nil {
		return intent.Intent{}, err
	}
	for _, id := range ids {
		if _, ok := reg.EntityByID(id); !ok {
			return intent.Intent{}, fmt.Errorf("%w: no entity %q in this home", ErrInvalidOutput, id)
		}
	}
	switch {
	case len(ids) == 1:
		e, _ := reg.EntityByID(ids[0])
		if _, isTimer := slots["name"]; isTimer {
			return intent.Intent{}, fmt.Errorf("%w: a timer name and an entity", ErrInvalidOutput)
		}
		slots["name"] = e.GetName()
		delete(slots, "area")
		delete(slots, "floor")
	case len(ids) > 1 && slots["area"] == nil && slots["floor"] == nil && slots["domain"] == nil:
		return intent.Intent{}, fmt.Errorf("%w: several entities without a place or domain", ErrInvalidOutput)
	}
	if slots["area"] == nil && slots["floor"] == nil && slots["name"] == nil && slots["domain"] != nil && pc.Area != "" && intent.NeedsTarget(intent.Name(name)) {
		slots["area"] = pc.Area
	}
	return intent.Intent{Name: intent.Name(name), Slots: slots}, nil
}

func entityIDs(v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok || len(list) > 50 {
		return nil, fmt.Errorf("%w: entity_ids must be a short list", ErrInvalidOutput)
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("%w: entity_ids must hold strings", ErrInvalidOutput)
		}
		out = append(out, s)
	}
	return out, nil
}
