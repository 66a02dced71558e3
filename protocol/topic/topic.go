// Package topic is the MQTT topic schema shared by central and the agent: how
// topics are built, how they are parsed, and which topics an agent may use.
// It is the single source of truth for the wire; docs/protocol.md describes it
// and a test keeps the two in step.
//
// Every topic is homeplane/v1/homes/{home}/{kind}. The home id is the UUID
// central assigned to the home.
package topic

import (
	"errors"
	"strings"
)

// Prefix begins every Homeplane topic.
const Prefix = "homeplane/v1/homes/"

// Kind is the last level of a topic: what travels on it.
type Kind string

// The kinds of topic, with who publishes them.
const (
	Command   Kind = "cmd"       // central → agent: protocol Command
	Result    Kind = "result"    // agent → central: protocol Result
	Presence  Kind = "presence"  // agent → central, retained; the agent's Will
	Entities  Kind = "entities"  // agent → central: protocol EntitySync
	Telemetry Kind = "telemetry" // agent → central: resource samples
	Events    Kind = "events"    // agent → central: supervisor events
)

// Kinds lists every kind, in the order docs/protocol.md lists them.
var Kinds = []Kind{Command, Result, Presence, Entities, Telemetry, Events}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	switch k {
	case Command, Result, Presence, Entities, Telemetry, Events:
		return true
	}
	return false
}

// FromAgent reports whether an agent is the publisher of kind k.
func (k Kind) FromAgent() bool { return k.Valid() && k != Command }

// Retained reports whether messages of kind k are published retained.
func (k Kind) Retained() bool { return k == Presence }

// MaxHomeIDLen bounds a home id; UUIDs are 36 characters.
const MaxHomeIDLen = 64

// ErrInvalid is returned for any topic that is not a Homeplane topic.
var ErrInvalid = errors.New("topic: not a homeplane topic")

// ValidHomeID reports whether id can be a home id: 1 to MaxHomeIDLen
// characters from [a-z0-9-]. That excludes the MQTT wildcards, the level
// separator and anything else that could escape a topic level.
func ValidHomeID(id string) bool {
	if id == "" || len(id) > MaxHomeIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// For builds the topic of kind k for home. It panics on an invalid home id,
// which is a programming error: ids come from central's own records.
func For(home string, k Kind) string {
	if !ValidHomeID(home) || !k.Valid() {
		panic("topic: invalid home id or kind")
	}
	return Prefix + home + "/" + string(k)
}

// Filter is the subscription filter matching kind k of every home; central
// subscribes with it.
func Filter(k Kind) string { return Prefix + "+/" + string(k) }

// Parse splits a concrete topic (no wildcards) into its home id and kind.
func Parse(t string) (home string, k Kind, err error) {
	rest, ok := strings.CutPrefix(t, Prefix)
	if !ok {
		return "", "", ErrInvalid
	}
	home, kind, ok := strings.Cut(rest, "/")
	if !ok || !ValidHomeID(home) {
		return "", "", ErrInvalid
	}
	k = Kind(kind)
	if !k.Valid() {
		return "", "", ErrInvalid
	}
	return home, k, nil
}
