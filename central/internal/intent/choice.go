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
	yes := yesWords[strings.Join(toks, " ")]
	if !ok && !yes {
		return Turn{}, nil, false
	}
	turns, err := e.lastTurn(ctx, req)
	// A question about several devices of one name lists no options:
	// "both" still answers it.
	if err != nil || len(turns) == 0 || len(turns[0].Options) == 0 && !turns[0].Matches {
		return Turn{}, nil, false
	}
	t := turns[0]
	var ids []string
	switch {
	case yes && !yesNo(t):
		return Turn{}, nil, false // "yes" does not say which of several
	case yes && (t.Device != req.DeviceID || e.opts.Now().Sub(t.At) > ConfirmWindow):
		// A bare "yes" may take a sensitive action: only from the device
		// that was asked, and only while the question is fresh.
		return Turn{}, nil, false
	case yes:
		ids = t.Options[0]
	case all && t.Matches:
		ids = t.Targets
	case all || len(t.Options) == 0:
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

// yesNo reports whether a question offered one option ("Do you mean the
// Shed Lock?"), which "yes" takes and "no" declines. A question about
// several matches of one name lists options too, but asks which.
func yesNo(t Turn) bool {
	return len(t.Options) == 1 && !t.Matches
}

// noWords decline what a yes/no question offered.
var noWords = map[string]bool{"no": true, "nope": true, "no thanks": true, "no thank you": true, "nah": true, "no dont": true}

// declined answers "no" to a question that offered one option: nothing is
// done, and a "yes" after it finds no question.
func (e *Engine) declined(ctx context.Context, req Request, resp Response) (Response, bool) {
	if req.ConversationID == "" {
		return resp, false
	}
	toks := strings.Fields(Normalize(req.Text))
	if len(toks) == 0 || len(toks) > 3 || !noWords[strings.Join(toks, " ")] {
		return resp, false
	}
	turns, err := e.lastTurn(ctx, req)
	if err != nil || len(turns) == 0 || !yesNo(turns[0]) {
		return resp, false
	}
	drop := Turn{Intent: Intent{Name: Nevermind}, At: e.opts.Now(), Device: req.DeviceID}
	if err := e.opts.Conversations.AddTurn(ctx, req.HomeID, req.ConversationID, drop, e.opts.ContextWindow); err != nil {
		e.log.WarnContext(ctx, "conversation turn not stored", "request_id", req.RequestID, "err", err)
	}
	resp.Intent = Intent{Name: Nevermind, Slots: map[string]any{}}
	resp.Success, resp.Speech = true, "OK, I left it"
	return resp, true
}

// choiceCommand reads a whole command that answers "which one?" by order
// ("turn off the second one", "set the first one to 30 percent"): the
// sentence is said again with the option it picks named, and the ids it
// picked are all it may act on. ok is false for any other sentence.
func (e *Engine) choiceCommand(ctx context.Context, req Request, reg *Index) (text string, ids []string, ok bool) {
	if req.ConversationID == "" {
		return "", nil, false
	}
	toks := strings.Fields(Normalize(req.Text))
	if len(toks) < 3 || len(toks) > 12 {
		return "", nil, false
	}
	i, j := ordinalPhrase(toks)
	if i < 0 || i == 0 && j == len(toks) {
		return "", nil, false // a bare answer is choice's
	}
	turns, err := e.lastTurn(ctx, req)
	if err != nil || len(turns) == 0 || len(turns[0].Options) == 0 {
		return "", nil, false
	}
	t := turns[0]
	switch k := places[toks[i+1]]; {
	case k < 0:
		ids = t.Options[len(t.Options)-1]
	case k < len(t.Options):
		ids = t.Options[k]
	default:
		return "", nil, false
	}
	var idx []int
	for _, id := range ids {
		if n, ok := reg.entityByID[id]; ok {
			idx = append(idx, n)
		}
	}
	if len(idx) == 0 {
		return "", nil, false
	}
	phrase := referencePhrase(chosenIntent(reg, t.Intent, idx))
	if phrase == "" {
		return "", nil, false
	}
	out := append(append(append(make([]string, 0, len(toks)+4), toks[:i]...), phrase), toks[j:]...)
	return strings.Join(out, " "), ids, true
}

// afterOrdinal are the words that may follow "the second" when it picks an
// option: "turn the second on"; "the first floor" names a floor instead.
var afterOrdinal = map[string]bool{"on": true, "off": true, "up": true, "down": true, "to": true, "back": true, "please": true, "too": true, "again": true}

// ordinalPhrase finds "the second (one)" in toks: its first token and the
// token after it, or -1.
func ordinalPhrase(toks []string) (i, j int) {
	for i = 0; i+1 < len(toks); i++ {
		if _, ok := places[toks[i+1]]; !ok || toks[i] != "the" {
			continue
		}
		j = i + 2
		switch {
		case j < len(toks) && toks[j] == "one":
			return i, j + 1
		case j == len(toks) || afterOrdinal[toks[j]]:
			return i, j
		}
	}
	return -1, -1
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
	if ok, err := e.sensitiveGate(ctx, req, reg, in, acted, calls, false, &resp); !ok || err != nil {
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
