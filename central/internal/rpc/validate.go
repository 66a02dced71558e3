package rpc

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/central/internal/home"
)

// Input limits, checked before any domain call so an oversized field never
// reaches storage or the intent engine.
const (
	maxTextChars     = 1000
	maxNameChars     = 100
	maxIDChars       = 100
	maxEmailChars    = 254
	maxPasswordChars = 1024
	maxSecretChars   = 4096
	maxLanguageChars = 35
	maxHostnameChars = 255
	maxVersionChars  = 100
)

// check collects the problems of one request so the caller sees them all.
type check struct{ problems []string }

// field checks one string: required or not, and at most max characters.
func (c *check) field(name, value string, required bool, max int) {
	switch n := utf8.RuneCountInString(value); {
	case required && strings.TrimSpace(value) == "":
		c.problems = append(c.problems, name+" is required")
	case n > max:
		c.problems = append(c.problems, fmt.Sprintf("%s is longer than %d characters", name, max))
	}
}

// plain checks that a free text (a sentence) holds no control character
// but tab and line breaks, and no invisible character (home.Invisible): a
// NUL or an escape sequence has no meaning in what a person says, and an
// invisible character makes the audit log show, or a search of it miss,
// another sentence than the one run.
func (c *check) plain(name, value string) {
	if strings.IndexFunc(value, func(r rune) bool {
		return unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r' || home.Invisible(r)
	}) >= 0 {
		c.problems = append(c.problems, name+" must not contain control or invisible characters")
	}
}

// token checks that an identifier the caller hands back (a conversation
// id, a language tag) is printable ASCII without spaces, as central's own
// are: anything else in it is no id central gave out, and would reach the
// conversation store and the logs as it is.
func (c *check) token(name, value string) {
	if strings.IndexFunc(value, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
		c.problems = append(c.problems, name+" must be printable ASCII without spaces")
	}
}

// instant checks an optional timestamp: a valid one within the years 1 to
// 9999 (Timestamp.CheckValid), which PostgreSQL and Go's time both hold;
// past them AsTime wraps and the database refuses the query.
func (c *check) instant(name string, ts *timestamppb.Timestamp) {
	if ts != nil && ts.CheckValid() != nil {
		c.problems = append(c.problems, name+" must be a valid time between the years 1 and 9999")
	}
}

// failf adds a problem worded by the caller.
func (c *check) failf(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// err is the InvalidArgument error naming every problem, or nil.
func (c *check) err() error {
	if len(c.problems) == 0 {
		return nil
	}
	return connect.NewError(connect.CodeInvalidArgument, errors.New(strings.Join(c.problems, "; ")))
}
