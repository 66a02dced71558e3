package pack

import (
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// The field numbers of Value and ListValue.
const (
	valueNull   protowire.Number = 1
	valueNumber protowire.Number = 2
	valueString protowire.Number = 3
	valueBool   protowire.Number = 4
	valueStruct protowire.Number = 5
	valueList   protowire.Number = 6
	listValues  protowire.Number = 1
)

// appendPacked appends e's attributes and last_changed (fields 8 and 9) as
// proto.Marshal encodes them, and reports false, with b unchanged, where
// Marshal fails (a string of invalid UTF-8). It is written out because
// Marshal allocates for every entry of a Struct's map, and a full sync
// packs thousands of them.
func appendPacked(b []byte, e *homeplanev1.Entity) ([]byte, bool) {
	start := len(b)
	if a := e.Attributes; a != nil {
		n, ok := structSize(a)
		if !ok {
			return b[:start], false
		}
		b = protowire.AppendTag(b, entityAttributes, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(n))
		b = appendStruct(b, a)
	}
	if t := e.LastChanged; t != nil {
		b = protowire.AppendTag(b, entityLastChanged, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(timestampSize(t)))
		b = appendTimestamp(b, t)
	}
	return b, true
}

func timestampSize(t *timestamppb.Timestamp) int {
	n := 0
	if t.Seconds != 0 {
		n += protowire.SizeTag(tsSeconds) + protowire.SizeVarint(uint64(t.Seconds))
	}
	if t.Nanos != 0 {
		n += protowire.SizeTag(tsNanos) + protowire.SizeVarint(uint64(int64(t.Nanos)))
	}
	return n
}

func appendTimestamp(b []byte, t *timestamppb.Timestamp) []byte {
	if t.Seconds != 0 {
		b = protowire.AppendTag(b, tsSeconds, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(t.Seconds))
	}
	if t.Nanos != 0 {
		b = protowire.AppendTag(b, tsNanos, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(t.Nanos)))
	}
	return b
}

// structSize is the encoded size of s, and false if a string in it is not
// valid UTF-8. Map entries carry key and value even when empty, as
// Marshal writes them.
func structSize(s *structpb.Struct) (int, bool) {
	n := 0
	for k, v := range s.Fields {
		if !utf8.ValidString(k) {
			return 0, false
		}
		vn, ok := valueSize(v)
		if !ok {
			return 0, false
		}
		entry := protowire.SizeTag(entryKey) + protowire.SizeBytes(len(k)) + protowire.SizeTag(entryValue) + protowire.SizeBytes(vn)
		n += protowire.SizeTag(structFields) + protowire.SizeBytes(entry)
	}
	return n, true
}

func appendStruct(b []byte, s *structpb.Struct) []byte {
	for k, v := range s.Fields {
		vn, _ := valueSize(v)
		entry := protowire.SizeTag(entryKey) + protowire.SizeBytes(len(k)) + protowire.SizeTag(entryValue) + protowire.SizeBytes(vn)
		b = protowire.AppendTag(b, structFields, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(entry))
		b = protowire.AppendTag(b, entryKey, protowire.BytesType)
		b = protowire.AppendString(b, k)
		b = protowire.AppendTag(b, entryValue, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(vn))
		b = appendValue(b, v)
	}
	return b
}

// valueSize is the encoded size of v (a nil v encodes as an empty Value).
func valueSize(v *structpb.Value) (int, bool) {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NullValue:
		return protowire.SizeTag(valueNull) + protowire.SizeVarint(uint64(k.NullValue)), true
	case *structpb.Value_NumberValue:
		return protowire.SizeTag(valueNumber) + protowire.SizeFixed64(), true
	case *structpb.Value_StringValue:
		return protowire.SizeTag(valueString) + protowire.SizeBytes(len(k.StringValue)), utf8.ValidString(k.StringValue)
	case *structpb.Value_BoolValue:
		return protowire.SizeTag(valueBool) + protowire.SizeVarint(protowire.EncodeBool(k.BoolValue)), true
	case *structpb.Value_StructValue:
		n, ok := 0, true
		if k.StructValue != nil {
			n, ok = structSize(k.StructValue)
		}
		return protowire.SizeTag(valueStruct) + protowire.SizeBytes(n), ok
	case *structpb.Value_ListValue:
		n, ok := listSize(k.ListValue)
		return protowire.SizeTag(valueList) + protowire.SizeBytes(n), ok
	}
	return 0, true
}

func listSize(l *structpb.ListValue) (int, bool) {
	n := 0
	for _, v := range l.GetValues() {
		vn, ok := valueSize(v)
		if !ok {
			return 0, false
		}
		n += protowire.SizeTag(listValues) + protowire.SizeBytes(vn)
	}
	return n, true
}

func appendValue(b []byte, v *structpb.Value) []byte {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NullValue:
		b = protowire.AppendTag(b, valueNull, protowire.VarintType)
		return protowire.AppendVarint(b, uint64(k.NullValue))
	case *structpb.Value_NumberValue:
		b = protowire.AppendTag(b, valueNumber, protowire.Fixed64Type)
		return protowire.AppendFixed64(b, math.Float64bits(k.NumberValue))
	case *structpb.Value_StringValue:
		b = protowire.AppendTag(b, valueString, protowire.BytesType)
		return protowire.AppendString(b, k.StringValue)
	case *structpb.Value_BoolValue:
		b = protowire.AppendTag(b, valueBool, protowire.VarintType)
		return protowire.AppendVarint(b, protowire.EncodeBool(k.BoolValue))
	case *structpb.Value_StructValue:
		n := 0
		if k.StructValue != nil {
			n, _ = structSize(k.StructValue)
		}
		b = protowire.AppendTag(b, valueStruct, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(n))
		if k.StructValue != nil {
			b = appendStruct(b, k.StructValue)
		}
		return b
	case *structpb.Value_ListValue:
		n, _ := listSize(k.ListValue)
		b = protowire.AppendTag(b, valueList, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(n))
		for _, e := range k.ListValue.GetValues() {
			en, _ := valueSize(e)
			b = protowire.AppendTag(b, listValues, protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(en))
			b = appendValue(b, e)
		}
		return b
	}
	return b
}
