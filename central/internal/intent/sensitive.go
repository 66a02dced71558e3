package intent

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// A sensitive action opens the home: unlocking a lock, opening a garage
// door, door, gate or valve, disarming an alarm. It runs only on a target
// named exactly, and each home says whether voice devices may do it at all.

// SensitivePolicy is what a home lets voice devices do with sensitive
// actions.
type SensitivePolicy string

// Policies a home can choose.
const (
	// PolicyAllow runs sensitive actions like any other (the default).
	PolicyAllow SensitivePolicy = "allow"
	// PolicyConfirm asks first; the device must answer "yes" in the same
	// conversation within ConfirmWindow.
	PolicyConfirm SensitivePolicy = "confirm"
	// PolicyDeny refuses them from voice devices.
	PolicyDeny SensitivePolicy = "deny"
)

// Valid reports whether p is one of the policies.
func (p SensitivePolicy) Valid() bool {
	return p == PolicyAllow || p == PolicyConfirm || p == PolicyDeny
}

// ConfirmWindow is how long a sensitive action waits for its "yes".
const ConfirmWindow = 30 * time.Second

// CodeConfirm is the error code of an answer that asks the device to
// confirm a sensitive action; nothing was executed yet.
const CodeConfirm = "confirm"

// SensitivePolicies tells each home's policy for sensitive actions.
type SensitivePolicies interface {
	SensitivePolicy(ctx context.Context, homeID string) (SensitivePolicy, error)
}

// sensitiveCoverClasses are the covers whose opening lets someone in.
var sensitiveCoverClasses = map[string]bool{"garage": true, "door": true, "gate": true}

// Guarded reports whether the engine itself asks which one before opening
// several entities of that domain and device class: a parser can leave the
// question to it.
func Guarded(domain, deviceClass string) bool {
	switch domain {
	case "lock", "valve", "alarm_control_panel":
		return true
	case "cover":
		return sensitiveCoverClasses[deviceClass]
	}
	return false
}

// isSensitive reports whether calling service on e opens the home.
func isSensitive(domain, service string, e *homeplanev1.Entity) bool {
	switch domain {
	case "lock":
		return service != "lock"
	case "valve":
		return service != "close_valve" && service != "stop_valve"
	case "cover":
		return sensitiveCoverClasses[e.GetDeviceClass()] && service != "close_cover" && service != "stop_cover"
	case "alarm_control_panel":
		return strings.HasPrefix(service, "alarm_disarm") || service == "toggle"
	}
	return false
}

// sensitiveTargets returns the entities of calls whose action is
// sensitive.
func sensitiveTargets(reg *Index, calls []*homeplanev1.ServiceCall) []int {
	var out []int
	for _, c := range calls {
		for _, id := range c.GetEntityIds() {
			i, ok := reg.entityByID[id]
			if ok && isSensitive(c.GetDomain(), c.GetService(), reg.entities[i]) {
				out = append(out, i)
			}
		}
	}
	return out
}

// allWords say that every device of a kind is meant: "unlock all the doors".
// "Everything" names no kind: in "unlock everything" only the verb does.
var allWords = map[string]bool{"all": true, "every": true, "each": true, "both": true}

// exactTarget reports whether a sensitive action was asked for exactly: one
// entity by name, every entity of a kind said with "all", or a kind and
// place that hold nothing but the one entity.
func exactTarget(in Intent, text string, acted, sensitive []int) bool {
	if n := in.Slot("name"); n != "" && !strings.EqualFold(n, NameAll) {
		return len(acted) == 1
	}
	kind := in.Slot("domain") != "" || in.Slot("device_class") != ""
	if !kind {
		return false
	}
	toks := strings.Fields(Normalize(text))
	if in.Slot("domain") == "cover" && in.Slot("device_class") == "" && !slices.Contains(toks, "cover") && !slices.Contains(toks, "covers") {
		return false // "open the garage": the verb, not the sentence, said what opens
	}
	for _, t := range toks {
		if allWords[t] {
			return true
		}
	}
	return len(acted) == 1 && len(sensitive) == 1
}

// whichOneSpeech asks which of the entities a sensitive action meant.
func whichOneSpeech(reg *Index, idx []int) string {
	s, _ := whichOne(reg, idx)
	return s
}

// whichOne asks which of the entities a sensitive action meant, and
// returns the entities of each name it listed.
func whichOne(reg *Index, idx []int) (string, [][]int) {
	names, groups := options(idx, func(i int) string {
		if n := reg.entities[i].GetName(); n != "" {
			return n
		}
		return reg.entities[i].GetEntityId()
	})
	if len(names) == 1 {
		// The one option is kept, for "yes" to take it.
		return fmt.Sprintf("Sorry, I only do that when you name it. Do you mean the %s?", names[0]), groups
	}
	return fmt.Sprintf("Sorry, which one do you mean: the %s?", joinOr(names)), groups
}

// confirmSpeech asks the device to confirm a sensitive action.
func confirmSpeech(reg *Index, idx []int) string {
	var names []string
	for _, i := range idx[:min(len(idx), 4)] {
		names = append(names, "the "+reg.entities[i].GetName())
	}
	return fmt.Sprintf("This opens %s. Say yes to go ahead.", strings.Join(names, " and "))
}

// yesWords confirm a pending sensitive action; anything else drops it.
var yesWords = map[string]bool{
	"yes": true, "yes please": true, "yeah": true, "yep": true, "sure": true, "do it": true,
	"go ahead": true, "confirm": true, "confirmed": true, "yes do it": true, "yes go ahead": true, "ok": true, "okay": true,
}

// sensitiveGate decides whether the sensitive calls of a request may run
// now. It returns ok true to run them; otherwise resp holds the answer.
//
// guessed marks a target the sentence did not name but was read from the
// conversation ("and the kitchen" after the front door is the kitchen's
// one lock): it is asked back like a model's choice.
func (e *Engine) sensitiveGate(ctx context.Context, req Request, reg *Index, in Intent, acted []int, calls []*homeplanev1.ServiceCall, guessed bool, resp *Response) (ok bool, err error) {
	sens := sensitiveTargets(reg, calls)
	if len(sens) == 0 {
		return true, nil
	}
	// A model or plugin may have been steered by the sentence, a name or
	// its own mistake into a target nobody said: what it chose is asked
	// back, and runs only on a "yes" from the device that asked.
	guessed = guessed || resp.Parser != "" && resp.Parser != e.opts.ParserName
	if guessed || !exactTarget(in, req.Text, acted, sens) {
		// The question is the newest turn: "the first one" answers it.
		var options [][]int
		resp.ErrorCode = CodeAmbiguous
		resp.Speech, options = whichOne(reg, sens)
		// A "yes" to "Do you mean the X?" is bound like a confirmation:
		// the same device, within ConfirmWindow.
		asked := Turn{Intent: in, Device: req.DeviceID}
		for _, o := range options {
			asked.Options = append(asked.Options, entityIDs(reg, o))
		}
		e.remember(ctx, req, resp.ConversationID, asked, reg, nil)
		return false, nil
	}
	if req.DeviceID == "" || e.opts.Policies == nil {
		return true, nil // the owner's own token; policies bind voice devices
	}
	p, err := e.opts.Policies.SensitivePolicy(ctx, req.HomeID)
	if err != nil {
		return false, fmt.Errorf("sensitive policy: %w", err)
	}
	switch p {
	case PolicyDeny:
		resp.ErrorCode, resp.Speech = CodeRefused, "Sorry, this home does not allow that by voice"
		return false, nil
	case PolicyConfirm:
		ids := make([]string, 0, len(acted))
		for _, i := range acted {
			ids = append(ids, reg.entities[i].GetEntityId())
		}
		t := Turn{Intent: in, Targets: ids, At: e.opts.Now(), Pending: true, Device: req.DeviceID}
		if err := e.opts.Conversations.AddTurn(ctx, req.HomeID, resp.ConversationID, t, e.opts.ContextWindow); err != nil {
			return false, fmt.Errorf("store pending action: %w", err)
		}
		resp.ErrorCode, resp.Speech = CodeConfirm, confirmSpeech(reg, sens)
		return false, nil
	}
	return true, nil
}

// pendingAction returns the sensitive action a short answer confirms, if the
// conversation's last turn waits for one from this device. Any other short
// answer drops the pending action.
func (e *Engine) pendingAction(ctx context.Context, req Request) (Turn, bool) {
	if req.ConversationID == "" {
		return Turn{}, false
	}
	toks := strings.Fields(Normalize(req.Text))
	if len(toks) == 0 || len(toks) > 4 {
		return Turn{}, false
	}
	turns, err := e.opts.Conversations.Turns(ctx, req.HomeID, req.ConversationID, 1, e.opts.Now().Add(-ConfirmWindow))
	if err != nil || len(turns) == 0 || !turns[0].Pending || turns[0].Device != req.DeviceID {
		return Turn{}, false
	}
	if yesWords[strings.Join(toks, " ")] {
		// Used once: a second "yes" finds a done turn.
		done := Turn{Intent: turns[0].Intent, Targets: turns[0].Targets, At: e.opts.Now(), Device: req.DeviceID}
		if err := e.opts.Conversations.AddTurn(ctx, req.HomeID, req.ConversationID, done, e.opts.ContextWindow); err != nil {
			return Turn{}, false
		}
		return turns[0], true
	}
	drop := Turn{Intent: Intent{Name: Nevermind}, At: e.opts.Now(), Device: req.DeviceID}
	_ = e.opts.Conversations.AddTurn(ctx, req.HomeID, req.ConversationID, drop, e.opts.ContextWindow)
	return Turn{}, false
}
