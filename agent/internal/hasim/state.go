package hasim

import (
	"crypto/rand"
	"encoding/json"
	"strings"
	"time"
)

// State is one entity's state as Home Assistant's state machine holds it.
// Its JSON form follows core's State.as_dict, key order included.
type State struct {
	EntityID     string
	State        string
	Attributes   map[string]any
	LastChanged  time.Time
	LastReported time.Time
	LastUpdated  time.Time
	Context      Context
}

// Context identifies the write that produced a state or an event.
type Context struct {
	ID       string  `json:"id"`
	ParentID *string `json:"parent_id"`
	UserID   *string `json:"user_id"`
}

type stateJSON struct {
	EntityID     string         `json:"entity_id"`
	State        string         `json:"state"`
	Attributes   map[string]any `json:"attributes"`
	LastChanged  string         `json:"last_changed"`
	LastReported string         `json:"last_reported"`
	LastUpdated  string         `json:"last_updated"`
	Context      Context        `json:"context"`
}

// MarshalJSON emits the state object the way core does.
func (s State) MarshalJSON() ([]byte, error) {
	attrs := s.Attributes
	if attrs == nil {
		attrs = map[string]any{}
	}
	return json.Marshal(stateJSON{
		EntityID:     s.EntityID,
		State:        s.State,
		Attributes:   attrs,
		LastChanged:  isoTime(s.LastChanged),
		LastReported: isoTime(s.LastReported),
		LastUpdated:  isoTime(s.LastUpdated),
		Context:      s.Context,
	})
}

// clone returns a copy whose attribute map can be changed freely.
func (s State) clone() State {
	s.Attributes = cloneAttrs(s.Attributes)
	return s
}

func cloneAttrs(a map[string]any) map[string]any {
	out := make(map[string]any, len(a))
	for k, v := range a {
		out[k] = v
	}
	return out
}

// isoTime formats like Python's datetime.isoformat() for an aware UTC time:
// microseconds, and no fraction at all when they are zero.
func isoTime(t time.Time) string {
	t = t.UTC().Truncate(time.Microsecond)
	if t.Nanosecond() == 0 {
		return t.Format("2006-01-02T15:04:05+00:00")
	}
	return t.Format("2006-01-02T15:04:05.000000+00:00")
}

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// newULID returns a 26-character ULID: 48 bits of milliseconds, 80 random bits.
func newULID(now time.Time) string {
	var b [16]byte
	ms := uint64(now.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	_, _ = rand.Read(b[6:])
	// 128 bits in 26 base32 digits: the first digit carries 3 bits.
	var out [26]byte
	var acc uint64
	bits := 0
	pos := 25
	for i := 15; i >= 0; i-- {
		acc |= uint64(b[i]) << bits
		bits += 8
		for bits >= 5 {
			out[pos] = crockford[acc&31]
			acc >>= 5
			bits -= 5
			pos--
		}
	}
	out[0] = crockford[acc&31]
	return string(out[:])
}

// validEntityID applies core's valid_entity_id rule: lowercase domain and
// object id of [0-9a-z_], neither starting nor ending with "_", no "__" in
// the domain, at most 255 characters.
func validEntityID(id string) bool {
	if len(id) > 255 {
		return false
	}
	domain, object, ok := strings.Cut(id, ".")
	if !ok || !validSlug(domain) || !validSlug(object) || strings.Contains(domain, "__") {
		return false
	}
	return true
}

func validSlug(s string) bool {
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// domainOf returns the part of an entity id before the dot.
func domainOf(entityID string) string {
	d, _, _ := strings.Cut(entityID, ".")
	return d
}

// slugify turns a name into an object id the way HA's slugify roughly does.
func slugify(s string) string {
	var b strings.Builder
	lastUnderscore := true
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			lastUnderscore = false
			continue
		}
		if !lastUnderscore {
			b.WriteByte('_')
			lastUnderscore = true
		}
	}
	out := strings.Trim(b.String(), "_")
	if out == "" {
		return "unnamed"
	}
	return out
}
