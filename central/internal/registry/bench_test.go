package registry_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/central/internal/registry"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// homeOf returns a full sync of a home with n lights in 10 areas on 2
// floors, each light carrying the attributes Home Assistant reports.
func homeOf(tb testing.TB, n int, at time.Time) *homeplanev1.EntitySync {
	tb.Helper()
	full := &homeplanev1.EntitySync{Full: true, Time: timestamppb.New(at)}
	for i := range 2 {
		full.Floors = append(full.Floors, &homeplanev1.Floor{Id: fmt.Sprintf("floor_%d", i), Name: fmt.Sprintf("Floor %d", i), Level: int32(i)})
	}
	for i := range 10 {
		full.Areas = append(full.Areas, &homeplanev1.Area{Id: fmt.Sprintf("area_%d", i), Name: fmt.Sprintf("Room %d", i), FloorId: fmt.Sprintf("floor_%d", i%2)})
	}
	for i := range n {
		attrs, err := structpb.NewStruct(map[string]any{
			"brightness": 180.0, "color_mode": "color_temp", "color_temp_kelvin": 2700.0,
			"supported_color_modes": []any{"color_temp", "hs"}, "hs_color": []any{30.5, 60.25},
			"friendly_name": fmt.Sprintf("Lamp %d", i), "supported_features": 44.0,
		})
		if err != nil {
			tb.Fatal(err)
		}
		full.Entities = append(full.Entities, &homeplanev1.Entity{
			EntityId: fmt.Sprintf("light.lamp_%03d", i), Name: fmt.Sprintf("Lamp %d", i), Domain: "light",
			AreaId: fmt.Sprintf("area_%d", i%10), State: "off", Attributes: attrs,
			LastChanged: timestamppb.New(at),
		})
	}
	return full
}

// BenchmarkApplySyncDelta measures what central does for each command's
// entity delta on a 100-entity home: the delta applied and stored (one
// UPDATE), then the index the next intent request resolves against.
func BenchmarkApplySyncDelta(b *testing.B) {
	store, homeID := newHome(b)
	ctx := context.Background()
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	reg := registry.New(store, registry.Options{Now: c.Now})
	full := homeOf(b, 100, c.Now())
	if err := reg.ApplySync(ctx, homeID, full); err != nil {
		b.Fatal(err)
	}
	if _, err := reg.Index(ctx, homeID); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu := cpuTime(b)
	i := 0
	for b.Loop() {
		c.Advance(time.Second)
		e := full.Entities[i%len(full.Entities)]
		state := []string{"on", "off"}[i/len(full.Entities)%2]
		i++
		changed := &homeplanev1.Entity{
			EntityId: e.EntityId, Name: e.Name, Domain: e.Domain, AreaId: e.AreaId,
			State: state, Attributes: e.Attributes, LastChanged: timestamppb.New(c.Now()),
		}
		if err := reg.ApplySync(ctx, homeID, &homeplanev1.EntitySync{
			Entities: []*homeplanev1.Entity{changed}, Time: timestamppb.New(c.Now()),
		}); err != nil {
			b.Fatal(err)
		}
		idx, err := reg.Index(ctx, homeID)
		if err != nil {
			b.Fatal(err)
		}
		if got, _ := idx.EntityByID(e.EntityId); got.GetState() != state {
			b.Fatalf("index shows %s = %q, want %q", e.EntityId, got.GetState(), state)
		}
	}
	b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the CPU this process has used (user and system), which unlike
// the wall time leaves out the database's round trips and fsyncs.
func cpuTime(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
