package rpc

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/homeplane/homeplane/central/internal/idempotency"
)

// IdempotencyKeyHeader carries a request's idempotency key over HTTP, as
// an alternative to the request's idempotency_key field.
const IdempotencyKeyHeader = "Idempotency-Key"

// callerScope is whose keys a caller sees: its own only.
func callerScope(c Caller) idempotency.Scope {
	if c.IsDevice() {
		return idempotency.DeviceScope(c.DeviceID)
	}
	return idempotency.UserScope(c.UserID)
}

// requestKey is the request's idempotency key from its field or header;
// empty when it has none.
func requestKey(h http.Header, field string) (string, error) {
	key := h.Get(IdempotencyKeyHeader)
	switch {
	case key != "" && field != "" && key != field:
		return "", connect.NewError(connect.CodeInvalidArgument,
			errors.New("idempotency_key and the Idempotency-Key header differ"))
	case field != "":
		key = field
	case key == "":
		return "", nil
	}
	if err := idempotency.CheckKey(key); err != nil {
		return "", connect.NewError(connect.CodeInvalidArgument, err)
	}
	return key, nil
}

// commandIDFor is the id of the command a keyed request sends; empty
// without a key.
func commandIDFor(scope idempotency.Scope, key string) string {
	if key == "" {
		return ""
	}
	return idempotency.CommandID(scope, key)
}

// once runs work once for the caller's key and sets out to its answer,
// the stored one for a repeat (replayed). ran says whether work ran in
// this call, and so wrote its own audit record.
func (s *server) once(ctx context.Context, scope idempotency.Scope, key string, req, out proto.Message,
	work func(ctx context.Context) (proto.Message, error)) (replayed, ran bool, err error) {
	fp, err := fingerprint(req)
	if err != nil {
		return false, false, err
	}
	answer, replayed, err := s.deps.Idempotency.Do(ctx, scope, key, fp, func(ctx context.Context) ([]byte, error) {
		ran = true
		res, err := work(ctx)
		if err != nil {
			return nil, err
		}
		return proto.Marshal(res)
	})
	switch {
	case ran:
		if err != nil {
			return false, true, err
		}
	case errors.Is(err, idempotency.ErrMismatch):
		return false, false, connect.NewError(connect.CodeInvalidArgument, err)
	case errors.Is(err, idempotency.ErrInProgress):
		return false, false, connect.NewError(connect.CodeAborted, err)
	case errors.Is(err, idempotency.ErrTooMany):
		return false, false, connect.NewError(connect.CodeResourceExhausted, err)
	case err != nil:
		return false, false, connect.NewError(connect.CodeUnavailable, fmt.Errorf("idempotency keys unavailable, nothing was run: %w", err))
	}
	if err := proto.Unmarshal(answer, out); err != nil {
		return replayed, ran, fmt.Errorf("stored answer: %w", err)
	}
	return replayed, ran, nil
}

// fingerprint identifies a request without its key, so that the same key
// with another request is refused.
func fingerprint(m proto.Message) ([]byte, error) {
	c := proto.Clone(m)
	r := c.ProtoReflect()
	if fd := r.Descriptor().Fields().ByName("idempotency_key"); fd != nil {
		r.Clear(fd)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("fingerprint: %w", err)
	}
	return idempotency.Fingerprint(string(r.Descriptor().FullName()), b), nil
}
