package registry

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/central/internal/pack"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// memBackend keeps registries in memory, as the database would.
type memBackend struct {
	mu       sync.Mutex
	snaps    map[string]*Snapshot
	versions map[string]int64
}

func newMemBackend() *memBackend {
	return &memBackend{snaps: map[string]*Snapshot{}, versions: map[string]int64{}}
}

func (m *memBackend) LoadRegistry(_ context.Context, homeID string) (*Snapshot, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.snaps[homeID], m.versions[homeID], nil
}

func (m *memBackend) RegistryVersion(_ context.Context, homeID string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.versions[homeID], nil
}

func (m *memBackend) UpdateRegistry(_ context.Context, homeID string,
	apply func(int64, func() (*Snapshot, error)) (*Snapshot, error),
) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	next, err := apply(m.versions[homeID], func() (*Snapshot, error) { return m.snaps[homeID], nil })
	if err != nil {
		return 0, err
	}
	m.snaps[homeID] = next
	m.versions[homeID]++
	return m.versions[homeID], nil
}

func (m *memBackend) SwapRegistry(_ context.Context, homeID string, version int64, snap *Snapshot) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.versions[homeID] != version {
		return false, nil
	}
	m.snaps[homeID] = snap
	m.versions[homeID]++
	return true, nil
}

const testHome = "00000000-0000-4000-8000-0000000000aa"

func lamp(id, name, area, state string, changed time.Time) *homeplanev1.Entity {
	attrs, _ := structpb.NewStruct(map[string]any{"brightness": 255.0, "friendly_name": name})
	return &homeplanev1.Entity{
		EntityId: id, Name: name, Domain: "light", AreaId: area, State: state, Attributes: attrs,
		LastChanged: timestamppb.New(changed),
	}
}

// freshSize is Size computed over every message, as if never cached.
func freshSize(s *Snapshot) int {
	return (&Snapshot{Entities: s.Entities, Areas: s.Areas, Floors: s.Floors}).Size()
}

// sameShape reports whether a and b agree in everything the name index holds.
func sameShape(a, b *Snapshot) bool {
	return slices.EqualFunc(a.Entities, b.Entities, sameNames) &&
		slices.EqualFunc(a.Areas, b.Areas, func(x, y *homeplanev1.Area) bool { return proto.Equal(x, y) }) &&
		slices.EqualFunc(a.Floors, b.Floors, func(x, y *homeplanev1.Floor) bool { return proto.Equal(x, y) })
}

// TestSizeAndShapeFollowEverySync applies random full syncs, deltas, late
// syncs and removals and checks after each that the size carried over
// equals a fresh computation and that a snapshot keeps its predecessor's
// shape only when names, areas and floors are indeed the same.
func TestSizeAndShapeFollowEverySync(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Unix(1_700_000_000, 0)
	l := Limits{}.withDefaults()
	pick := func(ss ...string) string { return ss[rng.IntN(len(ss))] }
	entity := func() *homeplanev1.Entity {
		e := lamp(fmt.Sprintf("light.l%d", rng.IntN(6)), pick("A", "B"), pick("", "kitchen", "hall"),
			pick("on", "off", "unavailable", ""), now.Add(time.Duration(rng.IntN(600)-300)*time.Second))
		if rng.IntN(4) == 0 {
			e.Domain = "" // filled in by apply
		}
		if rng.IntN(4) == 0 {
			e.Aliases = []string{pick("x", "y")}
		}
		if rng.IntN(3) == 0 {
			e.Attributes.Fields["brightness"] = structpb.NewNumberValue(float64(rng.IntN(256)))
		}
		return e
	}
	var cur *Snapshot
	kept, changed := 0, 0
	for i := range 3000 {
		now = now.Add(time.Second)
		s := &homeplanev1.EntitySync{Full: rng.IntN(10) == 0, Time: timestamppb.New(now.Add(time.Duration(rng.IntN(40)-30) * time.Second))}
		if rng.IntN(5) == 0 {
			s.Time = nil
		}
		for range rng.IntN(4) {
			s.Entities = append(s.Entities, entity())
		}
		if !s.Full && rng.IntN(4) == 0 {
			s.RemovedEntityIds = []string{fmt.Sprintf("light.l%d", rng.IntN(6))}
		}
		if rng.IntN(5) == 0 {
			s.Areas = []*homeplanev1.Area{{Id: pick("kitchen", "hall"), Name: pick("Kitchen", "Hall"), FloorId: pick("", "ground")}}
		}
		if rng.IntN(8) == 0 {
			s.Floors = []*homeplanev1.Floor{{Id: "ground", Level: int32(rng.IntN(2))}}
		}
		if err := l.check(s); err != nil {
			t.Fatalf("step %d: generated sync refused: %v", i, err)
		}
		next, err := apply(cur, s, l, now)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got, want := next.Size(), freshSize(next); got != want {
			t.Fatalf("step %d: Size %d, computed afresh %d", i, got, want)
		}
		if next.shape == 0 {
			t.Fatalf("step %d: no shape", i)
		}
		if cur != nil && next.shape == cur.shape {
			if !sameShape(cur, next) {
				t.Fatalf("step %d: shape kept although names, areas or floors changed", i)
			}
			kept++
		} else {
			changed++
		}
		cur = next
	}
	if kept < 100 || changed < 100 {
		t.Fatalf("shape kept %d times and changed %d: the steps do not exercise both", kept, changed)
	}
}

// TestSizeCachedAfterPatch: Patch's snapshot carries its size, and the
// cache's byte count is the sum of fresh sizes.
func TestSizeCachedAfterPatch(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	reg := New(newMemBackend(), Options{Now: func() time.Time { return now }})
	if err := reg.ApplySync(ctx, testHome, &homeplanev1.EntitySync{Full: true, Time: timestamppb.New(now),
		Entities: []*homeplanev1.Entity{lamp("light.a", "A", "", "off", now), lamp("light.b", "B", "", "off", now)}}); err != nil {
		t.Fatal(err)
	}
	changed := lamp("light.a", "A", "", "a much longer state than before", now.Add(time.Second))
	if !reg.Patch(testHome, []*homeplanev1.Entity{changed}) {
		t.Fatal("Patch refused")
	}
	snap, err := reg.Snapshot(ctx, testHome)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := snap.Size(), freshSize(snap); got != want {
		t.Fatalf("Size %d, computed afresh %d", got, want)
	}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if reg.cacheBytes != freshSize(snap) {
		t.Fatalf("cache counts %d bytes, the snapshot has %d", reg.cacheBytes, freshSize(snap))
	}
}

// TestIndexCarriedOverOnlyForStates: a delta or Patch that changes only
// states keeps the name index (with the new states); one that renames,
// adds, removes or moves an entity, or changes an area, has it rebuilt.
func TestIndexCarriedOverOnlyForStates(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	at := func() time.Time { now = now.Add(time.Second); return now }
	reg := New(newMemBackend(), Options{Now: func() time.Time { return now }})
	if err := reg.ApplySync(ctx, testHome, &homeplanev1.EntitySync{Full: true, Time: timestamppb.New(now),
		Entities: []*homeplanev1.Entity{lamp("light.a", "Desk", "study", "off", now), lamp("light.b", "Hall lamp", "", "off", now)},
		Areas:    []*homeplanev1.Area{{Id: "study", Name: "Study"}},
	}); err != nil {
		t.Fatal(err)
	}
	cachedIndex := func() bool {
		reg.mu.Lock()
		defer reg.mu.Unlock()
		return reg.cache[testHome].index != nil
	}
	delta := func(es ...*homeplanev1.Entity) *homeplanev1.EntitySync {
		return &homeplanev1.EntitySync{Entities: es, Time: timestamppb.New(at())}
	}
	steps := []struct {
		name  string
		run   func() error
		kept  bool
		check func(*testing.T) // on the index after the step
	}{
		{"state delta", func() error { return reg.ApplySync(ctx, testHome, delta(lamp("light.a", "Desk", "study", "on", at()))) }, true,
			func(t *testing.T) { wantState(t, reg, "light.a", "on") }},
		{"attributes delta", func() error {
			e := lamp("light.a", "Desk", "study", "on", at())
			e.Attributes.Fields["brightness"] = structpb.NewNumberValue(10)
			return reg.ApplySync(ctx, testHome, delta(e))
		}, true, func(t *testing.T) {
			idx, _ := reg.Index(ctx, testHome)
			e, _ := idx.EntityByID("light.a")
			if v, _ := pack.Attribute(e, "brightness"); v.GetNumberValue() != 10 {
				t.Errorf("brightness %v, want 10", v.GetNumberValue())
			}
		}},
		{"Patch of a state", func() error {
			if !reg.Patch(testHome, []*homeplanev1.Entity{lamp("light.b", "Hall lamp", "", "on", at())}) {
				return fmt.Errorf("Patch refused")
			}
			return nil
		}, true, func(t *testing.T) { wantState(t, reg, "light.b", "on") }},
		{"same area again", func() error {
			return reg.ApplySync(ctx, testHome, &homeplanev1.EntitySync{Areas: []*homeplanev1.Area{{Id: "study", Name: "Study"}}, Time: timestamppb.New(at())})
		}, true, nil},
		{"rename", func() error {
			return reg.ApplySync(ctx, testHome, delta(lamp("light.a", "Reading lamp", "study", "off", at())))
		}, false,
			func(t *testing.T) {
				idx, _ := reg.Index(ctx, testHome)
				if got := idx.EntitiesNamed("reading lamp"); len(got) != 1 || idx.Entity(got[0]).GetState() != "off" {
					t.Errorf("EntitiesNamed(reading lamp) = %v", got)
				}
				if got := idx.EntitiesNamed("desk"); len(got) != 0 {
					t.Errorf("old name still found: %v", got)
				}
			}},
		{"alias", func() error {
			e := lamp("light.a", "Reading lamp", "study", "off", at())
			e.Aliases = []string{"desk"}
			return reg.ApplySync(ctx, testHome, delta(e))
		}, false, func(t *testing.T) {
			idx, _ := reg.Index(ctx, testHome)
			if got := idx.EntitiesNamed("desk"); len(got) != 1 {
				t.Errorf("alias not found: %v", got)
			}
		}},
		{"move to another area", func() error {
			return reg.ApplySync(ctx, testHome, delta(lamp("light.b", "Hall lamp", "study", "on", at())))
		}, false, nil},
		{"device class", func() error {
			e := lamp("light.b", "Hall lamp", "study", "on", at())
			e.DeviceClass = "lamp"
			return reg.ApplySync(ctx, testHome, delta(e))
		}, false, nil},
		{"new entity", func() error { return reg.ApplySync(ctx, testHome, delta(lamp("light.c", "Porch", "", "on", at()))) }, false,
			func(t *testing.T) { wantState(t, reg, "light.c", "on") }},
		{"removed entity", func() error {
			return reg.ApplySync(ctx, testHome, &homeplanev1.EntitySync{RemovedEntityIds: []string{"light.c"}, Time: timestamppb.New(at())})
		}, false, func(t *testing.T) {
			idx, _ := reg.Index(ctx, testHome)
			if _, ok := idx.EntityByID("light.c"); ok {
				t.Error("removed entity still indexed")
			}
		}},
		{"area renamed", func() error {
			return reg.ApplySync(ctx, testHome, &homeplanev1.EntitySync{Areas: []*homeplanev1.Area{{Id: "study", Name: "Office"}}, Time: timestamppb.New(at())})
		}, false, func(t *testing.T) {
			idx, _ := reg.Index(ctx, testHome)
			if _, ok := idx.AreaByName("office"); !ok {
				t.Error("renamed area not found")
			}
		}},
		{"full sync", func() error {
			return reg.ApplySync(ctx, testHome, &homeplanev1.EntitySync{Full: true, Time: timestamppb.New(at()),
				Entities: []*homeplanev1.Entity{lamp("light.a", "Reading lamp", "study", "on", now)}})
		}, false, nil},
		{"state after the full sync", func() error {
			return reg.ApplySync(ctx, testHome, delta(lamp("light.a", "Reading lamp", "study", "off", at())))
		}, true,
			func(t *testing.T) { wantState(t, reg, "light.a", "off") }},
	}
	for _, st := range steps {
		// Every step starts with the index built, as after a request.
		if _, err := reg.Index(ctx, testHome); err != nil {
			t.Fatal(err)
		}
		if err := st.run(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := cachedIndex(); got != st.kept {
			t.Errorf("%s: index carried over = %v, want %v", st.name, got, st.kept)
		}
		if st.check != nil {
			st.check(t)
		}
		// Whether carried over or rebuilt, the index shows the snapshot.
		snap, _ := reg.Snapshot(ctx, testHome)
		idx, _ := reg.Index(ctx, testHome)
		if !slices.Equal(idx.Entities(), snap.Entities) || !slices.Equal(idx.Areas(), snap.Areas) {
			t.Errorf("%s: index entities or areas are not the snapshot's", st.name)
		}
	}
}

func wantState(t *testing.T, reg *Store, id, state string) {
	t.Helper()
	idx, err := reg.Index(context.Background(), testHome)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := idx.EntityByID(id)
	if !ok || e.GetState() != state {
		t.Errorf("index has %s = %q (%v), want %q", id, e.GetState(), ok, state)
	}
	for _, i := range idx.EntitiesNamed(e.GetName()) {
		if idx.Entity(i).GetEntityId() == id && idx.Entity(i).GetState() != state {
			t.Errorf("found by name with state %q, want %q", idx.Entity(i).GetState(), state)
		}
	}
}
