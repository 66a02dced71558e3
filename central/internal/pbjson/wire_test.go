package pbjson_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/central/internal/pack"
	"github.com/homeplane/homeplane/central/internal/pbjson"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// packedCopy returns a packed copy of e, failing when e stays unpacked.
func packedCopy(tb testing.TB, e *homeplanev1.Entity) *homeplanev1.Entity {
	tb.Helper()
	es := []*homeplanev1.Entity{e}
	pack.Entities(es)
	if es[0] == e || es[0].GetAttributes() != nil || es[0].GetLastChanged() != nil {
		tb.Fatalf("%v was not packed", e)
	}
	return es[0]
}

// A packed entity encodes as the entity it was packed from, in the
// registry document (json names) as in an audited result (proto names).
func TestPackedEntityMatchesProtojson(t *testing.T) {
	entities := map[string]*homeplanev1.Entity{
		"full": fullResult(t).Changed[0],
		"nested": {EntityId: "climate.a", Attributes: attrs(t, map[string]any{
			"hvac_modes": []any{"off", "heat", []any{}, map[string]any{"deep": []any{nil, false, -0.5, 1e-7, 1e21}}},
			"empty":      map[string]any{}, "none": nil, "yes": true, "n": -12.25, "s": nasty,
		})},
		"empty attributes": {EntityId: "light.b", Attributes: &structpb.Struct{}},
		"time only":        {EntityId: "light.c", LastChanged: timestamppb.New(time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC))},
	}
	for name, e := range entities {
		t.Run(name, func(t *testing.T) {
			p := packedCopy(t, e)
			got, err := pbjson.AppendEntity([]byte("prefix"), p)
			if err != nil {
				t.Fatal(err)
			}
			want, err := protojson.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			sameJSON(t, got[len("prefix"):], want)
			r, err := pbjson.AppendResult(nil, &homeplanev1.Result{Changed: []*homeplanev1.Entity{p}})
			if err != nil {
				t.Fatal(err)
			}
			wantR, err := protoNames.Marshal(&homeplanev1.Result{Changed: []*homeplanev1.Entity{e}})
			if err != nil {
				t.Fatal(err)
			}
			sameJSON(t, r, wantR)
		})
	}
}

// A packed entity is refused where the one it was packed from is.
func TestPackedEntityRefusesWhatProtojsonRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		e    *homeplanev1.Entity
		want error
	}{
		"NaN":       {&homeplanev1.Entity{Attributes: &structpb.Struct{Fields: map[string]*structpb.Value{"x": structpb.NewNumberValue(math.NaN())}}}, pbjson.ErrBadNumber},
		"infinity":  {&homeplanev1.Entity{Attributes: attrs(t, map[string]any{"l": []any{math.Inf(-1)}})}, pbjson.ErrBadNumber},
		"no kind":   {&homeplanev1.Entity{Attributes: &structpb.Struct{Fields: map[string]*structpb.Value{"x": {}}}}, pbjson.ErrNoValueKind},
		"far time":  {&homeplanev1.Entity{LastChanged: &timestamppb.Timestamp{Seconds: math.MaxInt64}}, pbjson.ErrBadTimestamp},
		"bad nanos": {&homeplanev1.Entity{LastChanged: &timestamppb.Timestamp{Nanos: -1}}, pbjson.ErrBadTimestamp},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := protojson.Marshal(tc.e); err == nil {
				t.Fatal("protojson took it")
			}
			if _, err := pbjson.AppendEntity(nil, tc.e); !errors.Is(err, tc.want) {
				t.Fatalf("unpacked: error %v, want %v", err, tc.want)
			}
			if got, err := pbjson.AppendEntity(nil, packedCopy(t, tc.e)); !errors.Is(err, tc.want) {
				t.Errorf("packed: encoded as %s (error %v), want %v", got, err, tc.want)
			}
		})
	}
}

func TestEncodedStructRefusesMalformed(t *testing.T) {
	good, err := proto.Marshal(attrs(t, map[string]any{"a": "b"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pbjson.AppendEncodedStruct(nil, good); err != nil {
		t.Fatal(err)
	}
	if got, err := pbjson.AppendEncodedStruct(nil, good[:len(good)-1]); !errors.Is(err, pbjson.ErrMalformed) {
		t.Errorf("truncated: encoded as %s (error %v), want ErrMalformed", got, err)
	}
}

func FuzzPackedEntity(f *testing.F) {
	f.Add("brightness", 30.0, nasty, true)
	f.Add("\xff", math.Inf(1), "\xff", false)
	f.Fuzz(func(t *testing.T, key string, n float64, s string, b bool) {
		e := &homeplanev1.Entity{EntityId: "light.a", Attributes: &structpb.Struct{Fields: map[string]*structpb.Value{
			key: structpb.NewNumberValue(n), "s": structpb.NewStringValue(s),
			"l": structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewBoolValue(b), structpb.NewStringValue(key)}}),
		}}}
		es := []*homeplanev1.Entity{e}
		pack.Entities(es)
		want, werr := protojson.Marshal(e)
		got, gerr := pbjson.AppendEntity(nil, es[0])
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("protojson error %v, pbjson error %v", werr, gerr)
		}
		if werr == nil {
			sameJSON(t, got, want)
		}
	})
}
