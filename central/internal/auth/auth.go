// Package auth holds user accounts: password hashing, short-lived access
// tokens (EdDSA JWTs with key ids), rotating refresh-token families, and the
// caller identity carried in a request's context.
package auth

import (
	"context"
	"errors"
	"time"
)

// Roles.
const (
	RoleUser  = "user"
	RoleAdmin = "admin"
)

var (
	// ErrInvalidCredentials is returned alike for an unknown email and a wrong password.
	ErrInvalidCredentials = errors.New("invalid email or password")
	ErrEmailTaken         = errors.New("email already registered")
	ErrInvalidToken       = errors.New("invalid token")
	ErrInvalidInput       = errors.New("invalid input")
	// ErrNotFound is what a Store returns for a user or token it does not hold.
	ErrNotFound = errors.New("not found")
	// ErrThrottled refuses a login or reset request after too many recent
	// failures for the account or the client address.
	ErrThrottled = errors.New("too many attempts, try again later")
)

// ReuseError reports a rotated refresh token presented again, as a stolen
// copy would be: the whole family has been revoked. It is an ErrInvalidToken.
type ReuseError struct {
	UserID, FamilyID string
}

func (e *ReuseError) Error() string { return ErrInvalidToken.Error() + ": refresh token reused" }

func (e *ReuseError) Unwrap() error { return ErrInvalidToken }

// User is an account.
type User struct {
	ID        string
	Email     string
	Role      string
	Disabled  bool
	CreatedAt time.Time
	// SessionVersion goes up whenever every session of the user must end.
	SessionVersion int64
}

// Tokens is what a login or refresh hands out.
type Tokens struct {
	Access         string
	AccessExpires  time.Time
	Refresh        string
	RefreshExpires time.Time
}

// Claims is what a verified access token says.
type Claims struct {
	UserID  string
	Role    string
	Expires time.Time
	// SessionVersion is the user's session version when the token was
	// issued; a token older than the user's current version is refused.
	SessionVersion int64
	// SessionID names the login session (the refresh-token family) the
	// token belongs to; once the session ends (Logout), so does the token.
	// Tokens issued before sessions were named carry none.
	SessionID string
}

// SessionEnd tells that sessions ended: every session of UserID, or only
// the one named SessionID when it is set.
type SessionEnd struct {
	UserID    string
	SessionID string
}

// SessionState is what Verify needs to know about a token's user beyond the
// token itself.
type SessionState struct {
	Version  int64
	Disabled bool
}

// Notice is a message for a user, such as a password reset token.
type Notice struct {
	UserID string
	Email  string
	Kind   string // "password_reset"
	Body   string
}

// Notifier delivers notices to users. The default (postgres.Outbox) keeps
// them in a table admins can read.
type Notifier interface {
	Notify(ctx context.Context, n Notice) error
}

// PasswordReset is a stored reset token: only its hash is kept.
type PasswordReset struct {
	Hash    []byte
	UserID  string
	Created time.Time
	Expires time.Time
}

// RefreshToken is a stored refresh token: only its hash is kept.
type RefreshToken struct {
	Hash     []byte
	FamilyID string
	UserID   string
	Created  time.Time
	Expires  time.Time
	// FamilyExpires is the absolute end of the login session: rotation never
	// extends past it.
	FamilyExpires time.Time
}

// RefreshState is a stored refresh token as Store.RotateRefreshToken shows it
// to the rotation policy, together with its owner.
type RefreshState struct {
	Token   RefreshToken
	Rotated time.Time // zero unless already used
	Revoked time.Time // zero unless revoked
	User    User
}

// Rotation is the policy's decision about one refresh: at most one of Next
// and RevokeFamily is set.
type Rotation struct {
	Next         *RefreshToken
	RevokeFamily bool
}

// KeyStore persists the access-token signing keys.
type KeyStore interface {
	// EnsureSigningKey stores candidate if no key exists yet (safely with
	// concurrent callers) and returns every stored key.
	EnsureSigningKey(ctx context.Context, candidate SigningKey) ([]SigningKey, error)
	// SigningKeys returns every stored key.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
}

// Store persists users and refresh tokens.
type Store interface {
	KeyStore
	// CreateUser returns ErrEmailTaken when the email is registered already.
	CreateUser(ctx context.Context, u User, passwordHash string) (User, error)
	// UserByEmail returns the user and the PHC password hash, or ErrNotFound.
	UserByEmail(ctx context.Context, email string) (User, string, error)
	CreateRefreshToken(ctx context.Context, t RefreshToken) error
	// RotateRefreshToken locks the token with the given hash, lets decide
	// choose what happens, and applies that choice atomically: marking the
	// token used and storing Next, or revoking the whole family. It returns
	// decide's error after committing, or ErrNotFound for an unknown hash.
	RotateRefreshToken(ctx context.Context, hash []byte, now time.Time, decide func(RefreshState) (Rotation, error)) error
	// RevokeRefreshFamily revokes the family of the token with the given
	// hash and returns the family's id; an unknown hash is not an error
	// and returns "".
	RevokeRefreshFamily(ctx context.Context, hash []byte, now time.Time) (string, error)
	// RefreshFamilyLive reports whether the family still has a token that
	// is not revoked: false for a session ended by Logout, by a reuse, or
	// by every session of the user ending.
	RefreshFamilyLive(ctx context.Context, familyID string) (bool, error)

	// UserByID returns the user, the PHC password hash and the session
	// version, or ErrNotFound.
	UserByID(ctx context.Context, userID string) (User, string, error)
	// SessionState returns the user's session version and disabled flag, or
	// ErrNotFound.
	SessionState(ctx context.Context, userID string) (SessionState, error)
	// ReplacePasswordHash swaps the hash only while it still is old (a
	// rehash must not undo a concurrent password change); sessions stay.
	ReplacePasswordHash(ctx context.Context, userID, old, new string) error
	// SetPassword stores a new hash, bumps the session version and revokes
	// every refresh token of the user, atomically.
	SetPassword(ctx context.Context, userID, passwordHash string, now time.Time) error
	// CreatePasswordReset stores a reset token, dropping the user's older ones.
	CreatePasswordReset(ctx context.Context, r PasswordReset) error
	// UsePasswordReset uses up the unexpired, unused reset token with the
	// given hash and does what SetPassword does, atomically. It returns the
	// user id, or ErrNotFound for a token that is unknown, used or expired.
	UsePasswordReset(ctx context.Context, hash []byte, passwordHash string, now time.Time) (string, error)
	// SetUserDisabled disables (ending every session as SetPassword does)
	// or re-enables a user, or returns ErrNotFound.
	SetUserDisabled(ctx context.Context, userID string, disabled bool, now time.Time) error
	// CreatePendingRegistration stores a registration waiting for its
	// confirmation, dropping expired ones.
	CreatePendingRegistration(ctx context.Context, p PendingRegistration) error
	// ConfirmRegistration uses up the unexpired pending registration with
	// the given hash and creates u with its email and password hash,
	// atomically. It returns ErrNotFound for a token that is unknown, used
	// or expired, ErrEmailTaken when the address was registered meanwhile.
	ConfirmRegistration(ctx context.Context, hash []byte, u User, now time.Time) (User, error)
}
