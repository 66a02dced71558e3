package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// maxSessionIDLen bounds the sid claim; real ones are 36-byte UUIDs.
const maxSessionIDLen = 64

// maxAccessTokenLen bounds what Verify parses; real tokens are ~400 bytes.
const maxAccessTokenLen = 4096

// accessClaims is the JWT body of an access token.
type accessClaims struct {
	Role string `json:"role"`
	// SessionVersion ("sv") is the user's session version at issue.
	SessionVersion int64 `json:"sv"`
	// SessionID ("sid") is the refresh-token family of the login.
	SessionID string `json:"sid,omitempty"`
	jwt.RegisteredClaims
}

func (s *Service) signAccess(u User, sessionID string, now time.Time) (string, time.Time, error) {
	exp := now.Add(s.opts.AccessTTL)
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", time.Time{}, fmt.Errorf("token id: %w", err)
	}
	claims := accessClaims{
		Role:           u.Role,
		SessionVersion: u.SessionVersion,
		SessionID:      sessionID,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.opts.Issuer,
			Subject:   u.ID,
			Audience:  jwt.ClaimStrings{s.opts.Audience},
			ExpiresAt: jwt.NewNumericDate(exp),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        base64.RawURLEncoding.EncodeToString(jti),
		},
	}
	signer := s.keys.Load().signerAt(now)
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = signer.ID
	signed, err := tok.SignedString(signer.Private)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign access token: %w", err)
	}
	// The JWT carries whole seconds; report what it says.
	return signed, time.Unix(exp.Unix(), 0), nil
}

func (s *Service) keyFunc(t *jwt.Token) (any, error) {
	kid, ok := t.Header["kid"].(string)
	if !ok || kid == "" || len(kid) > maxKidLen {
		return nil, fmt.Errorf("missing key id")
	}
	pub, ok := s.keys.Load().verify[kid]
	if !ok {
		return nil, fmt.Errorf("unknown key id")
	}
	return pub, nil
}

// verifyAccess checks signature, algorithm, issuer, audience, expiry and
// issue time (both required, at most AccessTTL apart) without touching the
// database.
func (s *Service) verifyAccess(token string) (Claims, error) {
	if token == "" || len(token) > maxAccessTokenLen {
		return Claims{}, fmt.Errorf("%w: malformed", ErrInvalidToken)
	}
	var c accessClaims
	_, err := s.parser.ParseWithClaims(token, &c, s.keyFunc)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if c.Subject == "" || (c.Role != RoleUser && c.Role != RoleAdmin) || c.ExpiresAt == nil || c.IssuedAt == nil {
		return Claims{}, fmt.Errorf("%w: missing claims", ErrInvalidToken)
	}
	// Central signs for AccessTTL: a longer life is no token it issued, and
	// refusing it bounds what a key copied out of the database can mint
	// until the key is rotated out.
	if c.ExpiresAt.Sub(c.IssuedAt.Time) > s.opts.AccessTTL+s.opts.Leeway {
		return Claims{}, fmt.Errorf("%w: lifetime longer than issued", ErrInvalidToken)
	}
	if c.SessionVersion < 0 || len(c.SessionID) > maxSessionIDLen {
		return Claims{}, fmt.Errorf("%w: bad session", ErrInvalidToken)
	}
	return Claims{UserID: c.Subject, Role: c.Role, Expires: c.ExpiresAt.Time, SessionVersion: c.SessionVersion, SessionID: c.SessionID}, nil
}

func newParser(opts Options) *jwt.Parser {
	return jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(opts.Issuer),
		jwt.WithAudience(opts.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(opts.Now),
		jwt.WithLeeway(opts.Leeway),
	)
}

// Refresh tokens: "hpr_" + base64url of 32 random bytes.
const (
	refreshPrefix   = "hpr_"
	refreshRandLen  = 32
	refreshTokenLen = len(refreshPrefix) + 43 // RawURLEncoding of 32 bytes
)

func newRefreshToken() (token string, hash []byte, err error) {
	b := make([]byte, refreshRandLen)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("refresh token: %w", err)
	}
	token = refreshPrefix + base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(token))
	return token, h[:], nil
}

// refreshHash checks the shape of a presented refresh token and returns its hash.
func refreshHash(token string) ([]byte, error) {
	if len(token) != refreshTokenLen || !strings.HasPrefix(token, refreshPrefix) {
		return nil, fmt.Errorf("%w: malformed refresh token", ErrInvalidToken)
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(token[len(refreshPrefix):]); err != nil {
		return nil, fmt.Errorf("%w: malformed refresh token", ErrInvalidToken)
	}
	h := sha256.Sum256([]byte(token))
	return h[:], nil
}
