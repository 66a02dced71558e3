package auth

import "context"

// Caller is who a request acts for, as taken from a verified token: a user,
// or a voice device, which fixes the home.
type Caller struct {
	UserID   string
	Role     string
	DeviceID string
	HomeID   string
}

// IsAdmin reports whether the caller holds the admin role.
func (c Caller) IsAdmin() bool { return c.Role == RoleAdmin }

type callerKey struct{}

// WithCaller returns a context carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller carried by ctx, if any.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}
