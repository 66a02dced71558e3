package rpc

import (
	"context"
	"errors"
	"log/slog"

	"connectrpc.com/connect"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/auth"
)

// securityEvent commits the audit record of e for the current request, with
// the client's address. Like every audit write it returns once committed.
func securityEvent(ctx context.Context, a Auditor, e audit.Event) error {
	e.RequestID = RequestID(ctx)
	if addr, ok := auth.ClientAddrFrom(ctx); ok {
		if e.Detail == nil {
			e.Detail = map[string]any{}
		}
		e.Detail["client_addr"] = addr.String()
	}
	return a.Write(ctx, e.Record())
}

// loginEvent records a login attempt. A successful login is answered only
// once its record is committed; a refused one is answered either way, its
// record failing only into the log (the caller already gets a refusal).
func (s *server) loginEvent(ctx context.Context, action, email string, u auth.User, err error) error {
	e := audit.Event{Kind: audit.KindLogin, UserID: u.ID, Action: action, Outcome: audit.OutcomeOK,
		Text: action + " " + email, Detail: map[string]any{"email": email}}
	if err == nil {
		return securityEvent(ctx, s.deps.Auditor, e)
	}
	e.Kind, e.Outcome, e.Error = audit.KindLoginFailed, audit.OutcomeDenied, err.Error()
	if code, ok := domainCode(err); !ok || code != connect.CodeUnauthenticated && code != connect.CodeResourceExhausted {
		e.Outcome = audit.OutcomeFailed // not a refusal: the service could not decide
	}
	if aerr := securityEvent(ctx, s.deps.Auditor, e); aerr != nil {
		s.log.ErrorContext(ctx, "audit a refused login", "err", aerr)
	}
	return err
}

// refreshEvent records the reuse of a rotated refresh token, which revoked
// its family; other refresh failures are ordinary expiries and typos.
func (s *server) refreshEvent(ctx context.Context, err error) {
	var reuse *auth.ReuseError
	if !errors.As(err, &reuse) {
		return
	}
	e := audit.Event{Kind: audit.KindRefreshReuse, UserID: reuse.UserID, Action: "Refresh", Outcome: audit.OutcomeDenied,
		Text: "refresh token reused; session family revoked", Detail: map[string]any{"family_id": reuse.FamilyID}}
	if aerr := securityEvent(ctx, s.deps.Auditor, e); aerr != nil {
		s.log.ErrorContext(ctx, "audit a refresh token reuse", "err", aerr)
	}
}

// deniedEvent records an authenticated caller the policy turned away.
func deniedEvent(ctx context.Context, a Auditor, log *slog.Logger, procedure string, c Caller) {
	e := audit.Event{Kind: audit.KindAccessDenied, UserID: c.UserID, HomeID: c.HomeID, DeviceID: c.DeviceID,
		Action: procedure, Outcome: audit.OutcomeDenied, Text: "not allowed: " + procedure,
		Detail: map[string]any{"role": c.Role}}
	if err := securityEvent(ctx, a, e); err != nil {
		log.ErrorContext(ctx, "audit a denied call", "procedure", procedure, "err", err)
	}
}

// rateLimitedEvent records a caller over its rate limit; refused stands for
// the refusals since the last such record.
func rateLimitedEvent(ctx context.Context, a Auditor, log *slog.Logger, procedure string, c Caller, refused int) {
	e := audit.Event{Kind: audit.KindRateLimited, UserID: c.UserID, HomeID: c.HomeID, DeviceID: c.DeviceID,
		Action: procedure, Outcome: audit.OutcomeDenied, Text: "rate limited: " + procedure,
		Detail: map[string]any{"refused": refused}}
	if err := securityEvent(ctx, a, e); err != nil {
		log.ErrorContext(ctx, "audit a rate-limited call", "procedure", procedure, "err", err)
	}
}
