package intent

import (
	"fmt"
	"io"
	"os"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/homeplane/homeplane/protocol/fixture"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// LoadFixtures reads a home described as JSON (floors, areas, entities with
// id, name, aliases, domain, device_class, area_id, state, attributes; the
// format of the intent evaluation set's fixtures.json) into an Index.
// Entities without an id get one made from their domain and name.
func LoadFixtures(r io.Reader) (*Index, error) {
	f, err := fixture.Read(r)
	if err != nil {
		return nil, err
	}
	floors := make([]*homeplanev1.Floor, 0, len(f.Floors))
	for _, fl := range f.Floors {
		floors = append(floors, &homeplanev1.Floor{Id: fl.ID, Name: fl.Name, Aliases: fl.Aliases})
	}
	areas := make([]*homeplanev1.Area, 0, len(f.Areas))
	for _, a := range f.Areas {
		id := a.ID
		if id == "" {
			id = slug(a.Name) + "_id"
		}
		areas = append(areas, &homeplanev1.Area{Id: id, Name: a.Name, Aliases: a.Aliases, FloorId: a.FloorID})
	}
	seen := map[string]bool{}
	entities := make([]*homeplanev1.Entity, 0, len(f.Entities))
	for i, e := range f.Entities {
		if e.Domain == "" {
			return nil, fmt.Errorf("fixture entity %d (%q): no domain", i, e.Name)
		}
		id := e.ID
		if id == "" {
			id = e.Domain + "." + slug(e.Name)
			for n := 2; seen[id]; n++ {
				id = fmt.Sprintf("%s.%s_%d", e.Domain, slug(e.Name), n)
			}
		}
		seen[id] = true
		ent := &homeplanev1.Entity{EntityId: id, Name: e.Name, Aliases: e.Aliases, Domain: e.Domain}
		ent.DeviceClass, ent.AreaId = e.DeviceClass, e.AreaID
		if e.State != nil {
			ent.State = *e.State
		}
		if len(e.Attributes) > 0 {
			attrs, err := structpb.NewStruct(e.Attributes)
			if err != nil {
				return nil, fmt.Errorf("fixture entity %s attributes: %w", id, err)
			}
			ent.Attributes = attrs
		}
		entities = append(entities, ent)
	}
	return NewIndex(entities, areas, floors), nil
}

func slug(s string) string {
	s = strings.ReplaceAll(Normalize(s), " ", "_")
	if s == "" {
		return "unnamed"
	}
	return s
}

// LoadFixtureFile is LoadFixtures on a file.
func LoadFixtureFile(path string) (*Index, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open fixtures: %w", err)
	}
	defer f.Close()
	return LoadFixtures(f)
}
