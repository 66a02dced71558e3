// Package pbjson writes protobuf messages in the protobuf JSON mapping by
// hand, for the few messages central encodes on every request or delta,
// where protojson's reflection costs more than the rest of the work. Its
// output is what protojson.Marshal gives, as JSON values (protojson varies
// its spacing on purpose, so nothing may depend on its bytes), and it fails
// where protojson fails: invalid UTF-8, a NaN or infinite number, a Value
// with no kind, a timestamp out of range. Struct keys come in map order.
package pbjson

import (
	"errors"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/structpb"
)

var (
	ErrInvalidUTF8  = errors.New("invalid UTF-8")
	ErrNoValueKind  = errors.New("google.protobuf.Value: none of the oneof fields is set")
	ErrBadNumber    = errors.New("google.protobuf.Value.number_value: NaN or infinite")
	ErrBadTimestamp = errors.New("google.protobuf.Timestamp: out of range")
)

// Start begins an object at the end of b.
func Start(b []byte) Object { return Object{B: append(b, '{')} }

// Object writes one JSON object's members, leaving out zero values; the
// first error stops it.
type Object struct {
	B    []byte
	Err  error
	more bool
}

// Name starts a member; json names are plain ASCII and need no escaping.
func (o *Object) Name(n string) {
	if o.more {
		o.B = append(o.B, ',')
	}
	o.more = true
	o.B = append(o.B, '"')
	o.B = append(o.B, n...)
	o.B = append(o.B, '"', ':')
}

func (o *Object) Str(n, v string) {
	if v == "" || o.Err != nil {
		return
	}
	o.Name(n)
	o.B, o.Err = AppendString(o.B, v)
}

// Bool writes a bool member, left out when false.
func (o *Object) Bool(n string, v bool) {
	if !v || o.Err != nil {
		return
	}
	o.Name(n)
	o.B = append(o.B, "true"...)
}

// Int64 writes a 64-bit integer member, quoted as the mapping wants, left
// out when 0.
func (o *Object) Int64(n string, v int64) {
	if v == 0 || o.Err != nil {
		return
	}
	o.Name(n)
	o.B = append(o.B, '"')
	o.B = strconv.AppendInt(o.B, v, 10)
	o.B = append(o.B, '"')
}

// Member writes a member whose value appendValue writes.
func (o *Object) Member(n string, appendValue func([]byte) ([]byte, error)) {
	if o.Err != nil {
		return
	}
	o.Name(n)
	o.B, o.Err = appendValue(o.B)
}

func (o *Object) End() ([]byte, error) {
	if o.Err != nil {
		return nil, o.Err
	}
	return append(o.B, '}'), nil
}

// List writes a member holding a list, left out when empty.
func List[T any](o *Object, n string, vs []T, appendOne func([]byte, T) ([]byte, error)) {
	if len(vs) == 0 || o.Err != nil {
		return
	}
	o.Name(n)
	o.B = append(o.B, '[')
	for i, v := range vs {
		if i > 0 {
			o.B = append(o.B, ',')
		}
		if o.B, o.Err = appendOne(o.B, v); o.Err != nil {
			return
		}
	}
	o.B = append(o.B, ']')
}

// AppendStruct writes a google.protobuf.Struct as the plain JSON object it
// stands for.
func AppendStruct(b []byte, s *structpb.Struct) ([]byte, error) {
	b = append(b, '{')
	first := true
	var err error
	for k, v := range s.GetFields() {
		if !first {
			b = append(b, ',')
		}
		first = false
		if b, err = AppendString(b, k); err != nil {
			return nil, err
		}
		b = append(b, ':')
		if b, err = AppendValue(b, v); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// AppendValue writes a google.protobuf.Value as the plain JSON value it
// stands for.
func AppendValue(b []byte, v *structpb.Value) ([]byte, error) {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NullValue:
		return append(b, "null"...), nil
	case *structpb.Value_BoolValue:
		return strconv.AppendBool(b, k.BoolValue), nil
	case *structpb.Value_NumberValue:
		return AppendNumber(b, k.NumberValue)
	case *structpb.Value_StringValue:
		return AppendString(b, k.StringValue)
	case *structpb.Value_StructValue:
		return AppendStruct(b, k.StructValue)
	case *structpb.Value_ListValue:
		b = append(b, '[')
		var err error
		for i, e := range k.ListValue.GetValues() {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = AppendValue(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	default:
		return nil, ErrNoValueKind
	}
}

// AppendNumber writes n as protojson (and encoding/json) do: plain
// notation, exponent only for very small or very large magnitudes.
func AppendNumber(b []byte, n float64) ([]byte, error) {
	if math.IsNaN(n) || math.IsInf(n, 0) {
		return nil, ErrBadNumber
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

// AppendString writes s as a JSON string, escaping what JSON requires as
// protojson does, and refuses invalid UTF-8.
func AppendString(b []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, ErrInvalidUTF8
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

// AppendTimestamp writes a timestamp as protojson does: RFC 3339 in UTC with
// 0, 3, 6 or 9 fractional digits.
func AppendTimestamp(b []byte, secs, nanos int64) ([]byte, error) {
	if secs < minTimestampSeconds || secs > maxTimestampSeconds || nanos < 0 || nanos > 999_999_999 {
		return nil, ErrBadTimestamp
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
