package intent

import (
	"errors"
	"fmt"
)

// CodeRefused is the error code of a sentence that was not acted on because
// it names something the home does not have, or because the home's policy
// for sensitive actions says no.
const CodeRefused = "refused"

// UnknownKind says what a phrase the home does not have was taken to name.
type UnknownKind string

// Kinds of unknown phrases.
const (
	UnknownArea   UnknownKind = "area"
	UnknownFloor  UnknownKind = "floor"
	UnknownDevice UnknownKind = "device"
)

// UnknownError is returned by a parser that understood what a sentence asks
// but not everything it names: "turn on the garden lights" in a home
// without a garden. The engine refuses it rather than act on what it did
// understand.
type UnknownError struct {
	// Intent is what the sentence would have done; it is never executed.
	Intent Intent
	Kind   UnknownKind
	// Words are the words as heard ("garden", "side door").
	Words string
}

func (e *UnknownError) Error() string {
	return fmt.Sprintf("unknown %s %q", e.Kind, e.Words)
}

// Speech is the answer in Home Assistant's words.
func (e *UnknownError) Speech() string {
	return fmt.Sprintf("Sorry, I am not aware of any %s called %s", e.Kind, e.Words)
}

// asUnknown reports whether err is an UnknownError.
func asUnknown(err error) (*UnknownError, bool) {
	var u *UnknownError
	ok := errors.As(err, &u)
	return u, ok
}
