package command

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

const (
	maxIDLen       = 128
	maxNameLen     = 64
	maxEntityIDLen = 255
	maxDataBytes   = 64 << 10
	maxErrorLen    = 300
)

// call is a validated service call, ready for Home Assistant.
type call struct {
	domain, service string
	data            map[string]any
}

func checkCommandID(id string) error {
	if id == "" {
		return errors.New("command id is empty")
	}
	if len(id) > maxIDLen {
		return fmt.Errorf("command id is longer than %d bytes", maxIDLen)
	}
	for _, r := range id {
		if r < 0x21 || r > 0x7e {
			return errors.New("command id must be printable ASCII")
		}
	}
	return nil
}

func (s *Services) validate(in []*homeplanev1.ServiceCall) ([]call, error) {
	if len(in) == 0 {
		return nil, errors.New("command has no service calls")
	}
	if len(in) > s.opts.MaxCalls {
		return nil, fmt.Errorf("command has %d service calls, more than %d", len(in), s.opts.MaxCalls)
	}
	out := make([]call, 0, len(in))
	for i, c := range in {
		cc, err := s.validateCall(c)
		if err == nil {
			err = s.checkDomains(c)
		}
		if err != nil {
			return nil, fmt.Errorf("call %d: %w", i+1, err)
		}
		out = append(out, cc)
	}
	return out, nil
}

// errForbidden marks a call outside Options.AllowedDomains.
var errForbidden = errors.New("domain not allowed on this home")

// checkDomains refuses a valid call whose service domain or target
// entities' domains are outside the allow-list.
func (s *Services) checkDomains(c *homeplanev1.ServiceCall) error {
	if len(s.opts.AllowedDomains) == 0 {
		return nil
	}
	if !slices.Contains(s.opts.AllowedDomains, c.GetDomain()) {
		return fmt.Errorf("%w: %s", errForbidden, c.GetDomain())
	}
	for _, id := range c.GetEntityIds() {
		domain, _, _ := strings.Cut(id, ".")
		if !slices.Contains(s.opts.AllowedDomains, domain) {
			return fmt.Errorf("%w: %s (entity %s)", errForbidden, domain, id)
		}
	}
	return nil
}

func (s *Services) validateCall(c *homeplanev1.ServiceCall) (call, error) {
	if !validSlug(c.GetDomain(), maxNameLen) {
		return call{}, fmt.Errorf("invalid domain %q", truncate(c.GetDomain(), maxNameLen))
	}
	if !validSlug(c.GetService(), maxNameLen) {
		return call{}, fmt.Errorf("invalid service %q", truncate(c.GetService(), maxNameLen))
	}
	if n := len(c.GetEntityIds()); n > s.opts.MaxEntityIDs {
		return call{}, fmt.Errorf("%d entity ids, more than %d", n, s.opts.MaxEntityIDs)
	}
	for _, id := range c.GetEntityIds() {
		if !ValidEntityID(id) {
			return call{}, fmt.Errorf("invalid entity id %q", truncate(id, maxEntityIDLen))
		}
	}
	if n := proto.Size(c.GetData()); n > maxDataBytes {
		return call{}, fmt.Errorf("service data is %d bytes, more than %d", n, maxDataBytes)
	}
	for k, v := range c.GetData().GetFields() {
		if err := checkValue(v, 1); err != nil {
			return call{}, fmt.Errorf("service data %q: %w", truncate(k, maxNameLen), err)
		}
	}
	data := c.GetData().AsMap()
	if _, ok := data["entity_id"]; ok {
		// Targets travel in entity_ids only, so every target is validated.
		return call{}, errors.New("service data must not carry entity_id; use entity_ids")
	}
	if len(c.GetEntityIds()) > 0 {
		data["entity_id"] = append([]string(nil), c.GetEntityIds()...)
	}
	return call{domain: c.GetDomain(), service: c.GetService(), data: data}, nil
}

// maxDataDepth bounds how deep service data nests; no service of Home
// Assistant takes more than a few levels.
const maxDataDepth = 32

// checkValue refuses numbers JSON cannot carry (NaN, infinities), which
// would reach Home Assistant as whatever the encoder makes of them, and
// data nested past maxDataDepth.
func checkValue(v *structpb.Value, depth int) error {
	if depth > maxDataDepth {
		return fmt.Errorf("nested more than %d deep", maxDataDepth)
	}
	switch k := v.GetKind().(type) {
	case *structpb.Value_NumberValue:
		if math.IsNaN(k.NumberValue) || math.IsInf(k.NumberValue, 0) {
			return fmt.Errorf("number %v is not a finite number", k.NumberValue)
		}
	case *structpb.Value_ListValue:
		for _, e := range k.ListValue.GetValues() {
			if err := checkValue(e, depth+1); err != nil {
				return err
			}
		}
	case *structpb.Value_StructValue:
		for _, e := range k.StructValue.GetFields() {
			if err := checkValue(e, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// ValidEntityID reports whether id has Home Assistant's entity id syntax:
// "<domain>.<object_id>", each part a slug of [a-z0-9_] that neither starts
// nor ends with "_" and holds no "__".
func ValidEntityID(id string) bool {
	if len(id) > maxEntityIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] == '.' {
			return validSlug(id[:i], maxEntityIDLen) && validSlug(id[i+1:], maxEntityIDLen)
		}
	}
	return false
}

// validSlug reports whether s is 1 to max characters of [a-z0-9_], without a
// leading or trailing "_" or a "__", as Home Assistant's domain rule says.
func validSlug(s string, max int) bool {
	if s == "" || len(s) > max || s[0] == '_' || s[len(s)-1] == '_' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '_':
			if i > 0 && s[i-1] == '_' {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// truncate shortens s to at most n bytes without splitting a rune.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
