package registry

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"

	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/central/internal/pack"
)

// Limits bound what one home's registry may hold. Zero fields take the
// defaults shown.
type Limits struct {
	MaxEntities        int // 20000, in one sync and in the registry
	MaxAreas           int // 1000
	MaxFloors          int // 200
	MaxAliases         int // 32 per entity, area or floor
	MaxTextLen         int // 255 bytes for ids, names, aliases, states
	MaxAttributesBytes int // 64 KiB of encoded attributes per entity
	// MaxBytes bounds the encoded size of the whole registry (1 MiB, what
	// one full sync can carry through the broker).
	MaxBytes int
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxEntities, 20000)
	def(&l.MaxAreas, 1000)
	def(&l.MaxFloors, 200)
	def(&l.MaxAliases, 32)
	def(&l.MaxTextLen, 255)
	def(&l.MaxAttributesBytes, 64<<10)
	def(&l.MaxBytes, 1<<20)
	return l
}

// check rejects a sync that is malformed or too large, naming the first
// problem. It first cleans the names in s (see cleanNames).
func (l Limits) check(s *homeplanev1.EntitySync) error {
	if s == nil {
		return fmt.Errorf("%w: empty sync", ErrInvalidInput)
	}
	cleanNames(s)
	if n := len(s.GetEntities()); n > l.MaxEntities {
		return fmt.Errorf("%w: %d entities, at most %d", ErrInvalidInput, n, l.MaxEntities)
	}
	if n := len(s.GetRemovedEntityIds()); n > l.MaxEntities {
		return fmt.Errorf("%w: %d removed entities, at most %d", ErrInvalidInput, n, l.MaxEntities)
	}
	if n := len(s.GetAreas()); n > l.MaxAreas {
		return fmt.Errorf("%w: %d areas, at most %d", ErrInvalidInput, n, l.MaxAreas)
	}
	if n := len(s.GetFloors()); n > l.MaxFloors {
		return fmt.Errorf("%w: %d floors, at most %d", ErrInvalidInput, n, l.MaxFloors)
	}
	if s.GetFull() && len(s.GetRemovedEntityIds()) > 0 {
		return fmt.Errorf("%w: a full sync cannot remove entities", ErrInvalidInput)
	}
	for i, e := range s.GetEntities() {
		if err := l.checkEntity(e); err != nil {
			return fmt.Errorf("%w: entity %d: %w", ErrInvalidInput, i, err)
		}
	}
	for i, id := range s.GetRemovedEntityIds() {
		if _, ok := splitEntityID(id, l.MaxTextLen); !ok {
			return fmt.Errorf("%w: removed entity %d: malformed entity id", ErrInvalidInput, i)
		}
	}
	for i, a := range s.GetAreas() {
		if err := l.checkNamed(a.GetId(), a.GetName(), a.GetAliases(), a.GetFloorId()); err != nil {
			return fmt.Errorf("%w: area %d: %w", ErrInvalidInput, i, err)
		}
	}
	for i, f := range s.GetFloors() {
		if err := l.checkNamed(f.GetId(), f.GetName(), f.GetAliases(), ""); err != nil {
			return fmt.Errorf("%w: floor %d: %w", ErrInvalidInput, i, err)
		}
	}
	return nil
}

func (l Limits) checkEntity(e *homeplanev1.Entity) error {
	if e == nil {
		return fmt.Errorf("missing")
	}
	domain, ok := splitEntityID(e.GetEntityId(), l.MaxTextLen)
	if !ok {
		return fmt.Errorf("malformed entity id %.64q", e.GetEntityId())
	}
	if !printable(e.GetAreaId()) || !printable(e.GetDeviceClass()) {
		return fmt.Errorf("entity %q: control or invisible characters in its area or class", e.GetEntityId())
	}
	if e.GetDomain() != "" && e.GetDomain() != domain {
		return fmt.Errorf("domain %.64q does not match entity id %q", e.GetDomain(), e.GetEntityId())
	}
	for _, f := range []struct{ name, v string }{
		{"name", e.GetName()}, {"device class", e.GetDeviceClass()}, {"area id", e.GetAreaId()}, {"state", e.GetState()},
	} {
		if len(f.v) > l.MaxTextLen {
			return fmt.Errorf("%s longer than %d bytes", f.name, l.MaxTextLen)
		}
	}
	if err := l.checkAliases(e.GetAliases()); err != nil {
		return err
	}
	if e.GetAttributes() != nil && proto.Size(e.GetAttributes()) > l.MaxAttributesBytes {
		return fmt.Errorf("attributes larger than %d bytes", l.MaxAttributesBytes)
	}
	return nil
}

func (l Limits) checkNamed(id, name string, aliases []string, ref string) error {
	if id == "" || len(id) > l.MaxTextLen || len(name) > l.MaxTextLen || len(ref) > l.MaxTextLen {
		return fmt.Errorf("id must be 1 to %d bytes, name and references at most %d", l.MaxTextLen, l.MaxTextLen)
	}
	if !printable(id) || !printable(ref) {
		return fmt.Errorf("id %.64q: control or invisible characters", id)
	}
	return l.checkAliases(aliases)
}

func (l Limits) checkAliases(aliases []string) error {
	if len(aliases) > l.MaxAliases {
		return fmt.Errorf("%d aliases, at most %d", len(aliases), l.MaxAliases)
	}
	for _, a := range aliases {
		if len(a) > l.MaxTextLen {
			return fmt.Errorf("alias longer than %d bytes", l.MaxTextLen)
		}
	}
	return nil
}

// cleanNames takes the control and invisible characters (home.Invisible,
// ADR 0044) out of the names, aliases and states of s's entities, areas and floors,
// as people see and say them: a control character becomes a space, an
// invisible one is dropped, and spaces are collapsed. A name that looked
// like another's now is the other's, and resolving it asks which one is
// meant; one odd name in Home Assistant does not cost the home its whole
// registry (ADR 0047).
func cleanNames(s *homeplanev1.EntitySync) {
	for _, e := range s.GetEntities() {
		if e != nil {
			e.Name, e.Aliases, e.State = cleanName(e.GetName()), cleanAliases(e.GetAliases()), cleanName(e.GetState())
			dropNULs(e.GetAttributes())
		}
	}
	for _, a := range s.GetAreas() {
		if a != nil {
			a.Name, a.Aliases = cleanName(a.GetName()), cleanAliases(a.GetAliases())
		}
	}
	for _, f := range s.GetFloors() {
		if f != nil {
			f.Name, f.Aliases = cleanName(f.GetName()), cleanAliases(f.GetAliases())
		}
	}
}

// dropNULs takes NUL characters out of the attributes' keys and strings:
// PostgreSQL's JSON cannot hold them, and one would make the whole sync
// fail where it is stored.
func dropNULs(st *structpb.Struct) {
	if st == nil {
		return
	}
	for k, v := range st.GetFields() {
		if strings.IndexByte(k, 0) >= 0 {
			delete(st.Fields, k)
			st.Fields[strings.ReplaceAll(k, "\x00", "")] = v
		}
		dropValueNULs(v)
	}
}

func dropValueNULs(v *structpb.Value) {
	switch k := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		if strings.IndexByte(k.StringValue, 0) >= 0 {
			k.StringValue = strings.ReplaceAll(k.StringValue, "\x00", "")
		}
	case *structpb.Value_StructValue:
		dropNULs(k.StructValue)
	case *structpb.Value_ListValue:
		for _, x := range k.ListValue.GetValues() {
			dropValueNULs(x)
		}
	}
}

func cleanAliases(aliases []string) []string {
	for i, a := range aliases {
		aliases[i] = cleanName(a)
	}
	return aliases
}

// cleanName returns s without control and invisible characters; a name
// without them (nearly all) is returned as it is.
func cleanName(s string) string {
	if printable(s) && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "") {
		switch {
		case unicode.IsControl(r):
			b.WriteByte(' ')
		case !home.Invisible(r):
			b.WriteRune(r)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// printable reports whether s holds no control or invisible character.
func printable(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || home.Invisible(r) }) < 0
}

// splitEntityID checks the Home Assistant entity id shape "<domain>.<object_id>",
// both parts of [a-z0-9_], and returns the domain.
func splitEntityID(id string, max int) (string, bool) {
	if len(id) > max {
		return "", false
	}
	domain, object, ok := strings.Cut(id, ".")
	if !ok || !slug(domain) || !slug(object) {
		return "", false
	}
	return domain, true
}

func slug(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// maxSyncSkew is how far ahead of central's clock a sync's time counts: a
// home whose agent's clock runs fast would otherwise make its next syncs
// look late until the clock caught up.
const maxSyncSkew = 5 * time.Minute

// apply returns the registry after sync, leaving cur (which may be shared)
// untouched. Entities, areas and floors come out sorted by id.
//
// An entity older than the one held (by last_changed, when both carry it)
// is skipped, in a full sync as in a delta: a result's changed states and a
// sync may arrive in either order, and a duplicate changes nothing.
//
// A sync dated before the registry's (the agent's clock, EntitySync.time)
// arrived late, through a redelivery or another replica (ADR 0031): it
// changes only entities it shows changed after the ones held, removes only
// entities unchanged since it was sent, leaves areas and floors alone, and,
// full or not, replaces nothing. A sync without a time (a result's changed
// states) leaves the registry's time as it is.
func apply(cur *Snapshot, s *homeplanev1.EntitySync, l Limits, now time.Time) (*Snapshot, error) {
	var sent time.Time
	if t := s.GetTime(); t.IsValid() {
		sent = t.AsTime()
		if limit := now.Add(maxSyncSkew); sent.After(limit) {
			sent = limit
		}
	}
	late := cur != nil && !sent.IsZero() && sent.Before(cur.SyncedAt)
	entities := map[string]*homeplanev1.Entity{}
	areas := map[string]*homeplanev1.Area{}
	floors := map[string]*homeplanev1.Floor{}
	held := entities
	// Unless a full sync replaces the registry, the result starts from cur:
	// its size follows from cur's by what the sync changes, and it keeps
	// cur's shape while the sync changes only states.
	carried := !s.GetFull() || late
	size := 0
	if carried {
		size = cur.Size()
	}
	same := carried && cur != nil && cur.shape != 0
	if cur != nil && s.GetFull() && !late {
		held = make(map[string]*homeplanev1.Entity, len(cur.Entities))
		for _, e := range cur.Entities {
			held[e.GetEntityId()] = e
		}
	}
	if (!s.GetFull() || late) && cur != nil {
		for _, e := range cur.Entities {
			entities[e.GetEntityId()] = e
		}
		for _, a := range cur.Areas {
			areas[a.GetId()] = a
		}
		for _, f := range cur.Floors {
			floors[f.GetId()] = f
		}
	}
	for _, id := range s.GetRemovedEntityIds() {
		old, ok := entities[id]
		if ok && late && !changedBy(old, sent) {
			continue
		}
		if ok {
			size -= proto.Size(old)
			same = false
		}
		delete(entities, id)
	}
	for _, e := range s.GetEntities() {
		if old, ok := held[e.GetEntityId()]; ok && (olderThan(e, old) || late && !olderThan(old, e)) {
			// What is held is newer: a result's changed states
			// (Store.Patch) may be ahead of the syncs still queued.
			entities[old.GetEntityId()] = old
			continue
		}
		if e.GetDomain() == "" {
			e = proto.CloneOf(e)
			e.Domain, _ = splitEntityID(e.GetEntityId(), l.MaxTextLen)
		}
		if carried {
			old, ok := entities[e.GetEntityId()]
			if ok {
				size -= proto.Size(old)
			}
			size += proto.Size(e)
			same = same && ok && sameNames(old, e)
		}
		entities[e.GetEntityId()] = e
	}
	if !late {
		for _, a := range s.GetAreas() {
			if carried {
				size, same = resized(size, same, areas[a.GetId()], a)
			}
			areas[a.GetId()] = a
		}
		for _, f := range s.GetFloors() {
			if carried {
				size, same = resized(size, same, floors[f.GetId()], f)
			}
			floors[f.GetId()] = f
		}
	}
	if len(entities) > l.MaxEntities {
		return nil, fmt.Errorf("%w: registry would hold %d entities, at most %d", ErrInvalidInput, len(entities), l.MaxEntities)
	}
	if len(areas) > l.MaxAreas || len(floors) > l.MaxFloors {
		return nil, fmt.Errorf("%w: registry would hold %d areas and %d floors, at most %d and %d",
			ErrInvalidInput, len(areas), len(floors), l.MaxAreas, l.MaxFloors)
	}
	syncedAt := sent
	switch {
	case cur != nil && !cur.SyncedAt.IsZero() && (late || sent.IsZero()):
		syncedAt = cur.SyncedAt
	case sent.IsZero():
		syncedAt = now
	}
	next := &Snapshot{
		Entities: sortedValues(entities),
		Areas:    sortedValues(areas),
		Floors:   sortedValues(floors),
		SyncedAt: syncedAt,
	}
	// The entities the sync brought are packed; those carried over are
	// already (ADR 0054).
	pack.Entities(next.Entities)
	if carried {
		next.size = int64(size) + 1
	}
	if same {
		next.shape = cur.shape
	} else {
		next.shape = shapes.Add(1)
	}
	if n := next.Size(); n > l.MaxBytes {
		return nil, fmt.Errorf("%w: registry would hold %d bytes: %w of %d", ErrInvalidInput, n, ErrOverBudget, l.MaxBytes)
	}
	return next, nil
}

// resized returns the size of a registry of size after old (nil when none)
// is replaced by m, and whether its shape stays the same, which it does
// only if it did and m equals old.
func resized[M interface {
	proto.Message
	comparable
}](size int, same bool, old, m M) (int, bool) {
	var none M
	if old != none {
		size -= proto.Size(old)
	}
	return size + proto.Size(m), same && old != none && proto.Equal(old, m)
}

// sameNames reports whether e differs from old at most in its state,
// attributes and last_changed: in nothing the name index holds.
func sameNames(old, e *homeplanev1.Entity) bool {
	return old.GetEntityId() == e.GetEntityId() && old.GetName() == e.GetName() &&
		old.GetDomain() == e.GetDomain() && old.GetDeviceClass() == e.GetDeviceClass() &&
		old.GetAreaId() == e.GetAreaId() && slices.Equal(old.GetAliases(), e.GetAliases())
}

// changedBy reports whether the entity held is known to be no newer than
// a sync sent at t, so that the sync may remove it.
func changedBy(e *homeplanev1.Entity, t time.Time) bool {
	c, ok := pack.LastChanged(e)
	return ok && !c.After(t)
}

// olderThan reports whether e changed before old, both carrying the time.
// Either may be packed.
func olderThan(e, old *homeplanev1.Entity) bool {
	t, ok := pack.LastChanged(e)
	if !ok {
		return false
	}
	o, ok := pack.LastChanged(old)
	return ok && t.Before(o)
}

func sortedValues[T any](m map[string]T) []T {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]T, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}
