package intent

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// maxFixtureBytes bounds a fixture file; the evaluation home is ~60 KiB.
const maxFixtureBytes = 16 << 20

type fixtureFile struct {
	Floors []struct {
		ID      string   `json:"id"`
		Name    string   `json:"name"`
		Aliases []string `json:"aliases"`
	} `json:"floors"`
	Areas []struct {
		ID      string   `json:"id"`
		Name    string   `json:"name"`
		Aliases []string `json:"aliases"`
		FloorID string   `json:"floor_id"`
	} `json:"areas"`
	Entities []struct {
		ID          *string        `json:"id"`
		Name        string         `json:"name"`
		Aliases     []string       `json:"aliases"`
		Domain      string         `json:"domain"`
		DeviceClass *string        `json:"device_class"`
		AreaID      *string        `json:"area_id"`
		State       *string        `json:"state"`
		Attributes  map[string]any `json:"attributes"`
	} `json:"entities"`
}

// LoadFixtures reads a home described as JSON (floors, areas, entities with
// id, name, aliases, domain, device_class, area_id, state, attributes; the
// format of the intent evaluation set's fixtures.json) into a Index.
// Entities without an id get one made from their domain and name.
func LoadFixtures(r io.Reader) (*Index, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFixtureBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read fixtures: %w", err)
	}
	if len(data) > maxFixtureBytes {
		return nil, fmt.Errorf("fixtures larger than %d bytes", maxFixtureBytes)
	}
	var f fixtureFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("decode fixtures: %w", err)
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
		id := ""
		if e.ID != nil {
			id = *e.ID
		}
		if id == "" {
			id = e.Domain + "." + slug(e.Name)
			for n := 2; seen[id]; n++ {
				id = fmt.Sprintf("%s.%s_%d", e.Domain, slug(e.Name), n)
			}
		}
		seen[id] = true
		ent := &homeplanev1.Entity{EntityId: id, Name: e.Name, Aliases: e.Aliases, Domain: e.Domain}
		if e.DeviceClass != nil {
			ent.DeviceClass = *e.DeviceClass
		}
		if e.AreaID != nil {
			ent.AreaId = *e.AreaID
		}
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
