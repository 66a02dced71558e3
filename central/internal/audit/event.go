package audit

import (
	"context"
	"time"
)

// Record kinds. Intent records come from IntentService.Process; the others
// are security events.
const (
	KindIntent       = "intent"
	KindLogin        = "login"         // a successful login
	KindLoginFailed  = "login_failed"  // a refused login
	KindRefreshReuse = "refresh_reuse" // a used refresh token presented again; its family is revoked
	KindAccessDenied = "access_denied" // an authenticated caller refused by the policy
	KindAdmin        = "admin"         // an operator changed something
	KindInstance     = "instance"      // a Home Assistant container action
	KindRateLimited  = "rate_limited"  // a caller over its rate limit; detail "refused" counts the refusals
	KindPairing      = "pairing"       // a person approved or denied a device's pairing, or tried a wrong user code
)

// Outcomes.
const (
	OutcomeOK     = "ok"
	OutcomeDenied = "denied" // refused: bad credentials, the policy, a limit
	OutcomeFailed = "failed" // tried, without success (an intent: error_code says why)
	// OutcomeError is an intent the engine could not handle at all.
	OutcomeError = "error"
	// OutcomeRejected is an intent refused before the engine: bad input or
	// not the caller's home.
	OutcomeRejected = "rejected"
	// OutcomeRefused is an intent the engine would not act on: it names
	// what the home lacks, or the home's policy forbids it.
	OutcomeRefused = "refused"
	// OutcomeReplayed is a call answered from an earlier one with the same
	// idempotency key; the earlier call's record says what ran.
	OutcomeReplayed = "replayed"
)

// Event is what happened, as the code that saw it tells it: who (the
// caller), about which home or device, what (Kind and Action), with what
// outcome. An intent adds its Trace. Record turns it into the stored form.
type Event struct {
	Kind       string
	RequestID  string
	UserID     string // who acted
	HomeID     string
	DeviceID   string
	ClientAddr string // the address the request came from, if known
	Action     string // for example "SetUserDisabled" or "restart"
	Outcome    string
	Text       string // a short human description
	Detail     map[string]any
	Error      string
	Time       time.Time // zero: when it is written
	// Trace is how an intent was understood and carried out (KindIntent).
	Trace *Trace
}

// Trace is what an intent record adds to its event.
type Trace struct {
	Intent    string
	Slots     map[string]any
	Parser    string
	Executed  any // the service calls sent to the home
	Answer    any // what Home Assistant answered
	ParseUS   int64
	ResolveUS int64
	ExecuteUS int64
	TotalUS   int64
	LLMTokens int
}

// Record returns the audit record of e. A security event's action is stored
// in the intent column (so the intent filter finds it) and its details,
// with the client's address, in the slots.
func (e Event) Record() Record {
	r := Record{
		RequestID: e.RequestID, Kind: e.Kind, UserID: e.UserID, HomeID: e.HomeID, DeviceID: e.DeviceID,
		Text: e.Text, Outcome: e.Outcome, Error: e.Error, Time: e.Time,
	}
	if t := e.Trace; t != nil {
		r.Intent, r.Slots, r.Parser, r.Executed, r.Answer = t.Intent, t.Slots, t.Parser, t.Executed, t.Answer
		r.ParseUS, r.ResolveUS, r.ExecuteUS, r.TotalUS, r.LLMTokens = t.ParseUS, t.ResolveUS, t.ExecuteUS, t.TotalUS, t.LLMTokens
		return r
	}
	r.Intent, r.Slots = e.Action, e.Detail
	if e.ClientAddr != "" {
		r.Slots = make(map[string]any, len(e.Detail)+1)
		for k, v := range e.Detail {
			r.Slots[k] = v
		}
		r.Slots["client_addr"] = e.ClientAddr
	}
	return r
}

// Event commits the record of e; like Write it returns once committed.
func (w *Writer) Event(ctx context.Context, e Event) error {
	return w.Write(ctx, e.Record())
}
