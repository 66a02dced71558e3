package audit

import "context"

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
)

// Outcomes of security events.
const (
	OutcomeOK     = "ok"
	OutcomeDenied = "denied"
	OutcomeFailed = "failed"
)

// Event is a security event. It is stored as a Record: the action in the
// intent column (so the intent filter finds it), the details in the slots.
type Event struct {
	Kind      string
	RequestID string
	UserID    string // who acted
	HomeID    string
	DeviceID  string
	Action    string // for example "SetUserDisabled" or "restart"
	Outcome   string
	Text      string // a short human description
	Detail    map[string]any
	Error     string
}

// Record returns the audit record of e.
func (e Event) Record() Record {
	return Record{
		RequestID: e.RequestID, Kind: e.Kind, UserID: e.UserID, HomeID: e.HomeID, DeviceID: e.DeviceID,
		Intent: e.Action, Outcome: e.Outcome, Text: e.Text, Slots: e.Detail, Error: e.Error,
	}
}

// Event commits the record of e; like Write it returns once committed.
func (w *Writer) Event(ctx context.Context, e Event) error {
	return w.Write(ctx, e.Record())
}
