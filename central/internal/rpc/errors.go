package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/protobuf/proto"

	"github.com/homeplane/homeplane/central/internal/admin"
	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/fleet"
	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/limits"
	"github.com/homeplane/homeplane/central/internal/pairing"
	"github.com/homeplane/homeplane/central/internal/registry"
	"github.com/homeplane/homeplane/central/internal/timer"
	"github.com/homeplane/homeplane/central/internal/usage"
)

// RequestIDHeader carries the request id back to the caller, on success and
// on error, so a user can quote it.
const RequestIDHeader = "Homeplane-Request-Id"

// domainCode is the Connect code of a domain sentinel error, if err wraps one.
func domainCode(err error) (connect.Code, bool) {
	switch {
	case errors.Is(err, home.ErrNotFound), errors.Is(err, registry.ErrNotFound), errors.Is(err, admin.ErrNotFound),
		errors.Is(err, limits.ErrNotFound), errors.Is(err, pairing.ErrNotFound):
		return connect.CodeNotFound, true
	case errors.Is(err, limits.ErrInvalid):
		return connect.CodeInvalidArgument, true
	case errors.Is(err, limits.ErrRefused):
		return connect.CodeFailedPrecondition, true
	case errors.Is(err, auth.ErrInvalidInput), errors.Is(err, home.ErrInvalidInput), errors.Is(err, audit.ErrInvalidPageToken),
		errors.Is(err, registry.ErrInvalidInput), errors.Is(err, admin.ErrInvalidInput), errors.Is(err, usage.ErrInvalidInput),
		errors.Is(err, fleet.ErrInvalidInput), errors.Is(err, errUnnamedHost):
		return connect.CodeInvalidArgument, true
	case errors.Is(err, auth.ErrInvalidCredentials), errors.Is(err, auth.ErrInvalidToken),
		errors.Is(err, home.ErrUnauthenticated), errors.Is(err, pairing.ErrInvalidGrant):
		return connect.CodeUnauthenticated, true
	case errors.Is(err, auth.ErrEmailTaken):
		return connect.CodeAlreadyExists, true
	case errors.Is(err, auth.ErrThrottled), errors.Is(err, timer.ErrLimit):
		return connect.CodeResourceExhausted, true
	case errors.Is(err, intent.ErrHomeOffline):
		return connect.CodeUnavailable, true
	case errors.Is(err, intent.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return connect.CodeDeadlineExceeded, true
	case errors.Is(err, context.Canceled):
		return connect.CodeCanceled, true
	case errors.Is(err, errActionExpired):
		return connect.CodeDeadlineExceeded, true
	case errors.Is(err, errActionRefused), errors.Is(err, errActionFailed):
		return connect.CodeFailedPrecondition, true
	case errors.Is(err, errActionBusy):
		return connect.CodeAborted, true
	case errors.Is(err, errActionForbidden):
		return connect.CodePermissionDenied, true
	}
	return 0, false
}

// httpStatus is the HTTP status of each code a domain error can have.
var httpStatus = map[connect.Code]int{
	connect.CodeNotFound:           http.StatusNotFound,
	connect.CodeInvalidArgument:    http.StatusBadRequest,
	connect.CodeUnauthenticated:    http.StatusUnauthorized,
	connect.CodeAlreadyExists:      http.StatusConflict,
	connect.CodeResourceExhausted:  http.StatusTooManyRequests,
	connect.CodeUnavailable:        http.StatusServiceUnavailable,
	connect.CodeDeadlineExceeded:   http.StatusGatewayTimeout,
	connect.CodeCanceled:           499, // the client went away
	connect.CodeFailedPrecondition: http.StatusConflict,
	connect.CodeAborted:            http.StatusConflict,
}

// HTTPError is mapError for plain HTTP handlers (the dashboard): the status
// and message of a domain error, with ok false for any other error, which
// the handler answers with a generic 500 and logs in full.
func HTTPError(err error) (status int, msg string, ok bool) {
	if unreachable(err) {
		return http.StatusServiceUnavailable, "service temporarily unavailable, try again", true
	}
	code, ok := domainCode(err)
	if !ok {
		return http.StatusInternalServerError, "internal error", false
	}
	if code == connect.CodeNotFound {
		return http.StatusNotFound, "not found", true
	}
	return httpStatus[code], err.Error(), true
}

// withDetail is an error that carries a message for the caller, which
// mapError attaches to the Connect error as a detail.
type withDetail struct {
	error
	detail proto.Message
}

func (w withDetail) Unwrap() error { return w.error }

// unreachable reports a failure to reach a backing service, such as the
// database down or not answering: a failed connection attempt (refused,
// or past the pool's connect timeout), a network error, a connection the
// database dropped, or a failure the driver marks safe to retry. The call
// may succeed when retried, so it answers Unavailable rather than Internal.
func unreachable(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	var connect *pgconn.ConnectError
	if errors.As(err, &op) || errors.As(err, &dns) || errors.As(err, &connect) {
		return true
	}
	// A pooled connection the database dropped (it went down meanwhile).
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, pgconn.ErrConnClosed) {
		return true
	}
	var retry interface{ SafeToRetry() bool }
	return errors.As(err, &retry) && retry.SafeToRetry()
}

// mapError is the one place where errors become what the caller sees. Connect
// errors pass through, domain sentinels become their code with the domain's
// message, and anything else becomes a generic Internal error whose full text
// is logged here, once, with the request id.
func mapError(ctx context.Context, log *slog.Logger, procedure string, err error) error {
	if err == nil {
		return nil
	}
	if ce := new(connect.Error); errors.As(err, &ce) {
		return ce
	}
	id := RequestID(ctx)
	if unreachable(err) {
		log.WarnContext(ctx, "rpc failed: a backing service is unreachable", "procedure", procedure, requestIDAttr, id, "err", err)
		return connect.NewError(connect.CodeUnavailable, fmt.Errorf("service temporarily unavailable, try again; request id %s", id))
	}
	if code, ok := domainCode(err); ok {
		ce := connect.NewError(code, errors.New(err.Error()))
		var d withDetail
		if errors.As(err, &d) {
			if detail, derr := connect.NewErrorDetail(d.detail); derr == nil {
				ce.AddDetail(detail)
			}
		}
		return ce
	}
	log.ErrorContext(ctx, "rpc failed", "procedure", procedure, requestIDAttr, id, "err", err)
	return connect.NewError(connect.CodeInternal, fmt.Errorf("internal error, request id %s", id))
}

// requestInterceptor gives every call, unary or streaming, a request id (in
// the context and the response header) and maps whatever error the call
// ends with.
func requestInterceptor(log *slog.Logger) connect.Interceptor { return requests{log} }

type requests struct{ log *slog.Logger }

func (r requests) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		id := newRequestID()
		ctx = withRequestID(ctx, id)
		resp, err := next(ctx, req)
		if err != nil {
			return nil, r.mapped(ctx, req.Spec().Procedure, id, err)
		}
		resp.Header().Set(RequestIDHeader, id)
		return resp, nil
	}
}

func (r requests) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (r requests) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		id := newRequestID()
		ctx = withRequestID(ctx, id)
		conn.ResponseHeader().Set(RequestIDHeader, id)
		if err := next(ctx, conn); err != nil {
			return r.mapped(ctx, conn.Spec().Procedure, id, err)
		}
		return nil
	}
}

func (r requests) mapped(ctx context.Context, procedure, id string, err error) error {
	err = mapError(ctx, r.log, procedure, err)
	if ce := new(connect.Error); errors.As(err, &ce) {
		ce.Meta().Set(RequestIDHeader, id)
	}
	return err
}
