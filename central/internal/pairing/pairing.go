// Package pairing gives a voice device without a keyboard its device token,
// as in RFC 8628 (OAuth 2.0 device authorization). The device asks for a
// device code, its secret, and a short user code it shows; a person who is
// logged in approves the user code for one of their homes; the device polls
// with its device code and gets its token once. Both codes are kept only as
// SHA-256 hashes, guesses at user codes are throttled and audited, and a
// user code someone else already decided looks like one that never existed.
package pairing

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/home"
)

var (
	// ErrInvalidGrant is a device code that is unknown or already redeemed
	// (RFC 6749's invalid_grant).
	ErrInvalidGrant = errors.New("invalid_grant: unknown or used device code")
	// ErrNotFound is a user code that is unknown, expired or already
	// decided, or a home the person cannot see.
	ErrNotFound = errors.New("no pairing waits for this code")
	// ErrCodeTaken is a store's answer to a user code another pending
	// pairing holds; Start draws another.
	ErrCodeTaken = errors.New("user code taken")
)

// Status is how a pairing stands when its device polls.
type Status int

// The statuses, with RFC 8628's error code of each.
const (
	StatusPending  Status = iota + 1 // authorization_pending
	StatusSlowDown                   // slow_down
	StatusDenied                     // access_denied
	StatusExpired                    // expired_token
	StatusApproved                   // the token, this once
)

// RFCError is RFC 8628's error code for s; "" for StatusApproved.
func (s Status) RFCError() string {
	switch s {
	case StatusPending:
		return "authorization_pending"
	case StatusSlowDown:
		return "slow_down"
	case StatusDenied:
		return "access_denied"
	case StatusExpired:
		return "expired_token"
	}
	return ""
}

// State is where a stored pairing is.
type State string

const (
	StatePending  State = "pending"
	StateApproved State = "approved"
	StateDenied   State = "denied"
	StateRedeemed State = "redeemed"
)

// Pairing is a stored pairing, as it is created.
type Pairing struct {
	DeviceCodeHash []byte
	UserCodeHash   []byte
	ClientName     string
	Interval       time.Duration
	CreatedAt      time.Time
	ExpiresAt      time.Time
}

// Decision is a person's answer to a pairing.
type Decision struct {
	By      string // the user deciding
	Approve bool
	// For an approval: the home, name and area the device gets.
	HomeID, Name, Area string
	At                 time.Time
}

// Polled is what a poll found: the status and interval, and for a pairing
// redeemed by this poll the approval it carried.
type Polled struct {
	Status   Status
	Interval time.Duration
	// Set with StatusApproved.
	OwnerID, HomeID, Name, Area string
}

// Store keeps pairings.
type Store interface {
	// Create stores p, or returns ErrCodeTaken when a pending pairing holds
	// its user code; it also drops pairings that expired before purgeBefore.
	Create(ctx context.Context, p Pairing, purgeBefore time.Time) error
	// Poll records a poll at now of the pairing with the device code hash,
	// in one transaction: an unexpired one polled again within its interval
	// answers StatusSlowDown and its interval grows by step up to max; an
	// approved one becomes redeemed and answers StatusApproved with the
	// approval. A code unknown or already redeemed is ErrInvalidGrant.
	Poll(ctx context.Context, deviceCodeHash []byte, now time.Time, step, max time.Duration) (Polled, error)
	// Decide records d on the pending, unexpired pairing with the user code
	// hash and returns its client name and the name the device gets (d's,
	// else the client name, else "Voice device"), or ErrNotFound.
	Decide(ctx context.Context, userCodeHash []byte, d Decision) (clientName, deviceName string, err error)
}

// Homes is what pairing needs from the home service (home.Service).
type Homes interface {
	Get(ctx context.Context, ownerID, homeID string) (home.Home, error)
	RegisterDevice(ctx context.Context, ownerID, homeID, name, area string) (home.Device, string, error)
}

// Auditor commits audit events (audit.Writer).
type Auditor interface {
	Event(ctx context.Context, e audit.Event) error
}

// Grant is what a device gets when it starts pairing.
type Grant struct {
	DeviceCode string
	UserCode   string // as shown: XXXX-XXXX
	ExpiresIn  time.Duration
	Interval   time.Duration
}

// Actor is the person deciding, with the request that carries the
// decision, for the audit record.
type Actor struct {
	UserID    string
	RequestID string
}

// Device codes: a prefix, then 256 random bits.
const (
	deviceCodePrefix = "hpp_"
	deviceCodeLen    = len(deviceCodePrefix) + 43
)

// User codes: 8 characters from RFC 8628's suggested alphabet of 20
// consonants (no vowels, so no words; nothing to confuse with digits),
// 20^8 ≈ 2.6·10^10 codes.
const (
	userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"
	userCodeLen      = 8
)

func newDeviceCode() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("pairing: device code: %w", err)
	}
	return deviceCodePrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// newUserCode draws a user code without modulo bias: a byte is used only
// below the largest multiple of the alphabet's size.
func newUserCode() (string, error) {
	const n = len(userCodeAlphabet)
	const limit = 256 - 256%n
	out := make([]byte, 0, userCodeLen)
	buf := make([]byte, 16)
	for len(out) < userCodeLen {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("pairing: user code: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < userCodeLen {
				out = append(out, userCodeAlphabet[int(b)%n])
			}
		}
	}
	return string(out), nil
}

// NormalizeUserCode returns the code as stored (8 letters of the alphabet,
// upper case), ignoring case, spaces and dashes, or false when it cannot be
// a user code.
func NormalizeUserCode(s string) (string, bool) {
	if len(s) > 4*userCodeLen {
		return "", false
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == '-' || r == ' ':
		case strings.ContainsRune(userCodeAlphabet, r):
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	if b.Len() != userCodeLen {
		return "", false
	}
	return b.String(), true
}

// FormatUserCode shows a normalized code as XXXX-XXXX.
func FormatUserCode(code string) string {
	if len(code) != userCodeLen {
		return code
	}
	return code[:4] + "-" + code[4:]
}

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// wellFormedDeviceCode reports whether s has the shape of a device code.
func wellFormedDeviceCode(s string) bool {
	if len(s) != deviceCodeLen || !strings.HasPrefix(s, deviceCodePrefix) {
		return false
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(s[len(deviceCodePrefix):])
	return err == nil
}
