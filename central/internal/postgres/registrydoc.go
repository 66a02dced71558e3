package postgres

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/homeplane/homeplane/central/internal/registry"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// The registry document is written on every entity delta, so it is encoded
// by hand rather than through protojson's reflection (ADR 0038). It is the
// protojson form of a ListEntitiesResponse: the same json names, zero values
// left out, timestamps in RFC 3339 UTC, attributes as plain JSON, and an
// error wherever protojson.Marshal gives one (invalid UTF-8, a NaN or
// infinite number, a Value with no kind, a timestamp out of range), so that
// protojson.Unmarshal, on this replica or an older one, reads it back as
// it read protojson's own. Struct keys come in map order: jsonb keeps its
// own order anyway.

var (
	errInvalidUTF8  = errors.New("invalid UTF-8")
	errNoValueKind  = errors.New("google.protobuf.Value: none of the oneof fields is set")
	errBadNumber    = errors.New("google.protobuf.Value.number_value: NaN or infinite")
	errBadTimestamp = errors.New("google.protobuf.Timestamp: out of range")
)

// docBuf is a pooled buffer for one encoded document.
type docBuf struct{ b []byte }

// maxPooledDoc bounds the buffers kept for reuse, so that one very large
// home does not pin its buffer in every P's pool.
const maxPooledDoc = 1 << 20

var docBufs = sync.Pool{New: func() any { return &docBuf{b: make([]byte, 0, 32<<10)} }}

// release returns the buffer to the pool; its bytes must no longer be used.
func (d *docBuf) release() {
	if cap(d.b) <= maxPooledDoc {
		docBufs.Put(d)
	}
}

// encodeSnapshot encodes snap into a pooled buffer; the caller releases it
// once the statement that carries it has run.
func encodeSnapshot(snap *registry.Snapshot) (*docBuf, error) {
	d := docBufs.Get().(*docBuf)
	b, err := appendSnapshot(d.b[:0], snap)
	if err != nil {
		d.release()
		return nil, fmt.Errorf("encode registry: %w", err)
	}
	d.b = b
	return d, nil
}

// appendSnapshot appends snap's document to b.
func appendSnapshot(b []byte, snap *registry.Snapshot) ([]byte, error) {
	o := object{b: append(b, '{')}
	list(&o, "entities", snap.Entities, appendEntity)
	list(&o, "areas", snap.Areas, appendArea)
	list(&o, "floors", snap.Floors, appendFloor)
	if !snap.SyncedAt.IsZero() && o.err == nil {
		o.name("syncedAt")
		o.b, o.err = appendTimestamp(o.b, snap.SyncedAt.Unix(), int64(snap.SyncedAt.Nanosecond()))
	}
	return o.end()
}

func appendEntity(b []byte, e *homeplanev1.Entity) ([]byte, error) {
	o := object{b: append(b, '{')}
	o.str("entityId", e.GetEntityId())
	o.str("name", e.GetName())
	list(&o, "aliases", e.GetAliases(), appendString)
	o.str("domain", e.GetDomain())
	o.str("deviceClass", e.GetDeviceClass())
	o.str("areaId", e.GetAreaId())
	o.str("state", e.GetState())
	if a := e.GetAttributes(); a != nil && o.err == nil {
		o.name("attributes")
		o.b, o.err = appendStruct(o.b, a)
	}
	if t := e.GetLastChanged(); t != nil && o.err == nil {
		o.name("lastChanged")
		o.b, o.err = appendTimestamp(o.b, t.GetSeconds(), int64(t.GetNanos()))
	}
	return o.end()
}

func appendArea(b []byte, a *homeplanev1.Area) ([]byte, error) {
	o := object{b: append(b, '{')}
	o.str("id", a.GetId())
	o.str("name", a.GetName())
	list(&o, "aliases", a.GetAliases(), appendString)
	o.str("floorId", a.GetFloorId())
	return o.end()
}

func appendFloor(b []byte, f *homeplanev1.Floor) ([]byte, error) {
	o := object{b: append(b, '{')}
	o.str("id", f.GetId())
	o.str("name", f.GetName())
	list(&o, "aliases", f.GetAliases(), appendString)
	if f.GetLevel() != 0 {
		o.name("level")
		o.b = strconv.AppendInt(o.b, int64(f.GetLevel()), 10)
	}
	return o.end()
}

// object writes one JSON object's members, leaving out zero values; the
// first error stops it.
type object struct {
	b    []byte
	more bool
	err  error
}

// name starts a member; json names are plain ASCII and need no escaping.
func (o *object) name(n string) {
	if o.more {
		o.b = append(o.b, ',')
	}
	o.more = true
	o.b = append(o.b, '"')
	o.b = append(o.b, n...)
	o.b = append(o.b, '"', ':')
}

func (o *object) str(n, v string) {
	if v == "" || o.err != nil {
		return
	}
	o.name(n)
	o.b, o.err = appendString(o.b, v)
}

func (o *object) end() ([]byte, error) {
	if o.err != nil {
		return nil, o.err
	}
	return append(o.b, '}'), nil
}

// list writes a member holding a list, left out when empty.
func list[T any](o *object, n string, vs []T, appendOne func([]byte, T) ([]byte, error)) {
	if len(vs) == 0 || o.err != nil {
		return
	}
	o.name(n)
	o.b = append(o.b, '[')
	for i, v := range vs {
		if i > 0 {
			o.b = append(o.b, ',')
		}
		if o.b, o.err = appendOne(o.b, v); o.err != nil {
			return
		}
	}
	o.b = append(o.b, ']')
}

func appendStruct(b []byte, s *structpb.Struct) ([]byte, error) {
	b = append(b, '{')
	first := true
	var err error
	for k, v := range s.GetFields() {
		if !first {
			b = append(b, ',')
		}
		first = false
		if b, err = appendString(b, k); err != nil {
			return nil, err
		}
		b = append(b, ':')
		if b, err = appendValue(b, v); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

func appendValue(b []byte, v *structpb.Value) ([]byte, error) {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NullValue:
		return append(b, "null"...), nil
	case *structpb.Value_BoolValue:
		return strconv.AppendBool(b, k.BoolValue), nil
	case *structpb.Value_NumberValue:
		return appendNumber(b, k.NumberValue)
	case *structpb.Value_StringValue:
		return appendString(b, k.StringValue)
	case *structpb.Value_StructValue:
		return appendStruct(b, k.StructValue)
	case *structpb.Value_ListValue:
		b = append(b, '[')
		var err error
		for i, e := range k.ListValue.GetValues() {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendValue(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	default:
		return nil, errNoValueKind
	}
}

// appendNumber writes n as protojson (and encoding/json) do: plain
// notation, exponent only for very small or very large magnitudes.
func appendNumber(b []byte, n float64) ([]byte, error) {
	if math.IsNaN(n) || math.IsInf(n, 0) {
		return nil, errBadNumber
	}
	format := byte('f')
	if abs := math.Abs(n); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, n, format, -1, 64)
	if format == 'e' {
		// "1e-07" → "1e-7"
		if l := len(b); l >= 4 && b[l-4] == 'e' && b[l-3] == '-' && b[l-2] == '0' {
			b[l-2] = b[l-1]
			b = b[:l-1]
		}
	}
	return b, nil
}

// appendString writes s as a JSON string, escaping what JSON requires as
// protojson does, and refuses invalid UTF-8.
func appendString(b []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, errInvalidUTF8
	}
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !mustEscape[c] {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			const hex = "0123456789abcdef"
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"'), nil
}

// mustEscape marks the bytes a JSON string cannot hold as they are: control
// characters, the quote and the backslash (UTF-8 sequences pass).
var mustEscape = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// The range protojson accepts for a google.protobuf.Timestamp: years 1 to 9999.
const (
	minTimestampSeconds = -62135596800
	maxTimestampSeconds = 253402300799
)

// appendTimestamp writes a timestamp as protojson does: RFC 3339 in UTC with
// 0, 3, 6 or 9 fractional digits.
func appendTimestamp(b []byte, secs, nanos int64) ([]byte, error) {
	if secs < minTimestampSeconds || secs > maxTimestampSeconds || nanos < 0 || nanos > 999_999_999 {
		return nil, errBadTimestamp
	}
	t := time.Unix(secs, nanos).UTC()
	year, month, day := t.Date()
	hour, minute, second := t.Clock()
	b = append(b, '"')
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, second, 2)
	switch {
	case nanos == 0:
	case nanos%1_000_000 == 0:
		b = append(b, '.')
		b = appendDigits(b, int(nanos/1_000_000), 3)
	case nanos%1_000 == 0:
		b = append(b, '.')
		b = appendDigits(b, int(nanos/1_000), 6)
	default:
		b = append(b, '.')
		b = appendDigits(b, int(nanos), 9)
	}
	return append(b, 'Z', '"'), nil
}

// appendDigits writes v (not negative) zero-padded to width digits.
func appendDigits(b []byte, v, width int) []byte {
	var d [9]byte
	for i := width - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:width]...)
}
