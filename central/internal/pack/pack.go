// Package pack keeps the entities central caches in a form the garbage
// collector marks cheaply (ADR 0054). A packed entity holds its attributes
// and last_changed as their protobuf encoding in the message's unknown
// fields instead of as a google.protobuf.Struct (a map of Values, dozens of
// heap objects with pointers) and a Timestamp; its strings share one
// allocation with the other entities packed with it. A packed entity
// marshals to the same bytes and has the same proto.Size as the one it was
// packed from, but GetAttributes and GetLastChanged return nil: read them
// through Attribute, LastChanged and the raw accessors, or Unpack it.
package pack

import (
	"math"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// The field numbers of what is packed, in Entity, Struct, its map entries
// and Timestamp.
const (
	entityAttributes  protowire.Number = 8
	entityLastChanged protowire.Number = 9

	structFields protowire.Number = 1
	entryKey     protowire.Number = 1
	entryValue   protowire.Number = 2
	tsSeconds    protowire.Number = 1
	tsNanos      protowire.Number = 2
)

// scratchBufs hold the encodings of one call of Entities before they are
// copied into a buffer of their size; maxPooledScratch bounds those kept, so
// that one very large registry does not pin its buffer.
var scratchBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

const maxPooledScratch = 1 << 20

// Entities replaces, in place, each entity of es that is not packed with a
// packed copy; the entities it replaces are left untouched, since they may
// be shared (a sync's message, a command result's changed states). The
// copies made in one call share their allocations: one for the messages,
// one for the encoded attributes and one for the strings. An entity whose
// attributes do not encode (invalid UTF-8 in a message built in memory) is
// kept as it is.
func Entities(es []*homeplanev1.Entity) {
	type item struct{ i, end int }
	var items []item
	// Encode every entity's packed fields into scratch first, then copy
	// them into one buffer of the exact size.
	sp := scratchBufs.Get().(*[]byte)
	defer func() {
		if cap(*sp) <= maxPooledScratch {
			scratchBufs.Put(sp)
		}
	}()
	scratch := (*sp)[:0]
	textLen, aliases := 0, 0
	for i, e := range es {
		if !packable(e) {
			continue
		}
		b, ok := appendPacked(scratch, e)
		if !ok {
			continue
		}
		scratch = append(b, e.ProtoReflect().GetUnknown()...)
		if items == nil {
			items = make([]item, 0, len(es)-i)
		}
		items = append(items, item{i, len(scratch)})
		textLen += len(e.EntityId) + len(e.Name) + len(e.Domain) + len(e.DeviceClass) + len(e.AreaId) + len(e.State)
		for _, a := range e.Aliases {
			textLen += len(a)
		}
		aliases += len(e.Aliases)
	}
	if len(items) == 0 {
		return
	}
	*sp = scratch
	raw := make([]byte, len(scratch))
	copy(raw, scratch)
	var text strings.Builder
	text.Grow(textLen)
	for _, it := range items {
		e := es[it.i]
		for _, s := range [...]string{e.EntityId, e.Name, e.Domain, e.DeviceClass, e.AreaId, e.State} {
			text.WriteString(s)
		}
		for _, a := range e.Aliases {
			text.WriteString(a)
		}
	}
	all := text.String()
	at := 0
	cut := func(s string) string {
		at += len(s)
		return all[at-len(s) : at]
	}
	var aliasSlab []string
	if aliases > 0 {
		aliasSlab = make([]string, 0, aliases)
	}
	slab := make([]homeplanev1.Entity, len(items))
	start := 0
	for k, it := range items {
		e, p := es[it.i], &slab[k]
		p.EntityId, p.Name, p.Domain = cut(e.EntityId), cut(e.Name), cut(e.Domain)
		p.DeviceClass, p.AreaId, p.State = cut(e.DeviceClass), cut(e.AreaId), cut(e.State)
		if e.Aliases != nil {
			from := len(aliasSlab)
			for _, a := range e.Aliases {
				aliasSlab = append(aliasSlab, cut(a))
			}
			p.Aliases = aliasSlab[from:len(aliasSlab):len(aliasSlab)]
		}
		if it.end > start {
			p.ProtoReflect().SetUnknown(raw[start:it.end:it.end])
			start = it.end
		}
		es[it.i] = p
	}
}

// packable reports whether e has something to pack.
func packable(e *homeplanev1.Entity) bool {
	return e != nil && (e.Attributes != nil || e.LastChanged != nil)
}

// Unpack returns e with its attributes and last_changed decoded, as it was
// before Entities packed it: a new message when e is packed, e itself
// otherwise.
func Unpack(e *homeplanev1.Entity) *homeplanev1.Entity {
	attrs, _ := RawAttributes(e)
	_, _, changed := RawLastChanged(e)
	if e.GetAttributes() != nil || e.GetLastChanged() != nil || attrs == nil && !changed {
		return e
	}
	out := &homeplanev1.Entity{
		EntityId: e.EntityId, Name: e.Name, Aliases: e.Aliases, Domain: e.Domain,
		DeviceClass: e.DeviceClass, AreaId: e.AreaId, State: e.State,
	}
	// The unknown fields are the packed ones followed by any the agent
	// sent that this version does not know; decoding them sets the former
	// and keeps the latter unknown.
	if err := (proto.UnmarshalOptions{Merge: true}).Unmarshal(e.ProtoReflect().GetUnknown(), out); err != nil {
		return e
	}
	return out
}

// RawAttributes returns the encoded google.protobuf.Struct of a packed
// entity's attributes and true, or (nil, false) when e is not packed or
// has no attributes.
func RawAttributes(e *homeplanev1.Entity) ([]byte, bool) {
	b, ok := field(e.ProtoReflect().GetUnknown(), entityAttributes)
	if !ok {
		return nil, false
	}
	if b == nil {
		b = []byte{}
	}
	return b, true
}

// RawLastChanged returns the seconds and nanoseconds of a packed entity's
// last_changed and true, or false when e is not packed or has none. The
// time may be out of range, as a Timestamp's may.
func RawLastChanged(e *homeplanev1.Entity) (secs int64, nanos int32, ok bool) {
	b, ok := field(e.ProtoReflect().GetUnknown(), entityLastChanged)
	if !ok {
		return 0, 0, false
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, 0, false
		}
		b = b[n:]
		if typ == protowire.VarintType && (num == tsSeconds || num == tsNanos) {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return 0, 0, false
			}
			if num == tsSeconds {
				secs = int64(v)
			} else {
				nanos = int32(v)
			}
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return 0, 0, false
		}
		b = b[n:]
	}
	return secs, nanos, true
}

// The range of a valid google.protobuf.Timestamp: years 1 to 9999.
const (
	minValidSeconds = -62135596800
	maxValidSeconds = 253402300800
)

// LastChanged returns the entity's last_changed, packed or not, and
// whether it carries a valid one (Timestamp.IsValid).
func LastChanged(e *homeplanev1.Entity) (time.Time, bool) {
	if t := e.GetLastChanged(); t != nil {
		return t.AsTime(), t.IsValid()
	}
	secs, nanos, ok := RawLastChanged(e)
	if !ok || secs < minValidSeconds || secs >= maxValidSeconds || nanos < 0 || nanos >= 1e9 {
		return time.Time{}, false
	}
	return time.Unix(secs, int64(nanos)).UTC(), true
}

// Attribute returns the entity's attribute key, packed or not, decoding
// only that one value of a packed entity.
func Attribute(e *homeplanev1.Entity, key string) (*structpb.Value, bool) {
	if a := e.GetAttributes(); a != nil {
		v, ok := a.GetFields()[key]
		return v, ok
	}
	b, ok := RawAttributes(e)
	if !ok {
		return nil, false
	}
	var found []byte
	ok = false
	// A key repeated in the encoding counts as its last entry, as
	// decoding it into a map would make it.
	for len(b) > 0 {
		entry, rest, num, n := next(b)
		if n < 0 {
			return nil, false
		}
		b = rest
		if num != structFields {
			continue
		}
		k, v := mapEntry(entry)
		if string(k) == key {
			found, ok = v, true
		}
	}
	if !ok {
		return nil, false
	}
	return decodeValue(found)
}

// decodeValue decodes an encoded Value: a number, string, bool or null by
// hand (what answers read), anything else through proto.Unmarshal.
func decodeValue(b []byte) (*structpb.Value, bool) {
	if len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n > 0 {
			rest := b[n:]
			switch {
			case num == valueNumber && typ == protowire.Fixed64Type && len(rest) == 8:
				bits, _ := protowire.ConsumeFixed64(rest)
				return structpb.NewNumberValue(math.Float64frombits(bits)), true
			case num == valueString && typ == protowire.BytesType:
				if v, m := protowire.ConsumeBytes(rest); m == len(rest) && utf8.Valid(v) {
					return structpb.NewStringValue(string(v)), true
				}
			case num == valueBool && typ == protowire.VarintType:
				if v, m := protowire.ConsumeVarint(rest); m == len(rest) {
					return structpb.NewBoolValue(v != 0), true
				}
			}
		}
	}
	v := &structpb.Value{}
	if err := proto.Unmarshal(b, v); err != nil {
		return nil, false
	}
	return v, true
}

// mapEntry splits an encoded map<string, Value> entry of a Struct into its
// key and its encoded Value.
func mapEntry(b []byte) (key, value []byte) {
	for len(b) > 0 {
		v, rest, num, n := next(b)
		if n < 0 {
			return key, value
		}
		b = rest
		switch num {
		case entryKey:
			key = v
		case entryValue:
			value = v
		}
	}
	return key, value
}

// field returns the last length-delimited field num of the encoded message
// b, as decoding would keep it, and whether there is one.
func field(b []byte, num protowire.Number) ([]byte, bool) {
	var out []byte
	found := false
	for len(b) > 0 {
		v, rest, got, n := next(b)
		if n < 0 {
			return nil, false
		}
		b = rest
		if got == num && v != nil {
			out, found = v, true
		}
	}
	return out, found
}

// next consumes one field of b and returns its bytes if it is
// length-delimited (nil otherwise), what follows it, its number, and a
// negative n when b is malformed.
func next(b []byte) (v, rest []byte, num protowire.Number, n int) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return nil, nil, 0, n
	}
	b = b[n:]
	if typ == protowire.BytesType {
		v, m := protowire.ConsumeBytes(b)
		if m < 0 {
			return nil, nil, 0, m
		}
		if v == nil {
			v = []byte{}
		}
		return v, b[m:], num, n + m
	}
	m := protowire.ConsumeFieldValue(num, typ, b)
	if m < 0 {
		return nil, nil, 0, m
	}
	return nil, b[m:], num, n + m
}
