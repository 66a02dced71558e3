package homeassistant

import (
	"sync"
	"sync/atomic"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// Facts holds what the last full registry read said about the home that a
// bare state lacks: each entity's name, domain, device class, area and
// aliases, and Home Assistant's version. States from deltas and from
// service calls are named from it. Only these facts are kept, not the
// states and attributes, which can be most of a large home's registry.
// Its methods are safe for concurrent use.
type Facts struct {
	version atomic.Pointer[string]

	mu sync.RWMutex
	by map[string]entityFacts
}

type entityFacts struct {
	name, domain, deviceClass, areaID string
	aliases                           []string
}

// SetEntities replaces the entity facts with those of a full sync.
func (f *Facts) SetEntities(entities []*homeplanev1.Entity) {
	by := make(map[string]entityFacts, len(entities))
	for _, e := range entities {
		by[e.GetEntityId()] = entityFacts{name: e.GetName(), domain: e.GetDomain(), deviceClass: e.GetDeviceClass(),
			areaID: e.GetAreaId(), aliases: e.GetAliases()}
	}
	f.mu.Lock()
	f.by = by
	f.mu.Unlock()
}

func (f *Facts) entity(id string) (entityFacts, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e, ok := f.by[id]
	return e, ok
}

// SetVersion records Home Assistant's version; an empty one is ignored.
func (f *Facts) SetVersion(v string) {
	if v != "" {
		f.version.Store(&v)
	}
}

// Version is the version last recorded, or "".
func (f *Facts) Version() string {
	if v := f.version.Load(); v != nil {
		return *v
	}
	return ""
}
