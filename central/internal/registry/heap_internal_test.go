package registry

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

var (
	heapHomes    = flag.Int("heap.homes", 15000, "homes BenchmarkCacheHeap caches")
	heapEntities = flag.Int("heap.entities", 100, "entities in each of those homes")
)

// fleetEntity returns the i-th entity of a home like the load generator's,
// cycling through its kinds: lights, a switch, a lock, a cover, a
// thermostat and a temperature sensor, each with the attributes Home
// Assistant reports for it. Every call builds new messages, as decoding a
// sync from the broker does.
func fleetEntity(tb testing.TB, i int, at time.Time) *homeplanev1.Entity {
	tb.Helper()
	e := &homeplanev1.Entity{AreaId: fmt.Sprintf("area_%d", i%10), LastChanged: timestamppb.New(at)}
	var attrs map[string]any
	switch i % 6 {
	case 0, 1:
		e.EntityId, e.Name, e.Domain, e.State = fmt.Sprintf("light.lamp_%03d", i), fmt.Sprintf("Lamp %d", i), "light", "off"
		attrs = map[string]any{"supported_color_modes": []any{"brightness"}, "brightness": 180.0, "friendly_name": e.Name}
	case 2:
		e.EntityId, e.Name, e.Domain, e.DeviceClass, e.State = fmt.Sprintf("switch.plug_%03d", i), fmt.Sprintf("Plug %d", i), "switch", "outlet", "on"
	case 3:
		e.EntityId, e.Name, e.Domain, e.DeviceClass, e.State = fmt.Sprintf("cover.blind_%03d", i), fmt.Sprintf("Blind %d", i), "cover", "blind", "closed"
		attrs = map[string]any{"supported_features": 15.0, "current_position": 0.0}
	case 4:
		e.EntityId, e.Name, e.Domain, e.State = fmt.Sprintf("climate.thermostat_%03d", i), fmt.Sprintf("Thermostat %d", i), "climate", "heat"
		attrs = map[string]any{"hvac_modes": []any{"off", "heat"}, "min_temp": 7.0, "max_temp": 35.0, "current_temperature": 21.5, "temperature": 21.0}
	default:
		e.EntityId, e.Name, e.Domain, e.DeviceClass, e.State = fmt.Sprintf("sensor.temperature_%03d", i), fmt.Sprintf("Temperature %d", i), "sensor", "temperature", "20.8"
		attrs = map[string]any{"unit_of_measurement": "°C", "state_class": "measurement"}
	}
	if attrs != nil {
		s, err := structpb.NewStruct(attrs)
		if err != nil {
			tb.Fatal(err)
		}
		e.Attributes = s
	}
	return e
}

// BenchmarkCacheHeap fills a Store with -heap.homes homes of -heap.entities
// entities each, as a central serving a large fleet holds them, and
// measures what the cached registries put in front of the garbage
// collector: the heap bytes and objects they hold once collected, the part
// of the heap that holds pointers (scan-MiB: what the mark must scan), and
// the time of a forced collection (ns/op), which marking them dominates. The backend is in memory: the database is not measured.
func BenchmarkCacheHeap(b *testing.B) {
	ctx := context.Background()
	at := time.Unix(1_700_000_000, 0)
	reg := New(newMemBackend(), Options{
		MaxCachedHomes: *heapHomes, MaxCacheBytes: 1 << 40, Now: func() time.Time { return at },
	})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	scanBefore := scannableHeap()
	for h := range *heapHomes {
		full := &homeplanev1.EntitySync{Full: true, Time: timestamppb.New(at)}
		for i := range *heapEntities {
			full.Entities = append(full.Entities, fleetEntity(b, i, at))
		}
		if err := reg.ApplySync(ctx, fmt.Sprintf("00000000-0000-4000-8000-%012d", h), full); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	scan := float64(scannableHeap() - scanBefore)
	if n := len(reg.cache); n != *heapHomes {
		b.Fatalf("%d homes cached, want %d", n, *heapHomes)
	}
	entities := float64(*heapHomes * *heapEntities)
	for b.Loop() {
		runtime.GC()
	}
	heap := float64(after.HeapAlloc) - float64(before.HeapAlloc)
	objects := float64(after.HeapObjects) - float64(before.HeapObjects)
	b.ReportMetric(heap/(1<<20), "heap-MiB")
	b.ReportMetric(objects, "heap-objects")
	b.ReportMetric(heap/entities, "heap-B/entity")
	b.ReportMetric(objects/entities, "objects/entity")
	b.ReportMetric(scan/(1<<20), "scan-MiB")
	runtime.KeepAlive(reg)
}

// scannableHeap is the heap the collector scans for pointers, as of the
// last collection.
func scannableHeap() uint64 {
	m := []metrics.Sample{{Name: "/gc/scan/heap:bytes"}}
	metrics.Read(m)
	return m[0].Value.Uint64()
}
