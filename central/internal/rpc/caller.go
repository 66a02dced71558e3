package rpc

import (
	"context"
	"crypto/rand"
	"log/slog"
)

// Caller is who made a request, as established from a verified token. A user
// caller has UserID and Role; a device caller has DeviceID, HomeID and Area.
type Caller struct {
	UserID string
	Role   string
	// SessionID is the login session of a user's access token, if it names one.
	SessionID string

	DeviceID string
	HomeID   string
	Area     string
}

// IsDevice reports whether the caller authenticated with a device token.
func (c Caller) IsDevice() bool { return c.DeviceID != "" }

type callerKey struct{}

type requestIDKey struct{}

// CallerFrom returns the authenticated caller of the request, if any.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

func withCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// RequestID returns the id central gave the current request, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func withRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

func newRequestID() string { return rand.Text() }

// NewLogHandler wraps h so that every record logged with a request's context
// carries its request_id, including log lines of the domain packages the
// handlers call.
func NewLogHandler(h slog.Handler) slog.Handler { return logHandler{h} }

type logHandler struct{ slog.Handler }

// requestIDAttr is the log attribute naming the request, end to end.
const requestIDAttr = "request_id"

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" && !hasAttr(r, requestIDAttr) {
		r.AddAttrs(slog.String(requestIDAttr, id))
	}
	return h.Handler.Handle(ctx, r)
}

// hasAttr reports whether r already carries an attribute named key.
func hasAttr(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}

func (h logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return logHandler{h.Handler.WithAttrs(as)}
}

func (h logHandler) WithGroup(name string) slog.Handler {
	return logHandler{h.Handler.WithGroup(name)}
}
