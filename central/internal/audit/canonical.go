package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"
)

// The canonical form of a JSON value is, by definition, what encoding/json
// makes of it after a round trip through generic values: decoded into an
// any (objects become maps, numbers float64, the last of duplicate keys
// wins) and encoded again (keys sorted, no space, HTML characters
// escaped). Every stored record's content sum depends on those exact bytes.
// The round trip builds a map per object and boxes every value, which made
// it the largest cost of preparing a record; appendCanonical produces the
// same bytes in one pass over the encoded value. Its fuzz test holds it to
// the round trip.

// errBadNumber is a number a float64 cannot hold, which the round trip
// refuses as well.
var errBadNumber = errors.New("audit: number out of range")

// canonicalizer rewrites one valid JSON value in canonical form.
type canonicalizer struct {
	src []byte
	pos int
	// members and tmp are scratch space shared by the nested objects.
	members []member
	tmp     []byte
}

// member is an object member already written to the output: its key as
// decoded and, when the key needs escaping, as encoded; its value's bytes
// at [start, end) of the output.
type member struct {
	key        []byte
	encodedKey []byte
	start, end int
}

// appendCanonical appends the canonical form of raw to dst. A JSON null
// appends nothing and reports null.
func appendCanonical(dst, raw []byte) (out []byte, null bool, err error) {
	if !json.Valid(raw) {
		// The decoder's error says where and why.
		var g any
		if err := json.Unmarshal(raw, &g); err != nil {
			return dst, false, err
		}
		return dst, false, errors.New("audit: invalid JSON")
	}
	c := scratch.Get().(*canonicalizer)
	defer c.release()
	c.src, c.pos = raw, 0
	if dst == nil {
		// The canonical form is about as long as the compact input.
		dst = make([]byte, 0, len(raw))
	}
	c.space()
	if c.src[c.pos] == 'n' {
		return dst, true, nil
	}
	out, err = c.value(dst)
	return out, false, err
}

// scratch keeps canonicalizers between records: their member lists and
// value copies are most of what canonicalizing allocated otherwise.
var scratch = sync.Pool{New: func() any { return &canonicalizer{members: make([]member, 0, 16)} }}

// maxScratch bounds the copy space a pooled canonicalizer keeps, so that
// one record's large value does not stay in the pool.
const maxScratch = 16 << 10

func (c *canonicalizer) release() {
	if cap(c.tmp) > maxScratch || cap(c.members) > maxScratch/16 {
		return
	}
	// Keys point into the record's bytes; nothing of it may stay reachable.
	clear(c.members[:cap(c.members)])
	c.src, c.members, c.tmp = nil, c.members[:0], c.tmp[:0]
	scratch.Put(c)
}

func (c *canonicalizer) space() {
	for c.pos < len(c.src) {
		switch c.src[c.pos] {
		case ' ', '\t', '\n', '\r':
			c.pos++
		default:
			return
		}
	}
}

// value appends the value at c.pos; the input is known to be valid.
func (c *canonicalizer) value(dst []byte) ([]byte, error) {
	c.space()
	switch b := c.src[c.pos]; b {
	case '{':
		return c.object(dst)
	case '[':
		return c.array(dst)
	case '"':
		s, fast := c.str()
		if fast {
			return append(dst, s...), nil
		}
		_, enc, err := reencode(s)
		return append(dst, enc...), err
	case 't':
		c.pos += len("true")
		return append(dst, "true"...), nil
	case 'f':
		c.pos += len("false")
		return append(dst, "false"...), nil
	case 'n':
		c.pos += len("null")
		return append(dst, "null"...), nil
	default:
		return c.number(dst)
	}
}

func (c *canonicalizer) array(dst []byte) ([]byte, error) {
	c.pos++ // [
	dst = append(dst, '[')
	c.space()
	if c.src[c.pos] == ']' {
		c.pos++
		return append(dst, ']'), nil
	}
	for {
		var err error
		if dst, err = c.value(dst); err != nil {
			return dst, err
		}
		c.space()
		if c.src[c.pos] == ']' {
			c.pos++
			return append(dst, ']'), nil
		}
		c.pos++ // ,
		dst = append(dst, ',')
	}
}

func (c *canonicalizer) object(dst []byte) ([]byte, error) {
	c.pos++ // {
	c.space()
	if c.src[c.pos] == '}' {
		c.pos++
		return append(dst, "{}"...), nil
	}
	// The values are written in their order first, then moved into the
	// order of their keys.
	start, mark := len(dst), len(c.members)
	for {
		c.space()
		quoted, fast := c.str()
		m := member{key: quoted[1 : len(quoted)-1]}
		if !fast {
			k, enc, err := reencode(quoted)
			if err != nil {
				return dst, err
			}
			m.key, m.encodedKey = []byte(k), enc
		}
		c.space()
		c.pos++ // :
		m.start = len(dst)
		var err error
		if dst, err = c.value(dst); err != nil {
			return dst, err
		}
		m.end = len(dst)
		c.members = append(c.members, m)
		c.space()
		if c.src[c.pos] == '}' {
			c.pos++
			break
		}
		c.pos++ // ,
	}
	ms := c.members[mark:]
	slices.SortStableFunc(ms, func(a, b member) int { return bytes.Compare(a.key, b.key) })
	c.tmp = append(c.tmp[:0], dst[start:]...)
	dst = append(dst[:start], '{')
	first := true
	for i, m := range ms {
		if i+1 < len(ms) && bytes.Equal(ms[i+1].key, m.key) {
			continue // a later duplicate wins, as in a map
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		if m.encodedKey != nil {
			dst = append(dst, m.encodedKey...)
		} else {
			dst = append(dst, '"')
			dst = append(dst, m.key...)
			dst = append(dst, '"')
		}
		dst = append(dst, ':')
		dst = append(dst, c.tmp[m.start-start:m.end-start]...)
	}
	c.members = c.members[:mark]
	return append(dst, '}'), nil
}

// str consumes the string at c.pos and returns it with its quotes. fast
// reports that its canonical encoding is these very bytes: no escapes, no
// character encoding/json escapes (<, >, &, U+2028, U+2029), valid UTF-8.
func (c *canonicalizer) str() (quoted []byte, fast bool) {
	start := c.pos
	c.pos++
	fast, ascii := true, true
	for {
		b := c.src[c.pos]
		switch {
		case b == '"':
			c.pos++
			quoted = c.src[start:c.pos]
			if fast && !ascii {
				inner := quoted[1 : len(quoted)-1]
				fast = utf8.Valid(inner) && !bytes.Contains(inner, []byte("\u2028")) && !bytes.Contains(inner, []byte("\u2029"))
			}
			return quoted, fast
		case b == '\\':
			fast = false
			c.pos += 2
			continue
		case b == '<' || b == '>' || b == '&':
			fast = false
		case b >= utf8.RuneSelf:
			ascii = false
		}
		c.pos++
	}
}

// reencode decodes the JSON string quoted and encodes it again the way
// encoding/json does.
func reencode(quoted []byte) (decoded string, encoded []byte, err error) {
	if err := json.Unmarshal(quoted, &decoded); err != nil {
		return "", nil, err
	}
	encoded, err = json.Marshal(decoded)
	return decoded, encoded, err
}

// number appends the number at c.pos as a float64 encodes. An integer of
// up to 15 digits is exact in a float64 and encodes as written.
func (c *canonicalizer) number(dst []byte) ([]byte, error) {
	start := c.pos
	simple := true
	for c.pos < len(c.src) {
		b := c.src[c.pos]
		if b >= '0' && b <= '9' || b == '-' {
			c.pos++
			continue
		}
		if b == '.' || b == 'e' || b == 'E' || b == '+' {
			simple = false
			c.pos++
			continue
		}
		break
	}
	lit := c.src[start:c.pos]
	digits := len(lit)
	if lit[0] == '-' {
		digits--
	}
	if simple && digits <= 15 {
		return append(dst, lit...), nil
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil {
		return dst, fmt.Errorf("%w: %s", errBadNumber, lit)
	}
	return appendFloat(dst, f), nil
}

// appendFloat encodes f as encoding/json does: the shortest decimal that
// reads back as f, in exponent form only for very small or large values.
func appendFloat(dst []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// e-09 becomes e-9, as encoding/json writes it.
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}
