package intent

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// A list and a question both leave more than one thing to refer back to:
// "them" after "turn off the lamp and the fan" is both, "it" is either,
// and "the second one" answers a "which one?" that listed its options.

// whichPart is what parse returns for "it" said after a list: the request
// as if it were about the first target, and the targets to choose from.
type whichPart struct {
	in    Intent
	parts []Part
}

func (w *whichPart) Error() string { return fmt.Sprintf("which of %d targets", len(w.parts)) }

func (w *whichPart) speech() string {
	names := make([]string, 0, len(w.parts))
	for _, p := range w.parts {
		names = append(names, strings.TrimPrefix(referencePhrase(p.Intent), "the "))
	}
	return "Sorry, which one do you mean: the " + joinOr(names) + "?"
}

// listReference reads a follow-up to a list. A plural pronoun says the
// sentence once for each target, as the list did; a singular one asks
// which target it was. Neither ever picks one target: a sentence that
// refers back but cannot be read so is not understood. ok is false for a
// sentence without a pronoun.
func listReference(ctx context.Context, parsers []namedParser, toks []string, reg *Index, pc Context, parts []Part) (in Intent, name string, err error, ok bool) {
	plain, one, several := plainPronouns(toks)
	if !one && !several {
		return Intent{}, "", nil, false
	}
	texts := make([]string, 0, len(parts))
	for _, p := range parts {
		text, ok := withReference(plain, p.Intent)
		if !ok {
			return Intent{}, "", ErrNoIntent, true
		}
		texts = append(texts, text)
	}
	for _, text := range texts {
		if in, name, err = parseWith(ctx, parsers, text, reg, pc); err == nil {
			break
		}
	}
	switch {
	case err != nil || one && several:
		return Intent{}, "", ErrNoIntent, true
	case several:
		return in, name, &SeveralTargets{Intent: in, Parts: texts}, true
	}
	return in, name, &whichPart{in: in, parts: parts}, true
}

// ordinals pick one option of a question by its place in the list.
var places = map[string]int{"first": 0, "second": 1, "third": 2, "fourth": 3, "last": -1}

// choiceFillers are the words around an answer: "the second one", "both
// of them please".
var choiceFillers = map[string]bool{"the": true, "one": true, "of": true, "them": true, "please": true, "just": true}

// choiceOf reads an answer that picks by place ("the first", "the second
// one") or takes every option ("both", "all of them").
func choiceOf(toks []string) (k int, all, ok bool) {
	var rest []string
	for _, t := range toks {
		if !choiceFillers[t] {
			rest = append(rest, t)
		}
	}
	if len(rest) != 1 {
		return 0, false, false
	}
	if rest[0] == "both" || rest[0] == "all" {
		return 0, true, true
	}
	k, ok = places[rest[0]]
	return k, false, ok
}

// choice returns the question a short answer picks from and the entities
// it picks. "Both" takes them all only when the question was about several
// matches of one request.
func (e *Engine) choice(ctx context.Context, req Request, reg *Index) (Turn, []int, bool) {
	if req.ConversationID == "" {
		return Turn{}, nil, false
	}
	toks := strings.Fields(Normalize(req.Text))
	if len(toks) == 0 || len(toks) > 5 {
		return Turn{}, nil, false
	}
	k, all, ok := choiceOf(toks)
	if !ok {
		return Turn{}, nil, false
	}
	turns, err := e.opts.Conversations.Turns(ctx, req.HomeID, req.ConversationID, 1, e.opts.Now().Add(-e.opts.ContextTTL))
	if err != nil || len(turns) == 0 || len(turns[0].Options) < 2 {
		return Turn{}, nil, false
	}
	t := turns[0]
	var ids []string
	switch {
	case all && t.Matches:
		ids = t.Targets
	case all:
		return Turn{}, nil, false
	case k < 0:
		ids = t.Options[len(t.Options)-1]
	case k < len(t.Options):
		ids = t.Options[k]
	default:
		return Turn{}, nil, false
	}
	var idx []int
	for _, id := range ids {
		if i, ok := reg.entityByID[id]; ok {
			idx = append(idx, i)
		}
	}
	return t, idx, len(idx) > 0
}

// chosen does what was asked on the entities an answer picked, answering
// as for the request itself. Several entities that open the home are asked
// for one at a time.
func (e *Engine) chosen(ctx context.Context, req Request, reg *Index, t Turn, idx []int, resp Response) (Response, error) {
	in := chosenIntent(reg, t.Intent, idx)
	resp.Intent = in
	row := entry(in.Name)
	if row.Kind == KindQuery {
		e.remember(ctx, req, resp.ConversationID, Turn{Intent: in}, reg, idx)
		return e.answer(reg, in, req.Text, idx, resp), nil
	}
	if row.Kind != KindAction {
		resp.ErrorCode, resp.Speech = CodeFailed, "Sorry, I can't do that yet"
		return resp, nil
	}
	calls, acted, err := buildCalls(reg, in, idx)
	if err != nil {
		return resp, err
	}
	if len(calls) == 0 {
		resp.ErrorCode, resp.Speech = CodeNoMatch, "Sorry, none of those devices can do that"
		return resp, nil
	}
	if sens := sensitiveTargets(reg, calls); len(acted) > 1 && len(sens) > 0 {
		// The question stays the newest turn, for an answer naming one.
		resp.ErrorCode, resp.Speech = CodeAmbiguous, whichOneSpeech(reg, sens)
		return resp, nil
	}
	// Stored before the gate, which may store a pending action after it.
	e.remember(ctx, req, resp.ConversationID, Turn{Intent: in}, reg, idx)
	if ok, err := e.sensitiveGate(ctx, req, reg, in, acted, calls, &resp); !ok || err != nil {
		return resp, err
	}
	return e.act(ctx, req, reg, in, calls, acted, resp)
}

// chosenIntent is the asked intent said of the chosen entities: by their
// name, and by their place where the name alone means more.
func chosenIntent(reg *Index, in Intent, idx []int) Intent {
	slots := make(map[string]any, len(in.Slots)+1)
	for k, v := range in.Slots {
		slots[k] = v
	}
	delete(slots, "area")
	delete(slots, "floor")
	name, area := reg.entities[idx[0]].GetName(), reg.entityAreaName(idx[0])
	for _, i := range idx[1:] {
		if reg.entities[i].GetName() != name {
			name = ""
		}
		if reg.entityAreaName(i) != area {
			area = ""
		}
	}
	switch {
	case name != "":
		slots["name"] = name
		if area != "" && len(reg.EntitiesNamed(name)) > len(idx) {
			slots["area"] = area
		}
	default:
		if !strings.EqualFold(in.Slot("name"), NameAll) {
			delete(slots, "name")
		}
		if area != "" {
			slots["area"] = area
		}
	}
	return Intent{Name: in.Name, Slots: slots}
}

// asWhichPart reports whether err asks which target of a list was meant.
func asWhichPart(err error) (*whichPart, bool) {
	var w *whichPart
	ok := errors.As(err, &w)
	return w, ok
}

// entityIDs are the entity ids of idx, at most 50.
func entityIDs(reg *Index, idx []int) []string {
	ids := make([]string, 0, min(len(idx), 50))
	for _, i := range idx[:min(len(idx), 50)] {
		ids = append(ids, reg.entities[i].GetEntityId())
	}
	return ids
}
