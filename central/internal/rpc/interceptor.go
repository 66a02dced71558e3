package rpc

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/auth"
)

// DeviceTokenPrefix marks a voice device's token; anything else in a bearer
// header is taken for a user's access token (a JWT).
const DeviceTokenPrefix = "hpd_"

// maxTokenBytes bounds a bearer token before any work is spent on it.
const maxTokenBytes = 4096

var (
	errMissingToken = errors.New("missing bearer token")
	errBadToken     = errors.New("invalid or expired token")
	errDenied       = errors.New("not allowed for this caller")
)

// authInterceptor authenticates the caller of every call, unary and
// streaming alike, according to the policy table, applies the caller's rate
// limit, grants the procedure's long deadlines, and puts the Caller in the
// context.
func authInterceptor(s *server, opts Options) connect.Interceptor {
	return &authGuard{
		accounts: s.deps.Accounts, homes: s.deps.Homes, now: s.now,
		devices:     newLimiter(opts.DeviceRate.orDefault(DefaultDeviceRate)),
		users:       newLimiter(opts.UserRate.orDefault(DefaultUserRate)),
		homeDevices: newLimiter(opts.UserRate.orDefault(DefaultUserRate)),
	}
}

type authGuard struct {
	accounts Accounts
	homes    Homes
	now      func() time.Time
	// devices and users are the token buckets of authenticated callers;
	// homeDevices is the bucket all the voice devices of one home share, at the
	// owner's rate, so that registering many devices does not multiply
	// what one owner may send.
	devices, users, homeDevices *limiter
}

// admit returns the context to run the procedure in, or why not.
func (g *authGuard) admit(ctx context.Context, procedure string, header http.Header) (context.Context, error) {
	need, ok := policy[procedure]
	if !ok {
		return nil, connect.NewError(connect.CodePermissionDenied, errDenied)
	}
	if need == accessPublic {
		return ctx, nil
	}
	token, err := bearer(header.Get("Authorization"))
	if err != nil {
		return nil, connect.NewError(connect.CodeUnauthenticated, err)
	}
	caller, err := authenticate(ctx, g.accounts, g.homes, token)
	if err != nil {
		return nil, err
	}
	if err := allowed(need, caller); err != nil {
		refused(ctx, procedure, audit.KindAccessDenied, "not allowed: "+procedure, caller, map[string]any{"role": caller.Role})
		return nil, err
	}
	now := g.now()
	if err := g.limit(ctx, procedure, caller, now); err != nil {
		return nil, err
	}
	extendDeadlines(ctx, procedure, now)
	admitted(ctx, caller)
	return withCaller(ctx, caller), nil
}

// limit takes a token of the caller's bucket: its user's, or its device's
// and then its home's.
func (g *authGuard) limit(ctx context.Context, procedure string, c Caller, now time.Time) error {
	var ok bool
	var report int
	if c.IsDevice() {
		if ok, report = g.devices.allow(c.DeviceID, now); ok {
			ok, report = g.homeDevices.allow(c.HomeID, now)
		}
	} else {
		ok, report = g.users.allow(c.UserID, now)
	}
	if ok {
		return nil
	}
	if report > 0 {
		refused(ctx, procedure, audit.KindRateLimited, "rate limited: "+procedure, c, map[string]any{"refused": report})
	}
	return connect.NewError(connect.CodeResourceExhausted, errRateLimited)
}

func (g *authGuard) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		actx, err := g.admit(ctx, req.Spec().Procedure, req.Header())
		if err != nil {
			return nil, err
		}
		return next(actx, req)
	}
}

func (g *authGuard) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (g *authGuard) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		actx, err := g.admit(ctx, conn.Spec().Procedure, conn.RequestHeader())
		if err != nil {
			return err
		}
		return next(actx, conn)
	}
}

// bearer extracts the token of an "Authorization: Bearer <token>" header.
func bearer(header string) (string, error) {
	if header == "" {
		return "", errMissingToken
	}
	scheme, token, ok := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || len(token) > maxTokenBytes {
		return "", errBadToken
	}
	return token, nil
}

// authenticate turns a token into a Caller. Every way a token can be wrong
// answers the same Unauthenticated error, so a caller learns nothing about
// which check failed; unexpected failures (a database down) still surface as
// Internal through mapError.
func authenticate(ctx context.Context, accounts Accounts, homes Homes, token string) (Caller, error) {
	if strings.HasPrefix(token, DeviceTokenPrefix) {
		d, err := homes.AuthenticateDevice(ctx, token)
		if err != nil {
			return Caller{}, unauthenticatedOr(err)
		}
		if d.Revoked || d.ID == "" || d.HomeID == "" {
			return Caller{}, connect.NewError(connect.CodeUnauthenticated, errBadToken)
		}
		return Caller{DeviceID: d.ID, HomeID: d.HomeID, Area: d.Area}, nil
	}
	claims, err := accounts.Verify(ctx, token)
	if err != nil {
		return Caller{}, unauthenticatedOr(err)
	}
	if claims.UserID == "" {
		return Caller{}, connect.NewError(connect.CodeUnauthenticated, errBadToken)
	}
	return Caller{UserID: claims.UserID, Role: claims.Role, SessionID: claims.SessionID}, nil
}

// unauthenticatedOr answers the generic Unauthenticated error for a rejected
// token, and leaves anything else (a database down) to mapError.
func unauthenticatedOr(err error) error {
	switch code, _ := domainCode(err); code {
	case connect.CodeUnauthenticated, connect.CodeNotFound, connect.CodeInvalidArgument:
		return connect.NewError(connect.CodeUnauthenticated, errBadToken)
	}
	return err
}

// allowed checks the caller against what the procedure needs.
func allowed(need access, c Caller) error {
	switch need {
	case accessUserOrDevice:
		return nil
	case accessUser:
		if !c.IsDevice() {
			return nil
		}
	case accessAdmin:
		if !c.IsDevice() && c.Role == auth.RoleAdmin {
			return nil
		}
	}
	return connect.NewError(connect.CodePermissionDenied, errDenied)
}
