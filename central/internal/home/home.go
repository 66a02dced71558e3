// Package home holds homes and what belongs to them: voice devices, the
// one-time enrollment tokens and the credentials of each home's agent. Every
// call that takes an owner is scoped by that owner: someone else's home looks
// exactly like one that does not exist.
package home

import (
	"context"
	"errors"
	"time"
)

var (
	ErrNotFound        = errors.New("not found")
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrInvalidInput    = errors.New("invalid input")
)

// Home is a household.
type Home struct {
	ID        string
	OwnerID   string
	Name      string
	CreatedAt time.Time
	// Enrolled reports whether an agent has enrolled for the home.
	Enrolled bool
	// SensitivePolicy is what voice devices may do with sensitive actions.
	SensitivePolicy Policy
}

// Policy is what a home lets voice devices do with sensitive actions:
// unlocking, opening garage doors, doors, gates and valves.
type Policy string

// Policies a home can choose.
const (
	PolicyAllow   Policy = "allow"   // run them (the default)
	PolicyConfirm Policy = "confirm" // ask the device for a "yes" first
	PolicyDeny    Policy = "deny"    // refuse them from voice devices
)

// Valid reports whether p is one of the policies.
func (p Policy) Valid() bool {
	return p == PolicyAllow || p == PolicyConfirm || p == PolicyDeny
}

// Device is a voice device registered to a home.
type Device struct {
	ID        string
	HomeID    string
	Name      string
	Area      string
	CreatedAt time.Time
	Revoked   bool
}

// Agent is the enrolled agent of a home.
type Agent struct {
	ID     string
	HomeID string
}

// AgentRecord is what the store keeps about a newly enrolled agent.
type AgentRecord struct {
	ID         string
	SecretHash []byte
	Hostname   string
	Version    string
	EnrolledAt time.Time
}

// Store persists homes, devices, enrollment tokens and agents. Methods taking
// an owner id return ErrNotFound for a home that owner does not own.
type Store interface {
	// CreateHome returns ErrInvalidInput (wrapped) when the owner already has max homes.
	CreateHome(ctx context.Context, h Home, max int) (Home, error)
	ListHomes(ctx context.Context, ownerID string) ([]Home, error)
	GetHome(ctx context.Context, ownerID, homeID string) (Home, error)
	DeleteHome(ctx context.Context, ownerID, homeID string) error

	// CreateEnrollmentToken also drops the home's used and expired tokens.
	CreateEnrollmentToken(ctx context.Context, ownerID, homeID string, hash []byte, now, expires time.Time) error
	// Enroll uses up the unexpired, unused token with the given hash and
	// makes a the home's only agent, atomically. It returns the home and the
	// ids of the agents a replaced, or ErrUnauthenticated for a token that is
	// unknown, used or expired.
	Enroll(ctx context.Context, hash []byte, now time.Time, a AgentRecord) (homeID string, replaced []string, err error)
	// AgentSecret returns the agent's home and secret hash, or ErrNotFound.
	AgentSecret(ctx context.Context, agentID string) (homeID string, secretHash []byte, err error)

	// CreateDevice returns ErrInvalidInput (wrapped) when the home already
	// has max active devices.
	CreateDevice(ctx context.Context, ownerID string, d Device, tokenHash []byte, max int) (Device, error)
	ListDevices(ctx context.Context, ownerID, homeID string) ([]Device, error)
	RevokeDevice(ctx context.Context, ownerID, homeID, deviceID string, now time.Time) error
	// DeviceByToken returns the active device with the token hash (not
	// revoked, its home's owner not disabled), or ErrNotFound.
	DeviceByToken(ctx context.Context, tokenHash []byte) (Device, error)

	// DeleteAgent removes the agent of one of the owner's homes and returns
	// its id ("" when none was enrolled), or ErrNotFound for the home.
	DeleteAgent(ctx context.Context, ownerID, homeID string) (string, error)
	// RevokeEnrollmentTokens marks the home's unused tokens used and returns
	// how many, or ErrNotFound for the home.
	RevokeEnrollmentTokens(ctx context.Context, ownerID, homeID string, now time.Time) (int, error)

	// SetSensitivePolicy stores one of the owner's homes' policy, or
	// returns ErrNotFound for the home.
	SetSensitivePolicy(ctx context.Context, ownerID, homeID string, p Policy) error
}

// Disconnector drops live agent connections once their credentials are
// gone (the broker).
type Disconnector interface {
	Disconnect(agentID string)
	DisconnectHome(homeID string)
}
