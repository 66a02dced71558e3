package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	hv1c "github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/intent"
)

// Auditing is a decorator around every service: it keeps one typed event
// per call in the call's context, lets the authentication and the handler
// tell what happened (who called, which home, how an intent was
// understood), finishes the event by the procedure's rule, and commits it.
// Handlers never write records themselves.

// callAudit is the event of one call, as the decorator keeps it.
type callAudit struct {
	ev audit.Event
	// admitted is set once the caller passed authentication, the policy
	// and its rate limit.
	admitted bool
	// notable makes the event worth a record even for a procedure without
	// a rule: a caller the policy turned away, a caller over its limit.
	notable bool
	// beforeReply runs after the record is committed and before the
	// answer leaves (the engine's conversation turn, see
	// intent.DeferTurnWait).
	mu          sync.Mutex
	beforeReply []func()
}

// deferredTurns returns ctx under which the intent engine leaves its wait
// for the conversation turn to the decorator, which runs it after the
// record's commit: the two writes overlap instead of following each other.
// Outside the decorator the engine waits itself.
func deferredTurns(ctx context.Context) context.Context {
	ca, ok := ctx.Value(auditKey{}).(*callAudit)
	if !ok {
		return ctx
	}
	return intent.DeferTurnWait(ctx, func(wait func()) {
		ca.mu.Lock()
		defer ca.mu.Unlock()
		ca.beforeReply = append(ca.beforeReply, wait)
	})
}

type auditKey struct{}

// auditing returns the event of the current call. Outside the decorator
// (a test calling a handler directly) it is a throwaway event.
func auditing(ctx context.Context) *audit.Event {
	if ca, ok := ctx.Value(auditKey{}).(*callAudit); ok {
		return &ca.ev
	}
	return &audit.Event{}
}

// auditRule finishes the event of a call to one procedure from what it was
// asked, what it answered and how it failed. must reports whether the
// answer waits for the record's commit and fails when the commit does: no
// intent, instance action or successful login leaves without its record.
type auditRule struct {
	finish func(ev *audit.Event, req, resp any, err error)
	must   func(err error) bool
}

func always(error) bool { return true }

// auditRules are the procedures whose calls leave a record by themselves.
var auditRules = map[string]auditRule{
	hv1c.AuthServiceLoginProcedure:              {finish: finishLogin, must: func(err error) bool { return err == nil }},
	hv1c.AuthServiceRefreshProcedure:            {finish: finishRefresh},
	hv1c.IntentServiceProcessProcedure:          {finish: finishIntent, must: always},
	hv1c.HomeServiceControlInstanceProcedure:    {finish: finishInstance, must: always},
	hv1c.AdminServiceSetInstanceLimitsProcedure: {finish: finishLimits, must: always},
}

// maxAuditedEmail bounds an email copied into a record from a request.
const maxAuditedEmail = 254

func finishLogin(ev *audit.Event, req, resp any, err error) {
	email := clipText(req.(*homeplanev1.LoginRequest).GetEmail(), maxAuditedEmail)
	ev.Action, ev.Text, ev.Detail = "Login", "Login "+email, map[string]any{"email": email}
	if err == nil {
		ev.Kind, ev.Outcome = audit.KindLogin, audit.OutcomeOK
		ev.UserID = resp.(*homeplanev1.LoginResponse).GetUser().GetId()
		return
	}
	ev.Kind, ev.Outcome, ev.Error = audit.KindLoginFailed, audit.OutcomeDenied, err.Error()
	if code, ok := domainCode(err); !ok || code != connect.CodeUnauthenticated && code != connect.CodeResourceExhausted {
		ev.Outcome = audit.OutcomeFailed // not a refusal: the service could not decide
	}
}

// finishRefresh records the reuse of a rotated refresh token, which revoked
// its family; other refresh failures are ordinary expiries and typos.
func finishRefresh(ev *audit.Event, _, _ any, err error) {
	var reuse *auth.ReuseError
	if !errors.As(err, &reuse) {
		return
	}
	ev.Kind, ev.UserID, ev.Action, ev.Outcome = audit.KindRefreshReuse, reuse.UserID, "Refresh", audit.OutcomeDenied
	ev.Text, ev.Detail = "refresh token reused; session family revoked", map[string]any{"family_id": reuse.FamilyID}
}

// finishIntent completes what Process told: an outcome it did not set is
// the engine's error.
func finishIntent(ev *audit.Event, req, _ any, err error) {
	ev.Kind = audit.KindIntent
	ev.Text = truncate(req.(*homeplanev1.ProcessRequest).GetText(), maxTextChars)
	if ev.Trace == nil {
		ev.Trace = &audit.Trace{}
	}
	if err != nil {
		if ev.Outcome == "" {
			ev.Outcome = audit.OutcomeError
		}
		ev.Error = err.Error()
	}
}

// finishInstance records an action once ControlInstance found the home;
// calls refused before that (bad input, someone else's home) leave none.
func finishInstance(ev *audit.Event, req, _ any, err error) {
	if ev.HomeID == "" {
		return
	}
	m := req.(*homeplanev1.ControlInstanceRequest)
	action := strings.ToLower(strings.TrimPrefix(m.GetAction().String(), "INSTANCE_ACTION_"))
	ev.Kind, ev.Action, ev.Text, ev.Outcome = audit.KindInstance, action, "instance "+action, audit.OutcomeOK
	ev.Detail = map[string]any{"image": m.GetImage(), "remove_data": m.GetRemoveData()}
	if err != nil {
		ev.Outcome, ev.Error = audit.OutcomeFailed, err.Error()
	}
}

func finishLimits(ev *audit.Event, req, resp any, err error) {
	if ev.HomeID == "" {
		return
	}
	l := req.(*homeplanev1.SetInstanceLimitsRequest).GetLimits()
	ev.Kind, ev.Action, ev.Text, ev.Outcome = audit.KindInstance, "set_limits", "instance limits", audit.OutcomeOK
	ev.Detail = map[string]any{"cleared": l == nil, "memory_bytes": l.GetMemoryBytes(), "nano_cpus": l.GetNanoCpus()}
	if r, ok := resp.(*homeplanev1.SetInstanceLimitsResponse); ok {
		ev.Detail["delivered"] = r.GetDelivered()
	}
	if err != nil {
		ev.Outcome, ev.Error = audit.OutcomeFailed, err.Error()
	}
}

// auditTimeout bounds the wait for an audit commit.
const auditTimeout = 5 * time.Second

var errAudit = errors.New("audit record not committed")

// auditor is the decorator; it runs inside requestInterceptor, so the
// request id is known and the errors it sees are the domain's.
type auditor struct {
	w   Auditor
	log *slog.Logger
	now func() time.Time
}

func (a auditor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		procedure := req.Spec().Procedure
		ca := a.begin(ctx)
		resp, err := next(context.WithValue(ctx, auditKey{}, ca), req)
		var msg any
		if resp != nil {
			msg = resp.Any()
		}
		aerr := a.commit(ctx, procedure, ca, req.Any(), msg, err)
		ca.mu.Lock()
		waits := ca.beforeReply
		ca.mu.Unlock()
		for _, wait := range waits {
			wait()
		}
		if aerr != nil {
			return nil, aerr
		}
		return resp, err
	}
}

func (a auditor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (a auditor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ca := a.begin(ctx)
		err := next(context.WithValue(ctx, auditKey{}, ca), conn)
		if aerr := a.commit(ctx, conn.Spec().Procedure, ca, nil, nil, err); aerr != nil {
			return aerr
		}
		return err
	}
}

func (a auditor) begin(ctx context.Context) *callAudit {
	ca := &callAudit{ev: audit.Event{RequestID: RequestID(ctx), Time: a.now()}}
	if addr, ok := auth.ClientAddrFrom(ctx); ok {
		ca.ev.ClientAddr = addr
	}
	return ca
}

// commit finishes the call's event by its procedure's rule and commits it
// when it is worth a record. The commit gets its own deadline so a caller
// that hung up still leaves a trace.
func (a auditor) commit(ctx context.Context, procedure string, ca *callAudit, req, resp any, callErr error) error {
	rule, ok := auditRules[procedure]
	if ok && ca.admitted || ok && !policyNeedsCaller(procedure) {
		rule.finish(&ca.ev, req, resp, callErr)
	}
	ev := ca.ev
	if ev.Kind == "" || !(ok || ca.notable) {
		return nil
	}
	if ev.Trace != nil {
		ev.Trace.TotalUS = a.now().Sub(ev.Time).Microseconds()
		a.log.InfoContext(ctx, "intent processed", requestIDAttr, ev.RequestID, "home_id", ev.HomeID,
			"device_id", ev.DeviceID, "intent", ev.Trace.Intent, "outcome", ev.Outcome, "total_us", ev.Trace.TotalUS)
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	err := a.w.Write(actx, ev.Record())
	switch {
	case err == nil:
		return nil
	case ok && rule.must != nil && rule.must(callErr):
		// %v, not %w: whatever the cause, the caller sees Internal, and
		// mapError logs the cause once.
		return fmt.Errorf("%w: %v", errAudit, err)
	}
	a.log.ErrorContext(ctx, "audit record not committed", "procedure", procedure, "kind", ev.Kind, "err", err)
	return nil
}

// policyNeedsCaller reports whether procedure admits only authenticated
// callers; the events of public ones are finished whoever called.
func policyNeedsCaller(procedure string) bool { return policy[procedure] != accessPublic }

// admitted tells the decorator who passed authentication.
func admitted(ctx context.Context, c Caller) {
	if ca, ok := ctx.Value(auditKey{}).(*callAudit); ok {
		ca.admitted = true
		callerInto(&ca.ev, c)
	}
}

// refused tells the decorator of an authenticated caller turned away, by
// the policy or by its rate limit: the event of kind, with its text and
// details, is worth a record whatever the procedure.
func refused(ctx context.Context, procedure, kind, text string, c Caller, detail map[string]any) {
	ca, ok := ctx.Value(auditKey{}).(*callAudit)
	if !ok {
		return
	}
	ca.notable = true
	callerInto(&ca.ev, c)
	ca.ev.Kind, ca.ev.Action, ca.ev.Outcome, ca.ev.Text, ca.ev.Detail = kind, procedure, audit.OutcomeDenied, text, detail
}

func callerInto(ev *audit.Event, c Caller) {
	ev.UserID, ev.DeviceID = c.UserID, c.DeviceID
	if c.IsDevice() {
		ev.HomeID = c.HomeID
	}
}
