package audit

import (
	"context"
	"net/netip"
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
	KindOverloaded   = "overloaded"    // sentences shed while central was overloaded; detail "refused" counts them
)

// Kinds lists every record kind, for pickers such as the dashboard's.
var Kinds = []string{KindIntent, KindAdmin, KindLogin, KindLoginFailed, KindRefreshReuse, KindAccessDenied,
	KindInstance, KindRateLimited, KindPairing, KindOverloaded}

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
	ClientAddr netip.Addr // the address the request came from, if known
	Action     string     // for example "SetUserDisabled" or "restart"
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

// Record returns the audit record of e: an intent's trace goes to the
// intent columns, a security event's action, details and client address to
// their own.
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
	r.Action, r.Detail, r.ClientAddr = e.Action, e.Detail, e.ClientAddr
	return r
}

// legacyAddrKey is the slot that held a security event's client address in
// records written before Record had a ClientAddr.
const legacyAddrKey = "client_addr"

// Security returns the action, details and client address of a security
// event, whichever shape r was stored in: records written before Action,
// Detail and ClientAddr existed keep them in Intent and Slots, and cannot be
// moved without breaking their hashes (ADR 0029). An intent record has none.
func (r Record) Security() (action string, detail map[string]any, addr netip.Addr) {
	switch {
	case r.Kind == KindIntent:
		return "", nil, netip.Addr{}
	case r.hasSecurityFields():
		return r.Action, r.Detail, r.ClientAddr
	}
	raw, _ := r.Slots[legacyAddrKey].(string)
	addr, err := netip.ParseAddr(raw)
	if err != nil {
		// None, or not an address after all: leave it among the details.
		return r.Intent, r.Slots, netip.Addr{}
	}
	for k, v := range r.Slots {
		if k == legacyAddrKey {
			continue
		}
		if detail == nil {
			detail = make(map[string]any, len(r.Slots)-1)
		}
		detail[k] = v
	}
	return r.Intent, detail, addr
}

// Shown returns the intent and slots as the API and the dashboard have
// always shown them: for a security event, its action as the intent and
// its details, with "client_addr", as the slots.
func (r Record) Shown() (intent string, slots map[string]any) {
	if r.Kind == KindIntent || !r.hasSecurityFields() {
		return r.Intent, r.Slots
	}
	if !r.ClientAddr.IsValid() {
		return r.Action, r.Detail
	}
	slots = make(map[string]any, len(r.Detail)+1)
	for k, v := range r.Detail {
		slots[k] = v
	}
	slots[legacyAddrKey] = r.ClientAddr.String()
	return r.Action, slots
}

func (r Record) hasSecurityFields() bool {
	return r.Action != "" || r.Detail != nil || r.ClientAddr.IsValid()
}

// Event commits the record of e; like Write it returns once committed.
func (w *Writer) Event(ctx context.Context, e Event) error {
	return w.Write(ctx, e.Record())
}
