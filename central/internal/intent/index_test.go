package intent

import (
	"testing"

	"google.golang.org/protobuf/proto"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

func TestWithStatesAnswersFromTheNewEntities(t *testing.T) {
	entities := []*homeplanev1.Entity{
		{EntityId: "light.desk", Name: "Desk lamp", Domain: "light", AreaId: "study", State: "off"},
		{EntityId: "light.hall", Name: "Hall", Aliases: []string{"corridor"}, Domain: "light", State: "off"},
	}
	areas := []*homeplanev1.Area{{Id: "study", Name: "Study"}}
	idx := NewIndex(entities, areas, nil)

	restated := make([]*homeplanev1.Entity, len(entities))
	for i, e := range entities {
		restated[i] = proto.CloneOf(e)
		restated[i].State = "on"
	}
	next := idx.WithStates(restated, areas, nil)
	if e, _ := idx.EntityByID("light.desk"); e.GetState() != "off" {
		t.Errorf("the old index changed: %s is %q", e.GetEntityId(), e.GetState())
	}
	if e, ok := next.EntityByID("light.desk"); !ok || e.GetState() != "on" {
		t.Errorf("EntityByID(light.desk) = %v, %v; want state on", e, ok)
	}
	got := next.EntitiesNamed("corridor")
	if len(got) != 1 || next.Entity(got[0]) != restated[1] {
		t.Errorf("EntitiesNamed(corridor) = %v, want the new light.hall", got)
	}
	if n, refs := next.Match([]string{"desk", "lamp"}, 0); n != 2 || len(refs) != 1 || next.Entity(refs[0].Index).GetState() != "on" {
		t.Errorf("Match(desk lamp) = %d, %v", n, refs)
	}
	if by := next.byArea["study"]; len(by) != 1 || next.Entity(by[0]) != restated[0] {
		t.Errorf("by area study: %v", by)
	}

	// Another entity set is indexed afresh.
	more := append(restated[:2:2], &homeplanev1.Entity{EntityId: "light.porch", Name: "Porch", Domain: "light"})
	other := idx.WithStates(more, areas, nil)
	if got := other.EntitiesNamed("porch"); len(got) != 1 {
		t.Errorf("a new entity is not indexed: %v", got)
	}
}
