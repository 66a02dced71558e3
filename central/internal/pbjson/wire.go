package pbjson

import (
	"errors"
	"math"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
)

// ErrMalformed marks an encoded Struct that does not decode.
var ErrMalformed = errors.New("google.protobuf.Struct: malformed encoding")

// The field numbers of Struct, its map entries, Value and ListValue.
const (
	structFields protowire.Number = 1
	entryKey     protowire.Number = 1
	entryValue   protowire.Number = 2
	valueNull    protowire.Number = 1
	valueNumber  protowire.Number = 2
	valueString  protowire.Number = 3
	valueBool    protowire.Number = 4
	valueStruct  protowire.Number = 5
	valueList    protowire.Number = 6
	listValues   protowire.Number = 1
)

// AppendEncodedStruct writes a google.protobuf.Struct given in its protobuf
// encoding (a packed entity's attributes, ADR 0054) as AppendStruct writes
// the decoded message, without decoding it: keys in the encoding's order,
// and the same errors.
func AppendEncodedStruct(b []byte, s []byte) ([]byte, error) {
	b = append(b, '{')
	first := true
	for len(s) > 0 {
		num, typ, n := consumeTag(s)
		if n < 0 {
			return nil, ErrMalformed
		}
		s = s[n:]
		if num != structFields || typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, s); n < 0 {
				return nil, ErrMalformed
			}
			s = s[n:]
			continue
		}
		entry, n := consumeBytes(s)
		if n < 0 {
			return nil, ErrMalformed
		}
		s = s[n:]
		key, value, err := splitEntry(entry)
		if err != nil {
			return nil, err
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		if b, err = AppendString(b, view(key)); err != nil {
			return nil, err
		}
		b = append(b, ':')
		if b, err = appendEncodedValue(b, value); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// splitEntry returns the key and the encoded value of a map entry.
func splitEntry(s []byte) (key, value []byte, err error) {
	for len(s) > 0 {
		num, typ, n := consumeTag(s)
		if n < 0 {
			return nil, nil, ErrMalformed
		}
		s = s[n:]
		if (num == entryKey || num == entryValue) && typ == protowire.BytesType {
			v, n := consumeBytes(s)
			if n < 0 {
				return nil, nil, ErrMalformed
			}
			s = s[n:]
			if num == entryKey {
				key = v
			} else {
				value = v
			}
			continue
		}
		if n = protowire.ConsumeFieldValue(num, typ, s); n < 0 {
			return nil, nil, ErrMalformed
		}
		s = s[n:]
	}
	return key, value, nil
}

// appendEncodedValue writes an encoded google.protobuf.Value as AppendValue
// writes the decoded one. Of several kinds the last counts, as in decoding.
func appendEncodedValue(b []byte, s []byte) ([]byte, error) {
	var kind protowire.Number
	var bits uint64
	var body []byte
	for len(s) > 0 {
		num, typ, n := consumeTag(s)
		if n < 0 {
			return nil, ErrMalformed
		}
		s = s[n:]
		switch {
		case (num == valueNull || num == valueBool) && typ == protowire.VarintType:
			bits, n = consumeVarint(s)
		case num == valueNumber && typ == protowire.Fixed64Type:
			bits, n = protowire.ConsumeFixed64(s)
		case (num == valueString || num == valueStruct || num == valueList) && typ == protowire.BytesType:
			body, n = consumeBytes(s)
		default:
			if n = protowire.ConsumeFieldValue(num, typ, s); n < 0 {
				return nil, ErrMalformed
			}
			s = s[n:]
			continue
		}
		if n < 0 {
			return nil, ErrMalformed
		}
		s, kind = s[n:], num
	}
	switch kind {
	case valueNull:
		return append(b, "null"...), nil
	case valueBool:
		if bits != 0 {
			return append(b, "true"...), nil
		}
		return append(b, "false"...), nil
	case valueNumber:
		return AppendNumber(b, math.Float64frombits(bits))
	case valueString:
		return AppendString(b, view(body))
	case valueStruct:
		return AppendEncodedStruct(b, body)
	case valueList:
		return appendEncodedList(b, body)
	default:
		return nil, ErrNoValueKind
	}
}

// appendEncodedList writes an encoded google.protobuf.ListValue as a JSON
// array.
func appendEncodedList(b []byte, s []byte) ([]byte, error) {
	b = append(b, '[')
	first := true
	for len(s) > 0 {
		num, typ, n := consumeTag(s)
		if n < 0 {
			return nil, ErrMalformed
		}
		s = s[n:]
		if num != listValues || typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, s); n < 0 {
				return nil, ErrMalformed
			}
			s = s[n:]
			continue
		}
		v, n := consumeBytes(s)
		if n < 0 {
			return nil, ErrMalformed
		}
		s = s[n:]
		if !first {
			b = append(b, ',')
		}
		first = false
		var err error
		if b, err = appendEncodedValue(b, v); err != nil {
			return nil, err
		}
	}
	return append(b, ']'), nil
}

// view returns b as a string without copying it, for reading only while b
// is not changed: the encodings written here are never changed.
func view(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// consumeVarint, consumeTag and consumeBytes are protowire's, with the
// one-byte case (nearly every tag and length in attributes) inline: the
// registry document walks every entity's attributes on every delta.
func consumeVarint(b []byte) (uint64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	return protowire.ConsumeVarint(b)
}

func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	if len(b) > 0 && b[0] < 0x80 && b[0]>>3 > 0 {
		return protowire.Number(b[0] >> 3), protowire.Type(b[0] & 7), 1
	}
	return protowire.ConsumeTag(b)
}

func consumeBytes(b []byte) ([]byte, int) {
	if len(b) > 0 && b[0] < 0x80 && int(b[0]) < len(b) {
		return b[1 : 1+int(b[0])], 1 + int(b[0])
	}
	return protowire.ConsumeBytes(b)
}
