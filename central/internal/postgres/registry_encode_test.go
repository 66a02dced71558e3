package postgres

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/central/internal/registry"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// realisticSnapshot is a 100-entity home as Home Assistant reports one:
// lights, sensors, climate and media with the attributes they carry.
func realisticSnapshot(tb testing.TB) *registry.Snapshot {
	tb.Helper()
	at := time.Date(2026, 12, 7, 3, 4, 5, 123456000, time.UTC)
	snap := &registry.Snapshot{SyncedAt: at}
	for i := range 4 {
		snap.Floors = append(snap.Floors, &homeplanev1.Floor{
			Id: fmt.Sprintf("floor_%d", i), Name: fmt.Sprintf("Floor %d", i), Level: int32(i - 1),
			Aliases: []string{fmt.Sprintf("level %d", i)},
		})
	}
	for i := range 12 {
		snap.Areas = append(snap.Areas, &homeplanev1.Area{
			Id: fmt.Sprintf("area_%02d", i), Name: fmt.Sprintf("Room %d", i),
			Aliases: []string{fmt.Sprintf("the room %d", i)}, FloorId: fmt.Sprintf("floor_%d", i%4),
		})
	}
	kinds := []struct {
		domain, class, state string
		attrs                map[string]any
	}{
		{"light", "", "on", map[string]any{
			"brightness": 180.0, "color_mode": "color_temp", "color_temp_kelvin": 2700.0,
			"supported_color_modes": []any{"color_temp", "hs"}, "hs_color": []any{30.5, 60.25},
			"min_color_temp_kelvin": 2000.0, "max_color_temp_kelvin": 6500.0, "supported_features": 44.0,
			"friendly_name": "Lamp", "icon": "mdi:lamp",
		}},
		{"sensor", "temperature", "21.4", map[string]any{
			"unit_of_measurement": "°C", "state_class": "measurement", "device_class": "temperature",
			"friendly_name": "Temperature \"north\" wall",
		}},
		{"climate", "", "heat", map[string]any{
			"current_temperature": 20.5, "temperature": 21.0, "hvac_modes": []any{"off", "heat", "auto"},
			"min_temp": 7.0, "max_temp": 35.0, "preset_mode": nil, "friendly_name": "Thermostat",
			"target_temp_step": 0.5,
		}},
		{"media_player", "speaker", "playing", map[string]any{
			"volume_level": 0.35, "is_volume_muted": false, "media_title": "Ça plane pour moi",
			"media_artist": "Plastic Bertrand", "source_list": []any{"Radio", "Spotify", "TV"},
			"group_members": []any{"media_player.kitchen", "media_player.living_room"},
			"extra":         map[string]any{"nested": map[string]any{"depth": 2.0, "ok": true}},
		}},
		{"binary_sensor", "motion", "off", map[string]any{"device_class": "motion", "friendly_name": "Motion"}},
	}
	for i := range 100 {
		k := kinds[i%len(kinds)]
		attrs, err := structpb.NewStruct(k.attrs)
		if err != nil {
			tb.Fatal(err)
		}
		id := fmt.Sprintf("%s.thing_%03d", k.domain, i)
		snap.Entities = append(snap.Entities, &homeplanev1.Entity{
			EntityId: id, Name: fmt.Sprintf("Thing %d", i), Aliases: []string{fmt.Sprintf("thing number %d", i)},
			Domain: k.domain, DeviceClass: k.class, AreaId: fmt.Sprintf("area_%02d", i%12), State: k.state,
			Attributes: attrs, LastChanged: timestamppb.New(at.Add(-time.Duration(i) * time.Minute)),
		})
	}
	return snap
}

// TestRealisticSnapshotSetsEveryField keeps the round-trip tests honest
// when the messages grow: a field the fixture leaves unset would not show
// an encoder that leaves it out.
func TestRealisticSnapshotSetsEveryField(t *testing.T) {
	snap := realisticSnapshot(t)
	var msgs []proto.Message
	msgs = append(msgs, &homeplanev1.ListEntitiesResponse{Entities: snap.Entities, Areas: snap.Areas,
		Floors: snap.Floors, SyncedAt: timestamppb.New(snap.SyncedAt)})
	for _, e := range snap.Entities {
		msgs = append(msgs, e)
	}
	for _, a := range snap.Areas {
		msgs = append(msgs, a)
	}
	for _, f := range snap.Floors {
		msgs = append(msgs, f)
	}
	set := map[protoreflect.FullName]bool{}
	for _, m := range msgs {
		m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
			set[fd.FullName()] = true
			return true
		})
	}
	for _, m := range []proto.Message{&homeplanev1.ListEntitiesResponse{}, &homeplanev1.Entity{}, &homeplanev1.Area{}, &homeplanev1.Floor{}} {
		fields := m.ProtoReflect().Descriptor().Fields()
		for i := range fields.Len() {
			if fd := fields.Get(i); !set[fd.FullName()] {
				t.Errorf("the fixture sets no %s", fd.FullName())
			}
		}
	}
}

// protojsonSnapshot is the document as protojson writes it, the reference
// the hand-written encoder must match.
func protojsonSnapshot(snap *registry.Snapshot) ([]byte, error) {
	m := &homeplanev1.ListEntitiesResponse{Entities: snap.Entities, Areas: snap.Areas, Floors: snap.Floors}
	if !snap.SyncedAt.IsZero() {
		m.SyncedAt = timestamppb.New(snap.SyncedAt)
	}
	return protojson.Marshal(m)
}

func readDoc(tb testing.TB, doc []byte) *homeplanev1.ListEntitiesResponse {
	tb.Helper()
	var m homeplanev1.ListEntitiesResponse
	if err := protojson.Unmarshal(doc, &m); err != nil {
		tb.Fatalf("protojson.Unmarshal(%s): %v", doc, err)
	}
	return &m
}

// sameAsProtojson checks that encoding snap fails exactly when protojson
// fails and otherwise reads back, through protojson, as protojson's own
// document does. It returns the decoded message (nil after an error).
func sameAsProtojson(tb testing.TB, snap *registry.Snapshot) *homeplanev1.ListEntitiesResponse {
	tb.Helper()
	want, wantErr := protojsonSnapshot(snap)
	got, err := appendSnapshot(nil, snap)
	if (err != nil) != (wantErr != nil) {
		tb.Fatalf("encode error %v, protojson's %v", err, wantErr)
	}
	if err != nil {
		return nil
	}
	if !json.Valid(got) {
		tb.Fatalf("invalid JSON: %s", got)
	}
	g, w := readDoc(tb, got), readDoc(tb, want)
	if !proto.Equal(g, w) {
		tb.Fatalf("read back differently:\n got %s\nwant %s", got, want)
	}
	return g
}

func attrs(tb testing.TB, m map[string]any) *structpb.Struct {
	tb.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestEncodeSnapshotMatchesProtojson(t *testing.T) {
	nasty := "q\"uote\\ back/slash \n\r\t\b\f \x00\x01\x1f\x7f <script>&amp; \u2028\u2029 é 日本 🏠 \ufffd e\u0301"
	tests := []struct {
		name string
		snap *registry.Snapshot
	}{
		{"realistic", realisticSnapshot(t)},
		{"empty", &registry.Snapshot{}},
		{"only synced at, not UTC", &registry.Snapshot{SyncedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", -7*3600))}},
		{"escapes and unicode", &registry.Snapshot{
			Entities: []*homeplanev1.Entity{{
				EntityId: "sensor.a", Name: nasty, Aliases: []string{nasty, "", "plain"}, State: nasty,
				DeviceClass: "\u00e9", AreaId: "\"", Attributes: attrs(t, map[string]any{nasty: nasty, "": "", "k": []any{nasty}}),
			}},
			Areas:  []*homeplanev1.Area{{Id: nasty, Name: nasty, Aliases: []string{nasty}, FloorId: nasty}},
			Floors: []*homeplanev1.Floor{{Id: nasty, Name: nasty, Aliases: []string{nasty}, Level: -3}},
		}},
		{"empty and nil fields", &registry.Snapshot{
			Entities: []*homeplanev1.Entity{
				{EntityId: "light.a"},
				{EntityId: "light.b", Aliases: []string{}, Attributes: &structpb.Struct{}},
				{EntityId: "light.c", Attributes: &structpb.Struct{Fields: map[string]*structpb.Value{
					"s": structpb.NewStructValue(nil), "l": structpb.NewListValue(nil),
					"e": structpb.NewListValue(&structpb.ListValue{}),
				}}},
				{},
			},
			Areas:  []*homeplanev1.Area{{Id: "a"}, {}},
			Floors: []*homeplanev1.Floor{{Id: "f"}, {Level: 0}, {Level: math.MaxInt32}, {Level: math.MinInt32}},
		}},
		{"nested attributes and numbers", &registry.Snapshot{Entities: []*homeplanev1.Entity{{
			EntityId: "climate.a",
			Attributes: attrs(t, map[string]any{
				"null": nil, "t": true, "f": false, "zero": 0.0, "negzero": math.Copysign(0, -1),
				"big": 1e21, "bigger": math.MaxFloat64, "small": 1e-7, "tiny": 5e-324, "tenth": 0.1,
				"int": 123456789012345678.0, "neg": -2.5e-300, "edge": 1e-6, "below": 999999999999999999999.0,
				"list": []any{nil, true, 1.5, "x", []any{[]any{}}, map[string]any{"deep": map[string]any{"er": []any{map[string]any{}}}}},
			}),
		}}}},
		{"timestamps", &registry.Snapshot{
			Entities: []*homeplanev1.Entity{
				{EntityId: "a.zero", LastChanged: &timestamppb.Timestamp{}},
				{EntityId: "a.min", LastChanged: &timestamppb.Timestamp{Seconds: -62135596800}},
				{EntityId: "a.max", LastChanged: &timestamppb.Timestamp{Seconds: 253402300799, Nanos: 999999999}},
				{EntityId: "a.milli", LastChanged: &timestamppb.Timestamp{Seconds: 1, Nanos: 1_000_000}},
				{EntityId: "a.micro", LastChanged: &timestamppb.Timestamp{Seconds: 1, Nanos: 1_000}},
				{EntityId: "a.nano", LastChanged: &timestamppb.Timestamp{Seconds: -1, Nanos: 1}},
				{EntityId: "a.leapday", LastChanged: timestamppb.New(time.Date(2024, 2, 29, 23, 59, 59, 120_000_000, time.UTC))},
			},
			SyncedAt: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sameAsProtojson(t, tt.snap)
			if got == nil {
				t.Fatal("encoding failed")
			}
			// Besides matching protojson, the document reads back as the
			// snapshot itself, through the reader central uses.
			doc, err := appendSnapshot(nil, tt.snap)
			if err != nil {
				t.Fatal(err)
			}
			back, err := decodeSnapshot(doc)
			if err != nil {
				t.Fatal(err)
			}
			if !back.SyncedAt.Equal(tt.snap.SyncedAt) {
				t.Errorf("synced at %v, want %v", back.SyncedAt, tt.snap.SyncedAt)
			}
			want := &homeplanev1.ListEntitiesResponse{Entities: tt.snap.Entities, Areas: tt.snap.Areas, Floors: tt.snap.Floors}
			if !proto.Equal(&homeplanev1.ListEntitiesResponse{Entities: back.Entities, Areas: back.Areas, Floors: back.Floors}, want) {
				t.Errorf("read back %v, want %v", back, want)
			}
		})
	}
}

// TestEncodeSnapshotExact pins the document of a small snapshot byte for
// byte: the json names, the members left out and the escapes.
func TestEncodeSnapshotExact(t *testing.T) {
	snap := &registry.Snapshot{
		Entities: []*homeplanev1.Entity{{
			EntityId: "light.a", Name: "Lamp \"A\"\n", Aliases: []string{"a"}, Domain: "light", AreaId: "hall",
			State: "on", Attributes: attrs(t, map[string]any{"brightness": 255.0}),
			LastChanged: &timestamppb.Timestamp{Seconds: 1_700_000_000, Nanos: 500_000_000},
		}},
		Areas:    []*homeplanev1.Area{{Id: "hall", Name: "Hall", FloorId: "ground"}},
		Floors:   []*homeplanev1.Floor{{Id: "ground", Level: 1}, {Id: "cellar"}},
		SyncedAt: time.Unix(1_700_000_001, 0),
	}
	got, err := appendSnapshot(nil, snap)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"entities":[{"entityId":"light.a","name":"Lamp \"A\"\n","aliases":["a"],"domain":"light","areaId":"hall",` +
		`"state":"on","attributes":{"brightness":255},"lastChanged":"2023-11-14T22:13:20.500Z"}],` +
		`"areas":[{"id":"hall","name":"Hall","floorId":"ground"}],"floors":[{"id":"ground","level":1},{"id":"cellar"}],` +
		`"syncedAt":"2023-11-14T22:13:21Z"}`
	if string(got) != want {
		t.Errorf("document\n got %s\nwant %s", got, want)
	}
}

func TestEncodeSnapshotRefusesWhatProtojsonRefuses(t *testing.T) {
	bad := string([]byte{'a', 0xff, 'b'})
	entity := func(e *homeplanev1.Entity) *registry.Snapshot {
		e.EntityId = "light.a"
		return &registry.Snapshot{Entities: []*homeplanev1.Entity{e}}
	}
	value := func(v *structpb.Value) *registry.Snapshot {
		return entity(&homeplanev1.Entity{Attributes: &structpb.Struct{Fields: map[string]*structpb.Value{"k": v}}})
	}
	tests := []struct {
		name string
		snap *registry.Snapshot
	}{
		{"invalid UTF-8 in a name", entity(&homeplanev1.Entity{Name: bad})},
		{"invalid UTF-8 in an alias", entity(&homeplanev1.Entity{Aliases: []string{"ok", bad}})},
		{"invalid UTF-8 in an area", &registry.Snapshot{Areas: []*homeplanev1.Area{{Id: "a", FloorId: bad}}}},
		{"invalid UTF-8 in a floor alias", &registry.Snapshot{Floors: []*homeplanev1.Floor{{Id: "f", Aliases: []string{bad}}}}},
		{"invalid UTF-8 in an attribute key", entity(&homeplanev1.Entity{Attributes: &structpb.Struct{Fields: map[string]*structpb.Value{bad: structpb.NewNullValue()}}})},
		{"invalid UTF-8 in an attribute", value(structpb.NewStringValue(bad))},
		{"truncated rune", value(structpb.NewStringValue("\xe6\x97"))},
		{"NaN", value(structpb.NewNumberValue(math.NaN()))},
		{"+Inf", value(structpb.NewNumberValue(math.Inf(1)))},
		{"-Inf in a list", value(structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewNumberValue(math.Inf(-1))}}))},
		{"value without kind", value(&structpb.Value{})},
		{"nil value", value(nil)},
		{"nil value in a list", value(structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{nil}}))},
		{"seconds before year 1", entity(&homeplanev1.Entity{LastChanged: &timestamppb.Timestamp{Seconds: -62135596801}})},
		{"seconds after year 9999", entity(&homeplanev1.Entity{LastChanged: &timestamppb.Timestamp{Seconds: 253402300800}})},
		{"negative nanos", entity(&homeplanev1.Entity{LastChanged: &timestamppb.Timestamp{Nanos: -1}})},
		{"a second of nanos", entity(&homeplanev1.Entity{LastChanged: &timestamppb.Timestamp{Nanos: 1_000_000_000}})},
		{"synced in year 10000", &registry.Snapshot{SyncedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := protojsonSnapshot(tt.snap); err == nil {
				t.Fatal("protojson encodes it: not a refusal case")
			}
			if _, err := encodeSnapshot(tt.snap); err == nil {
				t.Fatal("encoded without error")
			}
		})
	}
}

// FuzzEncodeSnapshot compares the encoder with protojson on registries
// decoded from arbitrary protobuf bytes (any nesting of attributes), with
// the fuzzed strings, number and time put where proto decoding cannot put
// them (invalid UTF-8, NaN, out-of-range timestamps).
func FuzzEncodeSnapshot(f *testing.F) {
	seed, err := proto.Marshal(&homeplanev1.ListEntitiesResponse{
		Entities: realisticSnapshot(f).Entities[:5], Areas: realisticSnapshot(f).Areas[:2],
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed, "Lamp \"1\"", "on\n", 21.5, int64(1_700_000_000), int32(5))
	f.Add([]byte{}, "\xff", "\x00", math.NaN(), int64(-62135596801), int32(-1))
	f.Add([]byte{}, "é", "🏠", math.Inf(1), int64(0), int32(1_000_000_000))
	f.Fuzz(func(t *testing.T, data []byte, name, state string, num float64, secs int64, nanos int32) {
		var m homeplanev1.ListEntitiesResponse
		if proto.Unmarshal(data, &m) != nil {
			m.Reset()
		}
		snap := &registry.Snapshot{Entities: m.Entities, Areas: m.Areas, Floors: m.Floors}
		if m.SyncedAt != nil && m.SyncedAt.IsValid() {
			snap.SyncedAt = m.SyncedAt.AsTime()
		}
		snap.Entities = append(snap.Entities, &homeplanev1.Entity{
			EntityId: "sensor.fuzz", Name: name, Aliases: []string{state, name}, State: state,
			Attributes: &structpb.Struct{Fields: map[string]*structpb.Value{
				name: structpb.NewStringValue(state), "n": structpb.NewNumberValue(num),
			}},
			LastChanged: &timestamppb.Timestamp{Seconds: secs, Nanos: nanos},
		})
		snap.Areas = append(snap.Areas, &homeplanev1.Area{Id: name, Name: state, FloorId: state})
		sameAsProtojson(t, snap)
	})
}

func BenchmarkEncodeSnapshot(b *testing.B) {
	snap := realisticSnapshot(b)
	doc, err := protojsonSnapshot(snap)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("protojson", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := protojsonSnapshot(snap); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoder", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		for b.Loop() {
			d, err := encodeSnapshot(snap)
			if err != nil {
				b.Fatal(err)
			}
			d.release()
		}
	})
}
