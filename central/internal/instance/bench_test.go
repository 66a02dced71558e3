package instance_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/homeplane/homeplane/central/internal/instance"
)

// BenchmarkApplyTelemetry is one resource sample from one of 1000 homes, the
// steady load central carries for every home every sample interval.
func BenchmarkApplyTelemetry(b *testing.B) {
	s, err := instance.New(&store{}, instance.Options{Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	homes := make([]string, 1000)
	for i := range homes {
		homes[i] = fmt.Sprintf("00000000-0000-0000-0000-%012d", i)
	}
	at := time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		at = at.Add(time.Millisecond)
		if err := s.ApplyTelemetry(b.Context(), homes[i%len(homes)], sample(at, "running", 12.5)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
