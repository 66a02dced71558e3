package homeassistant

import (
	"cmp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// Central's bounds on an entity sync (central/internal/registry.Limits and
// its broker's packet size, ADR 0056). Central refuses a sync past any of
// them whole, and its broker takes no packet past 1 MiB: one hostile or
// oversized entity in Home Assistant would cost the home its whole
// registry, on every retry. The agent fits what it sends within them
// instead.
const (
	maxSyncEntities = 20000
	maxSyncAreas    = 1000
	maxSyncFloors   = 200
	maxSyncAliases  = 32
	maxSyncText     = 255
	maxAttrBytes    = 64 << 10
	// maxAttrDepth bounds nesting in attributes: central's decoder stops
	// at 10,000 levels of protobuf, three per level of a Struct.
	maxAttrDepth = 32
	// MaxSyncBytes bounds one encoded sync: the broker's 1 MiB packet less
	// room for the topic and properties.
	MaxSyncBytes = 1<<20 - 16<<10
)

// SyncableEntityID reports whether central accepts id: "<domain>.<object>",
// both of [a-z0-9_], at most 255 bytes.
func SyncableEntityID(id string) bool {
	domain, object, ok := strings.Cut(id, ".")
	return ok && len(id) <= maxSyncText && slugChars(domain) && slugChars(object)
}

func slugChars(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// clip shortens s to at most maxSyncText bytes without splitting a rune.
func clip(s string) string {
	if len(s) <= maxSyncText {
		return s
	}
	n := maxSyncText
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// reference keeps an id another record points at (an area, a device
// class) when central accepts it, else drops it.
func reference(s string) string {
	if len(s) > maxSyncText || strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return ""
	}
	return s
}

// fitAliases keeps the first aliases central accepts.
func fitAliases(in []string) []string {
	out := make([]string, 0, min(len(in), maxSyncAliases))
	for _, a := range in {
		if len(out) == maxSyncAliases {
			break
		}
		if len(a) <= maxSyncText {
			out = append(out, a)
		}
	}
	return out
}

// fitEntity bounds an entity's texts and attributes; attributes past the
// bound lose their largest values first.
func fitEntity(e *homeplanev1.Entity) {
	e.Name, e.State = clip(e.Name), clip(e.State)
	e.AreaId, e.DeviceClass = reference(e.AreaId), reference(e.DeviceClass)
	e.Aliases = fitAliases(e.Aliases)
	if e.Attributes == nil || proto.Size(e.Attributes) <= maxAttrBytes {
		return
	}
	dropLargest(e.Attributes, maxAttrBytes)
}

// dropLargest removes st's largest fields until it encodes within limit.
func dropLargest(st *structpb.Struct, limit int) {
	type field struct {
		key  string
		size int
	}
	fields := make([]field, 0, len(st.Fields))
	total := 0
	for k, v := range st.Fields {
		n := proto.Size(v) + len(k) + 8 // the map entry's own framing, at most
		fields = append(fields, field{k, n})
		total += n
	}
	slices.SortFunc(fields, func(a, b field) int { return cmp.Compare(b.size, a.size) })
	for _, f := range fields {
		if total <= limit {
			return
		}
		delete(st.Fields, f.key)
		total -= f.size
	}
}

// depthWithin reports whether v nests at most depth levels of maps and lists.
func depthWithin(v any, depth int) bool {
	switch x := v.(type) {
	case map[string]any:
		if depth == 0 {
			return false
		}
		for _, e := range x {
			if !depthWithin(e, depth-1) {
				return false
			}
		}
	case []any:
		if depth == 0 {
			return false
		}
		for _, e := range x {
			if !depthWithin(e, depth-1) {
				return false
			}
		}
	}
	return true
}

// fitSync bounds a sync's records and size (ADR 0056); it reports the
// entities it left out.
func fitSync(s *homeplanev1.EntitySync) (dropped int) {
	return fitRecords(s) + fitSize(s)
}

// fitRecords leaves out the entities, areas and floors central would
// refuse, and those past its counts.
func fitRecords(s *homeplanev1.EntitySync) (dropped int) {
	kept := s.Entities[:0]
	for _, e := range s.Entities {
		if SyncableEntityID(e.GetEntityId()) && len(kept) < maxSyncEntities {
			kept = append(kept, e)
			continue
		}
		dropped++
	}
	s.Entities = kept
	s.RemovedEntityIds = slices.DeleteFunc(s.RemovedEntityIds, func(id string) bool { return !SyncableEntityID(id) })
	s.Areas = slices.DeleteFunc(s.Areas, func(a *homeplanev1.Area) bool { return a.Id == "" || reference(a.Id) != a.Id })
	s.Areas = s.Areas[:min(len(s.Areas), maxSyncAreas)]
	for _, a := range s.Areas {
		a.Name, a.Aliases, a.FloorId = clip(a.Name), fitAliases(a.Aliases), reference(a.FloorId)
	}
	s.Floors = slices.DeleteFunc(s.Floors, func(f *homeplanev1.Floor) bool { return f.Id == "" || reference(f.Id) != f.Id })
	s.Floors = s.Floors[:min(len(s.Floors), maxSyncFloors)]
	for _, f := range s.Floors {
		f.Name, f.Aliases = clip(f.Name), fitAliases(f.Aliases)
	}
	return dropped
}

// fitSize brings s within MaxSyncBytes: the largest attributes go first,
// then the last entities. It reports the entities it left out.
func fitSize(s *homeplanev1.EntitySync) (dropped int) {
	over := proto.Size(s) - MaxSyncBytes
	if over <= 0 {
		return dropped
	}
	type sized struct {
		e    *homeplanev1.Entity
		size int
	}
	bySize := make([]sized, 0, len(s.Entities))
	for _, e := range s.Entities {
		if e.Attributes != nil {
			bySize = append(bySize, sized{e, proto.Size(e.Attributes)})
		}
	}
	slices.SortFunc(bySize, func(a, b sized) int { return cmp.Compare(b.size, a.size) })
	for _, x := range bySize {
		if over <= 0 {
			break
		}
		over -= x.size
		x.e.Attributes = nil
	}
	for over > 0 && len(s.Entities) > 0 {
		last := s.Entities[len(s.Entities)-1]
		over -= proto.Size(last) + 4
		s.Entities = s.Entities[:len(s.Entities)-1]
		dropped++
	}
	return dropped
}
