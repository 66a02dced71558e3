package pack_test

import (
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/central/internal/pack"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

func attrs(tb testing.TB, m map[string]any) *structpb.Struct {
	tb.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// entities returns a mix of what a registry holds: attributes of every
// kind, with and without last_changed, aliases, nothing to pack, and a
// field this version does not know (from a newer agent).
func entities(tb testing.TB) []*homeplanev1.Entity {
	tb.Helper()
	at := time.Date(2026, 12, 7, 3, 4, 5, 120_000_007, time.UTC)
	unknown := &homeplanev1.Entity{EntityId: "sensor.future", State: "1", LastChanged: timestamppb.New(at)}
	unknown.ProtoReflect().SetUnknown(protowire.AppendString(protowire.AppendTag(nil, 42, protowire.BytesType), "new"))
	return []*homeplanev1.Entity{
		{
			EntityId: "light.kitchen", Name: "Kitchen", Aliases: []string{"cooker light", "Küche 💡"}, Domain: "light",
			AreaId: "kitchen", State: "on", LastChanged: timestamppb.New(at),
			Attributes: attrs(tb, map[string]any{
				"brightness": 180.0, "hs_color": []any{30.5, 60.25}, "color_mode": "hs", "effect": nil, "on": true,
				"nested": map[string]any{"l": []any{map[string]any{}, []any{}, "x"}}, "": "empty key",
			}),
		},
		{EntityId: "switch.plain", Name: "Plain", Domain: "switch", State: "off"},
		{EntityId: "sensor.t", Name: "T", Domain: "sensor", DeviceClass: "temperature", State: "20.5",
			Attributes: attrs(tb, map[string]any{"unit_of_measurement": "°C"})},
		{EntityId: "cover.empty", Domain: "cover", Attributes: &structpb.Struct{}, LastChanged: &timestamppb.Timestamp{}},
		unknown,
	}
}

func TestPackKeepsEverything(t *testing.T) {
	orig := entities(t)
	es := make([]*homeplanev1.Entity, len(orig))
	copy(es, orig)
	clones := make([]*homeplanev1.Entity, len(orig))
	for i, e := range orig {
		clones[i] = proto.CloneOf(e)
	}
	pack.Entities(es)
	for i, p := range es {
		e := orig[i]
		if !proto.Equal(e, clones[i]) {
			t.Errorf("%s: the entity packed was changed", e.GetEntityId())
		}
		if e.GetAttributes() == nil && e.GetLastChanged() == nil {
			if p != e {
				t.Errorf("%s: nothing to pack, yet replaced", e.GetEntityId())
			}
			continue
		}
		if p == e || p.GetAttributes() != nil || p.GetLastChanged() != nil {
			t.Fatalf("%s: not packed", e.GetEntityId())
		}
		if got, want := proto.Size(p), proto.Size(e); got != want {
			t.Errorf("%s: size %d, want %d", e.GetEntityId(), got, want)
		}
		if u := pack.Unpack(p); !proto.Equal(u, e) {
			t.Errorf("%s: unpacked %v, want %v", e.GetEntityId(), u, e)
		}
		// The wire form is the same message: a plugin or a binary client
		// reading the packed entity sees the attributes.
		b, err := proto.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var back homeplanev1.Entity
		if err := proto.Unmarshal(b, &back); err != nil || !proto.Equal(&back, e) {
			t.Errorf("%s: decoded from the packed encoding %v (%v), want %v", e.GetEntityId(), &back, err, e)
		}
		// Packing again changes nothing.
		again := []*homeplanev1.Entity{p}
		if pack.Entities(again); again[0] != p {
			t.Errorf("%s: packed twice", e.GetEntityId())
		}
	}
	if u := pack.Unpack(es[1]); u != es[1] {
		t.Error("Unpack copied an entity that was not packed")
	}
}

func TestAttribute(t *testing.T) {
	orig := entities(t)
	es := make([]*homeplanev1.Entity, len(orig))
	copy(es, orig)
	pack.Entities(es)
	for i, e := range orig {
		for _, key := range []string{"brightness", "hs_color", "effect", "nested", "", "unit_of_measurement", "missing"} {
			want, wantOK := e.GetAttributes().GetFields()[key]
			for form, from := range map[string]*homeplanev1.Entity{"packed": es[i], "unpacked": e} {
				got, ok := pack.Attribute(from, key)
				if ok != wantOK || !proto.Equal(got, want) {
					t.Errorf("%s %s[%q] = %v, %v; want %v, %v", form, e.GetEntityId(), key, got, ok, want, wantOK)
				}
			}
		}
	}
}

func TestLastChanged(t *testing.T) {
	for name, ts := range map[string]*timestamppb.Timestamp{
		"none":        nil,
		"epoch":       {},
		"nanos":       timestamppb.New(time.Date(2026, 12, 7, 3, 4, 5, 999_999_999, time.UTC)),
		"first year":  {Seconds: -62135596800},
		"past 9999":   {Seconds: 253402300800},
		"bad nanos":   {Seconds: 5, Nanos: 1e9},
		"minus nanos": {Seconds: 5, Nanos: -1},
		"far":         {Seconds: math.MaxInt64},
	} {
		e := &homeplanev1.Entity{EntityId: "light.a", LastChanged: ts}
		es := []*homeplanev1.Entity{e}
		pack.Entities(es)
		secs, nanos, raw := pack.RawLastChanged(es[0])
		if raw != (ts != nil) || secs != ts.GetSeconds() || nanos != ts.GetNanos() {
			t.Errorf("%s: raw %d, %d, %v; want %v", name, secs, nanos, raw, ts)
		}
		for form, from := range map[string]*homeplanev1.Entity{"packed": es[0], "unpacked": e} {
			got, ok := pack.LastChanged(from)
			if ok != ts.IsValid() || ok && !got.Equal(ts.AsTime()) {
				t.Errorf("%s %s: %v, %v; want %v, %v", name, form, got, ok, ts.AsTime(), ts.IsValid())
			}
		}
	}
}

// An entity whose attributes cannot be encoded (built in memory with
// invalid UTF-8) stays as it is, and the others are still packed.
func TestUnencodableStaysUnpacked(t *testing.T) {
	bad := &homeplanev1.Entity{EntityId: "light.bad", Attributes: &structpb.Struct{Fields: map[string]*structpb.Value{"x": structpb.NewStringValue("\xff")}}}
	good := &homeplanev1.Entity{EntityId: "light.good", State: "on", Attributes: attrs(t, map[string]any{"brightness": 3.0})}
	es := []*homeplanev1.Entity{bad, good}
	pack.Entities(es)
	if es[0] != bad {
		t.Error("the entity that does not encode was replaced")
	}
	if es[1] == good || es[1].GetState() != "on" {
		t.Fatalf("the other entity was not packed: %v", es[1])
	}
	if v, ok := pack.Attribute(es[1], "brightness"); !ok || v.GetNumberValue() != 3 {
		t.Errorf("brightness %v, %v; want 3", v, ok)
	}
}

// BenchmarkAttribute reads one attribute as an answer does ("what is the
// temperature"), from a decoded entity and from a packed one:
// go test -run '^$' -bench Attribute -benchmem ./central/internal/pack/
func BenchmarkAttribute(b *testing.B) {
	e := &homeplanev1.Entity{EntityId: "climate.hall", Attributes: attrs(b, map[string]any{
		"hvac_modes": []any{"off", "heat"}, "min_temp": 7.0, "max_temp": 35.0, "current_temperature": 21.5, "temperature": 21.0,
	})}
	es := []*homeplanev1.Entity{e}
	pack.Entities(es)
	for name, from := range map[string]*homeplanev1.Entity{"decoded": e, "packed": es[0]} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if v, ok := pack.Attribute(from, "current_temperature"); !ok || v.GetNumberValue() != 21.5 {
					b.Fatalf("current_temperature %v, %v", v, ok)
				}
			}
		})
	}
}
