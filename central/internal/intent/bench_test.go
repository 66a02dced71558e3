package intent_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/rules"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// benchHome builds a home of n entities over 40 areas on 4 floors, named the
// way people name things ("Kitchen 2 lamp 17"), with a few device classes.
func benchHome(tb testing.TB, n int) *intent.Index {
	tb.Helper()
	return intent.NewIndex(benchRegistry(n))
}

// benchRegistry is a home of n entities in 40 areas on 4 floors.
func benchRegistry(n int) ([]*homeplanev1.Entity, []*homeplanev1.Area, []*homeplanev1.Floor) {
	rooms := []string{"Kitchen", "Living Room", "Bedroom", "Office", "Garage", "Hall", "Bathroom", "Attic", "Cellar", "Porch"}
	floors := []*homeplanev1.Floor{{Id: "f0", Name: "Ground Floor"}, {Id: "f1", Name: "First Floor"}, {Id: "f2", Name: "Second Floor"}, {Id: "f3", Name: "Basement"}}
	var areas []*homeplanev1.Area
	for i := range 40 {
		name := rooms[i%len(rooms)]
		if i >= len(rooms) {
			name = fmt.Sprintf("%s %d", name, i/len(rooms)+1)
		}
		areas = append(areas, &homeplanev1.Area{Id: fmt.Sprintf("a%d", i), Name: name, FloorId: floors[i%len(floors)].GetId()})
	}
	kinds := []struct{ domain, class, noun string }{
		{"light", "", "lamp"}, {"light", "", "spot"}, {"switch", "", "plug"}, {"fan", "", "fan"},
		{"cover", "blind", "blind"}, {"lock", "", "door"}, {"binary_sensor", "window", "window"},
		{"sensor", "temperature", "thermometer"}, {"media_player", "", "speaker"}, {"climate", "", "thermostat"},
	}
	ents := make([]*homeplanev1.Entity, 0, n)
	for i := range n {
		a := areas[i%len(areas)]
		k := kinds[(i/len(areas))%len(kinds)]
		nth := i/(len(areas)*len(kinds)) + 1
		ents = append(ents, &homeplanev1.Entity{
			EntityId: fmt.Sprintf("%s.e%d", k.domain, i), Name: fmt.Sprintf("%s %s %d", a.GetName(), k.noun, nth),
			Domain: k.domain, DeviceClass: k.class, AreaId: a.GetId(), State: "off",
		})
	}
	return ents, areas, floors
}

// BenchmarkNewIndex indexes a home's names, as the registry does whenever
// the home's states change.
func BenchmarkNewIndex(b *testing.B) {
	for _, n := range []int{30, 1000} {
		b.Run(fmt.Sprintf("entities=%d", n), func(b *testing.B) {
			ents, areas, floors := benchRegistry(n)
			b.ReportAllocs()
			for b.Loop() {
				intent.NewIndex(ents, areas, floors)
			}
		})
	}
}

var benchSentences = []string{
	"turn on the kitchen lights",
	"please switch off the office fan 2",
	"set the bedroom lights to 40 percent",
	"are any lights on in the living room",
	"what is the temperature in here",
	"turn off the lights on the first floor",
	"lock the hall door 1",
	"is the kitchen window 2 open",
	"close the blinds in the bedroom 2",
	"start a 5 minute timer",
}

// BenchmarkParseResolve measures parse + resolve per sentence and reports
// the 99th percentile; run with
// go test -run '^$' -bench ParseResolve -benchtime 200000x -cpu 1 ./internal/intent/
func BenchmarkParseResolve(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("entities=%d", n), func(b *testing.B) {
			reg := benchHome(b, n)
			p := rules.New(rules.Options{})
			ctx := context.Background()
			pc := intent.Context{Area: "Kitchen"}
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				s := benchSentences[i%len(benchSentences)]
				in, err := p.Parse(ctx, s, reg, pc)
				if err != nil {
					b.Fatalf("%q: %v", s, err)
				}
				if _, err := intent.Resolve(reg, in); err != nil && !errors.Is(err, intent.ErrUnresolved) {
					b.Fatalf("%q: %v", s, err)
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sentences/s")
		})
	}
}

// TestBenchSentencesResolve keeps the benchmark honest: every sentence
// parses and resolves to something in the generated home.
func TestBenchSentencesResolve(t *testing.T) {
	reg := benchHome(t, 1000)
	p := rules.New(rules.Options{})
	for _, s := range benchSentences {
		in, err := p.Parse(context.Background(), s, reg, intent.Context{Area: "Kitchen"})
		if err != nil {
			t.Errorf("%q: %v", s, err)
			continue
		}
		if _, err := intent.Resolve(reg, in); err != nil {
			t.Errorf("%q → %v: %v", s, in, err)
		}
	}
}
