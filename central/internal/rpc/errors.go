package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"connectrpc.com/connect"

	"github.com/homeplane/homeplane/central/internal/admin"
	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/registry"
	"github.com/homeplane/homeplane/central/internal/usage"
)

// RequestIDHeader carries the request id back to the caller, on success and
// on error, so a user can quote it.
const RequestIDHeader = "Homeplane-Request-Id"

// domainCode is the Connect code of a domain sentinel error, if err wraps one.
func domainCode(err error) (connect.Code, bool) {
	switch {
	case errors.Is(err, home.ErrNotFound), errors.Is(err, registry.ErrNotFound), errors.Is(err, admin.ErrNotFound):
		return connect.CodeNotFound, true
	case errors.Is(err, auth.ErrInvalidInput), errors.Is(err, home.ErrInvalidInput),
		errors.Is(err, registry.ErrInvalidInput), errors.Is(err, admin.ErrInvalidInput), errors.Is(err, usage.ErrInvalidInput):
		return connect.CodeInvalidArgument, true
	case errors.Is(err, auth.ErrInvalidCredentials), errors.Is(err, auth.ErrInvalidToken),
		errors.Is(err, home.ErrUnauthenticated):
		return connect.CodeUnauthenticated, true
	case errors.Is(err, auth.ErrEmailTaken):
		return connect.CodeAlreadyExists, true
	case errors.Is(err, auth.ErrThrottled):
		return connect.CodeResourceExhausted, true
	case errors.Is(err, intent.ErrHomeOffline):
		return connect.CodeUnavailable, true
	case errors.Is(err, intent.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return connect.CodeDeadlineExceeded, true
	case errors.Is(err, context.Canceled):
		return connect.CodeCanceled, true
	}
	return 0, false
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
	if code, ok := domainCode(err); ok {
		return connect.NewError(code, errors.New(err.Error()))
	}
	id := RequestID(ctx)
	log.ErrorContext(ctx, "rpc failed", "procedure", procedure, requestIDAttr, id, "err", err)
	return connect.NewError(connect.CodeInternal, fmt.Errorf("internal error, request id %s", id))
}

// requestInterceptor gives every call a request id (in the context and the
// response header) and maps whatever error the call ends with.
func requestInterceptor(log *slog.Logger) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if req.Spec().IsClient {
				return next(ctx, req)
			}
			id := newRequestID()
			ctx = withRequestID(ctx, id)
			resp, err := next(ctx, req)
			if err != nil {
				err = mapError(ctx, log, req.Spec().Procedure, err)
				if ce := new(connect.Error); errors.As(err, &ce) {
					ce.Meta().Set(RequestIDHeader, id)
				}
				return nil, err
			}
			resp.Header().Set(RequestIDHeader, id)
			return resp, nil
		}
	}
}
