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
)

// User is an account.
type User struct {
	ID        string
	Email     string
	Role      string
	Disabled  bool
	CreatedAt time.Time
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
	// RevokeRefreshFamily revokes the family of the token with the given hash;
	// an unknown hash is not an error.
	RevokeRefreshFamily(ctx context.Context, hash []byte, now time.Time) error
}
