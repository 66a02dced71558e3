// Package intent is the intent engine: it parses a sentence into a Home
// Assistant-style intent, resolves its slots against the home's entity
// registry, executes the matching service calls through the home's agent and
// answers in Home Assistant's words.
package intent

import (
	"context"
	"errors"
	"fmt"
	"time"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// Sentinel errors.
var (
	// ErrNoIntent is returned by a Parser when nothing in the sentence matched.
	ErrNoIntent = errors.New("no intent matched")
	// ErrLater is returned by a Parser for a command said with a time or
	// schedule it cannot keep ("open the awning at ten", "unlock the door
	// tonight"): only "in 10 minutes" delays a command. It is an
	// ErrNoIntent that no later parser is asked about, so that none acts
	// now on what was asked for later.
	ErrLater = fmt.Errorf("a command for a later time: %w", ErrNoIntent)
	// ErrHomeOffline is what an Executor returns when the home's agent is not
	// connected.
	ErrHomeOffline = errors.New("home offline")
	// ErrTimeout is what an Executor returns when the home did not answer
	// before the command's deadline.
	ErrTimeout = errors.New("command timed out")
)

// Intent is a Home Assistant-style intent: a name such as "HassTurnOn" and its
// slots. Slot values are string, int or float64.
type Intent struct {
	Name  Name
	Slots map[string]any
	// Here tells that the sentence named the voice device's own room ("in
	// here", "this room") and the parser knew no room for it: no place in
	// Slots stands for it. The engine acts on nothing then, as Home
	// Assistant matches no such sentence without the satellite's area.
	// Such an intent never acts, so no stored turn holds it.
	Here bool `json:"-"`
}

// Slot returns the slot as a string ("" when absent or not a string).
func (i Intent) Slot(name string) string {
	s, _ := i.Slots[name].(string)
	return s
}

// Number returns a numeric slot.
func (i Intent) Number(name string) (float64, bool) {
	switch v := i.Slots[name].(type) {
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	case float64:
		return v, true
	}
	return 0, false
}

// Context is what the engine knows about where a sentence was spoken.
type Context struct {
	// Area is the name of the area the voice device stands in ("in here");
	// it may be empty.
	Area string
	// AreaID is that area's registry id when known: a device paired with
	// an area id ("bedroom_up") names its room exactly where two floors
	// share the name. Index.Here fills it.
	AreaID string
}

// Parser turns a sentence into an intent. It returns ErrNoIntent when
// nothing matched.
type Parser interface {
	Parse(ctx context.Context, text string, reg *Index, pc Context) (Intent, error)
}

// IndexSource gives the current registry of a home.
type IndexSource interface {
	Index(ctx context.Context, homeID string) (*Index, error)
}

// Executor runs a command in a home and returns the home's result. It
// returns an error wrapping ErrHomeOffline or ErrTimeout (or the command
// package's equivalents) when the home cannot answer.
type Executor interface {
	Execute(ctx context.Context, homeID string, cmd *homeplanev1.Command) (*homeplanev1.Result, error)
}

// TimerRequest says whose timer an intent is about: Owner is the voice
// device's id, or "user:<id>" for a user without a device.
type TimerRequest struct {
	HomeID, Owner, Area string
}

// Timers keeps the timers people set by voice and answers in words. It
// returns an error when no timer (or several) matched or a limit was hit.
type Timers interface {
	Handle(req TimerRequest, in Intent) (speech string, err error)
}

// Request is one sentence to process.
type Request struct {
	RequestID string
	HomeID    string
	// DeviceID is the voice device that spoke, UserID the user whose token
	// was used; timers belong to the device, or to the user without one.
	DeviceID, UserID string
	Text             string
	Language         string
	ConversationID   string
	Context          Context
	// CommandID, when set, is the id of the command sent to the home
	// (derived from the caller's idempotency key, so that a retry is one
	// command to the agent's ledger); empty gets a fresh one.
	CommandID string
}

// Error codes of a failed Response.
const (
	CodeNoIntent    = "no_intent"
	CodeNoMatch     = "no_match"
	CodeAmbiguous   = "ambiguous"
	CodeHomeOffline = "home_offline"
	CodeTimeout     = "timeout"
	CodeFailed      = "failed"
)

// Response is the engine's answer to a Request.
type Response struct {
	Speech string
	// ConversationID names the conversation the next sentence can continue:
	// the request's, or a new one.
	ConversationID string
	Intent         Intent
	Targets        []Target
	Success        bool
	ErrorCode      string
	Executed       []*homeplanev1.ServiceCall
	Result         *homeplanev1.Result
	// Unknown are the words of a refused sentence that named nothing in
	// the home ("garden", "side door").
	Unknown string
	Parser  string
	// LLMTokens is what a language model spent understanding the text.
	LLMTokens  int64
	ParseDur   time.Duration
	ResolveDur time.Duration
	ExecuteDur time.Duration
}

// Target is one entity a request acted on or asked about.
type Target struct {
	EntityID, Name, Area, Domain, State string
}
