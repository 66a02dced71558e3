package postgres_test

import (
	"context"
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
	"github.com/homeplane/homeplane/central/internal/registry"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// TestRegistryDocumentThroughJSONB stores registries with escapes, unicode,
// nested attributes, extreme numbers and edge timestamps, through both
// writes, and reads them back equal from jsonb.
func TestRegistryDocumentThroughJSONB(t *testing.T) {
	pool := pgtest.New(t)
	seedHome(t, pool)
	ctx := context.Background()
	store := postgres.NewRegistryStore(pool)

	// jsonb refuses \u0000, with protojson's documents as with these.
	nasty := "q\"uote\\ /\n\r\t\b\f\x01\x1f\x7f <b>&amp; \u2028 é 日本 🏠 \ufffd e\u0301"
	attrs, err := structpb.NewStruct(map[string]any{
		nasty: nasty, "": nil, "t": true, "f": false, "negzero": math.Copysign(0, -1),
		"max": math.MaxFloat64, "tiny": 5e-324, "tenth": 0.1, "big": 1e21, "int": 9007199254740993.0,
		"list": []any{nil, 1.5, []any{}, map[string]any{"deep": map[string]any{"er": []any{nasty}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	snap := &registry.Snapshot{
		Entities: []*homeplanev1.Entity{
			{EntityId: "sensor.a", Name: nasty, Aliases: []string{nasty, ""}, Domain: "sensor", State: nasty,
				Attributes: attrs, LastChanged: &timestamppb.Timestamp{Seconds: -62135596800, Nanos: 1}},
			{EntityId: "sensor.b", Attributes: &structpb.Struct{}, LastChanged: &timestamppb.Timestamp{}},
			{EntityId: "sensor.c", LastChanged: &timestamppb.Timestamp{Seconds: 253402300799, Nanos: 999_000_000}},
		},
		Areas:    []*homeplanev1.Area{{Id: "a", Name: nasty, Aliases: []string{nasty}, FloorId: "f"}},
		Floors:   []*homeplanev1.Floor{{Id: "f", Name: nasty, Level: -2}, {Id: "g"}},
		SyncedAt: time.Date(2026, 12, 7, 3, 4, 5, 123_456_789, time.UTC),
	}
	check := func(how string) {
		t.Helper()
		got, _, err := store.LoadRegistry(ctx, convHome)
		if err != nil {
			t.Fatalf("%s: %v", how, err)
		}
		want := &homeplanev1.ListEntitiesResponse{Entities: snap.Entities, Areas: snap.Areas, Floors: snap.Floors}
		if !proto.Equal(&homeplanev1.ListEntitiesResponse{Entities: got.Entities, Areas: got.Areas, Floors: got.Floors}, want) {
			t.Errorf("%s: read back\n%v\nwant\n%v", how, got, want)
		}
		if !got.SyncedAt.Equal(snap.SyncedAt) {
			t.Errorf("%s: synced at %v, want %v", how, got.SyncedAt, snap.SyncedAt)
		}
	}
	version, err := store.UpdateRegistry(ctx, convHome, func(int64, func() (*registry.Snapshot, error)) (*registry.Snapshot, error) {
		return snap, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	check("UpdateRegistry")
	if ok, err := store.SwapRegistry(ctx, convHome, version, snap); err != nil || !ok {
		t.Fatalf("SwapRegistry = %v, %v", ok, err)
	}
	check("SwapRegistry")

	bad := &registry.Snapshot{Entities: []*homeplanev1.Entity{{EntityId: "sensor.a", State: string([]byte{0xff})}}}
	if _, err := store.SwapRegistry(ctx, convHome, version+1, bad); err == nil {
		t.Error("SwapRegistry stored invalid UTF-8")
	}
	check("after the refused write")
}
