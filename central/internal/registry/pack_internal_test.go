package registry

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/pack"
	"github.com/homeplane/homeplane/central/internal/rules"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// attributeHome is a home, its entities sorted by id, whose answers read attributes: a thermostat's
// current temperature, the weather's temperature and unit, a sensor's unit.
func attributeHome(tb testing.TB, at time.Time) *homeplanev1.EntitySync {
	tb.Helper()
	attrs := func(m map[string]any) *structpb.Struct {
		s, err := structpb.NewStruct(m)
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}
	return &homeplanev1.EntitySync{
		Full: true, Time: timestamppb.New(at),
		Areas: []*homeplanev1.Area{{Id: "hall", Name: "Hall"}, {Id: "cellar", Name: "Cellar"}},
		Entities: []*homeplanev1.Entity{
			{EntityId: "climate.hall", Name: "Thermostat", Domain: "climate", AreaId: "hall", State: "heat",
				Attributes:  attrs(map[string]any{"current_temperature": 21.5, "temperature": 22.0, "hvac_modes": []any{"off", "heat"}}),
				LastChanged: timestamppb.New(at)},
			{EntityId: "sensor.cellar_humidity", Name: "Cellar humidity", Domain: "sensor", DeviceClass: "humidity", AreaId: "cellar", State: "64",
				Attributes:  attrs(map[string]any{"unit_of_measurement": "%", "state_class": "measurement"}),
				LastChanged: timestamppb.New(at)},
			{EntityId: "weather.home", Name: "Home", Domain: "weather", State: "sunny",
				Attributes:  attrs(map[string]any{"temperature": 12.5, "temperature_unit": "°C"}),
				LastChanged: timestamppb.New(at)},
		},
	}
}

// The Store's entities are packed, and the answers that read attributes
// are the ones the same registry, decoded, gives.
func TestAnswersFromPackedEntities(t *testing.T) {
	ctx := context.Background()
	at := time.Unix(1_700_000_000, 0)
	reg := New(newMemBackend(), Options{Now: func() time.Time { return at }})
	if err := reg.ApplySync(ctx, testHome, attributeHome(t, at)); err != nil {
		t.Fatal(err)
	}
	snap, err := reg.Snapshot(ctx, testHome)
	if err != nil {
		t.Fatal(err)
	}
	want := attributeHome(t, at)
	for i, e := range snap.Entities {
		if e.GetAttributes() != nil || e.GetLastChanged() != nil {
			t.Errorf("%s is cached unpacked", e.GetEntityId())
		}
		if !proto.Equal(pack.Unpack(e), want.Entities[i]) {
			t.Errorf("cached %v, want %v", pack.Unpack(e), want.Entities[i])
		}
	}
	decoded := intent.NewIndex(want.Entities, want.Areas, want.Floors)
	for _, tc := range []struct{ text, holds string }{
		{"what is the temperature in the hall", "21.5"},
		{"what's the weather like", "12.5 °C"},
		{"what is the cellar humidity", "64 %"},
	} {
		var speech [2]string
		for i, src := range []intent.IndexSource{reg, staticIndex{decoded}} {
			e := intent.NewEngine(rules.New(rules.Options{}), src, nil, intent.Options{})
			resp, err := e.Process(ctx, intent.Request{RequestID: "r", HomeID: testHome, Text: tc.text})
			if err != nil {
				t.Fatal(err)
			}
			speech[i] = resp.Speech
		}
		if speech[0] != speech[1] || !strings.Contains(speech[0], tc.holds) {
			t.Errorf("%q: answered %q from the cache and %q decoded; want both, holding %q", tc.text, speech[0], speech[1], tc.holds)
		}
	}
}

type staticIndex struct{ idx *intent.Index }

func (s staticIndex) Index(context.Context, string) (*intent.Index, error) { return s.idx, nil }

// A delta keeps the newer state by last_changed when the held entity is
// packed, and a packed entity's attributes follow the delta's.
func TestDeltaAgainstPackedEntities(t *testing.T) {
	ctx := context.Background()
	at := time.Unix(1_700_000_000, 0)
	now := at
	reg := New(newMemBackend(), Options{Now: func() time.Time { return now }})
	if err := reg.ApplySync(ctx, testHome, attributeHome(t, at)); err != nil {
		t.Fatal(err)
	}
	newer := proto.CloneOf(attributeHome(t, at).Entities[0])
	newer.LastChanged = timestamppb.New(at.Add(time.Minute))
	newer.Attributes.Fields["current_temperature"] = structpb.NewNumberValue(19)
	older := proto.CloneOf(attributeHome(t, at).Entities[0])
	older.LastChanged = timestamppb.New(at.Add(-time.Minute))
	older.Attributes.Fields["current_temperature"] = structpb.NewNumberValue(30)
	now = now.Add(time.Second)
	if err := reg.ApplySync(ctx, testHome, &homeplanev1.EntitySync{Entities: []*homeplanev1.Entity{newer}, Time: timestamppb.New(now)}); err != nil {
		t.Fatal(err)
	}
	// An older state, through a result's changed states and a delta,
	// does not set the held one back.
	now = now.Add(time.Second)
	reg.Patch(testHome, []*homeplanev1.Entity{older})
	if err := reg.ApplySync(ctx, testHome, &homeplanev1.EntitySync{Entities: []*homeplanev1.Entity{older}, Time: timestamppb.New(now)}); err != nil {
		t.Fatal(err)
	}
	snap, err := reg.Snapshot(ctx, testHome)
	if err != nil {
		t.Fatal(err)
	}
	got := snap.Entities[0]
	if v, _ := pack.Attribute(got, "current_temperature"); v.GetNumberValue() != 19 {
		t.Errorf("current_temperature %v, want 19 (the newer delta's)", v.GetNumberValue())
	}
	if lc, ok := pack.LastChanged(got); !ok || !lc.Equal(at.Add(time.Minute)) {
		t.Errorf("last_changed %v, %v; want %v", lc, ok, at.Add(time.Minute))
	}
	if got, want := snap.Size(), freshSize(snap); got != want {
		t.Errorf("size carried %d, computed afresh %d", got, want)
	}
}
