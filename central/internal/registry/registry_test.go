package registry_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/central/internal/pack"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
	"github.com/homeplane/homeplane/central/internal/registry"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newHome stores a user and a home and returns the store and the home id.
func newHome(tb testing.TB) (*postgres.RegistryStore, string) {
	tb.Helper()
	pool := pgtest.New(tb)
	ctx := context.Background()
	owner := "00000000-0000-4000-8000-000000000001"
	if _, err := postgres.NewAuthStore(pool).CreateUser(ctx, auth.User{
		ID: owner, Email: "o@example.com", Role: auth.RoleUser, CreatedAt: time.Now(),
	}, "unused"); err != nil {
		tb.Fatal(err)
	}
	h, err := home.NewService(postgres.NewHomeStore(pool), home.Options{}).Create(ctx, owner, "Home")
	if err != nil {
		tb.Fatal(err)
	}
	return postgres.NewRegistryStore(pool), h.ID
}

func light(id, name, area, state string) *homeplanev1.Entity {
	attrs, _ := structpb.NewStruct(map[string]any{"brightness": 255.0, "friendly_name": name})
	return &homeplanev1.Entity{EntityId: id, Name: name, Domain: strings.Split(id, ".")[0], AreaId: area, State: state, Attributes: attrs}
}

func ids(snap *registry.Snapshot) []string {
	var out []string
	for _, e := range snap.Entities {
		out = append(out, e.GetEntityId()+"="+e.GetState())
	}
	return out
}

func TestFullDeltaAndReload(t *testing.T) {
	store, homeID := newHome(t)
	ctx := context.Background()
	var changes []string
	var mu sync.Mutex
	reg := registry.New(store, registry.Options{})
	reg.OnChange(func(h string) { mu.Lock(); changes = append(changes, h); mu.Unlock() })

	empty, err := reg.Snapshot(ctx, homeID)
	if err != nil || len(empty.Entities) != 0 {
		t.Fatalf("Snapshot before any sync = %v, %v", empty, err)
	}

	full := &homeplanev1.EntitySync{
		Full: true,
		Entities: []*homeplanev1.Entity{
			light("light.kitchen", "Kitchen", "kitchen", "on"),
			light("light.hall", "Hall", "hall", "off"),
			{EntityId: "sensor.temp", Name: "Temperature", State: "21.5"}, // domain filled in
		},
		Areas:  []*homeplanev1.Area{{Id: "kitchen", Name: "Kitchen", FloorId: "ground"}, {Id: "hall", Name: "Hall"}},
		Floors: []*homeplanev1.Floor{{Id: "ground", Name: "Ground floor"}},
		Time:   timestamppb.New(time.Unix(1_700_000_000, 0)),
	}
	if err := reg.ApplySync(ctx, homeID, full); err != nil {
		t.Fatalf("full ApplySync: %v", err)
	}
	snap, err := reg.Snapshot(ctx, homeID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(ids(snap), ","), "light.hall=off,light.kitchen=on,sensor.temp=21.5"; got != want {
		t.Fatalf("after full sync: %s, want %s", got, want)
	}
	if snap.Entities[2].GetDomain() != "sensor" {
		t.Fatalf("domain not derived from the entity id: %q", snap.Entities[2].GetDomain())
	}

	delta := &homeplanev1.EntitySync{
		Entities:         []*homeplanev1.Entity{light("light.kitchen", "Kitchen", "kitchen", "off"), light("light.porch", "Porch", "", "on")},
		RemovedEntityIds: []string{"light.hall", "light.never_existed"},
		Areas:            []*homeplanev1.Area{{Id: "porch", Name: "Porch"}},
	}
	if err := reg.ApplySync(ctx, homeID, delta); err != nil {
		t.Fatalf("delta ApplySync: %v", err)
	}
	want := "light.kitchen=off,light.porch=on,sensor.temp=21.5"
	snap, _ = reg.Snapshot(ctx, homeID)
	if got := strings.Join(ids(snap), ","); got != want {
		t.Fatalf("after delta: %s, want %s", got, want)
	}
	if len(snap.Areas) != 3 || len(snap.Floors) != 1 {
		t.Fatalf("after delta: %d areas, %d floors; want 3 and 1", len(snap.Areas), len(snap.Floors))
	}

	// A fresh registry (another replica, or a restart) loads it from PostgreSQL.
	other := registry.New(store, registry.Options{})
	reloaded, err := other.Snapshot(ctx, homeID)
	if err != nil {
		t.Fatal(err)
	}
	if !equalSnapshots(reloaded, snap) {
		t.Fatalf("reloaded snapshot differs:\n got %v\nwant %v", reloaded, snap)
	}
	// A delta applied by the fresh registry builds on what the first wrote.
	if err := other.ApplySync(ctx, homeID, &homeplanev1.EntitySync{RemovedEntityIds: []string{"sensor.temp"}}); err != nil {
		t.Fatal(err)
	}
	reloaded, _ = other.Snapshot(ctx, homeID)
	if got := strings.Join(ids(reloaded), ","); got != "light.kitchen=off,light.porch=on" {
		t.Fatalf("delta on the other replica: %s", got)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(changes) != 2 || changes[0] != homeID {
		t.Fatalf("OnChange calls = %v, want two for %s", changes, homeID)
	}
}

func TestSnapshotNoticesOtherReplica(t *testing.T) {
	store, homeID := newHome(t)
	ctx := context.Background()
	clk := &clock{t: time.Now()}
	a := registry.New(store, registry.Options{Now: clk.Now, Recheck: time.Second})
	b := registry.New(store, registry.Options{})
	changed := make(chan string, 1)
	a.OnChange(func(h string) { changed <- h })

	sync1 := &homeplanev1.EntitySync{Full: true, Entities: []*homeplanev1.Entity{light("light.a", "A", "", "on")}}
	if err := a.ApplySync(ctx, homeID, sync1); err != nil {
		t.Fatal(err)
	}
	<-changed
	sync2 := &homeplanev1.EntitySync{Full: true, Entities: []*homeplanev1.Entity{light("light.b", "B", "", "on")}}
	if err := b.ApplySync(ctx, homeID, sync2); err != nil {
		t.Fatal(err)
	}
	// Within the recheck interval the cache answers.
	snap, _ := a.Snapshot(ctx, homeID)
	if got := strings.Join(ids(snap), ","); got != "light.a=on" {
		t.Fatalf("cached snapshot = %s", got)
	}
	clk.Advance(time.Second)
	snap, _ = a.Snapshot(ctx, homeID)
	if got := strings.Join(ids(snap), ","); got != "light.b=on" {
		t.Fatalf("after recheck = %s, want the other replica's write", got)
	}
	select {
	case h := <-changed:
		if h != homeID {
			t.Fatalf("OnChange(%q)", h)
		}
	default:
		t.Fatal("OnChange not called for a change made by another replica")
	}
}

func TestApplySyncRejects(t *testing.T) {
	store, homeID := newHome(t)
	ctx := context.Background()
	reg := registry.New(store, registry.Options{Limits: registry.Limits{MaxEntities: 3}})
	many := func(n int) []*homeplanev1.Entity {
		var es []*homeplanev1.Entity
		for i := range n {
			es = append(es, light("light.l"+strings.Repeat("x", i), "L", "", "on"))
		}
		return es
	}
	big, _ := structpb.NewStruct(map[string]any{"blob": strings.Repeat("x", 70<<10)})
	tests := []struct {
		name string
		sync *homeplanev1.EntitySync
	}{
		{"nil", nil},
		{"too many entities", &homeplanev1.EntitySync{Full: true, Entities: many(4)}},
		{"no dot", &homeplanev1.EntitySync{Entities: []*homeplanev1.Entity{{EntityId: "light"}}}},
		{"uppercase", &homeplanev1.EntitySync{Entities: []*homeplanev1.Entity{{EntityId: "Light.Kitchen"}}}},
		{"topic wildcard", &homeplanev1.EntitySync{Entities: []*homeplanev1.Entity{{EntityId: "light.#"}}}},
		{"domain mismatch", &homeplanev1.EntitySync{Entities: []*homeplanev1.Entity{{EntityId: "light.a", Domain: "switch"}}}},
		{"nil entity", &homeplanev1.EntitySync{Entities: []*homeplanev1.Entity{nil}}},
		{"long name", &homeplanev1.EntitySync{Entities: []*homeplanev1.Entity{{EntityId: "light.a", Name: strings.Repeat("n", 256)}}}},
		{"huge attributes", &homeplanev1.EntitySync{Entities: []*homeplanev1.Entity{{EntityId: "light.a", Attributes: big}}}},
		{"area without id", &homeplanev1.EntitySync{Areas: []*homeplanev1.Area{{Name: "x"}}}},
		{"malformed removal", &homeplanev1.EntitySync{RemovedEntityIds: []string{"../etc"}}},
		{"full with removals", &homeplanev1.EntitySync{Full: true, RemovedEntityIds: []string{"light.a"}}},
		{"NUL in an area id", &homeplanev1.EntitySync{Areas: []*homeplanev1.Area{{Id: "k\x00", Name: "Kitchen"}}}},
		{"NUL in an entity's area", &homeplanev1.EntitySync{Entities: []*homeplanev1.Entity{{EntityId: "light.a", AreaId: "k\x00"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := reg.ApplySync(ctx, homeID, tc.sync); !errors.Is(err, registry.ErrInvalidInput) {
				t.Fatalf("err = %v, want ErrInvalidInput", err)
			}
		})
	}
	t.Run("delta past the limit", func(t *testing.T) {
		if err := reg.ApplySync(ctx, homeID, &homeplanev1.EntitySync{Full: true, Entities: many(3)}); err != nil {
			t.Fatal(err)
		}
		err := reg.ApplySync(ctx, homeID, &homeplanev1.EntitySync{Entities: []*homeplanev1.Entity{light("light.extra", "E", "", "on")}})
		if !errors.Is(err, registry.ErrInvalidInput) {
			t.Fatalf("err = %v, want ErrInvalidInput", err)
		}
		snap, _ := registry.New(store, registry.Options{}).Snapshot(ctx, homeID)
		if len(snap.Entities) != 3 {
			t.Fatalf("rejected delta changed the stored registry: %d entities", len(snap.Entities))
		}
	})
	for _, id := range []string{"11111111-2222-4333-8444-555555555555", "not-a-uuid"} {
		if err := reg.ApplySync(ctx, id, &homeplanev1.EntitySync{Full: true}); !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("ApplySync(%q): err = %v, want ErrNotFound", id, err)
		}
	}
}

func equalSnapshots(a, b *registry.Snapshot) bool {
	return a.SyncedAt.Equal(b.SyncedAt) &&
		slices.EqualFunc(a.Entities, b.Entities, func(x, y *homeplanev1.Entity) bool { return proto.Equal(pack.Unpack(x), pack.Unpack(y)) }) &&
		slices.EqualFunc(a.Areas, b.Areas, func(x, y *homeplanev1.Area) bool { return proto.Equal(x, y) }) &&
		slices.EqualFunc(a.Floors, b.Floors, func(x, y *homeplanev1.Floor) bool { return proto.Equal(x, y) })
}

func TestByteBudget(t *testing.T) {
	store, homeID := newHome(t)
	ctx := context.Background()
	reg := registry.New(store, registry.Options{Limits: registry.Limits{MaxBytes: 4 << 10}})
	big := func(id string) *homeplanev1.Entity {
		return &homeplanev1.Entity{EntityId: id, Name: strings.Repeat("n", 200), State: strings.Repeat("s", 250),
			Aliases: []string{strings.Repeat("a", 250), strings.Repeat("b", 250), strings.Repeat("c", 250)}}
	}
	var entities []*homeplanev1.Entity
	for i := range 3 {
		entities = append(entities, big(fmt.Sprintf("sensor.s%d", i)))
	}
	if err := reg.ApplySync(ctx, homeID, &homeplanev1.EntitySync{Full: true, Entities: entities}); err != nil {
		t.Fatal(err)
	}
	var refused error
	for i := 3; refused == nil && i < 100; i++ {
		refused = reg.ApplySync(ctx, homeID, &homeplanev1.EntitySync{Entities: []*homeplanev1.Entity{big(fmt.Sprintf("sensor.s%d", i))}})
	}
	if !errors.Is(refused, registry.ErrOverBudget) || !errors.Is(refused, registry.ErrInvalidInput) {
		t.Fatalf("growing past the budget: err = %v, want ErrOverBudget", refused)
	}
	snap, err := registry.New(store, registry.Options{}).Snapshot(ctx, homeID)
	if err != nil {
		t.Fatal(err)
	}
	if n := snap.Size(); n > 4<<10 || n == 0 {
		t.Fatalf("stored registry is %d bytes, budget 4 KiB", n)
	}
}

// TestDeltasOutOfOrder: a state delivered late (older last_changed) does not
// overwrite a newer one, and a duplicate delta changes nothing.
func TestDeltasOutOfOrder(t *testing.T) {
	store, homeID := newHome(t)
	ctx := context.Background()
	reg := registry.New(store, registry.Options{})
	at := func(state string, sec int64) *homeplanev1.EntitySync {
		e := light("light.kitchen", "Kitchen", "", state)
		e.LastChanged = timestamppb.New(time.Unix(1_800_000_000+sec, 0))
		return &homeplanev1.EntitySync{Entities: []*homeplanev1.Entity{e}}
	}
	for _, s := range []*homeplanev1.EntitySync{at("on", 10), at("off", 20), at("off", 20), at("on", 10)} {
		if err := reg.ApplySync(ctx, homeID, s); err != nil {
			t.Fatal(err)
		}
	}
	snap, _ := reg.Snapshot(ctx, homeID)
	if got := strings.Join(ids(snap), ","); got != "light.kitchen=off" {
		t.Fatalf("after a late delta: %s, want the newer state", got)
	}
	// Without last_changed (older agents), the latest delivered wins as before.
	if err := reg.ApplySync(ctx, homeID, &homeplanev1.EntitySync{Entities: []*homeplanev1.Entity{light("light.kitchen", "Kitchen", "", "on")}}); err != nil {
		t.Fatal(err)
	}
	snap, _ = reg.Snapshot(ctx, homeID)
	if got := strings.Join(ids(snap), ","); got != "light.kitchen=on" {
		t.Fatalf("delta without last_changed: %s", got)
	}
}

// Syncs reaching two replicas late and out of order (by the agent's
// EntitySync.time) change nothing that a newer sync set; what a late delta
// says of an entity changed after everything held still counts.
func TestLateSyncsChangeNothing(t *testing.T) {
	store, homeID := newHome(t)
	ctx := context.Background()
	// Each replica checks the stored version on every read.
	opts := registry.Options{Recheck: time.Nanosecond}
	replicas := []*registry.Store{registry.New(store, opts), registry.New(store, opts)}
	base := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	ent := func(id, state string, changed, brightness int) *homeplanev1.Entity {
		e := light(id, id, "", state)
		e.LastChanged = timestamppb.New(base.Add(time.Duration(changed) * time.Second))
		e.Attributes.Fields["brightness"] = structpb.NewNumberValue(float64(brightness))
		return e
	}
	sync := func(sent int, full bool, removed []string, es ...*homeplanev1.Entity) *homeplanev1.EntitySync {
		return &homeplanev1.EntitySync{Time: timestamppb.New(base.Add(time.Duration(sent) * time.Second)), Full: full,
			Entities: es, RemovedEntityIds: removed, Areas: []*homeplanev1.Area{{Id: fmt.Sprint("area", sent), Name: "A"}}}
	}
	steps := []struct {
		name string
		sync *homeplanev1.EntitySync
		want string // entity=state/brightness, then areas
	}{
		{"full", sync(100, true, nil, ent("light.kitchen", "off", 90, 1), ent("light.hall", "on", 90, 1)),
			"light.hall=on/1 light.kitchen=off/1 | area100"},
		{"delta", sync(120, false, nil, ent("light.kitchen", "on", 120, 1)),
			"light.hall=on/1 light.kitchen=on/1 | area100 area120"},
		{"delta of another entity", sync(130, false, nil, ent("light.hall", "off", 130, 1)),
			"light.hall=off/1 light.kitchen=on/1 | area100 area120 area130"},
		{"late delta of both", sync(110, false, nil, ent("light.kitchen", "off", 110, 1), ent("light.hall", "on", 110, 1)),
			"light.hall=off/1 light.kitchen=on/1 | area100 area120 area130"},
		{"late delta of an entity changed after everything held", sync(115, false, nil, ent("light.porch", "on", 115, 1)),
			"light.hall=off/1 light.kitchen=on/1 light.porch=on/1 | area100 area120 area130"},
		{"late removal of an entity changed since", sync(111, false, []string{"light.porch", "light.hall"}),
			"light.hall=off/1 light.kitchen=on/1 light.porch=on/1 | area100 area120 area130"},
		{"late full sync", sync(105, true, nil, ent("light.kitchen", "off", 90, 1)),
			"light.hall=off/1 light.kitchen=on/1 light.porch=on/1 | area100 area120 area130"},
		{"attributes change, last_changed does not", sync(140, false, nil, ent("light.kitchen", "on", 120, 100)),
			"light.hall=off/1 light.kitchen=on/100 light.porch=on/1 | area100 area120 area130 area140"},
		{"late attributes of the same last_changed", sync(135, false, nil, ent("light.kitchen", "on", 120, 50)),
			"light.hall=off/1 light.kitchen=on/100 light.porch=on/1 | area100 area120 area130 area140"},
		{"duplicate", sync(140, false, nil, ent("light.kitchen", "on", 120, 100)),
			"light.hall=off/1 light.kitchen=on/100 light.porch=on/1 | area100 area120 area130 area140"},
		{"removal in order", sync(150, false, []string{"light.porch"}),
			"light.hall=off/1 light.kitchen=on/100 | area100 area120 area130 area140 area150"},
		{"newer full sync replaces", sync(200, true, nil, ent("light.kitchen", "off", 190, 1)),
			"light.kitchen=off/1 | area200"},
	}
	for i, st := range steps {
		reg := replicas[i%2]
		if err := reg.ApplySync(ctx, homeID, st.sync); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		snap, err := replicas[(i+1)%2].Snapshot(ctx, homeID)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range snap.Entities {
			got = append(got, fmt.Sprintf("%s=%s/%v", e.GetEntityId(), e.GetState(), pack.Unpack(e).GetAttributes().AsMap()["brightness"]))
		}
		got = append(got, "|")
		for _, a := range snap.Areas {
			got = append(got, a.GetId())
		}
		if g := strings.Join(got, " "); g != st.want {
			t.Fatalf("after %s: %s\nwant %s", st.name, g, st.want)
		}
	}
	// A result's changed states carry no time and leave the registry's as is.
	if err := replicas[0].ApplySync(ctx, homeID, &homeplanev1.EntitySync{Entities: []*homeplanev1.Entity{ent("light.kitchen", "on", 250, 1)}}); err != nil {
		t.Fatal(err)
	}
	if snap, _ := replicas[0].Snapshot(ctx, homeID); !snap.SyncedAt.Equal(base.Add(200 * time.Second)) {
		t.Fatalf("synced at %v after a timeless sync, want the last sync's %v", snap.SyncedAt, base.Add(200*time.Second))
	}
}

// Patch serves a result's changed states before they are stored, and a
// sync stored after it, even a full one sent before the change, cannot set
// them back.
func TestPatchServesChangedStatesAtOnce(t *testing.T) {
	store, homeID := newHome(t)
	ctx := context.Background()
	reg := registry.New(store, registry.Options{})
	var changes int
	var mu sync.Mutex
	reg.OnChange(func(string) { mu.Lock(); changes++; mu.Unlock() })
	base := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	kitchen := func(state string, changed int) *homeplanev1.Entity {
		e := light("light.kitchen", "Kitchen", "", state)
		e.LastChanged = timestamppb.New(base.Add(time.Duration(changed) * time.Second))
		return e
	}
	full := func(sent int, es ...*homeplanev1.Entity) *homeplanev1.EntitySync {
		return &homeplanev1.EntitySync{Full: true, Time: timestamppb.New(base.Add(time.Duration(sent) * time.Second)), Entities: es}
	}
	state := func(r *registry.Store) string {
		t.Helper()
		snap, err := r.Snapshot(ctx, homeID)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(ids(snap), ",")
	}

	if reg.Patch(homeID, []*homeplanev1.Entity{kitchen("on", 20)}) {
		t.Fatal("Patch of a home never cached reported true")
	}
	if err := reg.ApplySync(ctx, homeID, full(10, kitchen("off", 5), light("light.hall", "Hall", "", "off"))); err != nil {
		t.Fatal(err)
	}
	before, _ := store.RegistryVersion(ctx, homeID)
	mu.Lock()
	changes = 0
	mu.Unlock()

	if !reg.Patch(homeID, []*homeplanev1.Entity{kitchen("on", 20)}) {
		t.Fatal("Patch of a cached home reported false")
	}
	if got := state(reg); got != "light.hall=off,light.kitchen=on" {
		t.Fatalf("served after Patch: %s", got)
	}
	mu.Lock()
	if changes != 1 {
		t.Errorf("OnChange called %d times by Patch, want 1", changes)
	}
	mu.Unlock()
	if v, _ := store.RegistryVersion(ctx, homeID); v != before {
		t.Fatalf("Patch wrote to the database: version %d → %d", before, v)
	}
	if got := state(registry.New(store, registry.Options{})); got != "light.hall=off,light.kitchen=off" {
		t.Fatalf("stored before the write: %s", got)
	}
	if reg.Patch(homeID, []*homeplanev1.Entity{{EntityId: "Not An Id"}}) {
		t.Fatal("Patch took a malformed entity")
	}

	// A full sync the agent sent before the change, stored after Patch,
	// keeps the newer state; then the result's own write lands.
	if err := reg.ApplySync(ctx, homeID, full(15, kitchen("off", 5), light("light.hall", "Hall", "", "on"))); err != nil {
		t.Fatal(err)
	}
	if got := state(reg); got != "light.hall=on,light.kitchen=on" {
		t.Fatalf("after a full sync older than the change: %s", got)
	}
	if err := reg.ApplySync(ctx, homeID, &homeplanev1.EntitySync{Entities: []*homeplanev1.Entity{kitchen("on", 20)}}); err != nil {
		t.Fatal(err)
	}
	if got := state(registry.New(store, registry.Options{})); got != "light.hall=on,light.kitchen=on" {
		t.Fatalf("stored: %s", got)
	}
	// A newer full sync still replaces.
	if err := reg.ApplySync(ctx, homeID, full(30, kitchen("off", 25))); err != nil {
		t.Fatal(err)
	}
	if got := state(reg); got != "light.kitchen=off" {
		t.Fatalf("after a newer full sync: %s", got)
	}
}

// Several syncs go in one write, in order; one that is refused does not
// keep the others out, and the error says it was refused.
func TestApplySeveralSyncsInOneWrite(t *testing.T) {
	store, homeID := newHome(t)
	ctx := context.Background()
	reg := registry.New(store, registry.Options{})
	if err := reg.ApplySync(ctx, homeID, &homeplanev1.EntitySync{Full: true}); err != nil {
		t.Fatal(err)
	}
	before, _ := store.RegistryVersion(ctx, homeID)
	err := reg.ApplySync(ctx, homeID,
		&homeplanev1.EntitySync{Entities: []*homeplanev1.Entity{light("light.a", "A", "", "on")}},
		&homeplanev1.EntitySync{Entities: []*homeplanev1.Entity{{EntityId: "bad id"}}},
		&homeplanev1.EntitySync{Entities: []*homeplanev1.Entity{light("light.b", "B", "", "on")}},
		&homeplanev1.EntitySync{RemovedEntityIds: []string{"light.a"}},
	)
	if !errors.Is(err, registry.ErrInvalidInput) {
		t.Fatalf("err = %v, want the refused sync named", err)
	}
	if v, _ := store.RegistryVersion(ctx, homeID); v != before+1 {
		t.Fatalf("version %d → %d, want one write", before, v)
	}
	snap, _ := registry.New(store, registry.Options{}).Snapshot(ctx, homeID)
	if got := strings.Join(ids(snap), ","); got != "light.b=on" {
		t.Fatalf("stored %s, want light.b=on", got)
	}
	// When every sync is refused nothing is written.
	if err := reg.ApplySync(ctx, homeID, &homeplanev1.EntitySync{Full: true, RemovedEntityIds: []string{"light.b"}}); !errors.Is(err, registry.ErrInvalidInput) {
		t.Fatalf("err = %v", err)
	}
	if v, _ := store.RegistryVersion(ctx, homeID); v != before+1 {
		t.Fatalf("a refused sync wrote: version %d", v)
	}
}

// Two replicas writing one home's registry at once, each from its own
// cache: the swap on a stale cache fails and the locked path takes over, so
// no write is lost.
func TestConcurrentWritersLoseNothing(t *testing.T) {
	store, homeID := newHome(t)
	ctx := context.Background()
	replicas := []*registry.Store{registry.New(store, registry.Options{}), registry.New(store, registry.Options{})}
	for _, r := range replicas {
		if err := r.ApplySync(ctx, homeID, &homeplanev1.EntitySync{Entities: []*homeplanev1.Entity{light("light.base", "Base", "", "on")}}); err != nil {
			t.Fatal(err)
		}
	}
	const writers, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := fmt.Sprintf("light.w%d_%d", w, i)
				errs <- replicas[w%2].ApplySync(ctx, homeID, &homeplanev1.EntitySync{Entities: []*homeplanev1.Entity{light(id, id, "", "on")}})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	snap, err := registry.New(store, registry.Options{}).Snapshot(ctx, homeID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(snap.Entities), 1+writers*each; got != want {
		t.Fatalf("stored %d entities, want %d: a write was lost", got, want)
	}
	if v, _ := store.RegistryVersion(ctx, homeID); v != int64(2+writers*each) {
		t.Fatalf("version %d, want one per write (%d)", v, 2+writers*each)
	}
}

// TestNamesLoseControlAndInvisibleCharacters: names, aliases and states
// come out without control and invisible characters, so that what people
// see is what resolves; a NUL, which PostgreSQL's JSON cannot hold, no
// longer costs the home its sync, nor one in an attribute (ADR 0047).
func TestNamesLoseControlAndInvisibleCharacters(t *testing.T) {
	store, homeID := newHome(t)
	ctx := context.Background()
	reg := registry.New(store, registry.Options{})
	attrs, err := structpb.NewStruct(map[string]any{"friendly_name": "a\x00b", "k\x00": []any{"x\x00", map[string]any{"y": "\x00"}}})
	if err != nil {
		t.Fatal(err)
	}
	err = reg.ApplySync(ctx, homeID, &homeplanev1.EntitySync{Full: true,
		Floors: []*homeplanev1.Floor{{Id: "up", Name: "Up\u200bstairs", Aliases: []string{"top\x1b[2J"}}},
		Areas:  []*homeplanev1.Area{{Id: "hall", Name: "Hall\u202e", FloorId: "up"}},
		Entities: []*homeplanev1.Entity{
			{EntityId: "lock.front_door", Name: "Front Door", Domain: "lock", State: "locked"},
			{EntityId: "light.decoy", Name: "Front\u2060 Door", Domain: "light", State: "off\x00", AreaId: "hall", Aliases: []string{"Lamp\r\nX"}},
			{EntityId: "light.plain", Name: "Lampe für Küche 💡", Domain: "light", State: "on", Attributes: attrs},
		}})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := registry.New(store, registry.Options{}).Snapshot(ctx, homeID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range snap.Entities {
		got[e.GetEntityId()] = e.GetName() + "|" + strings.Join(e.GetAliases(), ",") + "|" + e.GetState()
	}
	for _, a := range snap.Areas {
		got[a.GetId()] = a.GetName()
	}
	for _, e := range snap.Entities {
		if e.GetEntityId() == "light.plain" {
			got["attributes"] = fmt.Sprint(pack.Unpack(e).GetAttributes().AsMap())
		}
	}
	for _, f := range snap.Floors {
		got[f.GetId()] = f.GetName() + "|" + strings.Join(f.GetAliases(), ",")
	}
	want := map[string]string{
		"lock.front_door": "Front Door||locked", "light.decoy": "Front Door|Lamp X|off", "light.plain": "Lampe für Küche 💡||on",
		"hall": "Hall", "up": "Upstairs|top [2J", "attributes": "map[friendly_name:ab k:[x map[y:]]]",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stored\n%v\nwant\n%v", got, want)
	}
}
